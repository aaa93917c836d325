"""PET RANO 1.0 as a clinical comparator: the recurrence session against the subject's baseline.

PET RANO 1.0 (Albert et al., Lancet Oncol 2024;25:e29) is a framework for response assessment
on amino-acid PET at a baseline and at follow-up. What gliopet implements, with fixed published
thresholds and nothing fitted (docs/literature.md, "Clinical quantification"):

- **measurable disease**: a tumour volume above 0.5 mL (`gliopet.quant.static.RANO_MIN_ML`;
  the ``BTV_mL`` of quantification's ``cohort.tsv``);
- **baseline**: the subject's diagnosis session in the same ``cohort.tsv``;
- **progressive** at the recurrence session when (a) measurable disease appears where the
  baseline had none (baseline BTV <= 0.5 mL, follow-up BTV > 0.5 mL: one VOI per session, so
  a "new lesion" is new measurable disease, not a separate lesion), or (b) the measurable
  disease grows by the growth factor `GROWTH_FACTOR` of its volume. The growth threshold is that
  of MRI RANO (2010): an increase of at least 25 % in the product of two perpendicular
  diameters; for a sphere the product grows as d^2 and the volume as d^3, so 25 % in the
  product is 1.25 ** 1.5 = 1.40 (40 %) in volume. That PET RANO 1.0 uses the same 25 % could not
  be checked against its full text here; it is marked so in docs/literature.md.

Not used, because a ``cohort.tsv`` does not hold them: the clinical status and the
corticosteroid dose, the MRI assessment, a change of TBR (no TBR threshold of PET RANO was
confirmed), the confirmation scan, and separate lesions.

The rule's output is the ordinal score `score` (column ``PETRANO_score``): 0 no measurable
disease at follow-up, 1 measurable but not progressive, 2 progressive; the 0/1 call is
``score >= 1.5`` (`CUTOFF`), a `gliopet.classify.rules.ThresholdRule` with that published
cut-off (its probability is a monotone map of the score, for the AUC, Brier score and curves).
A session without a baseline, or without a BTV, is **not assessable**: its score is missing,
`not_assessable` lists it, and the rule gives it the training rows' median score (as any rule
does with a missing value), said in the notes of `gliopet classify cohort`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from gliopet.quant.static import RANO_MIN_ML

#: Column of the ordinal PET RANO score added to the sessions.
SCORE = "PETRANO_score"
#: Column of the baseline (diagnosis) session's BTV.
BASELINE = "baseline_BTV_mL"
#: Volume factor of progression: MRI RANO's 25 % in the product of two diameters, as a volume.
GROWTH_FACTOR = 1.25 ** 1.5
#: Cut-off of the 0/1 call on the ordinal score (2 = progressive).
CUTOFF = 1.5
#: Name of the rule in results.tsv.
RULE_NAME = "PET RANO 1.0 (BTV vs diagnosis)"
#: Session kind of the baseline.
BASELINE_KIND = "diagnosis"


def score(btv_ml: ArrayLike, baseline_btv_ml: ArrayLike) -> NDArray[np.float64]:
    """Ordinal PET RANO score per session (module docstring); NaN when not assessable.

    Parameters
    ----------
    btv_ml : array (n,)
        Biological tumour volume at the recurrence session (mL).
    baseline_btv_ml : array (n,)
        The same subject's BTV at the baseline (diagnosis) session (mL); NaN: no baseline.
    """
    btv = np.asarray(btv_ml, dtype=float)
    base = np.asarray(baseline_btv_ml, dtype=float)
    measurable = btv > RANO_MIN_ML
    new = measurable & (base <= RANO_MIN_ML)
    grown = measurable & (base > RANO_MIN_ML) & (btv >= GROWTH_FACTOR * base)
    out = np.where(new | grown, 2.0, np.where(measurable, 1.0, 0.0))
    return np.where(np.isfinite(btv) & np.isfinite(base), out, np.nan)


def add_baseline(rows: pd.DataFrame, cohort: pd.DataFrame,
                 kind_of: Callable[[str], str]) -> pd.DataFrame:
    """`rows` with ``baseline_BTV_mL`` and ``PETRANO_score`` from `cohort`'s baseline sessions.

    `kind_of` maps a session label to its kind (``ses-diagnosis2`` -> ``diagnosis``); the
    baseline of a subject with several diagnosis sessions is the first in label order. Rows
    need ``participant_id`` and ``BTV_mL`` (without ``BTV_mL`` every score is missing).
    """
    out = rows.copy()
    base = cohort[cohort["session_id"].map(kind_of) == BASELINE_KIND]
    if "BTV_mL" not in cohort.columns or "BTV_mL" not in out.columns:
        out[BASELINE], out[SCORE] = np.nan, np.nan
        return out
    first = base.sort_values("session_id").groupby("participant_id")["BTV_mL"].first()
    out[BASELINE] = pd.to_numeric(out["participant_id"].map(first), errors="coerce")
    out[SCORE] = score(pd.to_numeric(out["BTV_mL"], errors="coerce"), out[BASELINE])
    return out


def not_assessable(rows: pd.DataFrame) -> list[str]:
    """Ids (column ``id``) of the rows whose PET RANO score is missing, with the reason."""
    lines = []
    for r in rows.itertuples():
        if np.isfinite(getattr(r, SCORE)):
            continue
        why = ("no baseline (diagnosis) session of the subject in cohort.tsv"
               if not np.isfinite(getattr(r, BASELINE)) else "no BTV at this session")
        lines.append(f"{r.id}: {why}")
    return lines


#: Meaning of each value of the ordinal score.
MEANING = {0: "no measurable disease (BTV <= 0.5 mL)", 1: "measurable, not progressive",
           2: "progressive (new measurable disease, or BTV grown by >= 40 %)"}


def explain(value: float) -> str:
    """One sentence for `gliopet predict`: the session's PET RANO score and the call."""
    if not np.isfinite(value):
        return ("PET RANO 1.0 not assessable (no baseline diagnosis session or no BTV): the "
                "probability rests on the training median score")
    return (f"PET RANO 1.0 score {int(value)}: {MEANING[int(value)]}; progressive when the "
            f"score is 2 (vs the diagnosis session)")
