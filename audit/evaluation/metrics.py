"""Detection metrics for a score where larger means 'memorized' (label 1)."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, max_fpr: float) -> float:
    """Standard TPR@x%FPR: the best TPR among ROC points with FPR <= x."""
    return float(tpr[fpr <= max_fpr + 1e-12].max())


def tpr_at_closest_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """The paper authors' rule: TPR at the ROC point whose FPR is closest to the target (may exceed it)."""
    return float(tpr[int(np.argmin(np.abs(fpr - target)))])


def detection_metrics(labels: np.ndarray, scores: np.ndarray) -> dict:
    """AUC, TPR at 1% and 3% FPR (standard), and the authors' closest-point TPRs for comparison."""
    labels, scores = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    if labels.min() == labels.max():
        raise ValueError("detection metrics need both memorized and clean captions")
    fpr, tpr, _ = roc_curve(labels, scores)
    return {
        "auc": float(roc_auc_score(labels, scores)),
        "tpr@1%fpr": tpr_at_fpr(fpr, tpr, 0.01),
        "tpr@3%fpr": tpr_at_fpr(fpr, tpr, 0.03),
        "authors_rule_tpr@closest_1%fpr": tpr_at_closest_fpr(fpr, tpr, 0.01),
        "authors_rule_tpr@closest_3%fpr": tpr_at_closest_fpr(fpr, tpr, 0.03),
    }


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) arrays of the ROC curve."""
    fpr, tpr, _ = roc_curve(np.asarray(labels, dtype=int), np.asarray(scores, dtype=float))
    return fpr, tpr
