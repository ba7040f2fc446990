"""Read .txt (a caption per line) and .jsonl (a JSON object per line) caption files from their bytes.

Rows that cannot be decoded are kept with a `read_status` reason: nothing in the input is dropped.
A UTF-8 byte order mark at the start of a file is not part of its first row.
"""
from __future__ import annotations

import json

import pandas as pd

from audit.readers.errors import InputError

BOM = b"\xef\xbb\xbf"


def lines(data: bytes) -> list[bytes]:
    """The lines of a text file: split at line feeds only (so that counting them is counting b"\\n"), a final
    line feed ends the last line, a carriage return before a line feed is dropped, and so is a leading BOM."""
    parts = data.removeprefix(BOM).split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [line.removesuffix(b"\r") for line in parts]


def parse_txt(data: bytes) -> pd.DataFrame:
    """One caption per line; undecodable lines kept (with replacement characters) as 'invalid_utf8'."""
    captions, statuses = [], []
    for raw in lines(data):
        try:
            captions.append(raw.decode("utf-8"))
            statuses.append(None)
        except UnicodeDecodeError:
            captions.append(raw.decode("utf-8", errors="replace"))
            statuses.append("invalid_utf8")
    return pd.DataFrame({"caption": captions, "read_status": statuses})


def parse_jsonl(data: bytes, column: str | None, where: str) -> pd.DataFrame:
    """One JSON object per line, caption from `column` (default 'caption'); bad lines kept with a status."""
    field = column or "caption"
    records, statuses = [], []
    for raw in lines(data):
        if not raw.strip():
            records.append({})
            statuses.append("empty")
            continue
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except (UnicodeDecodeError, ValueError):
            records.append({})
            statuses.append("invalid_json")
            continue
        records.append(record)
        statuses.append(None if field in record else "missing_field")
    if "missing_field" in statuses and not any(field in r for r in records):
        raise InputError(f"{where}: no record has the field {field!r}; pass --caption-column")
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    frame = frame.rename(columns={field: "caption"}) if field in frame else frame.assign(caption=None)
    return frame.assign(read_status=statuses)
