"""A minimal caption edit that brings the score under the flagging threshold."""
from __future__ import annotations

from dataclasses import dataclass

from audit.mitigation.attribution import ScoreFn, words


@dataclass
class Rewrite:
    """The suggested caption, its score, the number of words dropped, and whether it got under the threshold."""

    caption: str
    score: float
    edits: int
    converged: bool


def greedy_drop(caption: str, score: float, threshold: float, score_fn: ScoreFn, max_edits: int = 3) -> Rewrite:
    """Drop one word at a time, each round scoring every one-word-shorter candidate in one batch.

    Stops at the first candidate under the threshold, after `max_edits` words, or when one word is left.
    """
    tokens = words(caption)
    best, best_score, edits = tokens, score, 0
    while best_score > threshold and edits < max_edits and len(best) > 1:
        candidates = [best[:i] + best[i + 1 :] for i in range(len(best))]
        scores = score_fn([" ".join(c) for c in candidates])
        under = [i for i, s in enumerate(scores) if s <= threshold]
        pick = under[0] if under else min(range(len(scores)), key=scores.__getitem__)
        best, best_score, edits = candidates[pick], scores[pick], edits + 1
    return Rewrite(" ".join(best), best_score, edits, best_score <= threshold)
