"""ROC curves of the three scores from an `evaluate` output folder (scores.parquet holds the labels), kept in the
run folder (evaluation/) once added, so that every later rewrite of report.html shows them too."""
from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from audit.evaluation.plot import plot_score_rocs
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder

KEPT = "evaluation"  # in the run folder


@dataclass(frozen=True)
class Evaluation:
    """Metrics per score name, the ROC figure as PNG, label counts, and the evaluation's score parameters."""

    metrics: dict[str, dict]
    png: bytes
    n_memorized: int
    n_clean: int
    parameters: dict
    source: str = ""  # the evaluate output folder, as given


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
    return Evaluation(metrics, buffer.getvalue(), n_memorized, len(frame) - n_memorized, parameters, str(folder))


def keep_evaluation(run: RunFolder, evaluation: Evaluation) -> None:
    """Store the evaluation in the run folder: evaluation/roc.png and evaluation/evaluation.json."""
    fields = {k: v for k, v in asdict(evaluation).items() if k != "png"}
    storage.write_bytes(run.fs, run.path(KEPT, "roc.png"), evaluation.png)
    storage.write_json(run.fs, run.path(KEPT, "evaluation.json"), fields)


def kept_evaluation(run: RunFolder) -> Evaluation | None:
    """The evaluation a `report --evaluation` stored in the run folder; None if there is none."""
    if not (run.exists(KEPT, "evaluation.json") and run.exists(KEPT, "roc.png")):
        return None
    fields = storage.read_json(run.fs, run.path(KEPT, "evaluation.json"))
    with run.fs.open_input_stream(run.path(KEPT, "roc.png")) as src:
        return Evaluation(png=src.read(), **fields)
