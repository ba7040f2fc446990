"""Trigger tokens: how much each word of a caption contributes to its memorization score."""
from __future__ import annotations

from typing import Callable

ScoreFn = Callable[[list[str]], list[float]]


def words(caption: str) -> list[str]:
    """The caption's whitespace-separated words: the units users read, drop and replace."""
    return caption.split()


def leave_one_out(caption: str, score_fn: ScoreFn) -> list[tuple[str, float]]:
    """(word, contribution) for each word: the score drop when that word alone is removed, in one batch.

    A single-word caption has no variant to compare with: its one word carries the whole score.
    """
    tokens = words(caption)
    if len(tokens) <= 1:
        return [(t, float("nan")) for t in tokens]
    variants = [" ".join(tokens[:i] + tokens[i + 1 :]) for i in range(len(tokens))]
    base, *rest = score_fn([caption, *variants])
    return [(t, base - s) for t, s in zip(tokens, rest)]
