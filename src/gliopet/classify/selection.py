"""Feature processing fitted on the training rows of a fold only.

`FoldFeatures` chains, each step fitted on the rows given to `fit`:

1. median imputation of missing values (scikit-learn `SimpleImputer`);
2. optional harmonisation across sites (ComBat, `gliopet.classify.harmonize`);
3. removal of features constant on the training rows (`VarianceThreshold`);
4. ranking by relevance, the univariate F statistic of the label (`f_classif`), then a
   redundancy filter: walking down the ranking, a feature is kept unless its absolute Pearson
   correlation with a feature already kept exceeds `max_correlation` (a greedy
   minimum-redundancy maximum-relevance rule; scikit-learn has no correlation filter, so these
   few lines are written here);
5. standard scaling (`StandardScaler`).

`transform(X, k)` returns the `k` best kept features, plus the covariates, which are imputed,
scaled and always kept (never ranked).
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray
from sklearn.feature_selection import VarianceThreshold, f_classif
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from gliopet.errors import InputError


def redundancy_filter(X: NDArray[np.float64], order: NDArray[np.int_],
                      max_correlation: float) -> list[int]:
    """Columns of `X` kept walking down `order`: none correlates above the limit with another."""
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.abs(np.corrcoef(X, rowvar=False))
    corr = np.nan_to_num(np.atleast_2d(corr), nan=0.0)
    kept: list[int] = []
    for j in order:
        if not kept or corr[j, kept].max() <= max_correlation:
            kept.append(int(j))
    return kept


class FoldFeatures:
    """Imputation, harmonisation, variance and redundancy filters, ranking and scaling.

    Parameters
    ----------
    names : list of str
        Column names of the matrices given to `fit` and `transform`.
    covariates : list of str
        Names (among `names`) always kept and never ranked.
    max_correlation : float
        Redundancy limit of step 4 (absolute Pearson correlation).
    harmonizer : object, optional
        Unfitted site harmoniser with ``fit(X, sites=)`` and ``transform(X, sites=)``.
    """

    def __init__(self, names: list[str], covariates: list[str], max_correlation: float = 0.9,
                 harmonizer: object | None = None):
        if not 0 < max_correlation <= 1:
            raise ValueError(f"max_correlation must be in (0, 1]; got {max_correlation}")
        self.names = list(names)
        self.covariates = [self.names.index(c) for c in covariates]
        self.features = [i for i in range(len(self.names)) if i not in self.covariates]
        self.max_correlation = max_correlation
        self.harmonizer = harmonizer

    def fit(self, X: NDArray[np.float64], y: NDArray[np.int_],
            sites: NDArray[np.str_] | None = None) -> FoldFeatures:
        """Fit every step on these (training) rows."""
        self.imputer_ = SimpleImputer(strategy="median", keep_empty_features=True).fit(X)
        Z = self.imputer_.transform(X)
        feats = Z[:, self.features]
        if self.harmonizer is not None:
            try:
                feats = self.harmonizer.fit(feats, sites=sites).transform(feats, sites=sites)
            except ValueError as exc:
                raise InputError(f"site harmonisation in a training fold: {exc}",
                                 fix="use fewer folds, or merge sites with few patients"
                                 ) from None
        self.variance_ = VarianceThreshold(0.0).fit(feats)
        varying = np.flatnonzero(self.variance_.get_support())
        # a feature constant within each class (it separates the classes perfectly) has an
        # infinite F; sklearn warns about it on every fold, which says nothing to the user
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Features .* are constant",
                                    category=UserWarning)
            f_stat = np.nan_to_num(f_classif(feats[:, varying], y)[0], nan=0.0)
        order = np.argsort(-f_stat, kind="stable")
        kept = redundancy_filter(feats[:, varying], order, self.max_correlation)
        self.ranked_ = varying[kept]  # positions among self.features, best first
        self.scaler_ = StandardScaler().fit(np.column_stack([feats, Z[:, self.covariates]]))
        return self

    def _scaled(self, X: NDArray[np.float64], sites: NDArray[np.str_] | None) -> NDArray:
        Z = self.imputer_.transform(X)
        feats = Z[:, self.features]
        if self.harmonizer is not None:
            feats = self.harmonizer.transform(feats, sites=sites)
        return self.scaler_.transform(np.column_stack([feats, Z[:, self.covariates]]))

    def columns(self, k: int) -> list[int]:
        """Positions (in the scaled matrix) of the `k` best features and the covariates."""
        n_feat = len(self.features)
        return [int(j) for j in self.ranked_[:k]] + list(range(n_feat, n_feat + len(
            self.covariates)))

    def selected(self, k: int) -> list[str]:
        """Names of the `k` best features (covariates not included)."""
        return [self.names[self.features[j]] for j in self.ranked_[:k]]

    def transform(self, X: NDArray[np.float64], k: int,
                  sites: NDArray[np.str_] | None = None) -> NDArray[np.float64]:
        """The `k` best features and the covariates, imputed, harmonised and scaled."""
        return self._scaled(X, sites)[:, self.columns(k)]

    def output_names(self, k: int) -> list[str]:
        """Column names of `transform(X, k)`."""
        return self.selected(k) + [self.names[c] for c in self.covariates]
