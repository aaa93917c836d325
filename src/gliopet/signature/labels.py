"""Molecular markers and grade of each session, from quantification's cohort.tsv (or any table).

Binary markers are coded 1 for the value in `MARKERS` and 0 for the listed negatives (the same
spelling as `gliopet simulate` and the participants.tsv of BIDS datasets); any other value
(``n/a``, unknown) is missing and the session is left out of that marker's tests. ``grade`` is
ordinal (WHO CNS 2/3/4) and tested by rank correlation. The aggressiveness label of the
localisation (`aggressive_label`) is IDH-wildtype (1) against IDH-mutant (0); where IDH is
missing, WHO grade 4 (1) against 2-3 (0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gliopet.errors import InputError
from gliopet.io import derivatives as d
from gliopet.io.labels import LABELS

#: Binary markers and their coding (column of cohort.tsv -> coding): every label of
#: `gliopet.io.labels` but the outcome at recurrence.
MARKERS = {name: coding for name, coding in LABELS.items() if name != "outcome"}
#: Ordinal markers (tested by Spearman correlation).
ORDINAL = {"grade": "WHO CNS grade (2, 3, 4)"}
#: Markers tested by default (those present in the table).
DEFAULT_MARKERS = (*MARKERS, *ORDINAL)
#: Words of the aggressiveness label, for the outputs.
AGGRESSIVE_LABEL = ("IDH-wildtype (1) vs IDH-mutant (0); where IDH is missing, WHO grade 4 (1) "
                    "vs 2-3 (0)")


def code_marker(values: pd.Series, marker: str) -> pd.Series:
    """A marker column coded as float: 1/0 (binary), the grade number (ordinal), NaN missing."""
    if marker in ORDINAL:
        return pd.to_numeric(values, errors="coerce").astype(float)
    coding = MARKERS[marker]
    text = values.astype("string").str.strip()
    is_pos = (text == coding.positive).fillna(False).to_numpy(bool)
    is_neg = text.isin(coding.negatives).fillna(False).to_numpy(bool)
    coded = np.where(is_pos, 1.0, np.where(is_neg, 0.0, np.nan))
    return pd.Series(coded, index=values.index, dtype=float)


def check_markers(table: pd.DataFrame, markers: list[str] | None, path: str | Path) -> list[str]:
    """The markers to test: those asked (each must be a column), or every known one present.

    Raises
    ------
    InputError
        An asked marker is not a column of the table, or none is present.
    """
    if markers:
        for marker in markers:
            if marker not in table.columns:
                raise InputError(f"marker column {marker!r} is absent", path=path,
                                 fix=f"choose --markers among the columns: "
                                     f"{', '.join(map(str, table.columns[:40]))}")
        return list(markers)
    found = [m for m in DEFAULT_MARKERS if m in table.columns]
    if not found:
        raise InputError(f"none of the marker columns {', '.join(DEFAULT_MARKERS)} is present",
                         path=path, fix="give --markers with the label columns of the table")
    return found


def coded_markers(table: pd.DataFrame, markers: list[str]) -> pd.DataFrame:
    """Coded marker columns (`code_marker`; unknown names are read as numbers)."""
    out = {}
    for marker in markers:
        if marker in MARKERS or marker in ORDINAL:
            out[marker] = code_marker(table[marker], marker)
        else:
            out[marker] = pd.to_numeric(table[marker], errors="coerce").astype(float)
    return pd.DataFrame(out, index=table.index)


def aggressive_label(table: pd.DataFrame) -> pd.Series:
    """1 aggressive / 0 not / NaN unknown (module docstring)."""
    label = pd.Series(np.nan, index=table.index, dtype=float)
    if "IDH" in table.columns:
        label = 1.0 - code_marker(table["IDH"], "IDH")
    if "grade" in table.columns:
        grade = code_marker(table["grade"], "grade")
        label = label.fillna((grade >= 4).astype(float).where(grade.notna()))
    return label


def read_cohort(bids_dir: str | Path) -> pd.DataFrame:
    """quantification's cohort.tsv (participant and session labels), 'n/a' as missing."""
    path = d.COHORT_TABLE.path(bids_dir)
    if not path.is_file():
        raise InputError("quantification's cohort table is missing", path=path,
                         fix=f"run `{d.QUANT.command}` on the dataset first")
    return pd.read_csv(path, sep="\t", na_values=["n/a", "NA", ""], keep_default_na=False,
                       dtype={"participant_id": str, "session_id": str})
