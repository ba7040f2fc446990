"""summary.json: what a scan read, scored, skipped and flagged, with which parameters, how fast."""
from __future__ import annotations

from collections import Counter

from audit.ranking.flagging import Flagging
from audit.readers.inputs import Shard
from audit.readers.status import OK

SCORING_PHASES = ("keying", "counting", "scoring", "joining")


def timing(clock: dict, model_seconds: float, rows: int, captions: int, actors: int) -> dict:
    """Wall seconds and their phases (`PhaseClock.record`); rows read this run per wall second; the captions the
    model scored this run (dedup: distinct keys), the model's seconds summed over actors, and captions per second
    per actor in the model, which is what a longer run approaches."""
    wall, phases, model_seconds = clock["wall_seconds"], clock["phases"], round(model_seconds, 3)  # as retime sees it
    return {"wall_seconds": wall, "phases": phases, "rows_this_run": rows,
            "rows_per_second": round(rows / wall, 2) if rows and wall > 0 else None,
            "scoring_seconds": round(sum(phases.get(p, 0.0) for p in SCORING_PHASES), 3),
            "captions_scored": captions, "model_seconds": model_seconds, "actors": actors,
            "model_captions_per_second": round(captions / model_seconds, 2) if captions and model_seconds > 0 else None}


def retime(summary: dict, clock: dict) -> dict:
    """`summary`'s timing with the wall seconds and phases of `clock` (taken later than the summary was built)."""
    t = summary["timing"]
    return timing(clock, t["model_seconds"], t["rows_this_run"], t["captions_scored"], t["actors"])


def build_summary(shards: list[Shard], markers: list[tuple[str, dict]], failures: dict[str, str], resumed: int,
                  flagging: Flagging, flagged: int, metadata: dict, timing: dict) -> dict:
    """The summary of one run over `shards`; `markers` are the finished ones, `failures` id -> reason."""
    statuses: Counter = Counter()
    for _, marker in markers:
        statuses.update(marker["status_counts"])
    sources = {s.shard_id: s.source for s in shards}
    return {
        "complete": not failures,
        "rows_read": sum(m["rows"] for _, m in markers),
        "rows_scored": statuses.get(OK, 0),
        "rows_not_scored": {k: v for k, v in sorted(statuses.items()) if k != OK},
        "flagged": flagged,
        "flagging": {"threshold": flagging.threshold, "top_k": flagging.top_k, "chosen_by": flagging.how},
        "files": len({s.source for s in shards}),
        "shards": {"total": len(shards), "finished": len(markers), "resumed": resumed,
                   "failed": [{"source": sources[i], "shard_id": i, "reason": r} for i, r in sorted(failures.items())]},
        "timing": timing,
        "score_parameters": metadata,
    }
