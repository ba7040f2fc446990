"""Text made safe for one terminal line: what a terminal would act on (escape sequences, bidi overrides) escaped.

Input file and column names reach error and log lines; printed raw they could rewrite the user's screen.
"""
from __future__ import annotations

import unicodedata


def unprintable(ch: str) -> bool:
    """Control, format, surrogate, private-use or unassigned characters."""
    return unicodedata.category(ch).startswith("C")


def printable(text: str) -> str:
    """`text` on one line, each unprintable character written as its Python escape (`\\x1b`, `\\n`, `\\u202e`)."""
    return "".join(ch.encode("unicode_escape").decode("ascii") if unprintable(ch) else ch for ch in text)
