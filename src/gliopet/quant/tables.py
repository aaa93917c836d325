"""The cohort tables of `gliopet quantify`: ``quant.tsv`` and ``cohort.tsv`` with their sidecars.

``quant.tsv`` (QUANT_TABLE of `gliopet.io.derivatives`) holds the row of every finished session
folder (its ``*_quant.json`` beside a ``provenance.json``), columns in the order and with the
descriptions of `gliopet.quant.outputs.QUANT_COLUMNS`. ``cohort.tsv`` (COHORT_TABLE) is
quant.tsv joined with participants.tsv and every ``sub-<s>_sessions.tsv``; a session-level
value takes precedence over the subject's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from gliopet.io import derivatives as d


def write_tables(root: str | Path) -> tuple[Path, Path]:
    """(Re)write quant.tsv and cohort.tsv (+ JSON sidecars) from every finished session folder."""
    from gliopet.atomic import write_json, write_tsv
    from gliopet.quant.outputs import QUANT_COLUMNS, quant_sidecar

    root = Path(root)
    rows = [json.loads(p.read_text()) for p in d.find_every_session(root, d.QUANT_ROW)
            if (p.parent / d.PROVENANCE).is_file()]
    quant = pd.DataFrame(rows)
    columns = [c for c in QUANT_COLUMNS if c in quant.columns]
    quant = quant[columns]
    quant_path = write_tsv(d.QUANT_TABLE.path(root), quant)
    write_json(d.QUANT_TABLE.sidecar(root), quant_sidecar(columns))
    cohort = join_labels(quant, *read_labels(root))
    cohort_path = write_tsv(d.COHORT_TABLE.path(root), cohort)
    write_json(d.COHORT_TABLE.sidecar(root), _cohort_sidecar(root, cohort, columns))
    return quant_path, cohort_path


def read_labels(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(participants.tsv rows, rows of every sub-<s>_sessions.tsv with its participant_id)."""
    from gliopet.io.bids_read import read_tsv_rows

    participants = read_tsv_rows(root / "participants.tsv", "participant_id") \
        if (root / "participants.tsv").is_file() else {}
    subjects = pd.DataFrame([{**values, "participant_id": pid}
                             for pid, values in participants.items()])
    rows = []
    for sessions_file in sorted(root.glob("sub-*/sub-*_sessions.tsv")):
        pid = sessions_file.parent.name
        for sid, values in read_tsv_rows(sessions_file, "session_id").items():
            rows.append({**values, "participant_id": pid, "session_id": sid})
    return subjects, pd.DataFrame(rows)


def join_labels(quant: pd.DataFrame, subjects: pd.DataFrame,
                sessions: pd.DataFrame) -> pd.DataFrame:
    """quant rows + label columns; a session-level value takes precedence over the subject's."""
    cohort = quant.copy()
    if not sessions.empty:
        extra = [c for c in sessions.columns
                 if c not in cohort.columns or c in ("participant_id", "session_id")]
        cohort = cohort.merge(sessions[extra], on=["participant_id", "session_id"], how="left")
    if not subjects.empty:
        cohort = cohort.merge(subjects, on="participant_id", how="left", suffixes=("", "__subject"))
        for column in [c for c in cohort.columns if c.endswith("__subject")]:
            base = column[: -len("__subject")]
            cohort[base] = cohort[base].where(cohort[base].notna(), cohort[column])
            cohort = cohort.drop(columns=column)
    return cohort


def _cohort_sidecar(root: Path, cohort: pd.DataFrame, columns: list[str]) -> dict[str, Any]:
    """Descriptions of cohort.tsv: quant columns, then labels as the dataset describes them."""
    from gliopet.quant.outputs import quant_sidecar

    sidecar: dict[str, Any] = quant_sidecar(columns)
    described: dict[str, Any] = {}
    for source in (root / "participants.json", *sorted(root.glob("sub-*/sub-*_sessions.json"))[:1]):
        if source.is_file():
            try:
                described.update(json.loads(source.read_text()))
            except json.JSONDecodeError:
                pass
    for column in cohort.columns:
        if column not in sidecar:
            sidecar[column] = described.get(column, {"Description": f"label {column} from "
                                                                    "participants.tsv / "
                                                                    "sub-<s>_sessions.tsv"})
    return sidecar
