"""Split input files into units of work of up to a row budget: Parquet files into runs of whole row groups
(from their footers only), .txt and .jsonl files into runs of lines (one streamed pass counting line feeds);
tars stay one unit. Files are planned in parallel threads."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audit.readers.inputs import Shard
from audit.readers.parquet import row_group_units
from audit.runfolder import storage

PLAN_THREADS = 16  # footer reads wait on the store, not the CPU
BLOCK = 1 << 24
TAR_BLOCK = 512  # every member of a tar takes at least one header block of 512 bytes


def _footer(shard: Shard) -> pq.FileMetaData | None:
    """The file's Parquet footer; None if it cannot be read (the unit then fails when it is read, alone)."""
    if shard.kind != "parquet" or shard.identity is None:
        return None
    fs, path = storage.resolve(shard.address)
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


def most_rows(unit: Shard) -> int | None:
    """At most how many rows `unit` has: its row count when planning knew it; for a tar, one per header block its
    size allows; 0 for a file gone or a folder not listed (it fails when read); else None (nothing bounds them)."""
    if unit.rows is not None:
        return unit.rows
    if unit.identity is None:
        return 0
    return unit.size // TAR_BLOCK if unit.kind == "webdataset" and unit.size is not None else None


def at_most(units: list[Shard], limit: int) -> bool:
    """Whether `units` have at most `limit` rows in all (--small-scan-rows), counted or bounded (`most_rows`)."""
    bounds = [most_rows(u) for u in units]
    return None not in bounds and sum(bounds) <= limit


def plan_units(shards: list[Shard], unit_rows: int) -> list[Shard]:
    """Every input file's units, in input order."""
    with ThreadPoolExecutor(PLAN_THREADS) as pool:
        return [unit for units in pool.map(lambda shard: _units(shard, unit_rows), shards) for unit in units]


def _units(shard: Shard, unit_rows: int) -> list[Shard]:
    if shard.kind in ("txt", "jsonl") and shard.identity is not None:
        try:
            return split_lines(shard, *_line_starts(shard, unit_rows), unit_rows)
        except OSError:
            return [shard]  # unreadable: the unit fails when it is read
    return split(shard, _footer(shard), unit_rows)


def _line_starts(shard: Shard, unit_rows: int) -> tuple[int, int, list[int]]:
    """(file size, lines, byte offsets where lines unit_rows, 2 unit_rows, ... start), counting line feeds."""
    fs, path = storage.resolve(shard.address)
    size, lines, starts, last = 0, 0, [], b"\n"
    with fs.open_input_stream(path) as src:
        while block := src.read(BLOCK):
            feeds = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
            numbers = lines + 1 + np.arange(len(feeds))  # line feed k ends line `numbers[k]`
            starts += (size + feeds[numbers % unit_rows == 0] + 1).tolist()
            size, lines, last = size + len(block), lines + len(feeds), block[-1:]
    return size, lines + (last != b"\n"), [s for s in starts if s < size]


def split_lines(shard: Shard, size: int, lines: int, starts: list[int], unit_rows: int) -> list[Shard]:
    """The units of a text file: `unit_rows` lines each (the last fewer), as byte ranges."""
    if not starts:
        return [replace(shard, rows=lines)]
    bounds = [0, *starts, size]
    return [replace(shard, shard_id=f"{shard.shard_id}.{k * unit_rows}-{min(lines, (k + 1) * unit_rows)}",
                    first_row=k * unit_rows, rows=min(lines, (k + 1) * unit_rows) - k * unit_rows,
                    byte_range=(bounds[k], bounds[k + 1])) for k in range(len(bounds) - 1)]
