"""ROC curves of the three scores from an `evaluate` output folder (scores.parquet holds the labels)."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from audit.evaluation.plot import plot_score_rocs


@dataclass(frozen=True)
class Evaluation:
    """Metrics per score name, the ROC figure as PNG, label counts, and the evaluation's score parameters."""

    metrics: dict[str, dict]
    png: bytes
    n_memorized: int
    n_clean: int
    parameters: dict


def load_evaluation(folder: str | Path) -> Evaluation:
    """Read `folder`/scores.parquet (and evaluation.json if present) and draw the three ROC curves."""
    folder = Path(folder)
    if not (folder / "scores.parquet").is_file():
        raise ValueError(f"{folder}: no scores.parquet (write one with `evaluate --output {folder}`)")
    frame = pd.read_parquet(folder / "scores.parquet", columns=["score", "norm", "cosine", "label"])
    n_memorized = int(frame["label"].sum())
    buffer = io.BytesIO()
    metrics = plot_score_rocs(frame, buffer, f"{n_memorized} memorized vs {len(frame) - n_memorized} clean captions")
    details = folder / "evaluation.json"
    parameters = json.loads(details.read_text()).get("score_parameters", {}) if details.is_file() else {}
    return Evaluation(metrics, buffer.getvalue(), n_memorized, len(frame) - n_memorized, parameters)
