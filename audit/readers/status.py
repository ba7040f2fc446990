"""Decide per row whether a caption value can be scored, and if not, why."""
from __future__ import annotations

import math

OK = "ok"


def caption_status(value: object) -> str:
    """'ok' for a non-blank string, else the reason: 'null', 'not_string' or 'empty'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if not isinstance(value, str):
        return "not_string"
    if not value.strip():
        return "empty"
    return OK


def combine_status(read_status: str | None, value: object) -> str:
    """A reader's verdict (e.g. 'invalid_utf8'; None or NaN when it had none) wins over the caption check."""
    return read_status if isinstance(read_status, str) and read_status else caption_status(value)
