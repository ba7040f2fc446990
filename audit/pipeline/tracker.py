"""Driver-side bookkeeping while the pipeline streams: which shards are complete, and progress lines.

The driver only sees one small record per part file, and forgets a shard once it is finalized,
so its memory depends on the shards in flight, not on the number of rows.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

import ray

from audit.readers.inputs import Shard

log = logging.getLogger(__name__)


class ShardTracker:
    """Counts scored rows per shard from part records and finalizes each shard once all its rows are written."""

    def __init__(self, shards: list[Shard], finalize: Callable[[Shard, int], ray.ObjectRef],
                 log_every: float = 10.0):
        self.shards = {s.shard_id: s for s in shards}
        self.finalize, self.log_every = finalize, log_every
        self.parts: dict[str, dict[str, int]] = {}
        self.pending: dict[ray.ObjectRef, str] = {}
        self.finished: set[str] = set()
        self.failures: dict[str, str] = {}
        self.rows_done, self.rows_seen, self.shards_seen = 0, 0, 0
        self.start = self.last_log = time.monotonic()

    def add(self, shard_id: str, part: str, rows: int, shard_rows: int) -> None:
        """Record one part file; launch the shard's finalize task when its rows are complete."""
        parts = self.parts.get(shard_id)
        if parts is None:
            parts = self.parts[shard_id] = {}
            self.rows_seen, self.shards_seen = self.rows_seen + shard_rows, self.shards_seen + 1
        if part in parts:  # a retried batch rewrote the same part
            return
        parts[part] = rows
        self.rows_done += rows
        if sum(parts.values()) >= shard_rows:
            self.pending[self.finalize(self.shards[shard_id], shard_rows)] = shard_id
            self.finished.add(shard_id)
            del self.parts[shard_id]
        self._collect(block=False)
        if time.monotonic() - self.last_log >= self.log_every:
            self.log_progress()

    def _collect(self, block: bool) -> None:
        """Reap finished finalize tasks (wait for all if `block`); a failed one fails its shard."""
        if not self.pending:
            return
        ready, _ = ray.wait(list(self.pending), num_returns=len(self.pending), timeout=None if block else 0)
        for ref in ready:
            shard_id = self.pending.pop(ref)
            try:
                ray.get(ref)
            except ray.exceptions.RayError as err:
                cause = getattr(err, "cause", None) or err
                self.failures[shard_id] = f"finalizing failed: {type(cause).__name__}: {cause}"

    def log_progress(self) -> None:
        elapsed = time.monotonic() - self.start
        rate = self.rows_done / elapsed if elapsed > 0 else 0.0
        expected = self.rows_seen / self.shards_seen * len(self.shards) if self.shards_seen else 0
        eta = f"{(expected - self.rows_done) / rate:.0f} s" if rate > 0 and expected else "unknown"
        log.info("scored %d rows (%d of %d shards finished), %.1f captions/s, ETA %s", self.rows_done,
                 len(self.finished), len(self.shards), rate, eta)
        self.last_log = time.monotonic()

    def close(self) -> dict[str, str]:
        """Wait for every finalize task; return shard id -> reason for shards that did not complete."""
        self._collect(block=True)
        self.log_progress()
        return self.failures | {s: "rows missing after scoring" for s in self.parts}
