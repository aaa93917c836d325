"""Probes of a representation (issue 12, item 8b-c): cross-validated linear probe and k-NN on
session vectors, and the aggregation of patch-clustering scores over sessions and seeds.

* Linear probe: standardised features, L2-regularised logistic regression (scikit-learn,
  ``C`` = 1). k-NN: standardised features, ``k`` = min(5, smallest training class), distance
  weighted, its class fraction as the score.
* Cross-validation by subject: `StratifiedGroupKFold` (every session of a subject in one fold),
  one shuffle per seed; the out-of-fold probabilities of every seed form the repeats of
  `gliopet.metrics.bootstrap_metrics` (AUC = mean over seeds; stratified bootstrap 95 % CI).
* A probe may be trained on one feature set and scored on another of the same columns
  (`test_features`): the missing-modality evaluation trains on full vectors and predicts from
  vectors embedded without one modality.
* Transfer (`transfer_probabilities`): fitted once on every session of a training cohort and
  scored on the sessions of another (a held-out generator); no cross-validation, one repeat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gliopet.errors import InputError
from gliopet.metrics import auc_score, bootstrap_metrics

PROBES = ("linear", "knn")
#: Largest number of cross-validation folds.
MAX_FOLDS = 5


@dataclass(frozen=True)
class Score:
    """An estimate with its 95 % CI, the SD over seeds and the number of units behind it."""

    estimate: float
    ci_low: float
    ci_high: float
    seed_sd: float
    n: int


def _estimator(kind: str, n_train_min: int):  # noqa: ANN202  (a scikit-learn pipeline)
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "linear":
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    if kind == "knn":
        k = max(1, min(5, n_train_min))
        return make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=k,
                                                                    weights="distance"))
    raise ValueError(f"unknown probe {kind!r} (one of {', '.join(PROBES)})")


def check_labels(y: np.ndarray, subjects: np.ndarray, what: str) -> int:
    """Number of folds for `y` grouped by `subjects`; refuses one class or too few subjects."""
    y = np.asarray(y, int)
    classes = np.unique(y)
    if len(classes) < 2:
        raise InputError(f"{what}: one class only ({len(y)} session(s), all "
                         f"{'positive' if classes.size and classes[0] == 1 else 'negative'})",
                         fix="evaluate a cohort with both classes of this label")
    per_class = [len(np.unique(np.asarray(subjects)[y == c])) for c in (0, 1)]
    folds = min(MAX_FOLDS, *per_class)
    if folds < 2:
        raise InputError(f"{what}: too few subjects per class for cross-validation by subject "
                         f"({per_class[0]} negative, {per_class[1]} positive)",
                         fix="evaluate a cohort with at least 2 subjects of each class")
    return folds


def cv_probabilities(features: np.ndarray, y: np.ndarray, subjects: np.ndarray, *,
                     kind: str, seeds: list[int], what: str,
                     test_features: np.ndarray | None = None) -> np.ndarray:
    """Out-of-fold positive-class probabilities, one row per seed: (len(seeds), n).

    The probe is fitted on `features` of the training folds and scores `test_features` (same
    rows and columns; `features` when None) of the held-out fold.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    x = np.asarray(features, float)
    x_test = x if test_features is None else np.asarray(test_features, float)
    y = np.asarray(y, int)
    if x.shape != x_test.shape or len(x) != len(y):
        raise ValueError(f"features {x.shape}, test features {x_test.shape}, labels {y.shape}")
    if not np.isfinite(x).all() or not np.isfinite(x_test).all():
        raise InputError(f"{what}: the feature vectors hold missing values",
                         fix="give sessions with the same modalities (or re-run gliopet embed)")
    folds = check_labels(y, subjects, what)
    out = np.empty((len(seeds), len(y)))
    for r, seed in enumerate(seeds):
        split = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        for train, test in split.split(x, y, groups=subjects):
            smallest = int(np.bincount(y[train], minlength=2).min())
            model = _estimator(kind, smallest).fit(x[train], y[train])
            out[r, test] = model.predict_proba(x_test[test])[:, 1]
    return out


def transfer_probabilities(train_features: np.ndarray, y_train: np.ndarray,
                           test_features: np.ndarray, *, kind: str, what: str) -> np.ndarray:
    """A probe fitted on every training row, positive-class probabilities of the test rows of
    another cohort: (1, n_test) (one repeat: the fit has no random part)."""
    x = np.asarray(train_features, float)
    x_test = np.asarray(test_features, float)
    y = np.asarray(y_train, int)
    if x.ndim != 2 or x_test.ndim != 2 or x.shape[1] != x_test.shape[1] or len(x) != len(y):
        raise ValueError(f"features {x.shape}, test features {x_test.shape}, labels {y.shape}")
    if not np.isfinite(x).all() or not np.isfinite(x_test).all():
        raise InputError(f"{what}: the feature vectors hold missing values",
                         fix="give sessions with the same modalities (or re-run gliopet embed)")
    counts = np.bincount(y, minlength=2)
    if counts.min() == 0:
        raise InputError(f"{what}: one class only in the training cohort ({len(y)} session(s))",
                         fix="train on a cohort with both classes of this label")
    model = _estimator(kind, int(counts.min())).fit(x, y)
    return model.predict_proba(x_test)[:, 1][None, :]


def auc_with_ci(y: np.ndarray, probabilities: np.ndarray, *, seed: int,
                n_boot: int) -> Score:
    """AUC (mean over the repeats), stratified bootstrap 95 % CI, SD of the per-repeat AUCs."""
    proba = np.atleast_2d(np.asarray(probabilities, float))
    stats = bootstrap_metrics(y, proba, 0.5, seed=seed, n_boot=n_boot).loc["auc"]
    per_seed = [auc_score(y, row) for row in proba]
    return Score(float(stats["estimate"]), float(stats["ci_low"]), float(stats["ci_high"]),
                 float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else float("nan"),
                 len(proba[0]))


def mean_with_ci(per_session: pd.DataFrame, *, seed: int, n_boot: int) -> Score:
    """Mean over sessions of per-session scores averaged over seeds, with a bootstrap 95 % CI
    over sessions (percentile); SD over seeds of the session means.

    `per_session`: rows = sessions, columns = seeds (NaN where a session has no score).
    """
    table = per_session.dropna(how="all")
    values = table.mean(axis=1).to_numpy(float)
    if values.size == 0:
        return Score(float("nan"), float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, values.size, size=(n_boot, values.size))
    low, high = np.quantile(values[draws].mean(axis=1), [0.025, 0.975])
    seed_means = table.mean(axis=0).to_numpy(float)
    sd = float(np.std(seed_means, ddof=1)) if seed_means.size > 1 else float("nan")
    return Score(float(values.mean()), float(low), float(high), sd, int(values.size))
