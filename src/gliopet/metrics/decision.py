"""Decision-curve analysis (Vickers & Elkin, Med Decis Making 2006;26:565-574).

Net benefit at threshold probability p_t: ``TP/n - FP/n * p_t / (1 - p_t)``, for the model
(treat when its probability is at or above p_t), for treating every patient and for treating
none (0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from gliopet.metrics.classification import check_binary


def net_benefit(y_true: ArrayLike, probability: ArrayLike,
                thresholds: ArrayLike | None = None) -> pd.DataFrame:
    """Net benefit of the model, of treating all and of treating none at each threshold.

    Parameters
    ----------
    y_true : array of 0/1
    probability : array (n,) or (repeats, n)
        Probability of the positive class; with repeats, the net benefit is averaged.
    thresholds : array, optional
        Threshold probabilities in (0, 1); default 0.01 to 0.99 by 0.01.

    Returns
    -------
    DataFrame
        Columns ``threshold``, ``model``, ``treat_all``, ``treat_none``.
    """
    y = check_binary(y_true).astype(bool)
    p = np.atleast_2d(np.asarray(probability, dtype=float))
    pt = np.arange(1, 100) / 100 if thresholds is None else np.asarray(thresholds, dtype=float)
    if np.any((pt <= 0) | (pt >= 1)):
        raise ValueError("threshold probabilities must lie strictly between 0 and 1")
    n = len(y)
    odds = pt / (1 - pt)
    treat = p[:, :, None] >= pt[None, None, :]  # (repeats, n, thresholds)
    tp = (treat & y[None, :, None]).sum(axis=1) / n
    fp = (treat & ~y[None, :, None]).sum(axis=1) / n
    model = (tp - fp * odds).mean(axis=0)
    prevalence = y.mean()
    treat_all = prevalence - (1 - prevalence) * odds
    return pd.DataFrame({"threshold": pt, "model": model, "treat_all": treat_all,
                         "treat_none": np.zeros_like(pt)})
