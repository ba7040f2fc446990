"""Flagged rows grouped by caption, so that a caption with many copies is shown once.

Copies of one caption (one `caption_key`; without dedup, one caption text) have one score, so in rank order
they sit together, between rows of other scores, and one streaming pass groups them: memory holds one run of
equal scores (a few rows of each of its captions), however many copies a caption has.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

PLACES = 3  # rows of a caption whose places are shown


@dataclass
class CaptionGroup:
    """One flagged caption: its best-ranked row, how many flagged rows it has, and its first rows (up to PLACES)."""

    row: dict | None
    rows: int
    places: list[dict] = field(default_factory=list)


def _identities(batch: pa.RecordBatch) -> np.ndarray:
    """What makes rows copies of one caption: the caption key, else the caption, else nothing (the row itself)."""
    names = batch.schema.names
    parts = [pc.binary_join_element_wise(pa.scalar(f"{c}:"), batch.column(c).cast(pa.string()), "")
             for c in ("caption_key", "caption", "row_id") if c in names]
    if not parts:
        return np.arange(batch.num_rows).astype(str)
    return pc.coalesce(*parts).to_numpy(zero_copy_only=False) if len(parts) > 1 else \
        parts[0].to_numpy(zero_copy_only=False)


def group_rows(batches: Iterable[pa.RecordBatch], places: int = PLACES) -> Iterator[CaptionGroup]:
    """The captions of rows in rank order (score descending), best-ranked first; each group complete when yielded.
    `places` rows of each are kept (0: count only)."""
    run: dict[object, CaptionGroup] = {}
    run_score = None
    for batch in batches:
        if not batch.num_rows:
            continue
        score = batch.column("score").to_numpy(zero_copy_only=False).astype(float)
        ident = _identities(batch)
        grouped = pd.DataFrame({"score": score, "ident": ident}).groupby(["score", "ident"], sort=False, dropna=False)
        number, nth = grouped.ngroup().to_numpy(), grouped.cumcount().to_numpy()
        sizes = np.bincount(number)
        firsts = np.unique(number, return_index=True)[1]
        kept = np.flatnonzero(nth < places)
        rows = defaultdict(list)
        for n, row in zip(number[kept], batch.take(pa.array(kept, pa.int64())).to_pylist() if len(kept) else []):
            rows[n].append(row)
        for n, first in enumerate(firsts):
            if score[first] != run_score:
                yield from run.values()
                run, run_score = {}, score[first]
            group = run.get(ident[first])
            if group is None:
                run[ident[first]] = CaptionGroup(rows[n][0] if rows[n] else None, int(sizes[n]), rows[n])
            else:
                group.rows += int(sizes[n])
                group.places.extend(rows[n][: places - len(group.places)])
    yield from run.values()
