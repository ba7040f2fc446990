"""Driver-side bookkeeping while the pipeline streams: which shards are complete, and progress.

The driver only sees one small record per part file, and forgets a shard once it is finalized,
so its memory depends on the shards in flight, not on the number of rows.
"""
from __future__ import annotations

import time
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import Callable

from audit.cluster.usage import PoolUsage
from audit.readers.inputs import Shard


@dataclass(frozen=True)
class Progress:
    """Rows scored so far, the rows expected in all (from the units' known row counts, else estimated from the
    units seen; None before any), seconds since scoring started, seconds the actors spent in the scoring stage
    (model time), and units finished of all units to score in this run."""

    rows: int
    expected: int | None
    seconds: float
    model_seconds: float
    final: bool = False
    units_done: int = 0
    units: int = 0
    stage: str = "scoring"

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far; None while unknown."""
        if self.expected is None or self.rate <= 0:
            return None
        return max(self.expected - self.rows, 0) / self.rate


ProgressFn = Callable[[Progress], None]


class ShardTracker:
    """Counts scored rows per shard from part records and finalizes each shard once all its rows are written
    (`finalize` returns a Future: a Ray task's `ObjectRef.future()`, or one done already in this process)."""

    def __init__(self, shards: list[Shard], finalize: Callable[[Shard, int], Future], usage: PoolUsage,
                 progress: ProgressFn | None = None):
        self.shards = {s.shard_id: s for s in shards}
        self.finalize, self.usage, self.progress = finalize, usage, progress
        self.parts: dict[str, dict[str, int]] = {}
        self.pending: dict[Future, str] = {}
        self.finished: set[str] = set()
        self.failures: dict[str, str] = {}
        self.rows_done, self.rows_seen, self.shards_seen, self.model_seconds = 0, 0, 0, 0.0
        self.start = time.monotonic()

    def add(self, shard_id: str, part: str, rows: int, shard_rows: int, seconds: float, actor: str, node: str,
            start: float, end: float) -> None:
        """Record one part file and the actor call that scored it; launch the shard's finalize task when its rows
        are complete."""
        self.usage.add(actor, node, start, end)
        parts = self.parts.get(shard_id)
        if parts is None:
            parts = self.parts[shard_id] = {}
            self.rows_seen, self.shards_seen = self.rows_seen + shard_rows, self.shards_seen + 1
        if part in parts:  # a retried batch rewrote the same part
            return
        parts[part] = rows
        self.rows_done += rows
        self.model_seconds += seconds
        if sum(parts.values()) >= shard_rows:
            self.pending[self.finalize(self.shards[shard_id], shard_rows)] = shard_id
            self.finished.add(shard_id)
            del self.parts[shard_id]
        self._collect(block=False)
        self._report(final=False)

    def _collect(self, block: bool) -> None:
        """Reap finished finalize tasks (wait for all if `block`); a failed one fails its shard."""
        if not self.pending:
            return
        for future in wait(list(self.pending), timeout=None if block else 0).done:
            shard_id = self.pending.pop(future)
            try:
                future.result()
            except Exception as err:  # a Ray task's error, or finalizing's own: the shard fails, the scan goes on
                cause = getattr(err, "cause", None) or err
                self.failures[shard_id] = f"finalizing failed: {type(cause).__name__}: {cause}"

    def _report(self, final: bool) -> None:
        if self.progress is None:
            return
        known = [s.rows for s in self.shards.values()]
        if all(n is not None for n in known):
            expected = sum(known)
        else:
            expected = round(self.rows_seen / self.shards_seen * len(self.shards)) if self.shards_seen else None
        self.progress(Progress(self.rows_done, expected, time.monotonic() - self.start, self.model_seconds, final,
                               len(self.finished), len(self.shards)))

    def close(self) -> dict[str, str]:
        """Wait for every finalize task; return shard id -> reason for shards that did not complete."""
        self._collect(block=True)
        self._report(final=True)
        return self.failures | {s: "rows missing after scoring" for s in self.parts}
