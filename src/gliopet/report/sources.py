"""What a report reads about one session, through the derivatives contract.

Each reader returns None (or an empty frame) when its stage did not run, so that the report can
say so in words; a required input (quantification) raises the contract's `InputError` that
names the command to run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gliopet.io import derivatives as d

#: Stages whose session provenance the report lists, in pipeline order.
PROVENANCE_STAGES = (d.PREPROCESS, d.QUANT, d.RADIOMICS, d.FOUNDATION, d.SIGNATURE, d.BIOPSY)


def labels(ids: d.IdsLike) -> tuple[str, str]:
    """``(sub-<s>, ses-<t>)`` labels of a session (as in quant.tsv)."""
    subject, session = d.session_ids(ids)
    return f"sub-{subject}", f"ses-{session}" if session else "n/a"


def _table_row(path: Path, ids: d.IdsLike, subject_col: str, session_col: str
               ) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    table = pd.read_csv(path, sep="\t", dtype={subject_col: str, session_col: str})
    subject, session = d.session_ids(ids)
    keys = table[subject_col].astype(str).str.removeprefix("sub-")
    values = table[session_col].astype(str).str.removeprefix("ses-")
    match = table[(keys == subject) & (values == (session or "nan"))]
    return match.iloc[0].to_dict() if len(match) else None


def quant_row(root: Path, ids: d.IdsLike) -> dict[str, Any]:
    """The session's row of quant.tsv (its per-session JSON; required) joined with the labels
    of cohort.tsv when present."""
    row = json.loads(d.find(root, ids, d.QUANT_ROW, what="quantification row").read_text())
    extra = _table_row(d.COHORT_TABLE.path(root), ids, "participant_id", "session_id") or {}
    return {**extra, **row}


def qc_row(root: Path, ids: d.IdsLike) -> dict[str, Any] | None:
    """The session's row of qc.tsv (with the cohort outlier flags), else its QC JSON."""
    row = _table_row(d.QC_TABLE.path(root), ids, "subject", "session")
    if row is not None:
        return row
    path = d.find_or_none(root, ids, d.QC_ROW)
    return json.loads(path.read_text()) if path is not None else None


def qc_flags(row: dict[str, Any] | None) -> list[str]:
    """The QC flags of a row (empty when none), plus a failed status."""
    if row is None:
        return []
    flags = [f for f in str(row.get("flags") or "").split(";") if f and f != "nan"]
    status = str(row.get("status") or "ok")
    if status not in ("ok", "nan"):
        flags.insert(0, f"status:{status}")
    return flags


@dataclass
class ModelOutput:
    """Predictions of saved models for one session and what they rest on."""

    rows: pd.DataFrame
    model_folder: Path | None = None
    target: str = ""
    performance: pd.DataFrame = field(default_factory=pd.DataFrame)

    def saliency(self) -> Path | None:
        """The first saliency map (NIfTI) named by the predictions, when present."""
        if "saliency" not in self.rows.columns:
            return None
        for value in self.rows["saliency"].dropna().astype(str):
            if value not in ("", "n/a") and Path(value).is_file():
                return Path(value)
        return None


def _performance(folder: Path | None, models: list[str]) -> pd.DataFrame:
    results = folder / "results.tsv" if folder is not None else None
    if results is None or not results.is_file():
        return pd.DataFrame()
    table = pd.read_csv(results, sep="\t")
    return table[table["model"].isin(models)] if "model" in table.columns else pd.DataFrame()


def model_output(root: Path, ids: d.IdsLike, table: Path | None = None) -> ModelOutput | None:
    """Predictions of `gliopet predict` for the session (`table` or the contract's
    predictions table), with the model's evaluated performance from its folder; None when
    there are none."""
    path = Path(table) if table is not None else d.PREDICTIONS_TABLE.path(root)
    if path.is_dir():
        path = path / d.PREDICTIONS_TABLE.filename
    if not path.is_file():
        return None
    rows = pd.read_csv(path, sep="\t", dtype={"participant_id": str, "session_id": str})
    subject, session = labels(ids)
    rows = rows[(rows["participant_id"] == subject) & (rows["session_id"] == session)]
    if rows.empty:
        return None
    sidecar = path.with_name(path.name.split(".", 1)[0] + ".json")
    model = json.loads(sidecar.read_text()).get("Model", {}) if sidecar.is_file() else {}
    folder = Path(model["Folder"]) if model.get("Folder") else None
    return ModelOutput(rows.reset_index(drop=True), folder, str(model.get("Target", "")),
                       _performance(folder, list(rows["model"].astype(str))))


def stage_provenance(root: Path, ids: d.IdsLike) -> list[dict[str, str]]:
    """Command, gliopet version and creation time of each stage that ran on the session."""
    found = []
    for folder in PROVENANCE_STAGES:
        path = folder.session_provenance(root, ids)
        if not path.is_file():
            continue
        record = json.loads(path.read_text())
        found.append({"stage": folder.name, "command": str(record.get("command", "")),
                      "gliopet": str(record.get("gliopet_version", "")),
                      "finished": str(record.get("created", ""))})
    return found


def stage_seconds(root: Path, ids: d.IdsLike) -> dict[str, float]:
    """Seconds each stage spent on the session, where the stage records it (preprocessing:
    the ``seconds`` column of qc.tsv)."""
    seconds = {}
    qc = qc_row(root, ids)
    if qc is not None and pd.notna(qc.get("seconds")):
        seconds["preprocess"] = float(qc["seconds"])
    return seconds
