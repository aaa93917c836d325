"""The ratings of a reader study in long form, checked, and the study design they follow.

One row per reading: ``reader``, ``modality``, ``case``, ``truth`` (0/1, 1 = disease, e.g.
progression) and ``rating`` (any number that is higher when the reader is more confident of
disease: a 5-point scale or a probability 0-100 or 0-1). An optional ``decision`` column (0/1)
holds the reader's binary call.

The designs are those of the R package MRMCaov (`get_design`), named here:

- ``crossed``: every reader reads every case in every modality (MRMCaov design 1);
- ``cases_within_readers``: each case is read by one reader only, in every modality (design 2);
- ``cases_within_modalities``: each case is read in one modality only, by every reader
  (design 3);
- ``readers_within_modalities``: each reader reads in one modality only (design 4, the
  split-plot of readers);
- ``partially_paired``: every reader reads in every modality but not every case (missing
  readings, or reader groups that split the cases: MRMCaov design -1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gliopet.errors import InputError

COLUMNS = ("reader", "modality", "case", "truth", "rating")
DESIGNS = ("crossed", "cases_within_readers", "cases_within_modalities",
           "readers_within_modalities", "partially_paired")


def _check_columns(frame: pd.DataFrame, path: str | Path | None) -> None:
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"the ratings lack the column(s) {', '.join(missing)}", path=path,
                         fix="give a long-form table with columns " + ", ".join(COLUMNS))
    empty = [c for c in COLUMNS if frame[c].isna().any()]
    if empty:
        rows = int(frame[list(COLUMNS)].isna().any(axis=1).sum())
        raise InputError(f"{rows} rating row(s) have an empty {', '.join(empty)}", path=path,
                         fix="fill in or remove the incomplete rows")


def _check_values(frame: pd.DataFrame, path: str | Path | None) -> pd.DataFrame:
    rating = pd.to_numeric(frame["rating"], errors="coerce")
    if rating.isna().any() or not np.isfinite(rating.to_numpy(dtype=float)).all():
        bad = frame.loc[~np.isfinite(rating.fillna(np.inf)), "rating"].iloc[0]
        raise InputError(f"the rating {bad!r} is not a finite number", path=path,
                         fix="ratings must be numbers (a scale or a probability)")
    truth = pd.to_numeric(frame["truth"], errors="coerce")
    values = set(truth.dropna().unique().tolist())
    if truth.isna().any() or not values <= {0, 1}:
        shown = sorted({str(v) for v in frame["truth"].unique()})[:5]
        raise InputError(f"truth must be 0 or 1; got values {', '.join(shown)}", path=path,
                         fix="code the reference standard as 1 (disease) or 0 (no disease)")
    if len(values) < 2:
        raise InputError(f"every case has truth {int(values.pop())}; an AUC needs both classes",
                         path=path, fix="include cases with and without disease")
    out = frame.copy()
    out["rating"], out["truth"] = rating.astype(float), truth.astype(int)
    return out


def _check_consistency(frame: pd.DataFrame, path: str | Path | None) -> None:
    per_case = frame.groupby("case")["truth"].nunique()
    if (per_case > 1).any():
        case = per_case[per_case > 1].index[0]
        raise InputError(f"case {case} has both truth 0 and 1", path=path,
                         fix="give each case one reference standard")
    dup = frame.duplicated(["reader", "modality", "case"])
    if dup.any():
        row = frame.loc[dup, ["reader", "modality", "case"]].iloc[0]
        raise InputError(f"reader {row['reader']} rated case {row['case']} in modality "
                         f"{row['modality']} more than once", path=path,
                         fix="keep one (the final) rating per reader, modality and case")


def check_ratings(frame: pd.DataFrame, *, path: str | Path | None = None) -> pd.DataFrame:
    """The ratings, checked: columns present and complete, 0/1 truth, numeric ratings.

    Raises
    ------
    InputError
        Naming the first problem found (missing column, empty cell, non-binary truth, a
        case with two truths, a reading given twice).
    """
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise InputError("the ratings table is empty", path=path,
                         fix="give at least one reading per reader, modality and case")
    _check_columns(frame, path)
    out = _check_values(frame, path)
    _check_consistency(out, path)
    if "decision" in out.columns:
        decision = pd.to_numeric(out["decision"], errors="coerce")
        if not set(decision.dropna().unique().tolist()) <= {0, 1}:
            raise InputError("the decision column must hold 0 or 1", path=path,
                             fix="1 = positive call (disease), 0 = negative, empty = none")
        out["decision"] = decision
    return out


def _crossed(frame: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Boolean table: does level x of `a` occur with level y of `b`."""
    return pd.crosstab(frame[a], frame[b]) > 0


def _fully_paired(frame: pd.DataFrame) -> bool:
    counts = frame.groupby(["modality", "reader"])["case"].nunique()
    cases = frame["case"].nunique()
    pairs = frame["modality"].nunique() * frame["reader"].nunique()
    return len(counts) == pairs and bool((counts == cases).all())


def detect_design(frame: pd.DataFrame) -> str:
    """The design of the checked ratings (one of `DESIGNS`), by MRMCaov's rule.

    Raises
    ------
    InputError
        When the readers neither all read every modality nor each read one modality only.
    """
    by_reader = _crossed(frame, "modality", "reader")
    if bool(by_reader.to_numpy().all()):
        if bool((_crossed(frame, "reader", "case").sum(axis=0) == 1).all()):
            return "cases_within_readers"
        if bool((_crossed(frame, "modality", "case").sum(axis=0) == 1).all()):
            return "cases_within_modalities"
        return "crossed" if _fully_paired(frame) else "partially_paired"
    if bool((by_reader.sum(axis=0) == 1).all()):
        return "readers_within_modalities"
    reader = by_reader.columns[(~by_reader.all(axis=0)) & (by_reader.sum(axis=0) > 1)][0]
    raise InputError(f"reader {reader} read some modalities but not all; the design is "
                     "neither crossed nor readers nested within modalities",
                     fix="give each reader every modality, or exactly one")


def require_design(frame: pd.DataFrame, design: str | None) -> str:
    """The detected design, checked against the one the user states (None: accept any)."""
    found = detect_design(frame)
    if design is None or design == found:
        return found
    if design not in DESIGNS:
        raise InputError(f"unknown design {design!r}", fix="one of " + ", ".join(DESIGNS))
    if design == "crossed":
        counts = frame.groupby(["reader", "modality"])["case"].nunique()
        total = frame["case"].nunique()
        (reader, modality), n = next((k, v) for k, v in counts.items() if v < total)
        raise InputError(f"fully crossed design: reader {reader} read {n} of the {total} "
                         f"cases in modality {modality}",
                         fix="give every reading, or analyse as partially_paired")
    raise InputError(f"the ratings follow the {found} design, not {design}",
                     fix=f"analyse as {found}")
