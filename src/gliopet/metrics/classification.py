"""AUC and the metrics of a binary decision at an operating threshold.

A prediction is positive when its probability (or score) is at or above the threshold. Every
thresholded metric comes from one confusion count (`counts_metrics`), so the point estimates
and the bootstrap replicates (`gliopet.metrics.bootstrap`) share one definition. A ratio whose
denominator is zero (no predicted positive for the PPV, ...) is NaN, not 0.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import roc_auc_score, roc_curve

from gliopet.errors import InputError

#: Metrics of a decision at a threshold, in report order.
THRESHOLD_METRICS = ("sensitivity", "specificity", "precision", "npv", "accuracy",
                     "balanced_accuracy", "f1")
#: Every metric of `binary_metrics`, in report order.
METRICS = ("auc", *THRESHOLD_METRICS, "brier")


def check_binary(y_true: ArrayLike) -> NDArray[np.int_]:
    """Labels as a 0/1 integer array; both classes must be present.

    Raises
    ------
    InputError
        If a label is not 0/1 or one class is missing.
    """
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise InputError(f"labels must be one-dimensional; got shape {y.shape}")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:  # True/False compare equal to 1/0
        raise InputError(f"labels must be 0/1; got values {sorted(values, key=str)[:5]}")
    if len(values) < 2:
        raise InputError(f"labels hold one class only ({values.pop()!r}); an AUC needs both",
                         fix="give positive and negative cases")
    return y.astype(int)


def counts_metrics(tp: ArrayLike, fp: ArrayLike, tn: ArrayLike,
                   fn: ArrayLike) -> dict[str, NDArray[np.float64]]:
    """Thresholded metrics from confusion counts (arrays broadcast; NaN where undefined)."""
    tp, fp, tn, fn = (np.asarray(a, dtype=float) for a in (tp, fp, tn, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        sensitivity = tp / (tp + fn)
        specificity = tn / (tn + fp)
        return {
            "sensitivity": sensitivity,
            "specificity": specificity,
            "precision": tp / (tp + fp),
            "npv": tn / (tn + fn),
            "accuracy": (tp + tn) / (tp + fp + tn + fn),
            "balanced_accuracy": (sensitivity + specificity) / 2.0,
            "f1": 2.0 * tp / (2.0 * tp + fp + fn),
        }


def predicted_positive(score: ArrayLike, threshold: float | ArrayLike) -> NDArray[np.bool_]:
    """``score >= threshold`` (a threshold per sample is allowed: each fold carries its own)."""
    return np.asarray(score, dtype=float) >= np.asarray(threshold, dtype=float)


def threshold_metrics(y_true: ArrayLike, score: ArrayLike,
                      threshold: float | ArrayLike) -> dict[str, float]:
    """Sensitivity, specificity, precision (PPV), NPV, accuracy, balanced accuracy and F1.

    Parameters
    ----------
    y_true : array of 0/1
    score : array of float
        Probability of the positive class (or any score oriented the same way).
    threshold : float or array
        Operating threshold; positive when ``score >= threshold``.
    """
    y = np.asarray(y_true).astype(bool)
    pred = predicted_positive(score, threshold)
    tp, fp = np.sum(pred & y), np.sum(pred & ~y)
    tn, fn = np.sum(~pred & ~y), np.sum(~pred & y)
    return {k: float(v) for k, v in counts_metrics(tp, fp, tn, fn).items()}


def auc_score(y_true: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve (ties count one half), from scikit-learn."""
    return float(roc_auc_score(check_binary(y_true), np.asarray(score, dtype=float)))


def brier(y_true: ArrayLike, probability: ArrayLike) -> float:
    """Mean squared difference between the probability and the 0/1 outcome."""
    y = np.asarray(y_true, dtype=float)
    return float(np.mean((np.asarray(probability, dtype=float) - y) ** 2))


def binary_metrics(y_true: ArrayLike, probability: ArrayLike,
                   threshold: float | ArrayLike = 0.5) -> dict[str, float]:
    """Every metric of `METRICS`: AUC, the thresholded metrics and the Brier score."""
    y = check_binary(y_true)
    out = {"auc": auc_score(y, probability)}
    out.update(threshold_metrics(y, probability, threshold))
    out["brier"] = brier(y, probability)
    return out


def youden_threshold(y_true: ArrayLike, score: ArrayLike) -> float:
    """The cut-off that maximises Youden's J = sensitivity + specificity - 1.

    The cut-off is one of the observed scores (positive when ``score >= cut-off``); on ties of J
    the highest such score is kept (the more specific rule).
    """
    y = check_binary(y_true)
    fpr, tpr, thresholds = roc_curve(y, np.asarray(score, dtype=float), drop_intermediate=False)
    j = tpr - fpr
    finite = np.isfinite(thresholds)
    best = np.flatnonzero(finite & (j == j[finite].max()))
    return float(thresholds[best[0]])
