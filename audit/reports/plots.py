"""The report's figures as PNG bytes: combined-score histogram, norm-vs-cosine scatter and score against
dup_count (matplotlib, Agg)."""
from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from audit.reports.stats import RunStats  # noqa: E402
from audit.runfolder.folder import RunFolder  # noqa: E402

FLAGGED, OTHER = "#c0392b", "#7f8c8d"


@dataclass(frozen=True)
class Cut:
    """The score above which rows are flagged, and how it was chosen (for labels)."""

    score: float
    label: str


def flag_cut(run: RunFolder, summary: dict) -> Cut | None:
    """The threshold of the run's flagging rule; for top-k, the score of the last flagged row; None without a rule."""
    rule = summary["flagging"]
    if rule["threshold"] is not None:
        return Cut(rule["threshold"], f"threshold {rule['threshold']:.4g} ({rule['chosen_by']})")
    lowest = run.lowest_flagged_score() if rule["top_k"] is not None else None
    return Cut(lowest, f"lowest flagged score {lowest:.4g} ({rule['chosen_by']})") if lowest is not None else None


def png(fig: plt.Figure) -> bytes:
    """The figure as PNG bytes, without the Software tag, so that the same data gives the same bytes; closes it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _no_rows(ax: plt.Axes) -> None:
    ax.text(0.5, 0.5, "no scored rows", ha="center", va="center", transform=ax.transAxes)


def histogram_figure(stats: RunStats, cut: Cut | None) -> plt.Figure:
    """Rows per combined-score bin on a log count axis (labelled at 1, 2, 5, 10, ... below 1,000 rows a bin, so
    that a small run's axis has several labels; at powers of ten above); the cut as a vertical line."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=110)
    if len(stats.edges):
        ax.bar(stats.edges[:-1], stats.counts, width=np.diff(stats.edges), align="edge", color="#2e86c1", log=True)
        top = max(6.0, stats.counts.max() * 1.5)  # room for at least the labels 1, 2 and 5
        ax.set_ylim(0.7, top)
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if top < 1000 else (1.0,)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        _no_rows(ax)
    if cut is not None:
        ax.axvline(cut.score, color=FLAGGED, linestyle="--", linewidth=1.5, label=cut.label)
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("combined score (higher = more likely memorized)")
    ax.set_ylabel("rows (log scale)")
    ax.set_title(f"Combined score of {stats.scored:,} scored rows")
    fig.tight_layout()
    return fig


def score_histogram(stats: RunStats, cut: Cut | None) -> bytes:
    """`histogram_figure` as PNG bytes."""
    return png(histogram_figure(stats, cut))


def _flagged_on_top(ax: plt.Axes, stats: RunStats, x: np.ndarray, y: np.ndarray) -> None:
    """The sampled rows at (x, y): unflagged in grey, flagged in red on top, each counted in the legend."""
    other, flagged = ~stats.flagged, stats.flagged
    ax.scatter(x[other], y[other], s=5, color=OTHER, alpha=0.5, linewidths=0,
               label=f"not flagged ({other.sum():,} shown)")
    ax.scatter(x[flagged], y[flagged], s=14, color=FLAGGED, linewidths=0,
               label=f"flagged ({flagged.sum():,} of {stats.n_flagged:,} shown)")


def terms_scatter(stats: RunStats, w_norm: float, w_cos: float, cut: Cut | None) -> bytes:
    """Norm term against cosine term of the sampled rows, flagged rows on top; the cut as an iso-score line."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=110)
    if not len(stats.norm):
        _no_rows(ax)
        ax.set_title("Score terms (no scored rows)")
        fig.tight_layout()
        return png(fig)
    _flagged_on_top(ax, stats, stats.norm, stats.cosine)
    if cut is not None and w_cos:
        x = np.linspace(stats.norm.min(), stats.norm.max(), 2)
        ax.plot(x, (cut.score - w_norm * x) / w_cos, color=FLAGGED, linestyle="--", linewidth=1,
                label=f"{w_norm:g}·norm + {w_cos:g}·cosine = {cut.score:.4g}")
        low, high = stats.cosine.min(), stats.cosine.max()
        pad = 0.05 * (high - low) or 0.05
        ax.set_ylim(low - pad, high + pad)  # keep the axis on the points, however steep the line
    ax.set_xlabel("norm term")
    ax.set_ylabel("cosine term")
    ax.set_title(f"Score terms ({len(stats.norm):,} of {stats.scored:,} scored rows)")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return png(fig)


def dup_scatter(stats: RunStats, cut: Cut | None) -> bytes:
    """Combined score against dup_count (log axis) of the sampled rows, flagged rows on top; the cut as a line."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=110)
    _flagged_on_top(ax, stats, stats.dup_count, stats.score)
    if cut is not None:
        ax.axhline(cut.score, color=FLAGGED, linestyle="--", linewidth=1, label=cut.label)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("dup_count: rows with the same caption key (log scale)")
    ax.set_ylabel("combined score")
    ax.set_title(f"Score against duplication ({len(stats.score):,} of {stats.scored:,} scored rows)")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return png(fig)
