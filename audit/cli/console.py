"""The console of `scan`: our progress line and final block on the terminal; Ray's own output in a log file.

Ray writes to the process's stderr from Python (its loggers, warnings) and from C++ (core worker lines), and
so do the Ray processes it starts. Unless --verbose, file descriptor 2 points at the run's log file while Ray
runs, and our lines go to a duplicate of the original stderr.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, TextIO

from audit.cli.lines import SafeLines, safe_line
from audit.pipeline.tracker import Progress

PROGRESS_EVERY = 10.0  # seconds between progress lines when stderr is not a terminal
LOG_NAME = "scan.log"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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


def log_path(output: str) -> str:
    """logs/scan.log in a local run folder; for an object-store run folder, a local temporary file."""
    if "://" in output:
        handle, path = tempfile.mkstemp(prefix="audit-scan-", suffix=".log")
        os.close(handle)
        return path
    folder = Path(output) / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / LOG_NAME)


def _stderr_fd() -> int | None:
    """2 when sys.stderr is the process's stderr (not, e.g., a test's capture)."""
    try:
        return 2 if sys.stderr.fileno() == 2 else None
    except (AttributeError, OSError, ValueError):
        return None


class _Ours(logging.Filter):
    """Our own warnings and errors (not Ray's) reach the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] in ("audit", "__main__")


@contextmanager
def _routed_logging(log, console: TextIO) -> Iterator[None]:
    """While inside: every log record to the log file, our warnings and errors to the console too, each line
    through `safe_line`."""
    root = logging.getLogger()
    saved = root.handlers[:]
    to_file, to_console = logging.StreamHandler(log), logging.StreamHandler(console)
    for handler in (to_file, to_console):
        handler.addFilter(SafeLines())
    to_file.setFormatter(logging.Formatter(LOG_FORMAT))
    to_console.setLevel(logging.WARNING)
    to_console.addFilter(_Ours())
    to_console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root.handlers = [to_file, to_console]
    try:
        yield
    finally:
        root.handlers = saved


def _quiet_ray_data() -> None:
    """No Ray Data progress bars or progress logs: the console's progress line replaces them."""
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False


@contextmanager
def scan_console(output: str, verbose: bool) -> Iterator[Console]:
    """The console of one scan; with `verbose`, Ray's output and our logs stay on stderr as they are."""
    if verbose:
        yield Console(sys.stderr, tty=False)
        return
    _quiet_ray_data()
    path = log_path(output)
    fd = _stderr_fd()
    with open(path, "a", buffering=1) as log:
        if fd is None:
            console = Console(sys.stderr, tty=False, log_file=path)
            with _routed_logging(log, sys.stderr):
                yield console
            return
        sys.stderr.flush()
        saved = os.dup(fd)
        terminal = os.fdopen(saved, "w", buffering=1, encoding=sys.stderr.encoding, errors="replace")
        os.dup2(log.fileno(), fd)
        try:
            with _routed_logging(log, terminal):
                yield Console(terminal, tty=terminal.isatty(), log_file=path)
        finally:
            sys.stderr.flush()
            terminal.flush()
            os.dup2(saved, fd)
            terminal.close()
