"""The score the embedding adaptation aims for: always under the threshold, preferably a clean caption's.

A run's own median is no reference: in a re-audit of suspect captions it lies above the threshold.
"""
from __future__ import annotations

from dataclasses import dataclass

FALLBACK_MARGIN = 0.1  # without a clean reference, aim this fraction of |threshold| under the threshold


@dataclass(frozen=True)
class Target:
    """The adaptation's goal and where it came from (written to summary.json)."""

    value: float
    source: str


def choose_target(threshold: float, option: float | None, clean_median: float | None) -> Target:
    """`--target` if given, else the profile's clean-caption median if under the threshold, else a margin under it."""
    if option is not None:
        if option >= threshold:
            raise ValueError(f"--target {option:g} is not under the threshold {threshold:g}")
        return Target(option, "option --target")
    if clean_median is not None and clean_median < threshold:
        return Target(clean_median, "profile clean median")
    return Target(threshold - FALLBACK_MARGIN * (abs(threshold) or 1.0),
                  f"threshold minus {FALLBACK_MARGIN:.0%} (the profile has no clean median under the threshold)")
