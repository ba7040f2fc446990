"""Read the captions of one WebDataset tar shard: members grouped into samples by key, images skipped.

The caption comes from the sample's `.txt` member, or from a field of its `.json` member; the other
JSON fields become passthrough columns. Undecodable or missing captions are kept with a status.
"""
from __future__ import annotations

import json
import tarfile
from typing import BinaryIO

import pandas as pd

TEXT_MEMBERS = ("txt", "json")
CLASHING = ("key", "caption", "read_status")


def _samples(stream: BinaryIO) -> dict[str, dict[str, bytes]]:
    """Key -> {extension: bytes} for the text members, in tar order; every key is kept, even image-only."""
    samples: dict[str, dict[str, bytes]] = {}
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        for member in tar:
            folder, _, name = member.name.rpartition("/")
            if not member.isfile() or "." not in name:
                continue
            stem, ext = name.split(".", 1)
            sample = samples.setdefault(f"{folder}/{stem}" if folder else stem, {})
            if ext.lower() in TEXT_MEMBERS:
                sample[ext.lower()] = tar.extractfile(member).read()
    return samples


def _json(raw: bytes | None) -> dict | None:
    try:
        record = json.loads(raw) if raw is not None else None
    except (UnicodeDecodeError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _caption(sample: dict[str, bytes], record: dict | None, field: str | None) -> tuple[object, str | None]:
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


def parse_tar(stream: BinaryIO, caption_field: str | None) -> pd.DataFrame:
    """Frame with `key`, `caption` (raw), `read_status`, and the JSON fields (`key`, `caption` as input_*)."""
    keys, captions, statuses, records = [], [], [], []
    for key, sample in _samples(stream).items():
        record = _json(sample.get("json"))
        caption, status = _caption(sample, record, caption_field)
        extra = {k: v for k, v in (record or {}).items() if k != caption_field}
        keys.append(key)
        captions.append(caption)
        statuses.append(status)
        records.append({(f"input_{k}" if k in CLASHING else k): v for k, v in extra.items()})
    frame = pd.DataFrame.from_records(records, index=range(len(keys))) if records else pd.DataFrame()
    return frame.assign(key=keys, caption=captions, read_status=statuses)
