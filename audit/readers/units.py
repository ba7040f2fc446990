"""Split input files into units of work: Parquet files into runs of whole row groups up to a row budget, read
from their footers only (in parallel threads); other kinds stay one unit per file."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pyarrow as pa
import pyarrow.parquet as pq

from audit.readers.inputs import Shard
from audit.readers.parquet import row_group_units
from audit.runfolder import storage

FOOTER_THREADS = 16  # footer reads wait on the store, not the CPU


def _footer(shard: Shard) -> pq.FileMetaData | None:
    """The file's Parquet footer; None if it cannot be read (the unit then fails when it is read, alone)."""
    if shard.kind != "parquet" or shard.identity is None:
        return None
    fs, path = storage.resolve(shard.source)
    try:
        return pq.ParquetFile(path, filesystem=fs).metadata
    except (pa.ArrowException, OSError):
        return None


def split(shard: Shard, metadata: pq.FileMetaData | None, unit_rows: int) -> list[Shard]:
    """The units of one input file; a file of one unit keeps its shard id (and so the resume of older runs)."""
    if metadata is None:
        return [shard]
    units = row_group_units(metadata, unit_rows)
    if len(units) == 1:
        first, rows, groups = units[0]
        return [replace(shard, rows=rows, row_groups=tuple(groups))]
    return [replace(shard, shard_id=f"{shard.shard_id}.{first}-{first + rows}", first_row=first, rows=rows,
                    row_groups=tuple(groups)) for first, rows, groups in units]


def plan_units(shards: list[Shard], unit_rows: int) -> list[Shard]:
    """Every input file's units, in input order."""
    with ThreadPoolExecutor(FOOTER_THREADS) as pool:
        footers = list(pool.map(_footer, shards))
    return [unit for shard, footer in zip(shards, footers) for unit in split(shard, footer, unit_rows)]
