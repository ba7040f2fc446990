"""Range partitioning for the global ranking: split all scores into buckets of similar size, highest first.

Each finished shard keeps a small sample of its scores (evenly spaced order statistics); the driver
merges those samples into cut points, so no pass over all rows is needed to choose the buckets.
Equal scores always fall in the same bucket, so sorting inside a bucket gives the global order.
"""
from __future__ import annotations

import math

import numpy as np

SCORE_SAMPLE_SIZE = 32


def score_sample(scores: np.ndarray) -> list[float]:
    """Up to SCORE_SAMPLE_SIZE evenly spaced order statistics of `scores` (finite values), highest first."""
    ordered = np.sort(scores[np.isfinite(scores)])[::-1]
    if not len(ordered):
        return []
    picks = np.linspace(0, len(ordered) - 1, min(SCORE_SAMPLE_SIZE, len(ordered))).round().astype(int)
    return ordered[picks].tolist()


def cut_points(samples: list[tuple[list[float], int]], rows_per_bucket: int) -> list[float]:
    """Descending cut scores giving buckets of about `rows_per_bucket` rows, from (sample, scored rows) pairs."""
    weighted = sorted(((v, n / len(vals)) for vals, n in samples if vals for v in vals), reverse=True)
    cuts, seen = [], 0.0
    for value, weight in weighted:
        seen += weight
        if seen >= rows_per_bucket * (len(cuts) + 1) and (not cuts or value < cuts[-1]):
            cuts.append(value)
    return cuts


def scored_bucket(scores: np.ndarray, cuts: list[float]) -> np.ndarray:
    """Bucket of each score: the number of cut points strictly above it (0 holds the highest scores)."""
    ascending = np.asarray(cuts[::-1], dtype=float)
    return len(ascending) - np.searchsorted(ascending, scores, side="right")


def unscored_bucket(row_ids: np.ndarray, first: int, count: int, total_rows: int) -> np.ndarray:
    """Buckets `first`..`first+count-1` for unscored rows, split by row id range (they rank by row id)."""
    return first + np.minimum(count - 1, row_ids * count // max(total_rows, 1))


def bucket_count(rows: int, rows_per_bucket: int) -> int:
    return max(1, math.ceil(rows / rows_per_bucket))
