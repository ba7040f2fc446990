"""Which ranked rows a report flags: score above a threshold, or the top k / top fraction of scored rows."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Flagging:
    """flagged = score > threshold, or rank <= top_k; `how` says where the rule came from."""

    threshold: float | None = None
    top_k: int | None = None
    how: str = "none: no --threshold, --top-k or --top-fraction given, and no threshold in the profile"

    def flags(self, scores: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        """Flags for arrays of scores and ranks (NaN score and rank 0 for unscored rows)."""
        if self.top_k is not None:
            return (ranks >= 1) & (ranks <= self.top_k)
        if self.threshold is not None:
            return scores > self.threshold
        return np.zeros(len(scores), dtype=bool)


def choose_flagging(threshold: float | None, top_k: int | None, top_fraction: float | None,
                    profile_threshold: float | None, n_scored: int) -> Flagging:
    """An explicit option (at most one) wins over the profile's calibrated threshold."""
    if threshold is not None:
        return Flagging(threshold=threshold, how="--threshold")
    if top_k is not None:
        return Flagging(top_k=top_k, how="--top-k")
    if top_fraction is not None:
        return Flagging(top_k=math.ceil(top_fraction * n_scored), how=f"--top-fraction {top_fraction}")
    if profile_threshold is not None:
        return Flagging(threshold=profile_threshold, how="threshold of the score profile")
    return Flagging()
