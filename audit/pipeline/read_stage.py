"""The pipeline's read stage: one task per shard reads it, stores its passthrough columns, emits caption rows.

A shard that cannot be read gets a failure record in failed/ and emits nothing: only that shard fails.
"""
from __future__ import annotations

import tarfile
from typing import Iterator

import pandas as pd
import pyarrow as pa

from audit import schemas
from audit.pipeline.parts import finalize_shard
from audit.readers.dispatch import read_shard
from audit.readers.inputs import Shard
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


def read_shards(batch: pd.DataFrame, output: str, caption_column: str | None,
                caption_field: str | None) -> Iterator[pa.Table]:
    """For each shard record in `batch`: chunks of (shard_id, row_index, shard_rows, caption, read_status)."""
    folder = RunFolder.at(output)
    for record in batch.to_dict("records"):
        shard = Shard(**record)
        try:
            rows = read_shard(shard, caption_column, caption_field)
        except Exception as err:  # any failure to read one file fails that shard only
            storage.write_json(folder.fs, folder.failed(shard.shard_id),
                               {"source": shard.source, "reason": storage.redact(failure_reason(err))})
            continue
        n = len(rows.captions)
        index = pa.array(range(n), pa.int64())
        extra = pa.Table.from_arrays([index, *rows.extra.columns], names=["row_index", *rows.extra.column_names])
        storage.write_table(folder.fs, folder.staging(shard.shard_id, "input.parquet"), extra)
        if n == 0:
            finalize_shard(output, shard, 0)
        for start in range(0, n, CHUNK_ROWS):
            stop = min(n, start + CHUNK_ROWS)
            size = stop - start
            columns = [pa.array([shard.shard_id] * size), index[start:stop], pa.array([n] * size, pa.int64()),
                       pa.array(rows.captions[start:stop], pa.string()),
                       pa.array(rows.statuses[start:stop], pa.string())]
            yield pa.Table.from_arrays(columns, schema=schemas.READ)
