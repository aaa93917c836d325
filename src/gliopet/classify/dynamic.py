"""Do dynamic features add to TBRmax? Two logistic models on the same folds and DeLong's test.

The issue asks whether dynamic amino-acid PET adds to static TBRmax (published results
disagree, docs/literature.md). The test: a logistic regression on TBRmax alone (`STATIC`)
against one on TBRmax, TTP and the late slope (`DYNAMIC`, the dynamic columns of
quantification's ``cohort.tsv``), both fitted on the training rows of the same outer folds as
every other model (and on the training sites for the external validation), so that each
session's probability is out of fold. Each session's probability is averaged over the repeats
and the two AUCs are compared by DeLong's paired test (`gliopet.metrics.delong_test`, the same
as ``delong.tsv``): ``dynamic_vs_static.tsv`` holds the AUC of each model, the difference
(dynamic - static) with its 95 % interval and the two-sided p-value, per evaluation.

Both models are the same fixed pipeline, chosen in advance: missing values get the training
median, columns standardised on the training rows, L2 logistic regression with C = 1 (mild
regularisation, the same for both, so that the comparison is about the features). The operating
threshold is Youden's cut-off on the training rows' probabilities.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gliopet.classify.results import session_probabilities
from gliopet.errors import InputError
from gliopet.metrics import delong_test, youden_threshold

#: Static model's columns (cohort.tsv).
STATIC = ("TBRmax",)
#: Dynamic model's columns: TBRmax plus time-to-peak (min) and late slope (SUV/h).
DYNAMIC = ("TBRmax", "TTP_min", "slope_SUV_per_h")
#: Names of the two models in results.tsv.
STATIC_NAME = "logistic TBRmax (dynamic test)"
DYNAMIC_NAME = "logistic TBRmax+TTP+slope (dynamic test)"
COLUMNS = ["evaluation", "n", "n_positive", "model_static", "model_dynamic", "auc_static",
           "auc_dynamic", "difference", "ci_low", "ci_high", "z", "p_value"]


class LogisticColumns(ClassifierMixin, BaseEstimator):
    """Logistic regression on a fixed list of columns (module docstring), same interface.

    Parameters
    ----------
    columns : tuple of str
        Columns of the feature table the model reads.
    C : float
        Inverse L2 strength of the logistic regression (on standardised columns).
    """

    def __init__(self, columns: tuple[str, ...] = STATIC, C: float = 1.0):
        self.columns = columns
        self.C = C

    def _x(self, X: pd.DataFrame) -> NDArray[np.float64]:
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise InputError(f"the logistic model needs the column(s) {', '.join(missing)}, "
                             "which the table does not have",
                             fix="give quantification's cohort.tsv columns (dynamic PET)")
        return X[list(self.columns)].to_numpy(dtype=float)

    def fit(self, X: pd.DataFrame, y: NDArray[np.int_], groups: NDArray | None = None,
            sites: NDArray | None = None) -> LogisticColumns:
        """Fit imputation, scaling and the logistic regression on these rows."""
        y = np.asarray(y, dtype=int)
        self.pipeline_ = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                                       StandardScaler(), LogisticRegression(C=self.C))
        self.pipeline_.fit(self._x(X), y)
        self.threshold_ = float(youden_threshold(y, self.pipeline_.predict_proba(self._x(X))[:,
                                                                                            1]))
        self.selected_features_ = list(self.columns)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame, sites: NDArray | None = None) -> NDArray:
        """(n, 2) probabilities."""
        return self.pipeline_.predict_proba(self._x(X))

    def predict(self, X: pd.DataFrame, sites: NDArray | None = None) -> NDArray[np.int_]:
        """1 when the probability reaches the training rows' Youden threshold."""
        return (self.predict_proba(X)[:, 1] >= self.threshold_).astype(int)

    def explain(self, X: pd.DataFrame, sites: NDArray | None = None) -> pd.DataFrame:
        """Per patient and column: its term of the logit (coefficient x standardised value)."""
        imputer, scaler, logistic = (self.pipeline_[i] for i in range(3))
        z = scaler.transform(imputer.transform(self._x(X)))
        frame = pd.DataFrame(z * logistic.coef_[0], columns=list(self.columns), index=X.index)
        frame.attrs["scale"] = "logit contribution (exact for a linear model)"
        return frame


def dynamic_models(columns: list[str]) -> dict[str, LogisticColumns]:
    """The two models of the test when the table has every dynamic column, else none."""
    if not set(DYNAMIC) <= set(columns):
        return {}
    return {STATIC_NAME: LogisticColumns(STATIC), DYNAMIC_NAME: LogisticColumns(DYNAMIC)}


def dynamic_vs_static(predictions: pd.DataFrame, static: str = STATIC_NAME,
                      dynamic: str = DYNAMIC_NAME) -> pd.DataFrame:
    """``dynamic_vs_static.tsv``: per evaluation, DeLong's test of AUC(dynamic) - AUC(static).

    `predictions` are out-of-sample predictions (`gliopet.classify.evaluate.PREDICTION_COLUMNS`);
    each session's probability is averaged over the repeats. Empty when a model is absent.
    """
    rows = []
    for evaluation, group in predictions.groupby("evaluation", sort=False):
        mean, labels = session_probabilities(group[group["model"].isin([static, dynamic])])
        if len(mean) < 2:
            continue
        test = delong_test(labels, mean.loc[dynamic].to_numpy(), mean.loc[static].to_numpy())
        rows.append({"evaluation": evaluation, "n": len(labels),
                     "n_positive": int(labels.sum()), "model_static": static,
                     "model_dynamic": dynamic, "auc_static": test.auc_b,
                     "auc_dynamic": test.auc_a, "difference": test.difference,
                     "ci_low": test.ci_low, "ci_high": test.ci_high, "z": test.z,
                     "p_value": test.p_value})
    return pd.DataFrame(rows, columns=COLUMNS)


def markdown(table: pd.DataFrame) -> list[str]:
    """The summary.md section of the test (empty when it did not run)."""
    if not len(table):
        return []
    lines = ["## Do dynamic features add to TBRmax?", "",
             f"`dynamic_vs_static.tsv`: logistic regression on {' + '.join(DYNAMIC)} against "
             f"{' '.join(STATIC)} alone, out-of-fold on the same folds (probability averaged "
             "over the repeats), DeLong's paired test of the AUC difference (dynamic - static).",
             ""]
    for r in table.itertuples():
        verdict = ("the dynamic features add" if r.p_value < 0.05 and r.difference > 0 else
                   "worse with the dynamic features" if r.p_value < 0.05 else
                   "no significant difference")
        test = (f" [{r.ci_low:+.3f}, {r.ci_high:+.3f}], p = {r.p_value:.3g}: {verdict}"
                if np.isfinite(r.p_value) else
                ", not testable (DeLong's variance needs at least two cases of each class)")
        lines.append(f"- {r.evaluation} ({r.n} sessions, {r.n_positive} positive): AUC "
                     f"{r.auc_static:.3f} (TBRmax) vs {r.auc_dynamic:.3f} (+ TTP + slope), "
                     f"difference {r.difference:+.3f}{test}.")
    return [*lines, ""]
