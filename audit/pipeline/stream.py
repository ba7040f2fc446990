"""The Ray Data pipeline over the shards still to do: read tasks -> scoring actor pool -> part writers.

The driver consumes one small record per part file and finalizes each shard as soon as it is complete.
"""
from __future__ import annotations

import logging
from dataclasses import asdict

import ray

from audit.cluster.pool import PoolOptions
from audit.cluster.usage import PoolUsage
from audit.pipeline import resume
from audit.pipeline.actors import ACTOR_BATCHES, ScorerActor
from audit.pipeline.clock import PhaseClock
from audit.pipeline.options import ScanOptions, Scored
from audit.pipeline.parts import finalize_shard, write_parts
from audit.pipeline.read_stage import read_shards
from audit.pipeline.rows_on_host import score_rows_on_host
from audit.pipeline.tracker import ProgressFn, ShardTracker
from audit.readers.inputs import Shard
from audit.readers.units import at_most
from audit.runfolder.folder import RunFolder

log = logging.getLogger(__name__)

WRITE_BATCHES = 4  # actor calls per part file: fewer, larger files
READ_CPUS = WRITE_CPUS = 0.25  # unlike the actors (0.5 by default), so Ray Data does not fuse reads into them


def score_shards(folder: RunFolder, todo: list[Shard], options: ScanOptions, pool: PoolOptions, batch_size: int,
                 usage: PoolUsage, progress: ProgressFn | None = None) -> tuple[dict[str, str], float]:
    """Score every row of `todo` into scores/ and done/ in batches of about `batch_size` captions (the
    stage's choice), counting the actors' calls in `usage` and calling `progress` as parts arrive; return shard
    id -> reason for shards that failed, and the seconds the actors spent scoring (summed over actors)."""
    out = folder.address
    ds = ray.data.from_items([asdict(s) for s in todo], override_num_blocks=len(todo))
    ds = ds.map_batches(read_shards, batch_size=1, batch_format="pandas", num_cpus=READ_CPUS,
                        fn_kwargs={"output": out, "caption_column": options.caption_column,
                                   "caption_field": options.caption_field})
    # A dead actor is restarted and its batch retried: Ray Data's actor defaults are max_restarts=-1 and
    # max_task_retries=-1 (passing them explicitly is deprecated since Ray 2.51).
    ds = ds.map_batches(ScorerActor, batch_size=ACTOR_BATCHES * batch_size, batch_format="pandas",
                        compute=pool.strategy(), **pool.resources,
                        fn_constructor_kwargs={"stage": options.stage, "torch_threads": pool.torch_threads})
    ds = ds.map_batches(write_parts, batch_size=WRITE_BATCHES * ACTOR_BATCHES * batch_size,
                        batch_format="pyarrow", num_cpus=WRITE_CPUS, fn_kwargs={"output": out})
    finalize = ray.remote(finalize_shard).options(num_cpus=WRITE_CPUS)
    tracker = ShardTracker(todo, lambda shard, rows: finalize.remote(out, shard, rows).future(), usage, progress)
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        for record in batch.to_pylist():
            tracker.add(**record)
    return tracker.close(), tracker.model_seconds


def score_every_row(folder: RunFolder, shards: list[Shard], options: ScanOptions, pool: PoolOptions,
                    batch_size: int, host, clock: PhaseClock, usage: PoolUsage,
                    progress: ProgressFn | None = None) -> Scored:
    """`--no-dedup`: score every row of the shards not finished before (or whose input changed since): on `host`,
    the actor that gave the run parameters (or this process), for a small scan with a pool of one actor; else on the
    pool, `host` stopped first so that the pool takes its resources."""
    done, changed = resume.still_valid(resume.markers(folder, shards), shards)
    for source in changed:
        log.warning("%s changed (or vanished) since it was scored: scoring it again", source)
    todo = [s for s in shards if s.shard_id not in done]
    ids = [s.shard_id for s in todo]
    clock.next("scoring")
    resume.clear(folder, ids)  # results of an input that changed must never count again
    if at_most(shards, options.small_scan_rows) and pool.most == 1:
        log.info("a small scan: this process reads and writes its units; the model that described it scores every row")
        failures, seconds = score_rows_on_host(folder, todo, options, host, batch_size, usage, progress)
    else:
        host.stop()
        failures, seconds = score_shards(folder, todo, options, pool, batch_size, usage, progress) if todo else ({}, 0.0)
    failures |= resume.failures(folder, ids)
    scored = sum(m["scored"] for _, m in resume.markers(folder, todo))
    return Scored(failures, seconds, done, changed, scored)
