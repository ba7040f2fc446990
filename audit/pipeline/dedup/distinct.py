"""Dedup, phase 2: count the rows of each distinct caption key (Ray Data groupby), leave out keys scored by an
earlier run (anti-join with key_scores/), and score the rest once each on the actor pool (local.py does the
counting and the anti-join in the driver for small scans)."""
from __future__ import annotations

import hashlib
import time

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import ray.data
from ray.data.aggregate import Count, Max

from audit import schemas
from audit.cluster.actors import StageActor
from audit.cluster.parquet import read_files
from audit.cluster.pool import PoolOptions
from audit.cluster.usage import PoolUsage, call_record
from audit.pipeline.actors import ACTOR_BATCHES
from audit.pipeline.options import ScanOptions
from audit.pipeline.tracker import Progress, ProgressFn
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder

ROWS_PER_PARTITION = 1_000_000  # rows per hash partition of Ray Data's groupby and joins


def partitions(rows: int) -> int:
    """Hash partitions for an all-to-all step over `rows` rows: each is an aggregator actor Ray Data starts for the
    step (seconds each on a small node), so up to a million rows take one (320 rows: joining 17 s with 2, 9 s with 1)."""
    return max(1, min(200, -(-rows // ROWS_PER_PARTITION)))


def read_columns(folder: RunFolder, files: list[str], columns: list[str], paths: bool = False) -> ray.data.Dataset:
    """Our `columns` of run-folder Parquet files as a Ray dataset. Their schema is given, so passthrough columns
    whose types differ between files are never unified; no Hive partitions are taken from folder names."""
    return read_files(folder.fs, files, columns, schemas.schema_of(*columns), paths)


def _keyed(batch: pa.Table) -> pa.Table:
    return batch.filter(pc.is_valid(batch["caption_key"]))


def key_counts(folder: RunFolder, shard_ids: list[str], rows: int) -> ray.data.Dataset:
    """Every distinct key of the keyed shards with its row count and one of its captions (materialized)."""
    keys = read_columns(folder, [folder.scores(s) for s in shard_ids], ["caption_key", "caption"])
    keys = keys.map_batches(_keyed, batch_format="pyarrow", batch_size=None)
    grouped = keys.groupby("caption_key", num_partitions=partitions(rows))
    return grouped.aggregate(Count(alias_name="dup_count"), Max("caption", alias_name="caption")).materialize()


class KeyScorerActor(StageActor):
    """Scores one caption per distinct key with the scan's scoring stage (the numbers every row of the key gets)
    and stores them at once, one file per call named by its keys (a retried call rewrites its own file)."""

    def __init__(self, stage, torch_threads: int, output: str):
        super().__init__(stage, torch_threads)
        self.folder = RunFolder.at(output)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        start, began = time.perf_counter(), time.time()
        scored = self.stage.process(batch[["caption"]])
        scored["caption_key"] = batch["caption_key"].to_numpy()
        seconds = time.perf_counter() - start
        scored["seconds"] = seconds / max(len(scored), 1)
        table = pa.Table.from_pandas(scored[schemas.KEY_SCORES.names], schema=schemas.KEY_SCORES, preserve_index=False)
        name = hashlib.blake2b("".join(batch["caption_key"]).encode(), digest_size=12).hexdigest()
        storage.write_table(self.folder.fs, self.folder.path("key_scores", f"{name}.parquet"), table)
        return pd.DataFrame([{"rows": len(batch), "seconds": seconds, **call_record(began)}])


def unscored_keys(folder: RunFolder, counts: ray.data.Dataset) -> ray.data.Dataset:
    """The keys of `counts` that key_scores/ lacks (an anti-join with the keys scored by earlier runs)."""
    scored_files = storage.list_files(folder.fs, folder.path("key_scores"), ".parquet")
    if not scored_files:
        return counts
    scored = read_columns(folder, scored_files, ["caption_key"])
    return counts.join(scored, join_type="left_anti", num_partitions=partitions(counts.count()),
                       on=("caption_key",)).materialize()


def score_keys(folder: RunFolder, todo: ray.data.Dataset, options: ScanOptions, pool: PoolOptions, batch_size: int,
               progress: ProgressFn | None, usage: PoolUsage) -> tuple[int, float]:
    """Score each key of `todo` (caption_key, caption) once on the actor pool into key_scores/ (its calls counted
    in `usage`); return how many were scored and the actors' seconds."""
    total = todo.count()
    if not total:
        return 0, 0.0
    # blocks of one actor call each: a task reports when it ends, so small blocks give progress as keys are done;
    # cut before the pool starts, so no task of this step waits for a CPU the actors hold (a 1-CPU GPU node)
    todo = todo.repartition(target_num_rows_per_block=ACTOR_BATCHES * batch_size).materialize()
    ds = todo.map_batches(KeyScorerActor, batch_size=ACTOR_BATCHES * batch_size, batch_format="pandas",
                          compute=pool.strategy(), **pool.resources,
                          fn_constructor_kwargs={"stage": options.stage, "torch_threads": pool.torch_threads,
                                                 "output": folder.address})
    done, seconds, start = 0, 0.0, time.monotonic()
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        done += int(pc.sum(batch["rows"]).as_py() or 0)
        seconds += float(pc.sum(batch["seconds"]).as_py() or 0.0)
        usage.add_calls(batch)
        if progress is not None:
            progress(Progress(done, total, time.monotonic() - start, seconds, stage="scoring distinct captions"))
    if progress is not None:
        progress(Progress(done, total, time.monotonic() - start, seconds, final=True, stage="scoring distinct captions"))
    return done, seconds
