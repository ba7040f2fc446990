"""Where a command's wall time goes: contiguous phases from the command's start, so they add up to its wall time
(summary.json `timing.phases`, the console's `time:` line)."""
from __future__ import annotations

import os
import time
from typing import Callable

import psutil


def process_started() -> float:
    """This process's start on the `time.monotonic()` clock (imports included), or now if it cannot be read."""
    try:
        age = time.time() - psutil.Process(os.getpid()).create_time()
    except psutil.Error:
        return time.monotonic()
    return time.monotonic() - max(age, 0.0)


class PhaseClock:
    """The current phase runs from the end of the previous one; the first, `start-up`, from `started` (default
    now): imports, starting Ray, loading the model."""

    def __init__(self, started: float | None = None):
        self.started = time.monotonic() if started is None else started
        self.phase, self.since, self.seconds = "start-up", self.started, {}
        self.listener: Callable[[str], None] | None = None  # told each phase's name as it starts

    def next(self, name: str) -> None:
        """End the current phase now and start `name` (a phase entered twice adds up)."""
        now = time.monotonic()
        self.seconds[self.phase] = self.seconds.get(self.phase, 0.0) + now - self.since
        self.phase, self.since = name, now
        if self.listener is not None:
            self.listener(name)

    def record(self) -> dict:
        """Wall seconds so far and the seconds of each phase, the current one up to now."""
        now = time.monotonic()
        phases = dict(self.seconds)
        phases[self.phase] = phases.get(self.phase, 0.0) + now - self.since
        return {"wall_seconds": round(now - self.started, 3), "phases": {k: round(v, 3) for k, v in phases.items()}}
