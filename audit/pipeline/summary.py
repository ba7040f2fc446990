"""summary.json: what a scan read, scored, skipped and flagged, with which parameters, how fast."""
from __future__ import annotations

from collections import Counter

from audit.ranking.flagging import Flagging
from audit.readers.inputs import Shard
from audit.readers.status import OK


def timing(wall: float, scoring: float, model: float, rows: int, actors: int) -> dict:
    """Wall time; the scoring pipeline's time and rate (with actor start-up and model loading); the model time
    summed over actors and the rate per actor in it, which is what a longer run approaches."""
    return {"wall_seconds": round(wall, 3), "scoring_seconds": round(scoring, 3), "rows_this_run": rows,
            "captions_per_second": round(rows / scoring, 2) if rows and scoring > 0 else None,
            "model_seconds": round(model, 3), "actors": actors,
            "model_captions_per_second": round(rows / model, 2) if rows and model > 0 else None,
            "startup_seconds": round(max(scoring - model / actors, 0.0), 3)}


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
