"""Run a scan: expand inputs, score the unfinished shards on Ray (read -> score -> write), rank, summarize.

Resume: a shard whose done marker names the input's current identity (size, modification time) is not
read again; the rest, and inputs changed since, are redone from scratch. The report is rebuilt from all
finished shards each time, so it equals that of an uninterrupted run.
"""
from __future__ import annotations

import logging
from contextlib import nullcontext
from functools import partial

from audit.cluster.connect import connected
from audit.cluster.here import one_actor_here
from audit.cluster.pool import PoolOptions, actor_options
from audit.cluster.usage import PoolUsage
from audit.cluster.watchdog import Watchdog
from audit.pipeline import resume
from audit.pipeline.clock import PhaseClock
from audit.pipeline.dedup import local
from audit.pipeline.dedup.run import score_distinct_keys
from audit.pipeline.host import LocalHost
from audit.pipeline.options import ScanOptions, Scored
from audit.pipeline.placement import describe_on_pool
from audit.pipeline.stream import score_every_row
from audit.pipeline.summary import build_summary, retime, timing
from audit.pipeline.tracker import Progress, ProgressFn
from audit.ranking.flagging import choose_flagging
from audit.ranking.range_sort import rank_finished_shards
from audit.readers.inputs import Shard
from audit.readers.preflight import checked_inputs
from audit.readers.units import at_most, plan_units
from audit.reports.html import write_html_report
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder
from audit.runfolder.guard import claim, locked
from audit.runfolder.params import check_or_store, scan_identity, score_params
from audit.scoring.profiles import Profile, warn_uncalibrated

log = logging.getLogger(__name__)
WATCHED_PHASES = ("keying", "scoring", "joining")  # each reports its units or batches as they finish


def _carry_or_drop_mitigations(folder: RunFolder, summary: dict) -> None:
    """Keep an earlier mitigation's summary if it came from this very report, else delete its outputs."""
    try:
        before = storage.read_json(folder.fs, folder.path("summary.json")) if folder.exists("summary.json") else {}
    except ValueError:
        before = {}
    if before.get("scan_id") == summary["scan_id"]:
        if "mitigation" in before:
            summary["mitigation"] = before["mitigation"]
    elif dropped := folder.drop_mitigations():
        log.warning("removed %s: they came from an earlier report of other rows", ", ".join(dropped))


def _score(folder: RunFolder, shards: list[Shard], options: ScanOptions, pool: PoolOptions, metadata: dict, host,
           clock: PhaseClock, usage: PoolUsage, progress: ProgressFn | None) -> tuple[Scored, dict, dict]:
    """Check the run parameters against the folder's, forget the units no longer part of the scan, then score
    the shards; what was scored, the parameters, and the earlier inputs that left the report."""
    warn_uncalibrated(Profile(**metadata["profile"]), metadata["model"])  # the actors' warnings go to Ray's log
    params = score_params(metadata, options.caption_column, options.caption_field) | {"dedup": options.dedup}
    check_or_store(folder, params)
    left = resume.left_inputs(folder, shards)
    resume.forget_others(folder, shards)
    score = score_distinct_keys if options.dedup else score_every_row
    log.info("%d shards to scan with %s%s", len(shards), pool.describe(),
             "" if options.dedup else ", every row scored (no dedup)")
    return score(folder, shards, options, pool, metadata["batch_size"], host, clock, usage, progress), params, left


def _watched(progress: ProgressFn | None, watchdog: Watchdog) -> ProgressFn:
    """`progress`, also telling `watchdog` that a unit or batch of its stage finished."""
    def report(p: Progress) -> None:
        watchdog.beat(p.stage)
        if progress is not None:
            progress(p)

    return report


def _watch_phase(watchdog: Watchdog, phase: str) -> None:
    """Watch the phases that finish units or batches; not counting and ranking (all-to-all steps on CPUs)."""
    if phase in WATCHED_PHASES:
        watchdog.watch(phase)
    else:
        watchdog.rest()


def in_driver(options: ScanOptions, shards: list[Shard]) -> bool:
    """Whether this process scans `shards` alone, Ray never started: a small scan (dedup: keyed, counted and
    joined in the driver; every row: read and written in it) whose pool would be one actor on this machine
    (`one_actor_here`)."""
    return (at_most(shards, options.small_scan_rows)
            and one_actor_here(options.address, options.stage.device, options.actors, options.max_actors))


def planned(options: ScanOptions, exclude: str) -> list[Shard]:
    """The scan's units: `options.units` when the caller planned them, else those of its checked inputs."""
    if options.units is not None:
        return options.units
    expanded = options.expanded or checked_inputs(options.inputs, options.caption_column, exclude=exclude)
    return plan_units(expanded, options.unit_rows)


def _describe(options: ScanOptions, pool: PoolOptions, here: bool, output: str, watchdog: Watchdog):
    """The run parameters and the host that computed them: this process, or the pool's first actor."""
    if here:
        host = LocalHost(options.stage, output)
        return host.metadata(), host
    return describe_on_pool(options.stage, pool, options.gpu_wait, output, watchdog)


def run_scan(options: ScanOptions, progress: ProgressFn | None = None, clock: PhaseClock | None = None) -> dict:
    """Scan `options.inputs` into `options.output`, calling `progress` while scoring; return the summary (also
    written as summary.json). The report is written even when no row could be scored. `clock`: the command's
    phases so far (default: a clock started now). A small scan on this machine alone runs in this process."""
    clock = clock or PhaseClock()
    folder = RunFolder.at(options.output)
    claim(folder)
    shards = planned(options, folder.root)
    here = in_driver(options, shards)
    with locked(folder, "scan"), nullcontext() if here else connected(options.address):
        pool = PoolOptions(1, {}, 0) if here else actor_options(options.stage.device, options.actors,
                                                                options.actor_cpus, options.max_actors)
        if not here and options.dedup and at_most(shards, options.small_scan_rows):
            local.import_tokenizers_meanwhile()  # this process will key the scan while an actor loads the model
        usage = PoolUsage()
        with Watchdog(0 if here else options.stall_timeout, pool.asks()) as watchdog:
            clock.listener = partial(_watch_phase, watchdog)
            try:
                metadata, host = _describe(options, pool, here, folder.address, watchdog)
                try:
                    scored, params, left = _score(folder, shards, options, pool, metadata, host, clock, usage,
                                                  _watched(progress, watchdog))
                finally:
                    host.stop()
            finally:
                clock.listener = None
        clock.next("ranking")
        markers = resume.markers(folder, shards)
        rows_now = sum(m["rows"] for sid, m in markers if sid not in scored.resumed)
        flagging = choose_flagging(options.threshold, options.top_k, options.top_fraction, metadata["threshold"],
                                   sum(m["scored"] for _, m in markers))
        small = sum(m["rows"] for _, m in markers) <= options.small_scan_rows
        flagged = rank_finished_shards(folder, markers, flagging, metadata, options.rows_per_file, here=small)
        storage.remove_tree(folder.fs, folder.path("staging"))
    clock.next("reports")
    times = timing(clock.record(), scored.model_seconds, rows_now, scored.captions, pool.size)
    summary = build_summary(shards, markers, scored.failures, len(scored.resumed), flagging, flagged, metadata, times)
    summary["flagged_captions"] = folder.count_flagged_captions()
    summary["shards"]["rescored_changed"] = scored.changed
    summary["dedup"] = scored.dedup
    summary["pool"] = ({"in_driver": True} if here else pool.describe()) | usage.summary()
    log.info("scoring actors over time ([seconds, actors]): %s", summary["pool"]["timeline"])
    summary["scan_id"] = scan_identity(params, markers)
    summary["left_report"] = left
    _carry_or_drop_mitigations(folder, summary)
    storage.write_json(folder.fs, folder.path("summary.json"), summary)
    write_html_report(options.output)
    return finish_timing(folder, summary, clock)


def finish_timing(folder: RunFolder, summary: dict, clock: PhaseClock) -> dict:
    """`summary` with its timing up to now, also written to summary.json (report.html keeps the phases it saw)."""
    summary = summary | {"timing": retime(summary, clock.record())}
    storage.write_json(folder.fs, folder.path("summary.json"), summary)
    return summary
