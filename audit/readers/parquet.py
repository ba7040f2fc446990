"""Read the captions and passthrough columns of one Parquet file (LAION, img2dataset or any named column)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from audit.readers.errors import InputError

CAPTION_CANDIDATES = ("TEXT", "caption", "text")


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


@contextmanager
def unreadable_as_input_error(source: str) -> Iterator[None]:
    """A file that is not Parquet (or is damaged) as an InputError naming it; a missing file stays missing."""
    try:
        yield
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError) as err:
        raise InputError(f"{source}: unreadable Parquet file ({err})") from None


def read_parquet(fs: pafs.FileSystem, path: str, caption_column: str | None,
                 source: str) -> tuple[list, list, pa.Table]:
    """Raw caption values, reader statuses (none: the caption check decides) and the other columns."""
    with unreadable_as_input_error(source):
        table = pq.read_table(path, filesystem=fs)
    name = detect_caption_column(table.column_names, caption_column, source)
    return table.column(name).to_pylist(), [None] * table.num_rows, table.drop_columns([name])


def row_group_units(metadata: pq.FileMetaData, unit_rows: int) -> list[tuple[int, int, list[int]]]:
    """Consecutive whole row groups of up to `unit_rows` rows (a larger group is a unit alone), as
    (first row, rows, row group indices), from a Parquet footer: no data is read."""
    units: list[tuple[int, int, list[int]]] = []
    first, rows, groups = 0, 0, []
    for g in range(metadata.num_row_groups):
        n = metadata.row_group(g).num_rows
        if groups and rows + n > unit_rows:
            units.append((first, rows, groups))
            first, rows, groups = first + rows, 0, []
        rows, groups = rows + n, [*groups, g]
    if groups or not units:
        units.append((first, rows, groups))
    return units


def iter_parquet(fs: pafs.FileSystem, path: str, row_groups: list[int], caption_column: str | None, source: str,
                 batch_rows: int) -> Iterator[tuple[list, list, pa.Table]]:
    """The rows of some row groups, `batch_rows` at a time, as `read_parquet` returns them: only those row
    groups are ever read."""
    with unreadable_as_input_error(source):
        file = pq.ParquetFile(path, filesystem=fs)
    name = detect_caption_column(file.schema_arrow.names, caption_column, source)
    for batch in file.iter_batches(batch_size=batch_rows, row_groups=row_groups):
        table = pa.Table.from_batches([batch])
        yield table.column(name).to_pylist(), [None] * table.num_rows, table.drop_columns([name])
