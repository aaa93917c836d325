"""DeLong's variance of an AUC and the test of two correlated AUCs.

DeLong, DeLong & Clarke-Pearson, Biometrics 1988;44:837-845, computed with the fast algorithm
of Sun & Xu, IEEE Signal Process Lett 2014;21:1389-1393 (midranks instead of the m x n
comparison matrix). Written here because neither scikit-learn nor scipy has it; the numbers
match pROC's `var()` and `roc.test()` on pROC's aSAH data (tests/unit/metrics/test_delong.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm, rankdata

from gliopet.metrics.classification import check_binary


def _structural_components(
    y: NDArray[np.int_], scores: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """AUCs (k,) and DeLong's structural components V10 (k, m) and V01 (k, n) (Sun & Xu)."""
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    tx = rankdata(pos, axis=1)
    ty = rankdata(neg, axis=1)
    tz = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    auc = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:, :m] - tx) / n  # per positive: fraction of negatives below (ties 1/2)
    v01 = 1.0 - (tz[:, m:] - ty) / m  # per negative: fraction of positives above
    return auc, v10, v01


def delong_covariance(y_true: ArrayLike,
                      scores: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """AUCs (k,) and their DeLong covariance matrix (k, k) for scores of shape (k, n)."""
    y = check_binary(y_true)
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    auc, v10, v01 = _structural_components(y, s)
    m, n = v10.shape[1], v01.shape[1]
    if m < 2 or n < 2:  # a sample covariance needs two cases of each class: undefined (NaN)
        return auc, np.full((s.shape[0], s.shape[0]), np.nan)
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return auc, cov


def delong_variance(y_true: ArrayLike, score: ArrayLike) -> tuple[float, float]:
    """(AUC, DeLong variance of the AUC) of one score."""
    auc, cov = delong_covariance(y_true, np.asarray(score, dtype=float)[None, :])
    return float(auc[0]), float(cov[0, 0])


@dataclass(frozen=True)
class DeLongResult:
    """DeLong's test of two correlated AUCs (same subjects): ``auc_a - auc_b``."""

    auc_a: float
    auc_b: float
    difference: float
    se: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float


def delong_test(y_true: ArrayLike, score_a: ArrayLike, score_b: ArrayLike, *,
                level: float = 0.95) -> DeLongResult:
    """Two-sided DeLong test of AUC(a) = AUC(b) and the interval of their difference.

    Parameters
    ----------
    y_true : array (n,) of 0/1
    score_a, score_b : arrays (n,)
        Scores of the two models on the same subjects, in the same order.
    level : float
        Coverage of the normal interval of the difference.
    """
    auc, cov = delong_covariance(y_true, np.vstack([np.asarray(score_a, dtype=float),
                                                    np.asarray(score_b, dtype=float)]))
    diff = float(auc[0] - auc[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = float(np.sqrt(max(var, 0.0)))
    if se == 0.0:  # identical rankings: no difference (pROC's special case too)
        z, p = 0.0, 1.0
    else:
        z = diff / se
        p = float(2 * norm.sf(abs(z)))
    half = float(norm.ppf(0.5 + level / 2)) * se
    return DeLongResult(float(auc[0]), float(auc[1]), diff, se, z, p, diff - half, diff + half)
