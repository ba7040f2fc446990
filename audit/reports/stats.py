"""One streaming pass over report/: score histogram, a bounded sample of the two terms, per-shard counts.

Memory is bounded by one Parquet batch plus the sample (at most about SCATTER_POINTS + FLAGGED_POINTS rows);
captions are never read. The sample is drawn with a fixed seed, so the same run folder gives the same plots.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from audit.runfolder.folder import RunFolder

BINS = 60
SCATTER_POINTS = 50_000  # unflagged rows in the scatter plot
FLAGGED_POINTS = 10_000  # flagged rows, sampled apart so that a few flagged rows among millions still show


@dataclass
class RunStats:
    """Histogram of the combined score, sampled (norm, cosine, flagged, score, dup_count) points (dup_count empty
    when the scan did not deduplicate), rows/scored/flagged per source."""

    edges: np.ndarray
    counts: np.ndarray
    norm: np.ndarray
    cosine: np.ndarray
    flagged: np.ndarray
    score: np.ndarray = field(default_factory=lambda: np.array([]))
    dup_count: np.ndarray = field(default_factory=lambda: np.array([]))
    scored: int = 0
    n_flagged: int = 0
    shards: dict[str, dict[str, int]] = field(default_factory=dict)


def _edges(run: RunFolder, cut: float | None) -> np.ndarray:
    """BINS equal bins over the scores (and the cut, so it shows); empty when nothing was scored."""
    span = run.score_range()
    if span is None:
        return np.array([])
    values = [*span] if cut is None else [*span, cut]
    low, high = min(values), max(values)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, BINS + 1)


def _keep(rng: np.random.Generator, flagged: np.ndarray, p_flagged: float, p_other: float) -> np.ndarray:
    """Which rows of a batch go into the sample."""
    return rng.random(len(flagged)) < np.where(flagged, p_flagged, p_other)


def collect_stats(run: RunFolder, summary: dict, cut: float | None) -> RunStats:
    """Stream report/ once; `summary` (summary.json) sizes the sample, `cut` widens the histogram range."""
    edges = _edges(run, cut)
    stats = RunStats(edges, np.zeros(max(len(edges) - 1, 0), dtype=np.int64), np.array([]), np.array([]),
                     np.array([], dtype=bool))
    expected_flagged = max(summary["flagged"], 1)
    p_flagged = min(1.0, FLAGGED_POINTS / expected_flagged)
    p_other = min(1.0, SCATTER_POINTS / max(summary["rows_scored"] - summary["flagged"], 1))
    rng = np.random.default_rng(0)
    samples, totals = [], None
    copies = "dup_count" in run.report_columns()
    for batch in run.report_batches(["score", "norm", "cosine", "flagged", "source", *["dup_count"] * copies]):
        score = batch.column("score").to_numpy(zero_copy_only=False).astype(float)
        flagged = batch.column("flagged").to_numpy(zero_copy_only=False).astype(bool)
        scored = np.isfinite(score)
        stats.scored += int(scored.sum())
        stats.n_flagged += int(flagged.sum())
        if len(edges):
            stats.counts += np.histogram(score[scored], bins=edges)[0]
        keep = scored & _keep(rng, flagged, p_flagged, p_other)
        counts_of = batch.column("dup_count").to_numpy(zero_copy_only=False) if copies else np.full(len(score), None)
        samples.append([batch.column(c).to_numpy(zero_copy_only=False)[keep].astype(float) for c in ("norm", "cosine")]
                       + [flagged[keep], score[keep], np.asarray(counts_of[keep], dtype=float)])
        frame = pd.DataFrame({"source": batch.column("source").to_pylist(), "rows": 1, "scored": scored,
                              "flagged": flagged})
        counts = frame.groupby("source").sum()
        totals = counts if totals is None else totals.add(counts, fill_value=0)
    if samples:
        stats.norm, stats.cosine, stats.flagged, stats.score, dup = (np.concatenate(parts) for parts in zip(*samples))
        stats.dup_count = dup if np.isfinite(dup).all() else np.array([])  # null: the scan did not deduplicate
    if totals is not None:
        stats.shards = {str(s): {k: int(v) for k, v in row.items()} for s, row in totals.sort_index().iterrows()}
    return stats
