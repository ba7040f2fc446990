"""Read the captions of one WebDataset tar shard with the webdataset library's tar iterator and key grouping.

Members are grouped into samples by key (the path up to the first dot of the file name, as webdataset does);
the caption comes from the sample's `.txt` member, or from a field of its `.json` member, whose other
fields become passthrough columns. Undecodable or missing captions are kept with a status.
"""
from __future__ import annotations

import json
import tarfile
from typing import BinaryIO

import pandas as pd
from webdataset.tariterators import group_by_keys, tar_file_iterator

from audit.schemas import RESERVED

TEXT_MEMBERS = {"txt", "json"}


def _reraise(err: Exception) -> bool:
    """webdataset's error handler: fail the shard, with the message webdataset decorated restored."""
    if err.args and isinstance(err.args[0], str):
        raise tarfile.ReadError(err.args[0].rsplit(" @ ", 1)[0]) from None
    raise err


def _samples(stream: BinaryIO, source: str):
    """Samples (dicts with `__key__` and the text members) in tar order; image-only samples are kept too."""
    members = ({**member, "__url__": source} for member in tar_file_iterator(stream, handler=_reraise))
    return group_by_keys(members, suffixes=TEXT_MEMBERS, handler=_reraise)


def _json(raw: bytes | None) -> dict | None:
    try:
        record = json.loads(raw) if raw is not None else None
    except (UnicodeDecodeError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _caption(sample: dict, record: dict | None, field: str | None) -> tuple[object, str | None]:
    """(raw caption, read status or None)."""
    if field is not None:
        if record is None:
            return None, "invalid_json" if "json" in sample else "missing_caption"
        return (record[field], None) if field in record else (None, "missing_field")
    if "txt" not in sample:
        return None, "missing_caption"
    try:
        return sample["txt"].decode("utf-8"), None
    except UnicodeDecodeError:
        return sample["txt"].decode("utf-8", errors="replace"), "invalid_utf8"


def parse_tar(stream: BinaryIO, caption_field: str | None, source: str = "") -> pd.DataFrame:
    """Frame with `key`, `caption` (raw), `read_status`, and the JSON fields (ours, and `key`, as input_*)."""
    keys, captions, statuses, records = [], [], [], []
    for sample in _samples(stream, source):
        record = _json(sample.get("json"))
        caption, status = _caption(sample, record, caption_field)
        extra = {k: v for k, v in (record or {}).items() if k != caption_field}
        keys.append(sample["__key__"])
        captions.append(caption)
        statuses.append(status)
        records.append({(f"input_{k}" if k in RESERVED or k == "key" else k): v for k, v in extra.items()})
    frame = pd.DataFrame.from_records(records, index=range(len(keys))) if records else pd.DataFrame()
    return frame.assign(key=keys, caption=captions, read_status=statuses)
