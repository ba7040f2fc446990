"""Read one local caption file (.txt, .jsonl, .parquet) into a pandas frame for in-process scoring.

Rows that cannot be decoded are kept with a `read_status` reason: nothing in the input is dropped.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

CAPTION_CANDIDATES = ("TEXT", "caption", "text")
RESERVED = ("row_id", "score", "norm", "cosine", "rank", "n_tokens", "truncated", "status", "percentile", "flagged",
            "source", "read_status")


class InputError(ValueError):
    """The input file cannot be read as captions; the message names the problem."""


def detect_caption_column(columns: list[str], given: str | None, where: str) -> str:
    """The given caption column if present, else the first of TEXT / caption / text."""
    if given is not None:
        if given not in columns:
            raise InputError(f"{where}: no column {given!r} (columns: {', '.join(columns)})")
        return given
    for name in CAPTION_CANDIDATES:
        if name in columns:
            return name
    raise InputError(f"{where}: no caption column found among {', '.join(columns) or 'no columns'}; "
                     f"pass --caption-column")


def parse_txt(data: bytes) -> pd.DataFrame:
    """One caption per line; undecodable lines kept (with replacement characters) as 'invalid_utf8'."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    captions, statuses = [], []
    for raw in lines:
        raw = raw.removesuffix(b"\r")
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
    for raw in data.splitlines():
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


def _read_parquet(path: Path, column: str | None) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise InputError(f"{path}: unreadable Parquet file ({err})") from None
    name = detect_caption_column(table.column_names, column, str(path))
    frame = table.to_pandas(types_mapper=None)
    if name != "caption" and "caption" in frame:
        frame = frame.rename(columns={"caption": "input_caption"})
    return frame.rename(columns={name: "caption"}).assign(read_status=None)


def read_captions(path: str | Path, caption_column: str | None = None) -> pd.DataFrame:
    """Frame with `row_id` (input order), `caption` (raw values), `read_status`, and passthrough columns."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        frame = parse_txt(path.read_bytes())
    elif suffix in (".jsonl", ".json"):
        frame = parse_jsonl(path.read_bytes(), caption_column, str(path))
    elif suffix in (".parquet", ".pq"):
        frame = _read_parquet(path, caption_column)
    else:
        raise InputError(f"{path}: unsupported input type {suffix!r} (use .txt, .jsonl or .parquet)")
    frame = frame.reset_index(drop=True)
    return protect_columns(frame)


def protect_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename passthrough columns that clash with report columns to input_<name>, then add `row_id`."""
    clashes = {c: f"input_{c}" for c in frame.columns if c in RESERVED and c != "read_status"}
    frame = frame.rename(columns=clashes)
    frame.insert(0, "row_id", range(len(frame)))
    return frame
