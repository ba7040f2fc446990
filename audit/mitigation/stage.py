"""The mitigation stage: per flagged caption, trigger tokens, a rewrite and an adapted embedding.

`setup` loads the model once (one per Ray actor in `scan --mitigate`); `process` takes a frame of
flagged rows (`row_id`, `caption`, `score`) and returns one result row each, never raising for a row.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import pandas as pd
import torch
from safetensors.torch import save

from audit.mitigation.attribution import METHODS, gradient_x_input, leave_one_out
from audit.mitigation.embedding import adapt_embedding
from audit.mitigation.rewrite import greedy_drop
from audit.runfolder import storage
from audit.scoring.engine import Scorer
from audit.scoring.stage import ScoreStage
from audit.scoring.terms import combine


@dataclass
class MitigationStage:
    """Scoring setup (same model and parameters as the scan), the threshold to get under, budgets, and the
    folder (local path or object-store URI) for the adapted embeddings."""

    scoring: ScoreStage
    threshold: float
    embeddings_dir: str
    target: float | None = None  # adaptation goal (default: the threshold); a typical caption's score works best
    adapt_generations: int = 4  # latents the adaptation averages over, so it cannot fit one noise sample
    max_edits: int = 3
    max_steps: int = 50
    lr: float = 0.05
    attribution: str = "leave-one-out"  # or "gradient": one backward pass instead of one re-score per word

    def __post_init__(self) -> None:
        if self.attribution not in METHODS:
            raise ValueError(f"attribution must be one of {', '.join(METHODS)}, got {self.attribution!r}")

    def setup(self) -> None:
        """Load the model once; a second scorer shares it with a larger noise bank for the adaptation."""
        self.scoring.setup()
        self.scorer = self.scoring.scorer
        config = replace(self.scorer.config, generations=max(self.adapt_generations, self.scorer.config.generations))
        self.adapt_scorer = Scorer(self.scorer.model, config)
        self._fs, self._root = storage.resolve(self.embeddings_dir)
        self._shown = storage.redact(self.embeddings_dir if storage.is_uri(self.embeddings_dir) else self._root)

    def _score(self, captions: list[str]) -> list[float]:
        """Combined scores of caption variants, batched by the engine."""
        w, r = self.scoring.weights, self.scorer.score(captions)
        return [combine(n, c, w) for n, c in zip(r["norm"], r["cosine"])]

    def mitigate_one(self, row_id: int, caption: str, score: float) -> dict:
        """All three results for one caption; timings per result in seconds."""
        w = self.scoring.weights
        t0 = time.perf_counter()
        if self.attribution == "gradient":
            triggers = gradient_x_input(self.scorer, caption, w)
        else:
            triggers = leave_one_out(caption, self._score)
        t1 = time.perf_counter()
        target = self.threshold if self.target is None else min(self.target, self.threshold)
        rewrite = greedy_drop(caption, score, self.threshold, self._score, self.max_edits, target)
        t2 = time.perf_counter()
        adapted = adapt_embedding(self.adapt_scorer, caption, w, target, self.lr, self.max_steps)
        with torch.no_grad():
            norm, cos = self.scorer.terms_from_states(adapted.states)
        final = float(combine(norm[0], cos[0], w))
        name = f"{row_id}.safetensors"
        data = save({"prompt_embeds": adapted.states.float().contiguous().cpu()},
                    metadata={"row_id": str(row_id), "caption": caption, "score": str(final)})
        storage.write_bytes(self._fs, storage.join(self._root, name), data)
        t3 = time.perf_counter()
        return {"row_id": row_id, "caption": caption, "original_score": score,
                "trigger_tokens": [{"token": t, "contribution": c} for t, c in triggers],
                "suggested_caption": rewrite.caption, "suggested_score": rewrite.score, "edits": rewrite.edits,
                "rewrite_converged": rewrite.converged, "embedding_file": storage.child(self._shown, name),
                "embedding_score": final, "embedding_steps": adapted.steps, "embedding_converged": final <= self.threshold,
                "seconds_triggers": t1 - t0, "seconds_rewrite": t2 - t1, "seconds_embedding": t3 - t2,
                "status": "ok"}

    def process(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One result row per input row; a row that fails carries the reason in `status`."""
        rows = []
        for row_id, caption, score in zip(frame["row_id"], frame["caption"], frame["score"]):
            try:
                rows.append(self.mitigate_one(int(row_id), caption, float(score)))
            except Exception as err:  # one bad row must not lose the others
                rows.append({"row_id": int(row_id), "caption": caption, "original_score": float(score),
                             "status": f"error: {type(err).__name__}: {err}"})
        return pd.DataFrame(rows)
