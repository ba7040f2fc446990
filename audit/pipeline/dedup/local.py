"""Dedup's keying, counting and joining in the driver with pyarrow, for scans of at most
`ScanOptions.small_scan_rows` rows, where starting Ray Data's tasks and all-to-all steps costs more than the work.

Same files, same numbers as the Ray Data steps (keying.py, distinct.py, fill.py); the keys are scored by the
host that computed the run parameters (an actor, or this process) when the pool has one actor, else on the pool.
"""
from __future__ import annotations

import importlib
import threading
import time
from dataclasses import asdict

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from audit import schemas
from audit.cluster.usage import PoolUsage
from audit.pipeline.actors import ACTOR_BATCHES
from audit.pipeline.dedup.fill import fill_unit
from audit.pipeline.dedup.keying import key_units
from audit.pipeline.options import ScanOptions
from audit.pipeline.tracker import Progress, ProgressFn
from audit.readers.inputs import Shard
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder


def import_tokenizers_meanwhile() -> None:
    """Import the tokenizers' libraries (transformers, torch) in a background thread, so the driver of a small
    scan has them when it keys, having imported them while the first actor loaded the model. Never while this
    process loads a model: transformers' lazy imports race (a class looked up meanwhile may be missing)."""
    threading.Thread(target=importlib.import_module, args=("audit.scoring.keys",), daemon=True).start()


def _read(folder: RunFolder, files: list[str], columns: list[str]) -> pa.Table:
    """`columns` of run-folder Parquet files, concatenated in our schema."""
    schema = schemas.schema_of(*columns)
    return pa.concat_tables([storage.read_table(folder.fs, f, columns).cast(schema) for f in files] or
                            [schema.empty_table()])


def key_here(folder: RunFolder, todo: list[Shard], options: ScanOptions, progress: ProgressFn | None) -> None:
    """Phase 1 over `todo`, unit after unit in this process (keying.key_units on each)."""
    start, rows, expected = time.monotonic(), 0, sum(s.rows or 0 for s in todo)
    for done, shard in enumerate(todo, 1):
        keyed = key_units(pd.DataFrame([asdict(shard)]), folder.address, options.stage.described_by, options.caption_column,
                          options.caption_field)
        rows += int(keyed["rows"].sum())
        if progress is not None:
            progress(Progress(rows, expected, time.monotonic() - start, 0.0, final=done == len(todo), units_done=done,
                              units=len(todo), stage="reading and keying"))


def key_counts_here(folder: RunFolder, shard_ids: list[str]) -> pa.Table:
    """Every distinct key of the keyed units with its row count and one of its captions (distinct.key_counts)."""
    keys = _read(folder, [folder.scores(s) for s in shard_ids], ["caption_key", "caption"])
    keys = keys.filter(pc.is_valid(keys["caption_key"]))
    grouped = keys.group_by("caption_key", use_threads=False).aggregate([("caption_key", "count"), ("caption", "max")])
    return pa.table({"caption_key": grouped["caption_key"], "dup_count": grouped["caption_key_count"],
                     "caption": grouped["caption_max"]})


def _key_scores(folder: RunFolder, columns: list[str]) -> pa.Table:
    return _read(folder, storage.list_files(folder.fs, folder.path("key_scores"), ".parquet"), columns)


def unscored_here(folder: RunFolder, counts: pa.Table) -> pa.Table:
    """The keys of `counts` that key_scores/ lacks."""
    return counts.join(_key_scores(folder, ["caption_key"]), keys="caption_key", join_type="left anti")


def fill_here(folder: RunFolder, shard_ids: list[str], counts: pa.Table, generation_id: str, rows: int,
              progress: ProgressFn | None) -> None:
    """Fill every unit of `shard_ids` with its keys' numbers and counts, unit after unit (fill.fill_unit)."""
    numbers = counts.select(["caption_key", "dup_count"]).join(
        _key_scores(folder, ["caption_key", "norm", "cosine", "score"]), keys="caption_key", join_type="inner")
    start, done = time.monotonic(), 0
    for units_done, shard_id in enumerate(shard_ids, 1):
        unit = storage.read_table(folder.fs, folder.scores(shard_id), ["row_index", "caption_key"])
        unit = unit.filter(pc.is_valid(unit["caption_key"]))
        joined = unit.join(numbers, keys="caption_key", join_type="inner").drop_columns(["caption_key"])
        done += fill_unit(joined, folder.address, shard_id, generation_id)
        if progress is not None:
            progress(Progress(done, rows, time.monotonic() - start, 0.0, final=units_done == len(shard_ids),
                              units_done=units_done, units=len(shard_ids), stage="joining"))


def score_on_host(host, todo: pa.Table, batch_size: int, progress: ProgressFn | None, usage: PoolUsage
                  ) -> tuple[int, float]:
    """Score the keys of `todo` on `host` (host.RemoteHost or LocalHost, the model already loaded), in the calls a
    pool actor would get (counted in `usage`); return how many were scored and the host's seconds."""
    frame, step = todo.select(["caption_key", "caption"]).to_pandas(), ACTOR_BATCHES * batch_size
    batches = [frame.iloc[i:i + step] for i in range(0, len(frame), step)]
    done, seconds, start = 0, 0.0, time.monotonic()
    for k, result in enumerate(host.score_all(batches), 1):
        done, seconds = done + int(result["rows"].sum()), seconds + float(result["seconds"].sum())
        usage.add_calls(result)
        if progress is not None:
            progress(Progress(done, len(frame), time.monotonic() - start, seconds, final=k == len(batches),
                              stage="scoring distinct captions"))
    return done, seconds
