"""Read the captions of one WebDataset tar shard with the webdataset library's tar iterator and key grouping.

Members are grouped into samples by key (the path up to the first dot of the file name, as webdataset does);
the caption comes from the sample's `.txt` member, or from a field of its `.json` member, whose other
fields become passthrough columns. Undecodable or missing captions are kept with a status. A tar that lacks
its end-of-archive marker (cut short, perhaps at a member boundary) is refused: it would read as a shorter shard.
"""
from __future__ import annotations

import json
import tarfile
from typing import BinaryIO

import pandas as pd
import pyarrow.fs as pafs

from audit.schemas import RESERVED, input_names

TEXT_MEMBERS = {"txt", "json"}
BLOCK = 512
END_OF_ARCHIVE = 2 * BLOCK  # two zero blocks end every tar archive


def check_end_of_archive(fs: pafs.FileSystem, path: str) -> None:
    """Raise tarfile.ReadError unless the file ends in the tar end-of-archive marker (read from its tail only)."""
    with fs.open_input_file(path) as src:
        size = src.size()
        if size < END_OF_ARCHIVE or size % BLOCK:
            raise tarfile.ReadError(f"archive cut short: {size} bytes is not a whole tar archive")
        src.seek(size - END_OF_ARCHIVE)
        if src.read(END_OF_ARCHIVE).strip(b"\0"):
            raise tarfile.ReadError("archive cut short: no end-of-archive marker")


def _reraise(err: Exception) -> bool:
    """webdataset's error handler: fail the shard, with the message webdataset decorated restored."""
    if err.args and isinstance(err.args[0], str):
        raise tarfile.ReadError(err.args[0].rsplit(" @ ", 1)[0]) from None
    raise err


def _samples(stream: BinaryIO, source: str):
    """Samples (dicts with `__key__` and the text members) in tar order; image-only samples are kept too."""
    from webdataset.tariterators import group_by_keys, tar_file_iterator  # webdataset imports torch: only for tars

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
        keys.append(sample["__key__"])
        captions.append(caption)
        statuses.append(status)
        records.append({k: v for k, v in (record or {}).items() if k != caption_field})
    frame = pd.DataFrame.from_records(records, index=range(len(keys))) if records else pd.DataFrame()
    frame.columns = input_names([str(c) for c in frame.columns], RESERVED | {"key"})
    return frame.assign(key=keys, caption=captions, read_status=statuses)
