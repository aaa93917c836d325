"""Probes of a representation (issue 12, item 8a-c): cross-validated linear probe and k-NN on
session vectors, the patch probe (true compartment of each patch from its features), and the
aggregation of per-session scores over sessions and seeds.

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
* Patch probe (`patch_probe_cv`, `patch_probe_transfer`): a multinomial L2 logistic regression
  (standardised features, ``C`` = 1) from the features of a patch to its true compartment,
  fitted on the patches of the training subjects' sessions (at most `MAX_TRAIN_PATCHES`, drawn
  per seed) and scored per held-out session as the balanced accuracy (mean recall over the
  compartments of that session). Folds by subject: a seeded permutation of the subjects dealt
  into min(`MAX_FOLDS`, subjects) folds. Unlike k-means, it asks whether the compartment can be
  read from the features, whatever their scale and number of dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gliopet.errors import InputError
from gliopet.metrics import auc_score, bootstrap_metrics

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

PROBES = ("linear", "knn")
#: Largest number of cross-validation folds.
MAX_FOLDS = 5
#: Most patches a patch probe is fitted on (a random draw per seed and fold beyond that).
MAX_TRAIN_PATCHES = 20_000


@dataclass(frozen=True)
class Score:
    """An estimate with its 95 % CI, the SD over seeds and the number of units behind it."""

    estimate: float
    ci_low: float
    ci_high: float
    seed_sd: float
    n: int


def _estimator(kind: str, n_train_min: int, *, impute: bool = False):  # noqa: ANN202
    """The probe as a scikit-learn pipeline; with `impute`, missing values are replaced by the
    training rows' median and flagged by an indicator column (fitted inside each training
    fold, as in WP3's radiomics pipeline)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    first = ([SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)]
             if impute else [])
    if kind == "linear":
        return make_pipeline(*first, StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    if kind == "knn":
        k = max(1, min(5, n_train_min))
        return make_pipeline(*first, StandardScaler(),
                             KNeighborsClassifier(n_neighbors=k, weights="distance"))
    raise ValueError(f"unknown probe {kind!r} (one of {', '.join(PROBES)})")


def _check_finite(x: np.ndarray, x_test: np.ndarray, what: str, missing: bool) -> None:
    """Refuse infinite values, and missing ones unless `missing` (they are imputed then)."""
    if any(np.isinf(a).any() if missing else not np.isfinite(a).all() for a in (x, x_test)):
        raise InputError(f"{what}: the feature vectors hold missing values",
                         fix="give sessions with the same modalities (or re-run gliopet embed)")


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
                     test_features: np.ndarray | None = None,
                     missing: bool = False) -> np.ndarray:
    """Out-of-fold positive-class probabilities, one row per seed: (len(seeds), n).

    The probe is fitted on `features` of the training folds and scores `test_features` (same
    rows and columns; `features` when None) of the held-out fold. `missing`: NaN values are
    allowed and imputed inside each training fold (a session's radiomics without a PET-avid
    tumour); otherwise they are refused.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    x = np.asarray(features, float)
    x_test = x if test_features is None else np.asarray(test_features, float)
    y = np.asarray(y, int)
    if x.shape != x_test.shape or len(x) != len(y):
        raise ValueError(f"features {x.shape}, test features {x_test.shape}, labels {y.shape}")
    _check_finite(x, x_test, what, missing)
    folds = check_labels(y, subjects, what)
    out = np.empty((len(seeds), len(y)))
    for r, seed in enumerate(seeds):
        split = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        for train, test in split.split(x, y, groups=subjects):
            smallest = int(np.bincount(y[train], minlength=2).min())
            model = _estimator(kind, smallest, impute=missing).fit(x[train], y[train])
            out[r, test] = model.predict_proba(x_test[test])[:, 1]
    return out


def transfer_probabilities(train_features: np.ndarray, y_train: np.ndarray,
                           test_features: np.ndarray, *, kind: str, what: str,
                           missing: bool = False) -> np.ndarray:
    """A probe fitted on every training row, positive-class probabilities of the test rows of
    another cohort: (1, n_test) (one repeat: the fit has no random part). `missing`: as in
    `cv_probabilities` (imputed from the training rows)."""
    x = np.asarray(train_features, float)
    x_test = np.asarray(test_features, float)
    y = np.asarray(y_train, int)
    if x.ndim != 2 or x_test.ndim != 2 or x.shape[1] != x_test.shape[1] or len(x) != len(y):
        raise ValueError(f"features {x.shape}, test features {x_test.shape}, labels {y.shape}")
    _check_finite(x, x_test, what, missing)
    counts = np.bincount(y, minlength=2)
    if counts.min() == 0:
        raise InputError(f"{what}: one class only in the training cohort ({len(y)} session(s))",
                         fix="train on a cohort with both classes of this label")
    model = _estimator(kind, int(counts.min()), impute=missing).fit(x, y)
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


# ---------------------------------------------------------------------------- patch probe
@dataclass(frozen=True)
class PatchSet:
    """The labelled patches of one session: features (n, D) and true compartments (n,)."""

    subject: str
    features: np.ndarray
    labels: np.ndarray


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean over the classes of `labels` of the fraction of their rows predicted right (NaN
    without rows). (Written out: scikit-learn's version warns when a prediction names a class
    the session does not hold, which is ordinary here.)"""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    if labels.size == 0:
        return float("nan")
    return float(np.mean([np.mean(predicted[labels == c] == c) for c in np.unique(labels)]))


def _finite(s: PatchSet) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(s.features, float).reshape(len(s.labels), -1)
    keep = np.all(np.isfinite(x), axis=1)
    return x[keep], np.asarray(s.labels)[keep]


def fit_patch_probe(train: list[PatchSet], *, seed: int, what: str) -> Pipeline:
    """The patch probe fitted on the patches of `train` (a scikit-learn pipeline)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    parts = [_finite(s) for s in train]
    x = np.concatenate([p[0] for p in parts]) if parts else np.empty((0, 0))
    y = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, int)
    if len(np.unique(y)) < 2:
        raise InputError(f"{what}: fewer than two true compartments among the training "
                         f"patches ({len(y)} patch(es))",
                         fix="evaluate sessions with phantom truth and several compartments")
    if len(y) > MAX_TRAIN_PATCHES:
        pick = np.random.default_rng(seed).choice(len(y), MAX_TRAIN_PATCHES, replace=False)
        x, y = x[pick], y[pick]
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)).fit(x, y)


def _score(model: Pipeline, s: PatchSet) -> float:
    x, y = _finite(s)
    return balanced_accuracy(y, model.predict(x)) if len(y) else float("nan")


def patch_probe_cv(sessions: list[PatchSet], *, seeds: list[int], what: str) -> pd.DataFrame:
    """Balanced accuracy of the patch probe on each session when its subject is held out:
    rows = sessions (in order), columns = seeds (folds drawn per seed)."""
    subjects = np.array(sorted({s.subject for s in sessions}))
    folds = min(MAX_FOLDS, len(subjects))
    if folds < 2:
        raise InputError(f"{what}: {len(subjects)} subject(s); cross-validation by subject "
                         "needs at least 2", fix="evaluate a cohort of several subjects")
    out = pd.DataFrame(index=range(len(sessions)), columns=seeds, dtype=float)
    for seed in seeds:
        order = np.random.default_rng(seed).permutation(subjects)
        fold_of = {subject: i % folds for i, subject in enumerate(order)}
        for fold in range(folds):
            train = [s for s in sessions if fold_of[s.subject] != fold]
            model = fit_patch_probe(train, seed=seed, what=what)
            for i, s in enumerate(sessions):
                if fold_of[s.subject] == fold:
                    out.loc[i, seed] = _score(model, s)
    return out


def patch_probe_transfer(train: list[PatchSet], test: list[PatchSet], *, seed: int,
                         what: str) -> pd.DataFrame:
    """Balanced accuracy on each `test` session of the patch probe fitted on `train` (another
    cohort): rows = test sessions, one column (`seed`: the draw of the training patches)."""
    model = fit_patch_probe(train, seed=seed, what=what)
    return pd.DataFrame({seed: [_score(model, s) for s in test]}, dtype=float)
