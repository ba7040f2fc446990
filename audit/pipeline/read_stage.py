"""The pipeline's read stage: one task per unit reads it, stores its passthrough columns, emits caption rows.

A unit that cannot be read gets a failure record in failed/: only that unit fails.
"""
from __future__ import annotations

import tarfile
from functools import partial
from typing import Callable, Iterator

import pandas as pd
import pyarrow as pa

from audit import schemas
from audit.pipeline.parts import finalize_shard
from audit.readers.dispatch import ShardRows, iter_shard
from audit.readers.errors import InputError
from audit.readers.inputs import Shard, identity
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder

CHUNK_ROWS = 1024


def failure_reason(err: Exception) -> str:
    """A one-line reason for summary.json."""
    if isinstance(err, FileNotFoundError):
        return "file not found"
    if isinstance(err, tarfile.TarError):
        return f"corrupt tar file: {err}"
    return f"{type(err).__name__}: {err}"


def _read_chunks(shard: Shard, rows: ShardRows, first: int, total: int) -> Iterator[pa.Table]:
    """READ tables of at most CHUNK_ROWS rows of one piece of a unit, starting at file row `first`."""
    n = len(rows.captions)
    for start in range(0, n, CHUNK_ROWS):
        stop = min(n, start + CHUNK_ROWS)
        size = stop - start
        columns = [pa.array([shard.shard_id] * size), pa.array(range(first + start, first + stop), pa.int64()),
                   pa.array([total] * size, pa.int64()), pa.array(rows.captions[start:stop], pa.string()),
                   pa.array(rows.statuses[start:stop], pa.string())]
        yield pa.Table.from_arrays(columns, schema=schemas.READ)


def unit_chunks(shard: Shard, caption_column: str | None, caption_field: str | None,
                passthrough: Callable[[pa.Table], None]) -> Iterator[pa.Table]:
    """A unit's caption chunks; its passthrough columns (with `row_index`) go to `passthrough` before the last
    chunk leaves, so they are stored when the unit is finalized. Memory: one unit's passthrough columns."""
    fs, path = storage.resolve(shard.address)
    if shard.identity is not None and identity(fs.get_file_info(path)) != shard.identity:
        raise InputError(f"{shard.source} changed while the scan ran; run the scan again")
    extras, pending, first = [], None, shard.first_row
    for rows in iter_shard(shard, caption_column, caption_field, CHUNK_ROWS):
        n = len(rows.captions)
        total = shard.rows if shard.rows is not None else n  # a whole-file unit is read in one piece
        index = pa.array(range(first, first + n), pa.int64())
        extras.append(pa.Table.from_arrays([index, *rows.extra.columns],
                                           names=["row_index", *rows.extra.column_names]))
        for chunk in _read_chunks(shard, rows, first, total):
            if pending is not None:
                yield pending
            pending = chunk
        first += n
    if shard.rows is not None and first - shard.first_row != shard.rows:
        raise ValueError(f"read {first - shard.first_row} rows where the footer promised {shard.rows}")
    table = pa.concat_tables(extras, promote_options="permissive") if extras \
        else pa.table({"row_index": pa.array([], pa.int64())})
    passthrough(table)
    if pending is not None:
        yield pending


def _to_staging(folder: RunFolder, shard_id: str, passthrough: pa.Table) -> None:
    storage.write_table(folder.fs, folder.staging(shard_id, "input.parquet"), passthrough)


def read_shards(batch: pd.DataFrame, output: str, caption_column: str | None,
                caption_field: str | None) -> Iterator[pa.Table]:
    """For each unit record in `batch`: chunks of (shard_id, row_index, shard_rows, caption, read_status)."""
    folder = RunFolder.at(output)
    for record in batch.to_dict("records"):
        shard = Shard.from_record(record)
        rows = 0
        try:
            for chunk in unit_chunks(shard, caption_column, caption_field, partial(_to_staging, folder, shard.shard_id)):
                rows += chunk.num_rows
                yield chunk
        except Exception as err:  # any failure to read one unit fails that unit only
            storage.write_json(folder.fs, folder.failed(shard.shard_id),
                               {"source": shard.source, "reason": storage.redact(failure_reason(err))})
            continue
        if rows == 0:
            finalize_shard(output, shard, 0)
