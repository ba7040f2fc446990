"""Dedup's three phases in order, each skipped where the run folder already holds its results."""
from __future__ import annotations

import logging
import time
from dataclasses import asdict

import pyarrow as pa
import pyarrow.compute as pc
import ray.data

from audit.cluster.pool import PoolOptions
from audit.cluster.usage import PoolUsage
from audit.pipeline import resume
from audit.pipeline.clock import PhaseClock
from audit.pipeline.dedup import local
from audit.pipeline.dedup.distinct import key_counts, score_keys, unscored_keys
from audit.pipeline.dedup.fill import fill_units, generation
from audit.pipeline.dedup.keying import key_units
from audit.pipeline.options import ScanOptions, Scored
from audit.pipeline.tracker import Progress, ProgressFn
from audit.readers.inputs import Shard
from audit.readers.units import at_most
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder

log = logging.getLogger(__name__)
KEY_CPUS = 1.0  # tokenizing is CPU work: one keying task per CPU


def _key(folder: RunFolder, todo: list[Shard], options: ScanOptions, progress: ProgressFn | None) -> None:
    """Phase 1 over `todo`: read and key each unit into scores/ and keyed/ (or failed/)."""
    ds = ray.data.from_items([asdict(s) for s in todo], override_num_blocks=len(todo))
    ds = ds.map_batches(key_units, batch_size=1, batch_format="pandas", num_cpus=KEY_CPUS,
                        fn_kwargs={"output": folder.address, "model": options.stage.described_by,
                                   "caption_column": options.caption_column, "caption_field": options.caption_field})
    start, rows, units = time.monotonic(), 0, 0
    expected = sum(s.rows for s in todo) if all(s.rows is not None for s in todo) else None
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        rows, units = rows + int(pc.sum(batch["rows"]).as_py() or 0), units + batch.num_rows
        if progress is not None:
            progress(Progress(rows, expected, time.monotonic() - start, 0.0, final=units == len(todo),
                              units_done=units, units=len(todo), stage="reading and keying"))


Counts = "pa.Table | ray.data.Dataset"  # distinct keys with dup_count and caption: in the driver, or on Ray


def _counts(folder: RunFolder, shard_ids: list[str], rows: int, here: bool) -> Counts:
    return local.key_counts_here(folder, shard_ids) if here else key_counts(folder, shard_ids, rows)


def _length(counts: Counts) -> int:
    return counts.num_rows if isinstance(counts, pa.Table) else counts.count()


def _stats(folder: RunFolder, keyed: dict[str, dict], generation_id: str, counts: Counts | None, scored: int,
           here: bool) -> dict:
    """Distinct keys, keyed and duplicate rows, the fraction of scoring saved; kept in key_counts.json so a
    run that has nothing to redo still reports them."""
    path = folder.path("key_counts.json")
    stored = storage.read_json(folder.fs, path) if storage.exists(folder.fs, path) else {}
    if counts is None and stored.get("generation") == generation_id:
        return stored | {"keys_scored_this_run": scored}
    rows = sum(m["keyed"] for m in keyed.values())
    keys = _length(_counts(folder, list(keyed), rows, here) if counts is None else counts) if rows else 0
    stats = {"generation": generation_id, "distinct_keys": keys, "keyed_rows": rows, "duplicate_rows": rows - keys,
             "scoring_saved": round((rows - keys) / rows, 6) if rows else 0.0}
    storage.write_json(folder.fs, path, stats)
    return stats | {"keys_scored_this_run": scored}


def _score(folder: RunFolder, counts: Counts, here: bool, host, options: ScanOptions, pool: PoolOptions,
           batch_size: int, progress: ProgressFn | None, usage: PoolUsage) -> tuple[int, float]:
    """Score the keys of `counts` not scored before: on `host` (None: gone) for a small scan with a pool of at most
    one actor, else on the pool (`host` is then stopped first, to free its resources)."""
    if here and pool.most == 1 and host is not None:
        return local.score_on_host(host, local.unscored_here(folder, counts), batch_size, progress, usage)
    if host is not None:
        host.stop()
    todo = ray.data.from_arrow(local.unscored_here(folder, counts)) if here else unscored_keys(folder, counts)
    return score_keys(folder, todo, options, pool, batch_size, progress, usage)


def score_distinct_keys(folder: RunFolder, shards: list[Shard], options: ScanOptions, pool: PoolOptions,
                        batch_size: int, host, clock: PhaseClock, usage: PoolUsage,
                        progress: ProgressFn | None = None) -> Scored:
    """Key the shards not keyed before (or whose input changed), score each distinct key of the scan once, and
    fill every unit whose dup_counts are not those of this scan's keys. `host`: the pool's first actor
    (host.RemoteHost), or this process (host.LocalHost)."""
    keyed_before, changed = resume.still_valid(resume.markers(folder, shards, folder.keyed_ids(), folder.keyed),
                                               shards)
    for source in changed:
        log.warning("%s changed (or vanished) since it was scored: scoring it again", source)
    todo = [s for s in shards if s.shard_id not in keyed_before]
    resume.clear(folder, [s.shard_id for s in todo])
    if todo:
        clock.next("keying")
        if at_most(todo, options.small_scan_rows):  # this process keys them
            local.key_here(folder, todo, options, progress)
        else:  # `host` gives its CPU to the keying tasks (a 1-CPU node needs it); the pool then scores
            host.stop()
            host = None
            _key(folder, todo, options, progress)
    failures = resume.failures(folder, [s.shard_id for s in todo])
    keyed = dict(resume.markers(folder, shards, folder.keyed_ids(), folder.keyed))
    generation_id = generation(keyed)
    finished = dict(resume.markers(folder, shards))
    current = {sid for sid, m in finished.items() if sid in keyed and m.get("generation") == generation_id}
    stale = [sid for sid in keyed if sid not in current]
    for sid in finished:
        if sid not in current:
            storage.remove_file(folder.fs, folder.done(sid))
    rows = sum(m["keyed"] for m in keyed.values())
    here = sum(m["rows"] for m in keyed.values()) <= options.small_scan_rows
    if not stale:
        stats = _stats(folder, keyed, generation_id, None, 0, here)
        return Scored(failures, 0.0, keyed_before, changed, 0, stats | {"steps_in_driver": here})
    scored, seconds, counts = 0, 0.0, None
    if rows:
        clock.next("counting")
        counts = _counts(folder, list(keyed), rows, here)
        clock.next("scoring")
        scored, seconds = _score(folder, counts, here, host, options, pool, batch_size, progress, usage)
    clock.next("joining")
    stale_rows = sum(keyed[s]["rows"] for s in stale)
    if here:
        counts = local.key_counts_here(folder, []) if counts is None else counts
        local.fill_here(folder, stale, counts, generation_id, stale_rows, progress)
    else:
        fill_units(folder, stale, counts, generation_id, stale_rows, progress)
    failures |= resume.failures(folder, stale)
    stats = _stats(folder, keyed, generation_id, counts, scored, here)
    return Scored(failures, seconds, keyed_before, changed, scored, stats | {"steps_in_driver": here})
