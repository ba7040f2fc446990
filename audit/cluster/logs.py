"""Ray's own output in the run's log file, not on the user's terminal.

Ray writes to the process's stderr from Python (its loggers, warnings) and from C++ (core worker lines), and
so do the Ray processes it starts. While inside `ray_output_in_log`, file descriptor 2 points at the log file,
every log record goes there too, and only our own warnings and errors reach the terminal.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, TextIO

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_path(output: str, name: str) -> str:
    """logs/<name> in a local run folder; for an object-store run folder, a local temporary file."""
    if "://" in output:
        handle, path = tempfile.mkstemp(prefix=f"audit-{Path(name).stem}-", suffix=".log")
        os.close(handle)
        return path
    folder = Path(output) / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / name)


def _stderr_fd() -> int | None:
    """2 when sys.stderr is the process's stderr (not, e.g., a test's capture or a notebook's stream)."""
    try:
        return 2 if sys.stderr.fileno() == 2 else None
    except (AttributeError, OSError, ValueError):
        return None


class _Ours(logging.Filter):
    """Our own warnings and errors (not Ray's) reach the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] in ("audit", "__main__")


@contextmanager
def _routed_logging(log: TextIO, console: TextIO, lines: logging.Filter | None) -> Iterator[None]:
    """While inside: every log record to the log file, our warnings and errors to the console too, each through
    `lines` (our escaping) if given."""
    root = logging.getLogger()
    saved = root.handlers[:]
    to_file, to_console = logging.StreamHandler(log), logging.StreamHandler(console)
    for handler in (to_file, to_console) if lines is not None else ():
        handler.addFilter(lines)
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
    """No Ray Data progress bars or progress logs: our progress line replaces them."""
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False


@contextmanager
def ray_output_in_log(output: str, name: str, lines: logging.Filter | None = None) -> Iterator[tuple[TextIO, str]]:
    """While inside, Ray's and the libraries' output goes to logs/`name` of the run folder `output`, log records
    through `lines`; yields the stream for our own lines (the original stderr) and the log's path."""
    _quiet_ray_data()
    path = log_path(output, name)
    fd = _stderr_fd()
    with open(path, "a", buffering=1) as log:
        if fd is None:
            with _routed_logging(log, sys.stderr, lines):
                yield sys.stderr, path
            return
        sys.stderr.flush()
        saved = os.dup(fd)
        terminal = os.fdopen(saved, "w", buffering=1, encoding=sys.stderr.encoding, errors="replace")
        os.dup2(log.fileno(), fd)
        try:
            with _routed_logging(log, terminal, lines):
                yield terminal, path
        finally:
            sys.stderr.flush()
            terminal.flush()
            os.dup2(saved, fd)
            terminal.close()
