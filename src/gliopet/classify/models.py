"""Radiomics + classical machine learning behind one interface (fit / predict_proba / explain).

`TabularModel(kind)` is L2 logistic regression (``logistic``), an RBF support-vector machine
(``svm``), a random forest (``rf``) or gradient boosting (``gb``) from scikit-learn, after the
fold-internal feature processing of `gliopet.classify.selection`. Everything is fitted on the
rows given to `fit` (the training folds of the outer split):

- the number of features and the hyper-parameters, by an inner cross-validation by subject
  (`StratifiedGroupKFold`) that refits the feature processing in every inner fold; the
  combination with the best pooled inner out-of-fold AUC wins (the first, the simplest, on ties);
- the operating threshold: Youden's cut-off on the winning combination's inner out-of-fold
  probabilities (never on the rows being tested);
- for the SVM, probabilities by Platt scaling of its decision values, fitted on the same inner
  out-of-fold values.

`explain` gives SHAP values per patient (TreeExplainer for the forests, LinearExplainer for the
logistic regression: log-odds; KernelSHAP on the probability for the SVM, with a
10-centre k-means background and 200 samples per patient).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.svm import SVC

from gliopet.classify.selection import FoldFeatures
from gliopet.errors import ParameterError
from gliopet.metrics import auc_score, youden_threshold

#: Hyper-parameter grids, simplest first; the feature counts tried by default.
GRIDS: dict[str, dict[str, list[Any]]] = {
    "logistic": {"C": [0.01, 0.1, 1.0, 10.0]},
    "svm": {"C": [0.1, 1.0, 10.0]},
    "rf": {"min_samples_leaf": [2]},
    "gb": {"learning_rate": [0.05]},
}
N_FEATURES = {"logistic": (5, 10, 20), "svm": (5, 10, 20), "rf": (10, 20), "gb": (10, 20)}
KINDS = tuple(GRIDS)


def make_classifier(kind: str, params: dict[str, Any], seed: int) -> BaseEstimator:
    """An unfitted scikit-learn classifier of `kind` with `params`."""
    if kind == "logistic":
        return LogisticRegression(max_iter=5000, **params)  # L2 is scikit-learn's default
    if kind == "svm":
        return SVC(kernel="rbf", gamma="scale", **params)
    if kind == "rf":
        return RandomForestClassifier(n_estimators=100, max_features="sqrt", random_state=seed,
                                      n_jobs=1, **params)
    if kind == "gb":
        return GradientBoostingClassifier(n_estimators=100, max_depth=2, subsample=0.8,
                                          random_state=seed, **params)
    raise ParameterError("kind", kind, f"one of {', '.join(KINDS)}")


def _score(clf: BaseEstimator, Z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Probability of the positive class, or the SVM's decision value."""
    if isinstance(clf, SVC):
        return clf.decision_function(Z)
    return clf.predict_proba(Z)[:, 1]


def inner_folds(y: NDArray[np.int_], groups: NDArray, n_splits: int,
                seed: int) -> list[tuple[NDArray[np.int_], NDArray[np.int_]]]:
    """Stratified folds by subject; fewer folds when a class has fewer subjects than folds."""
    smallest = min(len(np.unique(groups[y == c])) for c in (0, 1))
    n = max(2, min(n_splits, smallest))
    splitter = StratifiedGroupKFold(n_splits=n, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, groups))


class TabularModel(ClassifierMixin, BaseEstimator):
    """Feature processing + one classical classifier, tuned and thresholded by inner CV.

    Parameters
    ----------
    kind : {'logistic', 'svm', 'rf', 'gb'}
    n_features : tuple of int, optional
        Feature counts tried by the inner CV (default `N_FEATURES[kind]`).
    param_grid : dict, optional
        Hyper-parameter grid of the classifier (default `GRIDS[kind]`).
    max_correlation : float
        Redundancy limit of the feature filter.
    inner_splits : int
        Folds of the inner cross-validation.
    covariates : tuple of str
        Columns always given to the model.
    harmonizer : callable, optional
        Factory of an unfitted site harmoniser (``fit(X, sites)``, ``transform(X, sites)``).
    seed : int
        Seed of the inner folds and of the forests.
    """

    def __init__(self, kind: str = "logistic", n_features: tuple[int, ...] | None = None,
                 param_grid: dict[str, list[Any]] | None = None,
                 max_correlation: float = 0.9, inner_splits: int = 3,
                 covariates: tuple[str, ...] = (), harmonizer: Any = None, seed: int = 0):
        self.kind = kind
        self.n_features = n_features
        self.param_grid = param_grid
        self.max_correlation = max_correlation
        self.inner_splits = inner_splits
        self.covariates = covariates
        self.harmonizer = harmonizer
        self.seed = seed

    def _features(self, names: list[str]) -> FoldFeatures:
        return FoldFeatures(names, list(self.covariates), self.max_correlation,
                            None if self.harmonizer is None else self.harmonizer())

    def _combos(self) -> list[tuple[int, dict[str, Any]]]:
        grid = self.param_grid or GRIDS[self.kind]
        params = [dict(zip(grid, values, strict=True))
                  for values in itertools.product(*grid.values())]
        ks = self.n_features or N_FEATURES[self.kind]
        return [(k, p) for k in sorted(ks) for p in params]

    def _inner_scores(self, X: NDArray, y: NDArray, groups: NDArray,
                      sites: NDArray | None, names: list[str]) -> NDArray[np.float64]:
        """Inner out-of-fold scores, one row per (k, params) combination."""
        combos = self._combos()
        oof = np.full((len(combos), len(y)), np.nan)
        for train, val in inner_folds(y, groups, self.inner_splits, self.seed):
            sub = None if sites is None else sites[train]
            ff = self._features(names).fit(X[train], y[train], sub)
            Ztr = ff._scaled(X[train], sub)
            Zva = ff._scaled(X[val], None if sites is None else sites[val])
            for i, (k, params) in enumerate(combos):
                cols = ff.columns(k)
                clf = make_classifier(self.kind, params, self.seed).fit(Ztr[:, cols], y[train])
                oof[i, val] = _score(clf, Zva[:, cols])
        return oof

    def fit(self, X: pd.DataFrame, y: NDArray[np.int_], groups: NDArray | None = None,
            sites: NDArray | None = None) -> TabularModel:
        """Tune, threshold and fit on these rows (module docstring)."""
        if self.kind not in GRIDS:
            raise ParameterError("kind", self.kind, f"one of {', '.join(KINDS)}")
        names = [str(c) for c in X.columns]
        Xv = X.to_numpy(dtype=float)
        y = np.asarray(y, dtype=int)
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        oof = self._inner_scores(Xv, y, groups, sites, names)
        aucs = [auc_score(y, row) for row in oof]
        best = int(np.argmax(aucs))
        self.k_, self.params_ = self._combos()[best]
        self.inner_auc_ = float(aucs[best])
        self.platt_ = None
        if self.kind == "svm":
            self.platt_ = LogisticRegression(C=np.inf).fit(oof[best][:, None], y)
        self.threshold_ = youden_threshold(y, self._calibrate(oof[best]))
        self.features_ = self._features(names).fit(Xv, y, sites)
        self.classifier_ = make_classifier(self.kind, self.params_, self.seed).fit(
            self.features_.transform(Xv, self.k_, sites), y)
        self.classes_ = np.array([0, 1])
        return self

    def _calibrate(self, score: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.platt_ is None:
            return score
        return self.platt_.predict_proba(np.asarray(score)[:, None])[:, 1]

    def predict_proba(self, X: pd.DataFrame, sites: NDArray | None = None) -> NDArray:
        """(n, 2) probabilities of the negative and positive class."""
        Z = self.features_.transform(X.to_numpy(dtype=float), self.k_, sites)
        p = self._calibrate(_score(self.classifier_, Z))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame, sites: NDArray | None = None) -> NDArray[np.int_]:
        """1 where the positive probability is at or above the operating threshold."""
        return (self.predict_proba(X, sites)[:, 1] >= self.threshold_).astype(int)

    @property
    def selected_features_(self) -> list[str]:
        """Features the fitted model uses (covariates not included), best first."""
        return self.features_.selected(self.k_)

    def explain(self, X: pd.DataFrame, sites: NDArray | None = None) -> pd.DataFrame:
        """SHAP values per patient (rows of `X`) and feature the model uses.

        Log-odds for the logistic regression and gradient boosting, probability for the random
        forest and the SVM; the scale is in ``DataFrame.attrs['scale']``.
        """
        import shap

        Z = self.features_.transform(X.to_numpy(dtype=float), self.k_, sites)
        clf = self.classifier_
        if self.kind in ("rf", "gb"):
            values = np.asarray(shap.TreeExplainer(clf).shap_values(Z))
            values, scale = (values[..., 1], "probability") if values.ndim == 3 else (
                values, "log-odds")
        elif self.kind == "logistic":
            values, scale = shap.LinearExplainer(clf, Z).shap_values(Z), "log-odds"
        else:
            def positive(data: NDArray) -> NDArray:
                return self._calibrate(_score(clf, data))

            background = shap.kmeans(Z, min(len(Z), 10))
            values = shap.KernelExplainer(positive, background, seed=self.seed).shap_values(
                Z, nsamples=200, silent=True)
            scale = "probability"
        frame = pd.DataFrame(np.asarray(values), columns=self.features_.output_names(self.k_))
        frame.attrs["scale"] = scale
        return frame
