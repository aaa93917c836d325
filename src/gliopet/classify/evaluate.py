"""Honest evaluation: repeated nested cross-validation by subject and external validation.

- **Splits by subject**: the outer folds are `StratifiedGroupKFold` on the subject column, so
  all rows of a subject are tested together; each repeat reshuffles with its own seed drawn from
  the run's seed.
- **Nested**: every model is fitted on the training rows of the outer fold only, and everything
  it learns (feature processing, harmonisation, hyper-parameters, the operating threshold) is
  learned there (`gliopet.classify.models`, `gliopet.classify.rules`); the test rows are only
  predicted.
- **External validation**: the model is fitted on every other site and applied unchanged, its
  threshold included, to a site it has never seen.

Outer folds run in parallel with joblib (processes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import StratifiedGroupKFold

from gliopet.classify.tables import TabularData
from gliopet.errors import InputError

PREDICTION_COLUMNS = ["model", "evaluation", "repeat", "fold", "id", "subject", "site", "label",
                      "probability", "threshold", "predicted"]


@dataclass
class Evaluation:
    """Out-of-sample predictions (`PREDICTION_COLUMNS`) and the features each fit selected."""

    predictions: pd.DataFrame
    selections: pd.DataFrame  # model, evaluation, repeat, fold, rank, feature


def outer_splits(data: TabularData, n_splits: int, n_repeats: int,
                 seed: int) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """(repeat, fold, train rows, test rows) of a repeated stratified split by subject."""
    n_subjects = [len(np.unique(data.subjects[data.y == c])) for c in (0, 1)]
    if min(n_subjects) < n_splits:
        raise InputError(f"{min(n_subjects)} subjects in the smaller class: too few for "
                         f"{n_splits} folds", fix="use fewer folds (--folds)")
    seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=n_repeats)
    out = []
    for repeat, s in enumerate(seeds):
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=int(s))
        for fold, (train, test) in enumerate(splitter.split(data.X, data.y, data.subjects)):
            out.append((repeat, fold, train, test))
    return out


def _fit_predict(name: str, prototype: BaseEstimator, data: TabularData, train: np.ndarray,
                 test: np.ndarray, evaluation: str, repeat: int, fold: int,
                 seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit a fresh copy of `prototype` on `train`, predict `test`: prediction and selection rows."""
    model = clone(prototype)
    if "seed" in model.get_params():
        model.set_params(seed=seed)
    tr, te = data.subset(train), data.subset(test)
    model.fit(tr.X, tr.y, groups=tr.subjects, sites=tr.sites)
    proba = model.predict_proba(te.X, sites=te.sites)[:, 1]
    preds = pd.DataFrame({
        "model": name, "evaluation": evaluation, "repeat": repeat, "fold": fold, "id": te.ids,
        "subject": te.subjects, "site": te.sites if te.sites is not None else "n/a",
        "label": te.y, "probability": proba, "threshold": model.threshold_,
        "predicted": (proba >= model.threshold_).astype(int)})
    selected = list(model.selected_features_)
    sel = pd.DataFrame({"model": name, "evaluation": evaluation, "repeat": repeat, "fold": fold,
                        "rank": np.arange(1, len(selected) + 1), "feature": selected})
    return preds, sel


def _collect(results: list[tuple[pd.DataFrame, pd.DataFrame]]) -> Evaluation:
    return Evaluation(pd.concat([r[0] for r in results], ignore_index=True),
                      pd.concat([r[1] for r in results], ignore_index=True))


def nested_cv(models: dict[str, BaseEstimator], data: TabularData, *, n_splits: int = 5,
              n_repeats: int = 10, seed: int, n_jobs: int = 1) -> Evaluation:
    """Repeated nested cross-validation of every model on the same outer folds.

    Parameters
    ----------
    models : dict
        Name -> unfitted model (`TabularModel` or `ThresholdRule`), cloned for every fold.
    data : TabularData
    n_splits, n_repeats : int
        Outer folds and repeats (the inner CV is the model's own).
    seed : int
        Seed of the splits and of the models.
    n_jobs : int
        joblib processes over the (model, repeat, fold) fits.
    """
    splits = outer_splits(data, n_splits, n_repeats, seed)
    tasks = [delayed(_fit_predict)(name, model, data, train, test, "nested_cv", r, f,
                                   seed + 7919 * r + f)
             for name, model in models.items() for r, f, train, test in splits]
    return _collect(Parallel(n_jobs=n_jobs)(tasks))


def external_validation(models: dict[str, BaseEstimator], data: TabularData, site: str, *,
                        seed: int, n_jobs: int = 1) -> Evaluation:
    """Fit on every site but `site`, predict `site` with the threshold chosen in training."""
    train, test = external_rows(data, site)
    tasks = [delayed(_fit_predict)(name, model, data, train, test, f"external:{site}", 0, 0, seed)
             for name, model in models.items()]
    return _collect(Parallel(n_jobs=n_jobs)(tasks))


def external_rows(data: TabularData, site: str) -> tuple[np.ndarray, np.ndarray]:
    """(training rows: every other site, test rows: `site`), checked (InputError)."""
    if data.sites is None:
        raise InputError("external validation needs the site of every patient",
                         fix="give the site column with --group-column")
    test = np.flatnonzero(data.sites == site)
    train = np.flatnonzero(data.sites != site)
    if len(test) == 0:
        raise InputError(f"site {site!r} has no patient (sites: "
                         f"{', '.join(sorted(set(data.sites)))})", fix="give one of these sites")
    for part, rows in (("training sites", train), (f"site {site!r}", test)):
        if len(np.unique(data.y[rows])) < 2:
            raise InputError(f"the {part} hold one class only", fix="choose another "
                             "external site")
    overlap = set(data.subjects[train]) & set(data.subjects[test])
    if overlap:
        raise InputError(f"subjects at both the external site and a training site "
                         f"({', '.join(sorted(overlap)[:3])})", fix="one site per subject")
    return train, test
