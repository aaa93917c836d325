"""Association study: every signature element (or any feature) against every marker.

* **Univariate**: binary markers by the two-sided Mann-Whitney U test (scipy), effect size the
  AUC of the element for the marker's positive class and Cliff's delta = 2 AUC - 1, with a
  stratified bootstrap percentile interval of the AUC (`gliopet.metrics.bootstrap_metrics`);
  the ordinal grade by Spearman's rank correlation with a bootstrap percentile interval over
  sessions. Sessions with a missing marker or feature value are left out of that test.
* **Multiple testing**: Benjamini-Hochberg (1995) over the whole family (every element x every
  marker), `scipy.stats.false_discovery_control`; ``q`` <= ``alpha`` is a discovery.
* **Multivariable**: per binary marker, an L2 logistic regression (C = 1) on all elements,
  out of sample by `StratifiedGroupKFold` over subjects (repeated with seeds); median
  imputation and standardisation, and the habitat clustering itself when a ``fold_features``
  function is given, are fitted on the training folds only (docs/conventions.md, leakage). AUC
  with a stratified bootstrap interval over subjects (`gliopet.metrics`).

Figures (matplotlib, Agg): a volcano plot (Cliff's delta or rho against -log10 p, discoveries
marked) and a heatmap of the effects (elements x markers). Tables: ``association.tsv``,
``multivariable.tsv`` and ``association.md`` (paper-ready, with the disclaimer).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from gliopet.signature.labels import MARKERS, ORDINAL

#: Fold features: (training row positions, test row positions) -> (X_train, X_test).
FoldFeatures = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
#: Fewest sessions of each class (or in total, for the grade) for a test.
MIN_PER_CLASS = 3


@dataclass
class AssociationOptions:
    """Settings of the study (defaults: 5 folds, 1 repeat, 2000 bootstrap replicates)."""

    seed: int
    alpha: float = 0.05
    n_boot: int = 2000
    folds: int = 5
    repeats: int = 1
    intervals: bool = True


@dataclass
class AssociationResult:
    """Univariate table, multivariable table and notes."""

    univariate: pd.DataFrame
    multivariable: pd.DataFrame
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- univariate
def _auc_interval(y: np.ndarray, x: np.ndarray, opts: AssociationOptions) -> tuple[float, float]:
    from gliopet.metrics import bootstrap_metrics

    if not opts.intervals:
        return float("nan"), float("nan")
    table = bootstrap_metrics(y, x, seed=opts.seed, n_boot=opts.n_boot)
    return float(table.loc["auc", "ci_low"]), float(table.loc["auc", "ci_high"])


def binary_test(x: np.ndarray, y: np.ndarray, opts: AssociationOptions) -> dict[str, float]:
    """Mann-Whitney U of `x` between y = 1 and y = 0; AUC, Cliff's delta and the AUC's CI."""
    pos, neg = x[y == 1], x[y == 0]
    u, p = stats.mannwhitneyu(pos, neg, alternative="two-sided")
    auc = float(u) / (len(pos) * len(neg))
    low, high = _auc_interval(y, x, opts)
    return {"test": "Mann-Whitney U", "statistic": float(u), "p": float(p), "effect": auc,
            "effect_name": "AUC", "ci_low": low, "ci_high": high,
            "cliffs_delta": 2 * auc - 1, "n_pos": int(len(pos)), "n_neg": int(len(neg))}


def ordinal_test(x: np.ndarray, g: np.ndarray, opts: AssociationOptions) -> dict[str, float]:
    """Spearman's rho of `x` and the ordinal `g`, with a bootstrap percentile interval."""
    rho, p = stats.spearmanr(x, g)
    low = high = float("nan")
    if opts.intervals:
        rng = np.random.default_rng(opts.seed)
        draws = rng.integers(0, len(x), size=(opts.n_boot, len(x)))
        with warnings.catch_warnings():
            # A resample may hold one grade only: its rho is NaN (left out by nanquantile),
            # which is not worth a console line per replicate.
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            reps = [stats.spearmanr(x[i], g[i])[0] for i in draws]
        low, high = np.nanquantile(np.asarray(reps, dtype=float), [0.025, 0.975])
    return {"test": "Spearman", "statistic": float(rho), "p": float(p), "effect": float(rho),
            "effect_name": "rho", "ci_low": float(low), "ci_high": float(high),
            "cliffs_delta": float("nan"), "n_pos": int(len(x)), "n_neg": 0}


def _usable(x: np.ndarray, y: np.ndarray, ordinal: bool) -> bool:
    if ordinal:
        return len(x) >= 2 * MIN_PER_CLASS and np.ptp(x) > 0 and np.ptp(y) > 0
    return min(int((y == 1).sum()), int((y == 0).sum())) >= MIN_PER_CLASS and np.ptp(x) > 0


def univariate(features: pd.DataFrame, markers: pd.DataFrame,
               opts: AssociationOptions) -> tuple[pd.DataFrame, list[str]]:
    """One row per (element, marker) test with p, BH q, effect and CI; notes on skipped tests."""
    rows, notes = [], []
    for marker in markers.columns:
        ordinal = marker in ORDINAL or marker not in MARKERS
        for column in features.columns:
            keep = features[column].notna().to_numpy() & markers[marker].notna().to_numpy()
            x = features[column].to_numpy(float)[keep]
            y = markers[marker].to_numpy(float)[keep]
            if not _usable(x, y, ordinal):
                notes.append(f"{column} vs {marker}: too few sessions or no variation, not "
                             "tested")
                continue
            test = ordinal_test(x, y, opts) if ordinal else binary_test(x, y.astype(int), opts)
            rows.append({"feature": column, "marker": marker, "n": int(keep.sum()), **test})
    table = pd.DataFrame(rows)
    if not table.empty:
        table["q"] = stats.false_discovery_control(table["p"].to_numpy(), method="bh")
        table["discovery"] = table["q"] <= opts.alpha
    return table, notes


# ---------------------------------------------------------------------------- multivariable
def _fold_matrix(features: pd.DataFrame) -> FoldFeatures:
    x = features.to_numpy(float)

    def fold(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[train], x[test]

    return fold


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                 seed: int) -> np.ndarray:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                          StandardScaler(), LogisticRegression(C=1.0, max_iter=2000,
                                                               random_state=seed))
    model.fit(np.where(np.isfinite(x_train), x_train, np.nan), y_train)
    return model.predict_proba(np.where(np.isfinite(x_test), x_test, np.nan))[:, 1]


def cross_validated(y: np.ndarray, groups: np.ndarray, fold_features: FoldFeatures,
                    opts: AssociationOptions) -> np.ndarray:
    """Out-of-sample probabilities (repeats, n) by StratifiedGroupKFold over `groups`."""
    from sklearn.model_selection import StratifiedGroupKFold

    out = np.full((opts.repeats, len(y)), np.nan)
    for repeat in range(opts.repeats):
        cv = StratifiedGroupKFold(n_splits=opts.folds, shuffle=True, random_state=opts.seed +
                                  repeat)
        for train, test in cv.split(np.zeros(len(y)), y, groups):
            if len(np.unique(y[train])) < 2:
                out[repeat, test] = float(np.mean(y[train]))
                continue
            x_train, x_test = fold_features(train, test)
            out[repeat, test] = _fit_predict(x_train, y[train], x_test, opts.seed)
    return out


def multivariable(features: pd.DataFrame, markers: pd.DataFrame, groups: np.ndarray,
                  opts: AssociationOptions,
                  fold_features: Callable[[np.ndarray], FoldFeatures] | None = None
                  ) -> tuple[pd.DataFrame, list[str]]:
    """Cross-validated AUC (with CI) of each binary marker from all elements.

    `fold_features(rows)` returns the fold function of the sessions at positions `rows` (for
    refitting the habitats inside the folds); default: the given feature columns.
    """
    from gliopet.metrics import bootstrap_metrics

    rows, notes = [], []
    for marker in markers.columns:
        if marker in ORDINAL or marker not in MARKERS:
            continue
        known = np.flatnonzero(markers[marker].notna().to_numpy())
        y = markers[marker].to_numpy(float)[known].astype(int)
        n_groups = min(len(np.unique(groups[known][y == c])) for c in (0, 1)) if len(y) else 0
        if n_groups < opts.folds:
            notes.append(f"multivariable {marker}: fewer than {opts.folds} subjects in a class, "
                         "not fitted")
            continue
        fold = (fold_features(known) if fold_features else
                _fold_matrix(features.iloc[known]))
        proba = cross_validated(y, groups[known], fold, opts)
        ci = bootstrap_metrics(y, proba, seed=opts.seed, n_boot=opts.n_boot).loc["auc"]
        rows.append({"marker": marker, "n": len(y), "n_pos": int(y.sum()),
                     "n_neg": int((y == 0).sum()), "auc": float(ci["estimate"]),
                     "ci_low": float(ci["ci_low"]), "ci_high": float(ci["ci_high"]),
                     "folds": opts.folds, "repeats": opts.repeats,
                     "model": "L2 logistic (C=1), median imputation, standardisation"})
    return pd.DataFrame(rows), notes


def associate(features: pd.DataFrame, markers: pd.DataFrame, groups: np.ndarray,
              opts: AssociationOptions,
              fold_features: Callable[[np.ndarray], FoldFeatures] | None = None
              ) -> AssociationResult:
    """The whole study (module docstring) on aligned rows of `features` and coded `markers`."""
    uni, notes = univariate(features, markers, opts)
    multi, more = multivariable(features, markers, groups, opts, fold_features)
    return AssociationResult(uni, multi, notes + more)
