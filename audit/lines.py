"""The one escaping of every line the commands and the API print or log: printable (terminal escapes shown, not acted on)
and without credentials; a traceback line by line."""
from __future__ import annotations

import logging
import traceback

from audit.printable import printable
from audit.runfolder.storage import redact


def safe_line(text: str) -> str:
    """`text` as one printable line without credentials: the one escaping of every line we print or log."""
    return printable(redact(text))


def safe_lines(text: str) -> str:
    """A block of lines (a traceback), each through `safe_line`."""
    return "\n".join(safe_line(line) for line in text.splitlines())


class SafeLines(logging.Filter):
    """Rewrites each record's message with `safe_line`, and its traceback and stack, if any, line by line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = safe_line(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = safe_lines("".join(traceback.format_exception(*record.exc_info)))
        if record.stack_info:
            record.stack_info = safe_lines(record.stack_info)
        return True
