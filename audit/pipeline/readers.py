"""Read one shard of any supported kind into captions plus an Arrow table of passthrough columns."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from audit.pipeline import storage
from audit.pipeline.inputs import Shard
from audit.pipeline.webdataset import parse_tar
from audit.readers.local import RESERVED, detect_caption_column, parse_jsonl, parse_txt
from audit.readers.validate import combine_status

PROTECTED = {*RESERVED, "row_index", "shard_id", "caption"}


@dataclass
class ShardRows:
    """A shard's captions (strings or None), reader statuses, and passthrough columns, all in row order."""

    captions: list[str | None]
    statuses: list[str | None]
    extra: pa.Table


def as_text(value: object) -> str | None:
    """A passthrough value as text: None stays None, dicts and lists become JSON."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)


def _column(values: pd.Series) -> pa.Array:
    """An Arrow column from pandas values; mixed or nested values become strings (JSON for dicts/lists)."""
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        return pa.array([as_text(v) for v in values], pa.string())


def _split(frame: pd.DataFrame) -> tuple[list, list, pa.Table]:
    """A reader's frame as (raw captions, statuses, passthrough columns)."""
    rest = frame.drop(columns=["caption", "read_status"])
    extra = pa.table({str(c): _column(rest[c]) for c in rest.columns})
    return frame["caption"].tolist(), [s if isinstance(s, str) else None for s in frame["read_status"]], extra


def _read(shard: Shard, fs: pafs.FileSystem, path: str, caption_column: str | None,
          caption_field: str | None) -> tuple[list, list, pa.Table]:
    """Raw caption values, reader statuses and the other columns, by input kind."""
    if shard.kind == "parquet":
        table = pq.read_table(path, filesystem=fs)
        name = detect_caption_column(table.column_names, caption_column, shard.source)
        return table.column(name).to_pylist(), [None] * table.num_rows, table.drop_columns([name])
    with fs.open_input_stream(path) as stream:
        if shard.kind == "webdataset":
            return _split(parse_tar(stream, caption_field))
        data = stream.read()
    return _split(parse_txt(data) if shard.kind == "txt" else parse_jsonl(data, caption_column, shard.source))


def read_shard(shard: Shard, caption_column: str | None = None, caption_field: str | None = None) -> ShardRows:
    """Read every row of `shard`; non-string captions become None with their status ('null', 'not_string')."""
    fs, path = storage.resolve(shard.source)
    raw, statuses, extra = _read(shard, fs, path, caption_column, caption_field)
    captions = [v if isinstance(v, str) else None for v in raw]
    statuses = [s if isinstance(v, str) else combine_status(s, v) for v, s in zip(raw, statuses)]
    names = [f"input_{c}" if c in PROTECTED else c for c in extra.column_names]
    return ShardRows(captions, statuses, extra.rename_columns(names))
