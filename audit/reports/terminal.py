"""The top flagged captions as a plain-text table that fits the terminal; control characters made harmless."""
from __future__ import annotations

import unicodedata

from audit.printable import unprintable
from audit.runfolder.groups import CaptionGroup

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


def place(row: dict) -> str:
    """`part-00001.parquet:57`: a row's input file name and its row index there (or WebDataset key)."""
    where = row.get("key") if row.get("key") is not None else row.get("row_index")
    return f"{str(row.get('source', '')).rsplit('/', 1)[-1]}:{'' if where is None else where}"


def copies(group: CaptionGroup) -> str:
    """`1,274 flagged rows: a.parquet:3, b.parquet:9, c.txt:0, +1,271 more`."""
    more = f", +{group.rows - len(group.places):,} more" if group.rows > len(group.places) else ""
    return f"{group.rows:,} flagged rows: " + ", ".join(map(place, group.places)) + more


def top_table(groups: list[CaptionGroup], width: int) -> str:
    """Rank, score, norm, cosine, dup_count (when the scan deduplicated) and the caption (cut to fit `width`
    columns) of each flagged caption's best row; under a caption flagged in several rows, where they are."""
    rows = [g.row for g in groups]
    ranks = [str(r["rank"]) for r in rows]
    rank_width = max([4, *map(len, ranks)])
    counts = [r.get("dup_count") for r in rows]
    copies_width = max([11, *(len(f"{c:,}") + 2 for c in counts if c is not None)]) if any(
        c is not None for c in counts) else 0
    lead = rank_width + 3 * 9 + copies_width
    caption_width = max(MIN_CAPTION, width - lead - 2)
    lines = [f"{'rank':>{rank_width}}" + "".join(f"{n:>9}" for n in NUMBERS)
             + (f"{'dup_count':>{copies_width}}" if copies_width else "") + "  caption"]
    for group, row, rank, count in zip(groups, rows, ranks, counts):
        values = "".join(f"{row[c]:>9.4f}" for c in NUMBERS)
        if copies_width:
            values += f"{'' if count is None else f'{count:,}':>{copies_width}}"
        lines.append(f"{rank:>{rank_width}}{values}  {clip(row['caption'], caption_width)}")
        if group.rows > 1:
            lines.append(" " * (lead + 2) + clip(copies(group), caption_width))
    return "\n".join(lines)
