"""The threshold chosen at a target FPR and TPR@FPR, on ties, tiny sets and FPR 0."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from audit.evaluation.calibrate import threshold_at_fpr
from audit.evaluation.metrics import tpr_at_fpr


def flagged_fraction(clean: np.ndarray, threshold: float) -> float:
    return float((clean > threshold).mean())


@pytest.mark.parametrize("fpr", [0.0, 0.01, 0.1, 0.25, 0.5, 1.0])
def test_threshold_flags_at_most_the_target_fraction_of_clean_scores(fpr):
    clean = np.random.default_rng(0).normal(size=200)
    t = threshold_at_fpr(clean, fpr)
    assert flagged_fraction(clean, t) <= fpr
    # the smallest such threshold: the next clean score below it would flag too many
    below = clean[clean < t]
    if len(below):
        assert flagged_fraction(clean, below.max()) > fpr or fpr == 1.0


def test_fpr_zero_is_the_highest_clean_score():
    clean = np.array([0.1, 0.7, 0.3])
    assert threshold_at_fpr(clean, 0.0) == 0.7 and flagged_fraction(clean, 0.7) == 0.0


def test_ties_never_push_the_fpr_over_the_target():
    clean = np.array([1.0, 1.0, 1.0, 1.0, 0.0])  # 80% tied at the top
    t = threshold_at_fpr(clean, 0.5)
    assert t == 1.0 and flagged_fraction(clean, t) == 0.0


def test_tiny_sets():
    assert threshold_at_fpr(np.array([0.4]), 0.01) == 0.4
    assert threshold_at_fpr(np.array([0.4, 0.2]), 0.5) == 0.2 and flagged_fraction(np.array([0.4, 0.2]), 0.2) == 0.5


def roc(labels, scores):
    fpr, tpr, _ = roc_curve(labels, scores)
    return fpr, tpr


def test_tpr_at_fpr_is_the_best_tpr_within_the_fpr():
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.3, 0.2, 0.85, 0.1, 0.05, 0.0])
    fpr, tpr = roc(labels, scores)
    assert tpr_at_fpr(fpr, tpr, 0.0) == 0.25  # only the 0.9 before the first clean caption
    assert tpr_at_fpr(fpr, tpr, 0.25) == 1.0
    assert tpr_at_fpr(fpr, tpr, 0.01) == 0.25


def test_tpr_at_fpr_with_ties_between_classes():
    labels, scores = np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.5, 0.1])
    fpr, tpr = roc(labels, scores)
    assert tpr_at_fpr(fpr, tpr, 0.0) == 0.0  # a tie with a clean caption cannot be flagged at FPR 0
    assert tpr_at_fpr(fpr, tpr, 0.5) == 1.0


def test_tpr_at_fpr_tiny_set():
    fpr, tpr = roc(np.array([1, 0]), np.array([0.9, 0.1]))
    assert tpr_at_fpr(fpr, tpr, 0.0) == 1.0
