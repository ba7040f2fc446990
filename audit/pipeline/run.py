"""Run a scan: expand inputs, score the unfinished shards on Ray (read -> score -> write), rank, summarize.

Resume: a shard whose done marker names the input's current identity (size, modification time) is not
read again; the rest, and inputs changed since, are redone from scratch. The report is rebuilt from all
finished shards each time, so it equals that of an uninterrupted run.
"""
from __future__ import annotations

import logging
import time

from audit.cluster.connect import connected
from audit.cluster.pool import actor_options
from audit.pipeline import resume
from audit.pipeline.dedup.run import score_distinct_keys
from audit.pipeline.options import ScanOptions
from audit.pipeline.placement import describe_on_pool
from audit.pipeline.stream import score_every_row
from audit.pipeline.summary import build_summary, timing
from audit.pipeline.tracker import ProgressFn
from audit.ranking.flagging import choose_flagging
from audit.ranking.range_sort import rank_finished_shards
from audit.readers.preflight import checked_inputs
from audit.readers.units import plan_units
from audit.reports.html import write_html_report
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder
from audit.runfolder.guard import claim, locked
from audit.runfolder.params import check_or_store, scan_identity, score_params
from audit.scoring.profiles import Profile, warn_uncalibrated

log = logging.getLogger(__name__)


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


def run_scan(options: ScanOptions, progress: ProgressFn | None = None) -> dict:
    """Scan `options.inputs` into `options.output`, calling `progress` while scoring; return the summary (also
    written as summary.json). The report is written even when no row could be scored."""
    start = time.monotonic()
    folder = RunFolder.at(options.output)
    claim(folder)
    expanded = options.expanded or checked_inputs(options.inputs, options.caption_column, exclude=folder.root)
    shards = plan_units(expanded, options.unit_rows)
    with locked(folder, "scan"), connected(options.address):
        pool = actor_options(options.stage.device, options.actors, options.actor_cpus)
        metadata = describe_on_pool(options.stage, pool, options.gpu_wait)
        warn_uncalibrated(Profile(**metadata["profile"]), metadata["model"])  # the actors' warnings go to Ray's log
        params = score_params(metadata, options.caption_column, options.caption_field) | {"dedup": options.dedup}
        check_or_store(folder, params)
        left = resume.leave(folder, shards)
        score = score_distinct_keys if options.dedup else score_every_row
        log.info("%d shards to scan with %d actor(s) (%s)%s", len(shards), pool.size, pool.resources,
                 "" if options.dedup else ", every row scored (no dedup)")
        scoring_start = time.monotonic()
        scored = score(folder, shards, options, pool, metadata["batch_size"], progress)
        scoring_seconds = time.monotonic() - scoring_start
        markers = resume.markers(folder, shards)
        rows_now = sum(m["rows"] for sid, m in markers if sid not in scored.resumed)
        flagging = choose_flagging(options.threshold, options.top_k, options.top_fraction, metadata["threshold"],
                                   sum(m["scored"] for _, m in markers))
        flagged = rank_finished_shards(folder, markers, flagging, metadata, options.rows_per_file)
        storage.remove_tree(folder.fs, folder.path("staging"))
    times = timing(time.monotonic() - start, scoring_seconds, scored.model_seconds, rows_now, pool.size)
    summary = build_summary(shards, markers, scored.failures, len(scored.resumed), flagging, flagged, metadata, times)
    summary["flagged_captions"] = folder.count_flagged_captions()
    summary["shards"]["rescored_changed"] = scored.changed
    summary["dedup"] = scored.dedup
    summary["pool"] = {"actors": pool.size, **pool.resources}
    summary["scan_id"] = scan_identity(params, markers)
    summary["left_report"] = left
    _carry_or_drop_mitigations(folder, summary)
    storage.write_json(folder.fs, folder.path("summary.json"), summary)
    write_html_report(options.output)
    return summary
