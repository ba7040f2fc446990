"""ROC curve figure for `evaluate` (matplotlib, no display needed)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_roc(curves: dict[str, tuple], path: str | Path, title: str) -> None:
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
