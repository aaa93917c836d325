"""Stratified bootstrap confidence intervals over subjects.

Each replicate draws, with replacement, as many positives from the positives and as many
negatives from the negatives as the data hold (stratified: every replicate keeps the
prevalence and has both classes, so its AUC is defined). The metrics of a replicate are the
same functions as the point estimates (`classification.counts_metrics`); the interval is the
percentile interval of the replicates. With repeated cross-validation, every subject has one
prediction per repeat: a replicate draws subjects once and averages each metric over the
repeats, so the interval is over subjects, not over repeats.

Vectorised by hand (numpy ranks for the AUC): scikit-learn has no bootstrap of metrics and a
loop of `roc_auc_score` calls is two orders of magnitude slower.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata

from gliopet.metrics.classification import METRICS, check_binary, counts_metrics


def _as_repeats(values: ArrayLike, n: int, name: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=float)
    array = array[None, :] if array.ndim == 1 else array
    if array.ndim != 2 or array.shape[1] != n:
        raise ValueError(f"{name} must have shape (n,) or (repeats, n) with n = {n}; "
                         f"got {np.shape(values)}")
    return array


def _replicate_metrics(y: NDArray[np.bool_], proba: NDArray[np.float64],
                       threshold: NDArray[np.float64],
                       idx: NDArray[np.int_]) -> dict[str, NDArray[np.float64]]:
    """Metrics of each row of `idx` (B, n), averaged over the repeats: arrays of length B."""
    yb = y[idx]
    n_pos = yb.sum(axis=1)
    n_neg = yb.shape[1] - n_pos
    sums: dict[str, NDArray[np.float64]] = {m: np.zeros(len(idx)) for m in METRICS}
    for p_rep, t_rep in zip(proba, threshold, strict=True):
        pb = p_rep[idx]
        ranks = rankdata(pb, axis=1)  # average ranks: ties count one half
        sums["auc"] += ((ranks * yb).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        pred = pb >= t_rep[idx]
        counts = counts_metrics((pred & yb).sum(1), (pred & ~yb).sum(1),
                                (~pred & ~yb).sum(1), (~pred & yb).sum(1))
        for key, value in counts.items():
            sums[key] += value
        sums["brier"] += np.mean((pb - yb) ** 2, axis=1)
    return {m: v / len(proba) for m, v in sums.items()}


def bootstrap_metrics(y_true: ArrayLike, probability: ArrayLike,
                      threshold: float | ArrayLike = 0.5, *, seed: int, n_boot: int = 2000,
                      level: float = 0.95, chunk: int = 250) -> pd.DataFrame:
    """Point estimates and stratified bootstrap percentile intervals of every metric.

    Parameters
    ----------
    y_true : array (n,) of 0/1
    probability : array (n,) or (repeats, n)
        Probability of the positive class; one row per repeat of a cross-validation.
    threshold : float or array broadcastable to `probability`
        Operating threshold of each prediction (each fold may carry its own).
    seed : int
        Seed of the resampling: the same seed gives the same intervals.
    n_boot : int
        Number of replicates.
    level : float
        Coverage of the interval (0.95: the 2.5th and 97.5th percentiles).

    Returns
    -------
    DataFrame
        Index: the metrics of `gliopet.metrics.METRICS`; columns ``estimate``, ``ci_low``,
        ``ci_high``. The estimate is the metric on the data (mean over the repeats).
    """
    y = check_binary(y_true).astype(bool)
    proba = _as_repeats(probability, len(y), "probability")
    thr = np.broadcast_to(np.asarray(threshold, dtype=float), proba.shape)
    if not 0 < level < 1 or n_boot < 1:
        raise ValueError(f"level must be in (0, 1) and n_boot >= 1; got {level}, {n_boot}")
    estimate = _replicate_metrics(y, proba, thr, np.arange(len(y))[None, :])
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    draws = np.concatenate([rng.choice(pos, size=(n_boot, len(pos))),
                            rng.choice(neg, size=(n_boot, len(neg)))], axis=1)
    reps: dict[str, list[NDArray[np.float64]]] = {m: [] for m in METRICS}
    for start in range(0, n_boot, chunk):  # chunks bound the memory of the rank arrays
        for key, value in _replicate_metrics(y, proba, thr, draws[start:start + chunk]).items():
            reps[key].append(value)
    alpha = (1 - level) / 2
    rows = {}
    for m in METRICS:
        values = np.concatenate(reps[m])
        low, high = (np.nanquantile(values, [alpha, 1 - alpha]) if np.isfinite(values).any()
                     else (np.nan, np.nan))
        rows[m] = {"estimate": float(estimate[m][0]), "ci_low": float(low),
                   "ci_high": float(high)}
    return pd.DataFrame.from_dict(rows, orient="index")
