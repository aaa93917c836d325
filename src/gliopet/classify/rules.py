"""Clinical threshold rules on one quantity (TBRmax, TBRmean, T/S, TTP) behind the same interface.

A rule calls a patient positive (progression) when the quantity is above its cut-off
(``direction='greater'``) or below it (``'less'``, e.g. a short TTP). The cut-off is either a
published one, carried unchanged, or learned on the training rows (Youden). Probabilities, for
the AUC, Brier score and curves, come from a logistic map of the signed quantity fitted on the
training rows (Platt scaling): monotone, so the rule's AUC is the quantity's AUC; the
operating threshold on that probability is the cut-off's image, so that thresholding the
probability gives exactly the rule's decision.

Column names are those of quantification's ``cohort.tsv`` (`gliopet.io.columns`,
docs/conventions.md "Ratios and volumes" and "Dynamic features"). Sources of the cut-offs:
docs/literature.md, "Progression vs treatment-related change".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from gliopet.classify import petrano
from gliopet.errors import InputError, ParameterError
from gliopet.metrics import youden_threshold


@dataclass(frozen=True)
class PublishedCutoff:
    """A cut-off from the literature: column, value, direction, tracer and source."""

    column: str
    cutoff: float
    direction: str
    tracer: str
    source: str


#: Published cut-offs for progression vs treatment-related change (docs/literature.md).
PUBLISHED = {
    # FDOPA, glioblastoma recurrence: T/N 1.81 (Herrmann et al., Neuro Oncol 2014;16:603; the
    # cut-off is marked unverified in docs/literature.md: from the abstract's summary).
    "TBRmax>1.81 (Herrmann 2014, FDOPA)": PublishedCutoff(
        "TBRmax", 1.81, "greater", "FDOPA", "Herrmann 2014, Neuro Oncol"),
    # FET, pseudoprogression vs early progression of glioblastoma: TBRmax 2.3 (Galldiks et al.,
    # Eur J Nucl Med Mol Imaging 2015; Se 100 %, Sp 91 %, AUC 0.94, 22 patients).
    "TBRmax>2.3 (Galldiks 2015, FET)": PublishedCutoff(
        "TBRmax", 2.3, "greater", "FET", "Galldiks 2015, EJNMMI"),
    # FET: TBRmean >= 2.0 (Galldiks et al. 2015, Juelich cohort of 124 patients).
    "TBRmean>=2.0 (Galldiks 2015, FET)": PublishedCutoff(
        "TBRmean", 2.0, "greater", "FET", "Galldiks 2015, Juelich"),
    # FDOPA: tumour-to-striatum ratio (SUVmax / striatum SUVmean) > 1 (Zaragori et al., EJNMMI
    # Res 2020;10:56; Se 97.1 %, Sp 94.1 %, 51 patients; marked unverified in the literature).
    "T/S>1 (Zaragori 2020, FDOPA)": PublishedCutoff(
        "TSRmax", 1.0, "greater", "FDOPA", "Zaragori 2020, EJNMMI Res"),
    # FET: TTP < 45 min (Galldiks et al. 2015, Juelich; progression peaks early).
    "TTP<45min (Galldiks 2015, FET)": PublishedCutoff(
        "TTP_min", 45.0, "less", "FET", "Galldiks 2015, Juelich"),
}

#: Quantities with a learned (Youden) rule, and the direction of progression.
LEARNED = {"TBRmax": "greater", "TBRmean": "greater", "TSRmax": "greater", "TTP_min": "less"}


class ThresholdRule(ClassifierMixin, BaseEstimator):
    """Positive when `column` is beyond `cutoff` in `direction`.

    Parameters
    ----------
    column : str
        Quantity the rule reads (a column of the feature table).
    direction : {'greater', 'less', 'auto'}
        'greater': positive when value >= cut-off; 'less': when value <= cut-off; 'auto':
        learned on the training rows (the side where the positives lie, by training AUC), for
        a question with no published direction (e.g. IDH); the fitted one is `direction_`.
    cutoff : float, optional
        Published cut-off, carried unchanged; None: learned on the training rows (Youden).
    """

    def __init__(self, column: str = "TBRmax", direction: str = "greater",
                 cutoff: float | None = None):
        self.column = column
        self.direction = direction
        self.cutoff = cutoff

    def _signed(self, X: pd.DataFrame) -> NDArray[np.float64]:
        if self.column not in X.columns:
            raise InputError(f"the rule on {self.column!r} needs that column, which the table "
                             "does not have", fix="give quantification's cohort.tsv columns")
        direction = getattr(self, "direction_", self.direction)
        sign = 1.0 if direction == "greater" else -1.0
        return sign * X[self.column].to_numpy(dtype=float)

    def fit(self, X: pd.DataFrame, y: NDArray[np.int_], groups: NDArray | None = None,
            sites: NDArray | None = None) -> ThresholdRule:
        """Learn the cut-off (unless published) and the probability map on these rows."""
        if self.direction not in ("greater", "less", "auto"):
            raise ParameterError("direction", self.direction, "'greater', 'less' or 'auto'")
        if self.direction == "auto" and self.cutoff is not None:
            raise ParameterError("direction", self.direction, "'greater' or 'less' with a cutoff")
        y = np.asarray(y, dtype=int)
        self.direction_ = self.direction
        if self.direction == "auto":
            self.direction_ = "greater"
            s = self._signed(X)
            ok = np.isfinite(s)
            self.direction_ = "greater" if roc_auc_score(y[ok], s[ok]) >= 0.5 else "less"
        s = self._signed(X)
        ok = np.isfinite(s)
        sign = 1.0 if self.direction_ == "greater" else -1.0
        self.cutoff_ = (sign * youden_threshold(y[ok], s[ok]) if self.cutoff is None
                        else float(self.cutoff))
        self.fill_ = float(np.median(s[ok]))  # a missing value: the training median
        # Platt map on the standardised quantity, mildly regularised (C = 1) so that perfectly
        # separated training rows do not saturate the probabilities to exactly 0 or 1.
        self.centre_, self.scale_ = float(np.mean(s[ok])), max(float(np.std(s[ok])), 1e-12)
        platt = LogisticRegression(C=1.0).fit((s[ok][:, None] - self.centre_) / self.scale_,
                                              y[ok])
        slope = float(platt.coef_[0, 0])
        self.direction_contradicted_ = slope <= 0
        # Training rows contradicting the rule's direction: keep the map increasing (tiny
        # slope) so that the probabilities still rank patients in the rule's order.
        self.slope_ = slope if slope > 0 else 1e-3
        self.intercept_ = (float(platt.intercept_[0]) if slope > 0
                           else float(np.log(y[ok].mean() / (1 - y[ok].mean()))))
        self.threshold_ = float(self._proba(np.array([sign * self.cutoff_]))[0])
        self.selected_features_ = [self.column]
        self.classes_ = np.array([0, 1])
        return self

    def _proba(self, s: NDArray[np.float64]) -> NDArray[np.float64]:
        z = (s - self.centre_) / self.scale_
        return 1.0 / (1.0 + np.exp(-(self.intercept_ + self.slope_ * z)))

    def predict_proba(self, X: pd.DataFrame, sites: NDArray | None = None) -> NDArray:
        """(n, 2) probabilities; a missing value gets the training median."""
        s = self._signed(X)
        p = self._proba(np.where(np.isfinite(s), s, self.fill_))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame, sites: NDArray | None = None) -> NDArray[np.int_]:
        """The rule's decision: 1 when the value is beyond the cut-off."""
        return (self.predict_proba(X)[:, 1] >= self.threshold_).astype(int)

    def explain(self, X: pd.DataFrame, sites: NDArray | None = None) -> pd.DataFrame:
        """Per patient: the value, the cut-off and the signed distance beyond it."""
        values = X[self.column].to_numpy(dtype=float)
        sign = 1.0 if self.direction_ == "greater" else -1.0
        frame = pd.DataFrame({self.column: sign * (values - self.cutoff_)})
        frame.attrs["scale"] = f"{self.column} beyond the cut-off {self.cutoff_:.4g}"
        return frame


def available_rules(columns: list[str], tracer: str | None = None,
                    task: str = "progression") -> dict[str, ThresholdRule]:
    """Every published and learned rule whose column is in `columns` (published: of `tracer`).

    The published cut-offs and the learned rules' directions are those of progression vs
    treatment-related change (`task` ``"progression"``), with PET RANO 1.0 when the ordinal
    score column ``PETRANO_score`` is given (`gliopet.classify.petrano`); for any other
    question (``"other"``, e.g. IDH at diagnosis) only learned rules are given, their direction
    learned too.
    """
    if task not in ("progression", "other"):
        raise ParameterError("task", task, "'progression' or 'other'")
    rules: dict[str, ThresholdRule] = {}
    for name, pub in PUBLISHED.items():
        if task == "progression" and pub.column in columns and (
                tracer is None or tracer.upper() == pub.tracer):
            rules[name] = ThresholdRule(pub.column, pub.direction, pub.cutoff)
    if task == "progression" and petrano.SCORE in columns:
        # PET RANO 1.0 at recurrence vs the diagnosis session (gliopet.classify.petrano).
        rules[petrano.RULE_NAME] = ThresholdRule(petrano.SCORE, "greater", petrano.CUTOFF)
    for column, direction in LEARNED.items():
        if column in columns:
            rules[f"{column} (Youden, training folds)"] = ThresholdRule(
                column, direction if task == "progression" else "auto")
    return rules
