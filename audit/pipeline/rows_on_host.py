"""`--no-dedup` on a small scan with a pool of one actor: every unit read, its parts written and the unit finalized
in the driver, its rows scored on the host (the actor that gave the run parameters, or this process).

The same files as the Ray Data pipeline (stream.py), without its tasks and without loading the model a second time.
"""
from __future__ import annotations

from concurrent.futures import Future
from dataclasses import asdict
from typing import Iterator

import pandas as pd
import pyarrow as pa

from audit.cluster.usage import PoolUsage
from audit.pipeline.actors import ACTOR_BATCHES
from audit.pipeline.options import ScanOptions
from audit.pipeline.parts import finalize_shard, write_parts
from audit.pipeline.read_stage import read_shards
from audit.pipeline.tracker import ProgressFn, ShardTracker
from audit.readers.inputs import Shard
from audit.runfolder.folder import RunFolder


def finalized(output: str, shard: Shard, rows: int) -> Future:
    """Finalize `shard` now (parts.finalize_shard); a Future done with its marker or its error."""
    future: Future = Future()
    try:
        future.set_result(finalize_shard(output, shard, rows))
    except Exception as err:  # the tracker fails this shard only, as it does a failed finalize task
        future.set_exception(err)
    return future


def _batches(chunks: Iterator[pa.Table], rows: int) -> Iterator[pd.DataFrame]:
    """The read chunks of a unit cut into host calls of at most `rows` rows."""
    for chunk in chunks:
        for start in range(0, chunk.num_rows, rows):
            yield chunk.slice(start, rows).to_pandas()


def score_rows_on_host(folder: RunFolder, todo: list[Shard], options: ScanOptions, host, batch_size: int,
                       usage: PoolUsage, progress: ProgressFn | None) -> tuple[dict[str, str], float]:
    """Score every row of `todo` into scores/ and done/, unit after unit; shard id -> reason for shards that failed,
    and the host's seconds in the model."""
    out = folder.address
    tracker = ShardTracker(todo, lambda shard, rows: finalized(out, shard, rows), usage, progress)
    for shard in todo:
        chunks = read_shards(pd.DataFrame([asdict(shard)]), out, options.caption_column, options.caption_field)
        for scored in host.score_all(_batches(chunks, ACTOR_BATCHES * batch_size), rows=True):
            for record in write_parts(scored, out).to_pylist():
                tracker.add(**record)
    return tracker.close(), tracker.model_seconds
