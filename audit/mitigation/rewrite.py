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


def greedy_drop(caption: str, score: float, threshold: float, score_fn: ScoreFn, max_edits: int = 3,
                goal: float | None = None) -> Rewrite:
    """Drop one word at a time, each round scoring every one-word-shorter candidate in one batch.

    A caption already under the threshold is returned unchanged. Otherwise each round keeps the
    lowest-scoring candidate, until the score reaches `goal` (default: the threshold; a lower goal
    leaves a margin), `max_edits` words are gone, or one word is left.
    """
    tokens, goal = words(caption), threshold if goal is None else min(goal, threshold)
    best, best_score, edits = tokens, score, 0
    if score <= threshold:
        return Rewrite(caption, score, 0, True)
    while best_score > goal and edits < max_edits and len(best) > 1:
        candidates = [best[:i] + best[i + 1 :] for i in range(len(best))]
        scores = score_fn([" ".join(c) for c in candidates])
        pick = min(range(len(scores)), key=scores.__getitem__)
        best, best_score, edits = candidates[pick], scores[pick], edits + 1
    return Rewrite(" ".join(best), best_score, edits, best_score <= threshold)
