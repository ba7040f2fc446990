"""Run a scan: expand inputs, score the unfinished shards on Ray (read -> score -> write), rank, summarize.

Resume: a shard with a done marker is never read again; the rest are redone from scratch. The
report is rebuilt from all finished shards each time, so it equals that of an uninterrupted run.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import ray

from audit.pipeline import storage
from audit.pipeline.actors import describe_stage
from audit.pipeline.cluster import connected
from audit.pipeline.inputs import Shard, expand_inputs
from audit.pipeline.layout import Layout
from audit.pipeline.params import check_or_store, score_params
from audit.pipeline.pool import actor_options
from audit.pipeline.stream import score_shards
from audit.pipeline.summary import build_summary, timing
from audit.pipeline.tracker import ProgressFn
from audit.reports.final import write_final_report
from audit.reports.flagging import choose_flagging
from audit.reports.html import write_report
from audit.scoring.stage import ScoreStage

log = logging.getLogger(__name__)


@dataclass
class ScanOptions:
    """Everything a scan needs; see `python -m audit scan --help` for the meaning of each."""

    inputs: list[str]
    output: str
    stage: ScoreStage = field(default_factory=ScoreStage)
    caption_column: str | None = None
    caption_field: str | None = None
    actors: int | None = None
    actor_cpus: float | None = None
    address: str | None = None
    threshold: float | None = None
    top_k: int | None = None
    top_fraction: float | None = None
    rows_per_file: int = 500_000


def _markers(layout: Layout, shards: list[Shard]) -> list[tuple[str, dict]]:
    """Done markers of the finished shards, in input order."""
    done = layout.done_ids()
    return [(s.shard_id, storage.read_json(layout.fs, layout.done(s.shard_id))) for s in shards if s.shard_id in done]


def _describe(stage: ScoreStage, resources: dict) -> dict:
    """`ScoreStage.metadata()`, computed by a task with the actors' resources (the driver may lack a GPU)."""
    try:
        return ray.get(ray.remote(describe_stage).options(**resources).remote(stage))
    except ray.exceptions.RayTaskError as err:  # e.g. a model that cannot be loaded: report the cause
        raise err.cause from None


def run_scan(options: ScanOptions, progress: ProgressFn | None = None) -> dict:
    """Scan `options.inputs` into `options.output`, calling `progress` while scoring; return the summary (also
    written as summary.json). The report is written even when no row could be scored."""
    start = time.monotonic()
    shards = expand_inputs(options.inputs)
    layout = Layout.at(options.output)
    with connected(options.address):
        pool = actor_options(options.stage.device, options.actors, options.actor_cpus)
        metadata = _describe(options.stage, pool.resources)
        check_or_store(layout, score_params(metadata, options.caption_column, options.caption_field))
        done = layout.done_ids()
        todo = [s for s in shards if s.shard_id not in done]
        log.info("%d shards: %d finished before, %d to score with %d actor(s) (%s)", len(shards),
                 len(shards) - len(todo), len(todo), pool.size, pool.resources)
        scoring_start = time.monotonic()
        failures, model_seconds = score_shards(layout, todo, options, pool, progress) if todo else ({}, 0.0)
        scoring_seconds = time.monotonic() - scoring_start
        markers = _markers(layout, shards)
        rows_now = sum(m["rows"] for sid, m in markers if sid not in done)
        flagging = choose_flagging(options.threshold, options.top_k, options.top_fraction, metadata["threshold"],
                                   sum(m["scored"] for _, m in markers))
        flagged = write_final_report(layout, markers, flagging, metadata, options.rows_per_file)
        storage.remove_tree(layout.fs, layout.path("staging"))
    times = timing(time.monotonic() - start, scoring_seconds, model_seconds, rows_now, pool.size)
    summary = build_summary(shards, markers, failures, len(shards) - len(todo), flagging, flagged, metadata, times)
    storage.write_json(layout.fs, layout.path("summary.json"), summary)
    write_report(options.output)
    return summary
