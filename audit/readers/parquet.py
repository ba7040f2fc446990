"""Read the captions and passthrough columns of one Parquet file (LAION, img2dataset or any named column)."""
from __future__ import annotations

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


def read_parquet(fs: pafs.FileSystem, path: str, caption_column: str | None,
                 source: str) -> tuple[list, list, pa.Table]:
    """Raw caption values, reader statuses (none: the caption check decides) and the other columns."""
    try:
        table = pq.read_table(path, filesystem=fs)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError) as err:
        raise InputError(f"{source}: unreadable Parquet file ({err})") from None
    name = detect_caption_column(table.column_names, caption_column, source)
    return table.column(name).to_pylist(), [None] * table.num_rows, table.drop_columns([name])
