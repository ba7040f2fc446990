"""The mitigation stage: per flagged caption, trigger tokens, a rewrite and an adapted embedding.

`setup` loads the model once (one per Ray actor in `scan --mitigate`); `process` takes a frame of
flagged rows (`row_id`, `caption`, `score`, optional `rank`) and returns one result row each, never raising
for a row. The rows of a frame are mitigated together: one leave-one-out engine call, one adaptation batch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import pandas as pd
import torch
from safetensors.torch import save

from audit.mitigation.attribution import METHODS, gradient_x_input, leave_one_out_batch
from audit.mitigation.embedding import adapt_embeddings
from audit.mitigation.rewrite import greedy_drop
from audit.mitigation.target import choose_target
from audit.model.conditioning import TextStates
from audit.runfolder import storage
from audit.scoring.engine import Scorer
from audit.scoring.stage import ScoreStage
from audit.scoring.terms import combine


@dataclass
class MitigationStage:
    """Scoring setup (same model and parameters as the scan), the threshold to get under, budgets, and the
    run folder (local path or object-store URI) whose embeddings/ receives the adapted embeddings."""

    scoring: ScoreStage
    threshold: float
    run_dir: str
    target: float | None = None  # adaptation goal, under the threshold (default: `choose_target` on the profile)
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
        if self.target is None:
            self.target = choose_target(self.threshold, None, self.scoring.weights.clean_median).value
        self._fs, self._root = storage.resolve(self.run_dir)

    def _score(self, captions: list[str]) -> list[float]:
        """Combined scores of caption variants, batched by the engine."""
        w, r = self.scoring.weights, self.scorer.score(captions)
        return [combine(n, c, w) for n, c in zip(r["norm"], r["cosine"])]

    def mitigate(self, rows: list[dict]) -> list[dict]:
        """All three results for each row, computed together; timings are each row's share, in seconds."""
        captions, w, n = [r["caption"] for r in rows], self.scoring.weights, len(rows)
        if not all(isinstance(c, str) and c for c in captions):
            raise TypeError("captions must be non-empty strings")
        t0 = time.perf_counter()
        if self.attribution == "gradient":
            triggers = [gradient_x_input(self.scorer, c, w) for c in captions]
        else:
            triggers = leave_one_out_batch(captions, self._score)
        t1 = time.perf_counter()
        rewrites = [greedy_drop(c, r["score"], self.threshold, self._score, self.max_edits, self.target)
                    for c, r in zip(captions, rows)]
        t2 = time.perf_counter()
        adapted = adapt_embeddings(self.adapt_scorer, captions, w, self.target, self.lr, self.max_steps)
        with torch.no_grad():
            norm, cos = self.scorer.terms_from_states(TextStates.cat([a.states for a in adapted]))
        finals = combine(norm, cos, w).tolist()
        files = [self._save(r, a.states, final) for r, a, final in zip(rows, adapted, finals)]
        t3 = time.perf_counter()
        return [{**self._key(r), "trigger_tokens": [{"token": t, "contribution": c} for t, c in tr],
                 "suggested_caption": rw.caption, "suggested_score": rw.score, "edits": rw.edits,
                 "rewrite_converged": rw.converged, "embedding_file": f, "embedding_score": final,
                 "embedding_steps": a.steps, "embedding_converged": final <= self.threshold,
                 "seconds_triggers": (t1 - t0) / n, "seconds_rewrite": (t2 - t1) / n,
                 "seconds_embedding": (t3 - t2) / n, "status": "ok"}
                for r, tr, rw, a, final, f in zip(rows, triggers, rewrites, adapted, finals, files)]

    def _save(self, row: dict, states: TextStates, score: float) -> str:
        """Write one adapted embedding under diffusers' argument names (SDXL: with `pooled_prompt_embeds`); its
        path relative to the run folder."""
        relative = f"embeddings/{int(row['row_id'])}.safetensors"
        data = save({k: t.float().contiguous().cpu() for k, t in states.named().items()},
                    metadata={"row_id": str(row["row_id"]), "caption": row["caption"], "score": str(score)})
        storage.write_bytes(self._fs, storage.join(self._root, relative), data)
        return relative

    @staticmethod
    def _key(row: dict) -> dict:
        """The identifying columns of a result row."""
        return {"rank": row.get("rank"), "row_id": int(row["row_id"]), "caption": row["caption"],
                "original_score": float(row["score"])}

    def _one(self, row: dict) -> dict:
        """One row alone, its failure recorded in `status`."""
        try:
            return self.mitigate([row])[0]
        except Exception as err:  # one bad row must not lose the others
            return {**self._key(row), "status": f"error: {type(err).__name__}: {err}"}

    def process(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One result row per input row, in input order; when the batch fails, each row is retried alone."""
        rows = frame.to_dict("records")
        try:
            results = self.mitigate(rows)
        except Exception:  # find the row that fails; the others keep their results
            results = [self._one(row) for row in rows]
        return pd.DataFrame(results)
