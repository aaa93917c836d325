"""The standalone AI against the readers, and each reader's sensitivity and specificity.

Standalone AI (its own comparison, not one of the OR modalities): the AI is one more "reader"
who read the same cases once. For each reader j of the reference modality (the unaided arm),
D_j = AUC_j - AUC_AI; the mean difference is tested with the single-modality
Obuchowski-Rockette-Hillis analysis of the D_j (random readers and cases): SE^2 = MS(R)/r +
max(Cov2, 0) with Hillis' df (MS(R) + r max(Cov2, 0))^2 / (MS(R)^2 / (r - 1)), where MS(R) is
the variance of the D_j over readers and Cov2 the mean case-level covariance of two readers'
D's (from the same covariance estimator as the main analysis). This is the "1T-RRRC" method of
RJafroc's `StCadVsRad` (Chakraborty, Observer Performance Methods for Diagnostic Imaging, CRC
2017, chapter "Standalone CAD vs. radiologists"; Hillis 2007 for the df). The random-readers,
fixed-cases variant ("1T-RRFC") is the one-sample t test of the D_j on r - 1 df.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gliopet.errors import InputError
from gliopet.metrics import delong_variance, threshold_metrics
from gliopet.reader.mrmc import Estimate, hillis_df, interval
from gliopet.reader.mrmc_cov import covariance, group_auc, make_groups

AI_READER = "__standalone_ai__"


@dataclass(frozen=True)
class StandaloneAI:
    """The AI's AUC (DeLong interval), the readers' mean AUC in the reference modality, and
    the mean reader-minus-AI difference (random readers and cases; random readers only)."""

    modality: str
    ai: Estimate
    reader_mean_auc: float
    difference_rrrc: Estimate
    difference_rrfc: Estimate
    n_readers: int
    n_cases: int


def check_ai(ai: pd.DataFrame, cases: pd.Series) -> pd.DataFrame:
    """AI ratings (columns ``case`` and ``rating``), one per case, covering `cases`."""
    missing = [c for c in ("case", "rating") if c not in ai.columns]
    if missing:
        raise InputError(f"the AI ratings lack the column(s) {', '.join(missing)}",
                         fix="give columns case and rating (the AI's probability)")
    rating = pd.to_numeric(ai["rating"], errors="coerce")
    if rating.isna().any():
        raise InputError("an AI rating is empty or not a number", fix="one number per case")
    if ai["case"].duplicated().any():
        raise InputError(f"the AI rated case {ai['case'][ai['case'].duplicated()].iloc[0]} "
                         "twice", fix="one AI rating per case")
    absent = sorted(set(cases) - set(ai["case"]), key=str)
    if absent:
        raise InputError(f"the AI has no rating for {len(absent)} case(s), e.g. {absent[0]}",
                         fix="give the AI's rating of every case the readers read")
    return pd.DataFrame({"case": ai["case"], "rating": rating.astype(float)})


def standalone_ai(ratings: pd.DataFrame, ai: pd.DataFrame, modality: object, *,
                  cov: str = "jackknife", alpha: float = 0.05) -> StandaloneAI:
    """Compare the standalone AI with the readers of `modality` (checked long-form ratings)."""
    part = ratings[ratings["modality"].astype(str) == str(modality)]
    if part.empty:
        raise InputError(f"no reading in modality {modality}", fix="name a modality present")
    truth = part.groupby("case")["truth"].first()
    ai = check_ai(ai, pd.Series(truth.index))
    ai_rows = ai[ai["case"].isin(truth.index)].assign(
        reader=AI_READER, modality=part["modality"].iloc[0],
        truth=lambda d: d["case"].map(truth))
    both = pd.concat([part[["reader", "modality", "case", "truth", "rating"]], ai_rows])
    readers = sorted(part["reader"].unique(), key=str) + [AI_READER]
    cases = sorted(truth.index, key=str)
    groups = make_groups(both, [part["modality"].iloc[0]], readers, cases)
    theta = np.array([group_auc(g) for g in groups])
    c = covariance(groups, len(cases), cov)
    r = len(readers) - 1
    d = theta[:r] - theta[r]
    cov_d = c[:r, :r] - c[:r, [r]] - c[[r], :r] + c[r, r]
    ms_r = float(np.var(d, ddof=1))
    cov2 = float(cov_d[~np.eye(r, dtype=bool)].mean())
    se = float(np.sqrt(ms_r / r + max(cov2, 0.0)))
    rrrc = interval("readers - AI", float(d.mean()), se,
                     hillis_df(ms_r, r * max(cov2, 0.0), r - 1), alpha)
    rrfc = interval("readers - AI", float(d.mean()), float(np.sqrt(ms_r / r)), r - 1.0, alpha)
    ai_auc, ai_var = delong_variance(ai_rows["truth"], ai_rows["rating"])
    ai_est = interval("AI", ai_auc, float(np.sqrt(ai_var)), float("inf"), alpha, clip=True)
    return StandaloneAI(str(modality), ai_est, float(theta[:r].mean()), rrrc, rrfc, r,
                        len(cases))


def operating_points(ratings: pd.DataFrame, threshold: float | None = None) -> pd.DataFrame:
    """Sensitivity and specificity of each reader in each modality.

    The call is the ``decision`` column when present (0/1), else ``rating >= threshold``;
    without a threshold, ratings that are all within [0, 1] are read as probabilities (0.5)
    and ratings within [0, 100] with values above 5 as percentages (50). A 5-point scale has no
    implied cut-off: the table is then empty unless a threshold is given.
    """
    cut = threshold if threshold is not None else _default_threshold(ratings)
    if cut is None and "decision" not in ratings.columns:
        return pd.DataFrame(columns=["reader", "modality", "threshold", "sensitivity",
                                     "specificity", "n_positive", "n_negative"])
    rows = []
    for (reader, modality), part in ratings.groupby(["reader", "modality"], sort=True):
        if "decision" in part.columns and part["decision"].notna().all():
            score, at, label = part["decision"].to_numpy(float), 0.5, "decision"
        elif cut is not None:
            score, at, label = part["rating"].to_numpy(float), cut, cut
        else:
            continue
        found = threshold_metrics(part["truth"].to_numpy(int), score, at)
        rows.append({"reader": str(reader), "modality": str(modality), "threshold": label,
                     "sensitivity": found["sensitivity"], "specificity": found["specificity"],
                     "n_positive": int(part["truth"].sum()),
                     "n_negative": int((part["truth"] == 0).sum())})
    return pd.DataFrame(rows)


def _default_threshold(ratings: pd.DataFrame) -> float | None:
    values = ratings["rating"].to_numpy(float)
    if values.min() >= 0 and values.max() <= 1:
        return 0.5
    if values.min() >= 0 and values.max() <= 100 and values.max() > 5:
        return 50.0
    return None
