"""The console of `scan` and `mitigate`: our progress line and final block on the terminal; Ray's own output in
the run's log file (`cluster.logs`)."""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator, TextIO

from audit.cluster.logs import ray_output_in_log
from audit.lines import SafeLines, safe_line
from audit.pipeline.tracker import Progress

PROGRESS_EVERY = 10.0  # seconds between progress lines when stderr is not a terminal
LOG_NAME = "scan.log"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def progress_text(p: Progress) -> str:
    """`scoring: 3 of 8 units, 1,024 of ~5,000 rows, 96.3 rows/s, ETA 41 s`."""
    total = f" of ~{p.expected:,}" if p.expected is not None else ""
    units = f"{p.units_done:,} of {p.units:,} units, " if p.units else ""
    return f"{p.stage}: {units}{p.rows:,}{total} rows, {p.rate:,.1f} rows/s, ETA {_duration(p.eta)}"


class Console:
    """Our lines on the terminal, each through `safe_line`: the progress line rewritten in place on a TTY, else
    printed every PROGRESS_EVERY seconds and at the end (unless its counts are unchanged); then plain lines."""

    def __init__(self, stream: TextIO, tty: bool, log_file: str | None = None):
        self.stream, self.tty, self.log_file = stream, tty, log_file
        self.last_line, self.last_counts = time.monotonic(), ("", -1, -1)
        self.open_line = False  # a progress line without its newline is on screen

    def progress(self, p: Progress) -> None:
        if self.tty:
            self.stream.write("\r" + safe_line(progress_text(p)) + "\x1b[K")
            self.open_line = True
            if p.final:
                self._end_line()
        elif (p.final or time.monotonic() - self.last_line >= PROGRESS_EVERY) and \
                (p.stage, p.units_done, p.rows) != self.last_counts:  # no second line for the same counts
            self.last_counts = (p.stage, p.units_done, p.rows)
            self.stream.write(safe_line(progress_text(p)) + "\n")
            self.last_line = time.monotonic()
        self.stream.flush()

    def _end_line(self) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.open_line = False

    def line(self, text: str) -> None:
        self._end_line()
        self.stream.write(safe_line(text) + "\n")
        self.stream.flush()


@contextmanager
def scan_console(output: str, verbose: bool, log_name: str = LOG_NAME) -> Iterator[Console]:
    """The console of one command on a run folder; Ray's output goes to logs/`log_name` unless `verbose`, which
    leaves it and our logs on stderr as they are."""
    if verbose:
        yield Console(sys.stderr, tty=False)
        return
    with ray_output_in_log(output, log_name, SafeLines()) as (terminal, path):
        yield Console(terminal, tty=terminal is not sys.stderr and terminal.isatty(), log_file=path)
