"""The Ray Data pipeline over the shards still to do: read tasks -> scoring actor pool -> part writers.

The driver consumes one small record per part file and finalizes each shard as soon as it is complete.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import ray
from ray.data import ActorPoolStrategy

from audit.pipeline import storage
from audit.pipeline.actors import ScorerActor
from audit.pipeline.inputs import Shard
from audit.pipeline.layout import Layout
from audit.pipeline.parts import finalize_shard, write_parts
from audit.pipeline.pool import PoolOptions
from audit.pipeline.read_stage import read_shards
from audit.pipeline.tracker import ProgressFn, ShardTracker

if TYPE_CHECKING:
    from audit.pipeline.run import ScanOptions

WRITE_BATCHES = 32  # scoring batches per part file: fewer, larger files than one per batch
READ_CPUS = WRITE_CPUS = 0.25  # unlike the actors (0.5 by default), so Ray Data does not fuse reads into them


def score_shards(layout: Layout, todo: list[Shard], options: ScanOptions, pool: PoolOptions,
                 progress: ProgressFn | None = None) -> tuple[dict[str, str], float]:
    """Score every row of `todo` into scores/ and done/, calling `progress` as parts arrive; return shard id ->
    reason for shards that failed, and the seconds the actors spent scoring (summed over actors)."""
    for shard in todo:
        storage.remove_tree(layout.fs, layout.staging(shard.shard_id))
        storage.remove_file(layout.fs, layout.failed(shard.shard_id))
    out = layout.address
    ds = ray.data.from_items([asdict(s) for s in todo], override_num_blocks=len(todo))
    ds = ds.map_batches(read_shards, batch_size=1, batch_format="pandas", num_cpus=READ_CPUS,
                        fn_kwargs={"output": out, "caption_column": options.caption_column,
                                   "caption_field": options.caption_field})
    # A dead actor is restarted and its batch retried: Ray Data's actor defaults are max_restarts=-1 and
    # max_task_retries=-1 (passing them explicitly is deprecated since Ray 2.51).
    ds = ds.map_batches(ScorerActor, batch_size=options.stage.config.batch_size, batch_format="pandas",
                        compute=ActorPoolStrategy(size=pool.size), **pool.resources,
                        fn_constructor_kwargs={"stage": options.stage, "torch_threads": pool.torch_threads})
    ds = ds.map_batches(write_parts, batch_size=WRITE_BATCHES * options.stage.config.batch_size,
                        batch_format="pyarrow", num_cpus=WRITE_CPUS, fn_kwargs={"output": out})
    finalize = ray.remote(finalize_shard).options(num_cpus=WRITE_CPUS)
    tracker = ShardTracker(todo, lambda shard, rows: finalize.remote(out, shard, rows), progress)
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        for record in batch.to_pylist():
            tracker.add(**record)
    failures = tracker.close()
    for shard in todo:
        if storage.exists(layout.fs, layout.failed(shard.shard_id)):
            failures[shard.shard_id] = storage.read_json(layout.fs, layout.failed(shard.shard_id))["reason"]
    return failures, tracker.model_seconds
