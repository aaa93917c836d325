"""Calibration: Brier score, reliability-curve bins, calibration intercept and slope."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.linear_model import LogisticRegression

from gliopet.metrics.classification import brier, check_binary


def brier_score(y_true: ArrayLike, probability: ArrayLike) -> float:
    """Mean squared difference between probability and outcome (0 is perfect; 0.25 = coin)."""
    return brier(check_binary(y_true), probability)


def reliability_curve(y_true: ArrayLike, probability: ArrayLike, *, n_bins: int = 10,
                      strategy: str = "uniform") -> pd.DataFrame:
    """Bins of predicted probability with the observed fraction of positives.

    Same binning as `sklearn.calibration.calibration_curve` (``uniform``: equal widths on
    [0, 1]; ``quantile``: equal counts), but every bin is listed with its count (an empty bin
    has NaN means) so that a plot can show where the predictions lie.

    Returns
    -------
    DataFrame
        Columns ``bin_low``, ``bin_high``, ``mean_predicted``, ``observed``, ``count``.
    """
    y = check_binary(y_true)
    p = np.asarray(probability, dtype=float)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1))
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile'; got {strategy!r}")
    which = np.searchsorted(edges[1:-1], p)  # a value on an edge: the lower bin
    rows = []
    for b in range(n_bins):
        inside = which == b
        count = int(inside.sum())
        rows.append({"bin_low": edges[b], "bin_high": edges[b + 1],
                     "mean_predicted": float(p[inside].mean()) if count else np.nan,
                     "observed": float(y[inside].mean()) if count else np.nan, "count": count})
    return pd.DataFrame(rows)


def calibration_line(y_true: ArrayLike, probability: ArrayLike) -> tuple[float, float]:
    """(intercept, slope) of the logistic recalibration ``logit P(y) = a + b logit(p)``.

    A perfectly calibrated model has a = 0 and b = 1; b < 1 means predictions too extreme
    (overfitting). Probabilities are clipped to [1e-6, 1 - 1e-6] before the logit.
    """
    y = check_binary(y_true)
    p = np.clip(np.asarray(probability, dtype=float), 1e-6, 1 - 1e-6)
    logit = np.log(p / (1 - p))[:, None]
    fit = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=1000).fit(logit, y)
    return float(fit.intercept_[0]), float(fit.coef_[0, 0])
