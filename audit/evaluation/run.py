"""Score labelled memorized / clean captions and measure how well each score separates them."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from audit.evaluation.calibrate import cross_validated_scores, fit_weights, threshold_at_fpr
from audit.evaluation.metrics import detection_metrics
from audit.readers.status import OK
from audit.scoring.profiles import BUILTIN
from audit.scoring.terms import combine

log = logging.getLogger(__name__)


def labelled_scores(stage, memorized: pd.DataFrame, clean: pd.DataFrame) -> pd.DataFrame:
    """Score both frames; returns the scorable rows with a `label` column (1 = memorized)."""
    frames = []
    for label, frame in ((1, memorized), (0, clean)):
        scored = stage.process(frame)
        skipped = scored["status"].ne(OK).sum()
        if skipped:
            log.warning("%d %s captions could not be scored and are left out", skipped,
                        "memorized" if label else "clean")
        frames.append(scored[scored["status"].eq(OK)].assign(label=label))
    return pd.concat(frames, ignore_index=True)


def evaluate_scores(scores: pd.DataFrame, profile, max_fpr: float = 0.01) -> dict:
    """Metrics of the profile's score, the paper's SD 1 weights, each term alone, and fitted weights.

    Fitted weights are reported with out-of-fold (5-fold) metrics, so the figure is not fitted on itself.
    """
    y, n, c = scores["label"].to_numpy(), scores["norm"].to_numpy(), scores["cosine"].to_numpy()
    fitted = fit_weights(n, c, y)
    sd1 = BUILTIN["sd1"]
    results = {
        f"combined ({profile.name}: norm {profile.w_norm:g}, cos {profile.w_cos:g})":
            detection_metrics(y, combine(n, c, profile)),
        f"combined (paper SD 1: norm {sd1.w_norm:g}, cos {sd1.w_cos:g})": detection_metrics(y, combine(n, c, sd1)),
        "norm alone (Wen et al.)": detection_metrics(y, n),
        "cosine alone": detection_metrics(y, c),
        f"combined (fitted: norm {fitted.w_norm:.4g}, cos {fitted.w_cos:.4g}; 5-fold out-of-fold)":
            detection_metrics(y, cross_validated_scores(n, c, y)),
    }
    for name, metrics in results.items():
        if metrics["auc"] < 0.5:
            log.warning("%s works AGAINST detection on this model (AUC %.3f < 0.5)", name, metrics["auc"])
    fitted_scores = combine(n, c, fitted)
    threshold = threshold_at_fpr(fitted_scores[y == 0], max_fpr)
    clean_median = float(np.median(fitted_scores[y == 0]))  # the mitigation's target: a typical clean caption's score
    return {"n_memorized": int(y.sum()), "n_clean": int((y == 0).sum()), "results": results,
            "fitted_profile": {"w_norm": fitted.w_norm, "w_cos": fitted.w_cos, "threshold": threshold,
                               "clean_median": clean_median, "target_fpr": max_fpr}}
