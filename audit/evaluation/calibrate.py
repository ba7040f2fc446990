"""Fit the two score weights on labelled captions and choose a flagging threshold at a target FPR."""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from audit.scoring.profiles import Profile
from audit.scoring.terms import combine


def fit_weights(norm: np.ndarray, cosine: np.ndarray, labels: np.ndarray) -> Profile:
    """Logistic regression on (N, C); the profile 'fitted' with weights scaled so that w_norm = 1 when positive.

    Only the direction of the weight vector matters for ranking, so the scale is free.
    """
    x = np.column_stack([norm, cosine]).astype(float)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    model = LogisticRegression(C=100.0, max_iter=1000).fit((x - mean) / std, labels)
    w = model.coef_[0] / std
    scale = w[0] if w[0] > 0 else np.abs(w).max()
    return Profile("fitted", float(w[0] / scale), float(w[1] / scale), source="logistic regression on labelled captions")


def cross_validated_scores(norm: np.ndarray, cosine: np.ndarray, labels: np.ndarray, folds: int = 5,
                           seed: int = 0) -> np.ndarray:
    """Out-of-fold combined scores: each caption scored with weights fitted without it.

    Each fold's scores are standardized by that fold's training scores so folds are comparable.
    """
    out = np.empty(len(labels))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(norm, labels):
        fitted = fit_weights(norm[train], cosine[train], labels[train])
        train_scores = combine(norm[train], cosine[train], fitted)
        out[test] = (combine(norm[test], cosine[test], fitted) - train_scores.mean()) / (train_scores.std() or 1.0)
    return out


def threshold_at_fpr(clean_scores: np.ndarray, max_fpr: float) -> float:
    """Smallest threshold such that at most max_fpr of clean captions score above it (flagged: score > t)."""
    ordered = np.sort(np.asarray(clean_scores, dtype=float))[::-1]
    allowed = int(np.floor(max_fpr * len(ordered)))
    return float(ordered[min(allowed, len(ordered) - 1)])
