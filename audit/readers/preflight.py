"""What a scan checks before it starts Ray or writes anything: every named input exists, every pattern matches,
and the first readable Parquet input has the caption column (a typo'd column is missing from every file)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from audit.readers.inputs import Shard, expand_inputs
from audit.readers.parquet import detect_caption_column
from audit.runfolder import storage


def check_caption_column(shards: list[Shard], caption_column: str | None) -> None:
    """InputError naming the file when the first readable Parquet input lacks the caption column (from its footer)."""
    for shard in shards:
        if shard.kind != "parquet":
            continue
        fs, path = storage.resolve(shard.address)
        try:
            names = pq.ParquetFile(path, filesystem=fs).schema_arrow.names
        except (pa.ArrowException, OSError):
            continue  # unreadable: its shard fails when it is read, alone
        detect_caption_column(names, caption_column, shard.source)
        return


def checked_inputs(inputs: list[str], caption_column: str | None, exclude: str | None = None) -> list[Shard]:
    """The inputs' shards (`expand_inputs`), after the caption column check; InputError (exit 2) otherwise."""
    shards = expand_inputs(inputs, exclude)
    check_caption_column(shards, caption_column)
    return shards
