"""Read one input file of any supported kind (local or object store): the one dispatcher of `score` and `scan`."""
from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs

from audit.readers.errors import InputError
from audit.readers.inputs import Shard, expand_inputs
from audit.readers.parquet import iter_parquet, read_parquet
from audit.readers.status import combine_status
from audit.readers.text import parse_jsonl, parse_txt
from audit.readers.webdataset import check_end_of_archive, parse_tar
from audit.runfolder import storage
from audit.schemas import input_names


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
        return read_parquet(fs, path, caption_column, shard.source)
    with fs.open_input_stream(path) as stream:
        if shard.kind == "webdataset":
            check_end_of_archive(fs, path)
            return _split(parse_tar(stream, caption_field, shard.source))
        data = stream.read()
    return _split(parse_txt(data) if shard.kind == "txt" else parse_jsonl(data, caption_column, shard.source))


def _rows(raw: list, statuses: list, extra: pa.Table) -> ShardRows:
    """A reader's output as rows: non-string captions become None with their status ('null', 'not_string')."""
    captions = [v if isinstance(v, str) else None for v in raw]
    statuses = [s if isinstance(v, str) else combine_status(s, v) for v, s in zip(raw, statuses)]
    return ShardRows(captions, statuses, extra.rename_columns(input_names(extra.column_names)))


def read_shard(shard: Shard, caption_column: str | None = None, caption_field: str | None = None) -> ShardRows:
    """Read every row of `shard` (the whole file)."""
    fs, path = storage.resolve(shard.address)
    return _rows(*_read(shard, fs, path, caption_column, caption_field))


def iter_shard(shard: Shard, caption_column: str | None, caption_field: str | None,
               batch_rows: int) -> Iterator[ShardRows]:
    """The rows of a unit in order: a Parquet unit `batch_rows` at a time from its row groups alone, a text unit
    from its byte range alone; whole files in one piece. InputError for an input known to be unreadable."""
    if shard.error is not None:
        raise InputError(f"{shard.source}: {shard.error}")
    fs, path = storage.resolve(shard.address)
    if shard.byte_range is not None:  # some lines of a text file
        start, stop = shard.byte_range
        with fs.open_input_file(path) as src:
            data = src.read_at(stop - start, start)
        yield _rows(*_split(parse_txt(data) if shard.kind == "txt" else parse_jsonl(data, caption_column, shard.source)))
        return
    if shard.kind != "parquet" or shard.row_groups is None:
        yield read_shard(shard, caption_column, caption_field)
        return
    for raw, statuses, extra in iter_parquet(fs, path, list(shard.row_groups), caption_column, shard.source,
                                             batch_rows):
        yield _rows(raw, statuses, extra)


def read_captions(source: str, caption_column: str | None = None, caption_field: str | None = None) -> pd.DataFrame:
    """One input file as a frame: `row_id` (input order), `caption`, `read_status`, then passthrough columns."""
    shards = expand_inputs([str(source)])
    if len(shards) != 1:
        raise InputError(f"{storage.redact(str(source))}: names {len(shards)} files; give one file "
                         f"(use `scan` for many)")
    fs, path = storage.resolve(shards[0].address)
    if not storage.exists(fs, path):
        raise InputError(f"{shards[0].source}: no such file")
    rows = read_shard(shards[0], caption_column, caption_field)
    frame = rows.extra.to_pandas()
    frame.insert(0, "row_id", range(len(rows.captions)))
    frame.insert(1, "caption", rows.captions)
    frame.insert(2, "read_status", rows.statuses)
    return frame
