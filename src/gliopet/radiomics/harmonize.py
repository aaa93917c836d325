"""ComBat harmonisation of features across sites, as a scikit-learn transformer.

Empirical Bayes ComBat (Johnson, Li and Rabinovic, Biostatistics 2007; as in R ``sva::ComBat``
and neuroCombat, Fortin et al. 2017-2018): each feature is standardised with a pooled linear model
(site indicators plus the covariates to preserve), each site's additive (gamma) and
multiplicative (delta) effects are estimated per feature and shrunk towards their across-feature
priors, then removed.

Written by hand (this module), after trying the maintained implementations: neuroHarmonize
2.5.2 (learn/apply with covariates) requires numpy < 2 and pandas < 3 and would downgrade the
project's stack; neuroCombat 0.2.12 installs, but its only way to apply a fitted model to new data
(``neuroCombatFromTraining``) is marked "under development", drops the covariates at apply time
(it adds the training mean of the covariate effects instead of each row's own) and its
reference-batch path calls ``np.int``, removed in numpy 1.24. The fitted estimates of this
module equal neuroCombat's ``neuroCombat(...)`` output on the training data
(``tests/unit/radiomics/test_harmonize.py``, known-answer example).

`ComBat` learns the site parameters in `fit` (training folds only) and applies them in
`transform` (held-out rows of the same sites). A site not seen in `fit` is an error by default;
``unseen_site="own"`` instead estimates that site's location and scale from the rows being
transformed (label-free, without shrinkage, at least 2 rows): a documented, transductive
fallback for external validation on a new site.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

#: Convergence of the empirical Bayes iteration (largest relative change; sva's ``conv``).
CONVERGENCE = 1e-4
MAX_ITERATIONS = 1000


class ComBat(TransformerMixin, BaseEstimator):
    """ComBat harmonisation across sites (Johnson 2007), fitted on training rows only.

    Parameters
    ----------
    site_column : str
        Column of ``X`` (a DataFrame) holding each row's site; it is dropped from the output.
        Ignored when ``sites`` is given to `fit` / `transform`.
    covariates : sequence of str
        Numeric columns of ``X`` whose effects are preserved (e.g. age); they are passed through
        unchanged and are not harmonised. Never put the label being predicted here.
    empirical_bayes : bool
        Shrink the site effects towards their across-feature priors (True: ComBat; False: plain
        location/scale adjustment per site).
    mean_only : bool
        Adjust the site means only (no scaling).
    unseen_site : {"error", "own"}
        What `transform` does with a site absent from `fit`: raise ``ValueError``, or estimate the
        site's location and scale from the rows being transformed (module docstring).

    Attributes
    ----------
    sites_ : ndarray
        Sites seen in `fit`, sorted.
    features_ : list of str
        Harmonised feature columns (in order).
    grand_mean_, var_pooled_ : ndarray (n_features,)
        Pooled mean (site-size weighted) and residual variance of each feature.
    beta_covariates_ : ndarray (n_covariates, n_features)
        Covariate effects.
    gamma_star_, delta_star_ : ndarray (n_sites, n_features)
        Shrunk additive and multiplicative site effects (standardised units).
    """

    def __init__(self, site_column: str = "site", covariates: Sequence[str] = (),
                 empirical_bayes: bool = True, mean_only: bool = False,
                 unseen_site: str = "error") -> None:
        self.site_column = site_column
        self.covariates = covariates
        self.empirical_bayes = empirical_bayes
        self.mean_only = mean_only
        self.unseen_site = unseen_site

    # ------------------------------------------------------------------ scikit-learn API
    def fit(self, X: Any, y: Any = None, sites: Any = None) -> ComBat:  # noqa: N803
        """Learn the pooled model and each site's effects from the training rows."""
        if self.unseen_site not in ("error", "own"):
            raise ValueError(f"unseen_site must be 'error' or 'own', got {self.unseen_site!r}")
        data, site, cov, columns = self._split(X, sites, fitting=True)
        levels, counts = np.unique(site, return_counts=True)
        if len(levels) < 2:
            raise ValueError(f"ComBat needs at least 2 sites in the training rows, got "
                             f"{levels.tolist()}")
        if counts.min() < 2:
            raise ValueError(f"ComBat needs at least 2 rows per site; site "
                             f"{str(levels[counts.argmin()])!r} has {counts.min()}")
        self.sites_, self.features_ = levels, columns
        onehot = (site[:, None] == levels[None, :]).astype(float)
        design = np.hstack([onehot, cov])
        beta = np.linalg.lstsq(design, data, rcond=None)[0]
        k = len(levels)
        self.grand_mean_ = (counts / counts.sum()) @ beta[:k]
        self.beta_covariates_ = beta[k:]
        residual = data - design @ beta
        var = np.mean(residual ** 2, axis=0)
        self.var_pooled_ = np.where(var > 0, var, 1.0)  # a constant feature: nothing to scale
        z = self._standardise(data, cov)
        gamma_hat = np.stack([z[site == s].mean(axis=0) for s in levels])
        if self.mean_only:
            delta_hat = np.ones_like(gamma_hat)
        else:
            delta_hat = np.stack([z[site == s].var(axis=0, ddof=1) for s in levels])
            delta_hat = np.where(delta_hat > 0, delta_hat, 1.0)
        if self.empirical_bayes:
            self.gamma_star_, self.delta_star_ = _shrink(z, site, levels, gamma_hat, delta_hat,
                                                         self.mean_only)
        else:
            self.gamma_star_, self.delta_star_ = gamma_hat, delta_hat
        self.n_features_in_ = np.asarray(X).shape[1] if sites is None else data.shape[1]
        return self

    def transform(self, X: Any, sites: Any = None) -> Any:  # noqa: N803
        """Remove the fitted site effects; a DataFrame comes back as a DataFrame (the site
        column dropped, covariates unchanged)."""
        check_is_fitted(self, "gamma_star_")
        data, site, cov, _ = self._split(X, sites, fitting=False)
        z = self._standardise(data, cov)
        gamma, delta = self._site_effects(z, site)
        adjusted = (z - gamma) / np.sqrt(delta)
        out = adjusted * np.sqrt(self.var_pooled_) + self._expected(cov)
        if isinstance(X, pd.DataFrame):
            drop = [self.site_column] if self.site_column in X.columns else []
            frame = X.drop(columns=drop).copy()
            frame[self.features_] = out
            return frame
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output columns: the input's without the site column."""
        check_is_fitted(self, "gamma_star_")
        names = list(self.feature_names_in_) if hasattr(self, "feature_names_in_") else \
            list(self.features_)
        return np.asarray([n for n in names if n != self.site_column], dtype=object)

    # ------------------------------------------------------------------ helpers
    def _split(self, X: Any, sites: Any, *, fitting: bool  # noqa: N803
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """Features, sites and covariates of X as arrays, and the feature names."""
        covariates = list(self.covariates)
        if isinstance(X, pd.DataFrame):
            if fitting:
                self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            if sites is None:
                if self.site_column not in X.columns:
                    raise ValueError(f"the site column {self.site_column!r} is not in X "
                                     f"(columns: {list(X.columns)[:8]}...)")
                sites = X[self.site_column]
            missing = [c for c in covariates if c not in X.columns]
            if missing:
                raise ValueError(f"covariate columns {missing} are not in X")
            drop = [self.site_column] if self.site_column in X.columns else []
            columns = [c for c in X.columns if c not in drop and c not in covariates]
            data = X[columns].to_numpy(dtype=float)
            cov = X[covariates].to_numpy(dtype=float) if covariates else np.zeros((len(X), 0))
        else:
            if sites is None:
                raise ValueError("give X as a DataFrame with the site column, or pass sites=")
            if covariates:
                raise ValueError("covariates need X as a DataFrame (named columns)")
            data = np.asarray(X, dtype=float)
            columns = [f"x{i}" for i in range(data.shape[1])]
            cov = np.zeros((len(data), 0))
        if not fitting and columns != list(self.features_):
            raise ValueError("X has other feature columns than the data ComBat was fitted on")
        if not np.all(np.isfinite(data)) or not np.all(np.isfinite(cov)):
            raise ValueError("ComBat needs finite features and covariates: impute or drop NaN "
                             "first (inside the fold)")
        site = np.asarray(sites).astype(str)
        if len(site) != len(data):
            raise ValueError(f"{len(site)} sites for {len(data)} rows")
        return data, site, cov, columns

    def _expected(self, cov: np.ndarray) -> np.ndarray:
        return self.grand_mean_ + cov @ self.beta_covariates_

    def _standardise(self, data: np.ndarray, cov: np.ndarray) -> np.ndarray:
        return (data - self._expected(cov)) / np.sqrt(self.var_pooled_)

    def _site_effects(self, z: np.ndarray, site: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-row gamma and delta: the fitted ones, or (``unseen_site="own"``) the site's own."""
        known = {str(s): i for i, s in enumerate(self.sites_)}
        gamma, delta = np.empty_like(z), np.empty_like(z)
        for s in np.unique(site):
            rows = site == s
            if s in known:
                gamma[rows], delta[rows] = self.gamma_star_[known[s]], self.delta_star_[known[s]]
            elif self.unseen_site == "own" and rows.sum() >= 2:
                gamma[rows] = z[rows].mean(axis=0)
                own = np.ones(z.shape[1]) if self.mean_only else z[rows].var(axis=0, ddof=1)
                delta[rows] = np.where(own > 0, own, 1.0)
            else:
                need = (" (unseen_site='own' needs at least 2 rows of it)"
                        if self.unseen_site == "own" else "")
                raise ValueError(f"site {str(s)!r} was not in the training rows (fitted sites: "
                                 f"{self.sites_.tolist()}){need}; refit with it or set "
                                 f"unseen_site='own'")
        return gamma, delta


def _shrink(z: np.ndarray, site: np.ndarray, levels: np.ndarray, gamma_hat: np.ndarray,
            delta_hat: np.ndarray, mean_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Parametric empirical Bayes estimates (Johnson 2007, eqs. 3.1-3.2; sva's ``it.sol``)."""
    gamma_bar = gamma_hat.mean(axis=1)
    t2 = gamma_hat.var(axis=1, ddof=1)
    gamma_star, delta_star = np.empty_like(gamma_hat), np.empty_like(delta_hat)
    for i, s in enumerate(levels):
        rows = z[site == s]
        n = len(rows)
        if mean_only:
            gamma_star[i] = (t2[i] * n * gamma_hat[i] + gamma_bar[i]) / (t2[i] * n + 1.0)
            delta_star[i] = 1.0
            continue
        m, s2 = delta_hat[i].mean(), delta_hat[i].var(ddof=1)
        a, b = (2 * s2 + m ** 2) / s2, (m * s2 + m ** 3) / s2
        g, d = gamma_hat[i], delta_hat[i]
        for _ in range(MAX_ITERATIONS):
            g_new = (t2[i] * n * gamma_hat[i] + d * gamma_bar[i]) / (t2[i] * n + d)
            sum2 = ((rows - g_new) ** 2).sum(axis=0)
            d_new = (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)
            # sva's (and neuroCombat's) criterion, divided by the signed previous value
            with np.errstate(divide="ignore", invalid="ignore"):
                change = np.nanmax(np.r_[np.abs(g_new - g) / g, np.abs(d_new - d) / d])
            g, d = g_new, d_new
            if change < CONVERGENCE:
                break
        gamma_star[i], delta_star[i] = g, d
    return gamma_star, delta_star
