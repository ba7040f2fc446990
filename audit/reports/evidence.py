"""What a run folder's own files say, apart from summary.json: markers of finished and failed shards, and the
report's rows, statuses and flags counted from report/ itself (one Parquet batch in memory at a time)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from audit.readers.status import OK
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder


@dataclass
class Evidence:
    """Counts from the folder's files: report rows, flagged rows, rows not scored by reason, shard markers."""

    rows: int = 0
    flagged: int = 0
    flagged_captions: int = 0  # distinct captions among the flagged rows (from flagged.parquet)
    not_scored: Counter = field(default_factory=Counter)
    done_rows: int | None = None  # None: the folder has no done markers to count (a hand-made folder)
    failed: list[dict] = field(default_factory=list)
    done_ids: list[str] = field(default_factory=list)
    failed_ids: list[str] = field(default_factory=list)


def _markers(run: RunFolder, kind: str) -> dict[str, dict]:
    """Unit id -> marker, of the markers in `kind`/ (done or failed)."""
    return {p.rsplit("/", 1)[1][: -len(".json")]: storage.read_json(run.fs, p)
            for p in storage.list_files(run.fs, run.path(kind), ".json")}


def collect_evidence(run: RunFolder) -> Evidence:
    """Count report/ (status, flagged) and read the done/ and failed/ markers; ValueError if done/ is missing
    from a folder a scan wrote (it has run.json)."""
    failed, done = _markers(run, "failed"), _markers(run, "done")
    found = Evidence(failed=list(failed.values()), done_ids=sorted(done), failed_ids=sorted(failed))
    if done:
        found.done_rows = sum(int(m["rows"]) for m in done.values())
    elif run.exists("run.json"):
        raise ValueError(f"{run.address}: no done/ markers: this scan finished no shard")
    columns = ["flagged", "status"] if "status" in run.report_columns() else ["flagged", "score"]
    for batch in run.report_batches(columns):
        flags = batch.column("flagged").to_numpy(zero_copy_only=False).astype(bool)
        found.rows += len(flags)
        found.flagged += int(flags.sum())
        if "status" in columns:
            status = np.asarray(batch.column("status").to_pylist(), dtype=object)
            found.not_scored.update(str(s) for s in status[status != OK])
        else:  # hand-made folders without statuses: a row without a score was not scored
            score = batch.column("score").to_numpy(zero_copy_only=False).astype(float)
            found.not_scored["no score"] += int((~np.isfinite(score)).sum())
    return found
