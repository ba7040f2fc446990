"""Entry point: parse the command, set up logging, turn expected failures into one-line errors.

Every log and error line is made printable and stripped of credentials (it may name an input); SIGTERM
stops a command as Ctrl-C does (a KeyboardInterrupt where the program is): cleanly, resumable, exit code 130.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

from audit import __version__
from audit.cli.outcome import EXIT_STALLED
from audit.cluster.watchdog import Stalled
from audit.printable import printable
from audit.runfolder.storage import redact

EXPECTED_ERRORS = (ValueError, FileNotFoundError, OSError)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


def safe_line(text: str) -> str:
    """`text` as one printable line without credentials."""
    return printable(redact(text))


class SafeLines(logging.Filter):
    """Rewrites each record's message with `safe_line` (its traceback, if any, is left as it is)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = safe_line(record.getMessage()), None
        return True


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
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(SafeLines())
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
            raise
        print(f"error: {safe_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Stalled as err:
        if args.verbose:
            raise
        print(f"error: {safe_line(str(err))}", file=sys.stderr)
        return EXIT_STALLED
