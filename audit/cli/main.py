"""Entry point: parse the command, set up logging, turn expected failures into one-line errors.

Every console, log and error line, tracebacks included, goes through `safe_line`: made printable and
stripped of credentials (it may name an input). SIGTERM stops a command as Ctrl-C does (a KeyboardInterrupt
where the program is): cleanly, resumable, exit code 130.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from typing import Iterator

from audit import __version__
from audit.cli.outcome import EXIT_STALLED
from audit.cluster.watchdog import Stalled
from audit.lines import SafeLines, safe_line, safe_lines

EXPECTED_ERRORS = (ValueError, FileNotFoundError, OSError)
EXIT_ERROR, EXIT_INTERRUPTED = 1, 130  # 130: 128 + SIGINT, as shells report Ctrl-C


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """While inside, SIGTERM raises KeyboardInterrupt as Ctrl-C does (only the main thread receives signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class OursOrWarnings(logging.Filter):
    """Our records at every level, other libraries' from WARNING up: their INFO (e.g. matplotlib's "generated new
    fontManager") is not for the user's terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] in ("audit", "__main__") or record.levelno >= logging.WARNING


def _quiet_libraries() -> None:
    """Keep diffusers/transformers/hub progress bars and advisory warnings out of the user's terminal.

    Set through the environment, read when those libraries load (also in Ray workers started from here),
    so commands that need no model do not pay for importing them.
    """
    for name, value in (("DIFFUSERS_VERBOSITY", "error"), ("TRANSFORMERS_VERBOSITY", "error"),
                        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"), ("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")):
        os.environ.setdefault(name, value)


def build_parser() -> argparse.ArgumentParser:
    from audit.cli import check, evaluate, mitigate, report, scan, score, top

    parser = argparse.ArgumentParser(
        prog="memaudit",
        description="Audit the captions a text-to-image diffusion model was trained on and rank them by how "
                    "likely the model memorized them (denoising-free score of Asthana & Belagiannis, ICLR 2026).")
    parser.add_argument("--version", action="version", version=f"audit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details and show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (score, scan, evaluate, mitigate, report, top, check):
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet_libraries()
    args = build_parser().parse_args(argv)
    args.started = None if argv is None else time.monotonic()  # None: the process's start (its imports count)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(SafeLines())
    if not args.verbose:
        handler.addFilter(OursOrWarnings())
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler],
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    threads = os.environ.get("AUDIT_TORCH_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    try:
        with sigterm_as_ctrl_c():
            return int(args.run(args) or 0)
    except EXPECTED_ERRORS as err:
        if args.verbose:
            print(safe_lines(traceback.format_exc()), file=sys.stderr)
        print(f"error: {safe_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Stalled as err:
        if args.verbose:
            print(safe_lines(traceback.format_exc()), file=sys.stderr)
        print(f"error: {safe_line(str(err))}", file=sys.stderr)
        return EXIT_STALLED
    except Exception:  # a bug: its traceback, as safe as every other line
        print(safe_lines(traceback.format_exc()), file=sys.stderr)
        return EXIT_ERROR
