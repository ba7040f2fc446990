"""ROC curve figures of the combined score and each term alone (matplotlib, no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import matplotlib
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from audit.evaluation.metrics import detection_metrics, roc_points  # noqa: E402

SCORES = (("combined", "score"), ("norm alone", "norm"), ("cosine alone", "cosine"))


def plot_roc(curves: dict[str, tuple], path: str | Path | BinaryIO, title: str) -> None:
    """Write a PNG with one ROC curve per entry: name -> (fpr, tpr, auc); log-scaled FPR axis."""
    fig, ax = plt.subplots(figsize=(6, 5), dpi=120)
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    ax.axvline(0.01, color="grey", linestyle=":", linewidth=1, label="1% FPR")
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate (clean captions flagged)")
    ax.set_ylabel("true positive rate (memorized captions found)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_score_rocs(frame: pd.DataFrame, path: str | Path | BinaryIO, title: str) -> dict[str, dict]:
    """ROC curves of `score`, `norm` and `cosine` against `label` (1 = memorized); returns metrics per curve name."""
    curves, metrics = {}, {}
    for name, column in SCORES:
        metrics[name] = detection_metrics(frame["label"], frame[column])
        fpr, tpr = roc_points(frame["label"], frame[column])
        curves[f"{name}, TPR@1%FPR {metrics[name]['tpr@1%fpr']:.3f}"] = (fpr, tpr, metrics[name]["auc"])
    plot_roc(curves, path, title)
    return metrics
