"""The top flagged captions as a plain-text table that fits the terminal; control characters made harmless."""
from __future__ import annotations

import unicodedata

import pyarrow as pa

from audit.printable import unprintable

NUMBERS = ("score", "norm", "cosine")
MIN_CAPTION = 20


def _char(ch: str) -> str:
    """Whitespace as a space; control, format and unassigned characters (escapes, bidi overrides) as U+FFFD."""
    if ch.isspace():
        return " "
    return "\ufffd" if unprintable(ch) else ch


def _width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def clip(value: str, width: int) -> str:
    """`value` made printable on one line and cut to `width` terminal cells (an ellipsis marks a cut)."""
    chars = [_char(ch) for ch in value]
    if sum(map(_width, chars)) <= width:
        return "".join(chars)
    out, used = [], 0
    for ch in chars:
        if used + _width(ch) > width - 1:
            break
        out.append(ch)
        used += _width(ch)
    return "".join(out) + "…"


def top_table(table: pa.Table, width: int) -> str:
    """Rank, score, norm, cosine, dup_count (when the scan deduplicated) and the caption (cut to fit `width`
    columns) of each row of `table`."""
    ranks = [str(r) for r in table["rank"].to_pylist()]
    rank_width = max([4, *map(len, ranks)])
    copies = table["dup_count"].to_pylist() if "dup_count" in table.column_names else []
    copies_width = max([11, *(len(f"{c:,}") + 2 for c in copies if c is not None)]) if any(
        c is not None for c in copies) else 0
    lead = rank_width + 3 * 9 + copies_width
    caption_width = max(MIN_CAPTION, width - lead - 2)
    lines = [f"{'rank':>{rank_width}}" + "".join(f"{n:>9}" for n in NUMBERS)
             + (f"{'dup_count':>{copies_width}}" if copies_width else "") + "  caption"]
    numbers = [table[c].to_pylist() for c in NUMBERS]
    for i, (rank, caption) in enumerate(zip(ranks, table["caption"].to_pylist())):
        values = "".join(f"{col[i]:>9.4f}" for col in numbers)
        if copies_width:
            values += f"{'' if copies[i] is None else f'{copies[i]:,}':>{copies_width}}"
        lines.append(f"{rank:>{rank_width}}{values}  {clip(caption, caption_width)}")
    return "\n".join(lines)
