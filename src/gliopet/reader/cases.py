"""The cases of a reader study: predictions, reference standard and de-identified images.

A case is one session of the predictions table. Its images are taken from the derivatives
(contract `gliopet.io.derivatives`) and written again as new NIfTI files (fresh header: no
description, no extensions, no file name of the source) into the case's folder named by its
random code, so no subject or session label reaches the browser:

    pet.nii.gz       static PET on the PET grid (STATIC_SUV of quant, else STATIC_PET)
    mri.nii.gz       contrast T1w (else T1w) on the PET grid (MRI_ON_PET)
    flair.nii.gz     FLAIR on the PET grid (MRI_ON_PET), when present
    frames.nii.gz    motion-corrected dynamic frames (MC_PET), when present with > 1 frame
    saliency.nii.gz  the model's saliency map (predictions column ``saliency``), when given
    tac.json         the VOI time-activity curves (VOI_TACS: minutes, SUV per VOI)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gliopet.errors import InputError
from gliopet.io import derivatives as d

#: Image files of a case folder that the web application may serve (name -> what it is).
CASE_IMAGES = {"pet.nii.gz": "static PET", "mri.nii.gz": "contrast T1w (or T1w)",
               "flair.nii.gz": "FLAIR", "frames.nii.gz": "dynamic frames",
               "saliency.nii.gz": "model saliency"}
TAC_FILE = "tac.json"
#: Columns of the VOI TAC table that are times, not curves (`gliopet.quant.tac.tac_table`).
TAC_TIME_COLUMNS = ("frame_start_s", "frame_duration_s", "mid_time_min")
#: Values of the truth column read as progression (1) and as treatment change (0).
POSITIVE = {"1", "1.0", "progression", "true", "yes", "positive"}
NEGATIVE = {"0", "0.0", "treatment_change", "treatment-related change", "pseudoprogression",
            "radionecrosis", "false", "no", "negative"}


@dataclass(frozen=True)
class CaseSource:
    """One session to read: ids, model output, truth and the source files of its images."""

    subject: str
    session: str
    probability: float
    threshold: float | None
    truth: int
    saliency: Path | None


def read_predictions(path: Path, model: str | None = None) -> pd.DataFrame:
    """The predictions table as columns subject, session, probability, threshold, saliency.

    Accepts the ``predictions.tsv`` of `gliopet predict` (participant_id, session_id, model,
    probability, threshold, ...) and any table with subject, session and probability.
    """
    table = read_text_table(path).rename(columns={"participant_id": "subject",
                                                   "session_id": "session"})
    missing = [c for c in ("subject", "session", "probability") if c not in table.columns]
    if missing:
        raise InputError(f"the predictions table has no column {', '.join(missing)}", path=path,
                         fix="give the predictions.tsv of `gliopet predict` or a table with "
                             "columns subject, session, probability")
    table = _one_model(table, path, model)
    probability = pd.to_numeric(table["probability"], errors="coerce")
    if probability.isna().any() or not probability.between(0, 1).all():
        raise InputError("the probability column must hold numbers between 0 and 1", path=path,
                         fix="give the model's probability of progression per session")
    table = table.assign(subject=table["subject"].astype(str).str.removeprefix("sub-"),
                         session=table["session"].astype(str).str.removeprefix("ses-"),
                         probability=probability)
    if table.duplicated(["subject", "session"]).any():
        raise InputError("a session appears twice in the predictions table", path=path,
                         fix="keep one row per session (choose the model with --model)")
    for column in ("threshold", "saliency"):
        if column not in table.columns:
            table[column] = None
    return table[["subject", "session", "probability", "threshold", "saliency"]]


def read_text_table(path: Path) -> pd.DataFrame:
    """A tsv/csv table with every cell as text (labels such as ``001`` keep their zeros)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path, fix="give an existing tsv or csv table")
    sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    try:
        return pd.read_csv(path, sep=sep, dtype=str, na_values=["n/a", "NA", ""],
                           keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot be read as a table ({exc})", path=path,
                         fix="save it as UTF-8 tab-separated text") from None


def _one_model(table: pd.DataFrame, path: Path, model: str | None) -> pd.DataFrame:
    if "model" not in table.columns:
        return table
    models = sorted(table["model"].astype(str).unique())
    if model is None and len(models) > 1:
        raise InputError(f"the predictions table holds several models ({', '.join(models)})",
                         path=path, fix="choose one with --model NAME")
    if model is not None and model not in models:
        raise InputError(f"no model {model!r} in the predictions table "
                         f"(models: {', '.join(models)})", path=path, fix="give one of them")
    return table[table["model"].astype(str) == (model or models[0])]


def truth_labels(bids_dir: Path, column: str) -> dict[tuple[str, str], int]:
    """The reference standard per (subject, session): 1 progression, 0 treatment change.

    Read from cohort.tsv when present, else from participants.tsv and the sessions tables
    (a session-level value takes precedence).
    """
    from gliopet.quant.tables import join_labels, read_labels

    cohort_path = d.COHORT_TABLE.path(bids_dir)
    if cohort_path.is_file():
        from gliopet.classify.tables import read_table
        rows = read_table(cohort_path)
    else:
        subjects, sessions = read_labels(Path(bids_dir))
        if sessions.empty:
            raise InputError("the dataset has no sessions tables (sub-<s>_sessions.tsv) and no "
                             "cohort.tsv", path=bids_dir,
                             fix="run `gliopet quantify` or add the session labels")
        rows = join_labels(sessions[["participant_id", "session_id"]], subjects, sessions)
    if column not in rows.columns:
        raise InputError(f"no truth column {column!r} in the cohort or session labels",
                         path=cohort_path if cohort_path.is_file() else bids_dir,
                         fix="name the column with --truth-column")
    labels = {}
    for _, row in rows.iterrows():
        value = _code(row[column])
        if value is not None:
            key = (str(row["participant_id"]).removeprefix("sub-"),
                   str(row["session_id"]).removeprefix("ses-"))
            labels[key] = value
    return labels


def _code(value: object) -> int | None:
    text = str(value).strip().lower()
    if text in POSITIVE:
        return 1
    if text in NEGATIVE:
        return 0
    return None


def case_sources(bids_dir: Path, predictions: pd.DataFrame, truth: dict[tuple[str, str], int],
                 predictions_path: Path) -> list[CaseSource]:
    """One `CaseSource` per predicted session; InputError naming sessions without truth."""
    missing = [f"sub-{s}_ses-{t}" for s, t in zip(predictions["subject"], predictions["session"],
                                                   strict=True) if (s, t) not in truth]
    if missing:
        raise InputError(f"no reference standard for {len(missing)} session(s): "
                         f"{', '.join(missing[:5])}", path=bids_dir,
                         fix="add the truth label of every session (--truth-column) or drop "
                             "those sessions from the predictions table")
    out = []
    for row in predictions.itertuples(index=False):
        threshold = None if row.threshold is None or pd.isna(row.threshold) else row.threshold
        saliency = None
        if isinstance(row.saliency, str) and row.saliency.strip():
            saliency = Path(row.saliency)
            saliency = saliency if saliency.is_absolute() else predictions_path.parent / saliency
            if not saliency.is_file():
                raise InputError("saliency map not found", path=saliency,
                                 fix="give paths relative to the predictions table")
        out.append(CaseSource(row.subject, row.session, float(row.probability),
                              None if threshold is None else float(threshold),
                              truth[(row.subject, row.session)], saliency))
    return out


def _clean_image(source: Path, target: Path, *, frames: bool = False) -> None:
    """Write `source` again as a new float32 NIfTI (fresh header: nothing of the source's
    description, file name or extensions); a 4D image is kept 4D only with ``frames``."""
    import nibabel as nib

    from gliopet.atomic import write_nifti

    img = nib.load(str(source))
    data = np.asarray(img.dataobj, dtype=np.float32)
    if data.ndim == 4 and not frames:
        data = data.mean(axis=3)
    data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    clean = nib.Nifti1Image(data, img.affine)
    clean.header.set_xyzt_units("mm", "sec")
    write_nifti(target, clean)


def _mri(bids_dir: Path, ids: tuple[str, str], suffix: str) -> Path | None:
    found = d.find_all(bids_dir, ids, d.MRI_ON_PET, suffix=suffix)
    found.sort(key=lambda p: "_ce-" not in p.name)  # the contrast-enhanced one first
    return found[0] if found else None


def write_case_images(bids_dir: Path, source: CaseSource, folder: Path) -> dict[str, bool]:
    """Write the case's de-identified images and TACs into `folder`; which ones exist."""
    ids = (source.subject, source.session)
    pet = d.find_or_none(bids_dir, ids, d.STATIC_SUV) or d.find_or_none(bids_dir, ids,
                                                                         d.STATIC_PET)
    mri = _mri(bids_dir, ids, "T1w")
    if pet is None or mri is None:
        what = "static PET (run `gliopet quantify`)" if pet is None else \
            "T1w on the PET grid (run `gliopet preprocess`)"
        raise InputError(f"sub-{source.subject}_ses-{source.session} has no {what}",
                         path=d.PREPROCESS.session_dir(bids_dir, ids),
                         fix="preprocess and quantify every session of the predictions table")
    folder.mkdir(parents=True, exist_ok=True)
    _clean_image(pet, folder / "pet.nii.gz")
    _clean_image(mri, folder / "mri.nii.gz")
    flair = _mri(bids_dir, ids, "FLAIR")
    if flair is not None:
        _clean_image(flair, folder / "flair.nii.gz")
    frames = d.find_or_none(bids_dir, ids, d.MC_PET)
    dynamic = frames is not None and _n_frames(frames) > 1
    if dynamic:
        _clean_image(frames, folder / "frames.nii.gz", frames=True)
    if source.saliency is not None:
        _clean_image(source.saliency, folder / "saliency.nii.gz")
    tacs = d.find_or_none(bids_dir, ids, d.VOI_TACS)
    if tacs is not None:
        _write_tacs(tacs, folder / TAC_FILE)
    return {"frames": dynamic, "flair": flair is not None,
            "saliency": source.saliency is not None}


def _n_frames(path: Path) -> int:
    import nibabel as nib

    shape = nib.load(str(path)).shape
    return int(shape[3]) if len(shape) == 4 else 1


def _write_tacs(source: Path, target: Path) -> None:
    """The VOI TACs as JSON: ``{"minutes": [...], "curves": {voi: [SUV ...]}}`` (no NaN)."""
    from gliopet.atomic import write_json
    from gliopet.classify.tables import read_table

    table = read_table(source)
    minutes = [float(v) for v in table["mid_time_min"]]
    curves = {str(c): [None if not math.isfinite(float(v)) else float(v) for v in table[c]]
              for c in table.columns if c not in TAC_TIME_COLUMNS}
    write_json(target, {"minutes": minutes, "curves": curves, "unit": "SUV"})


def read_tacs(folder: Path) -> dict[str, object] | None:
    """The TACs of a case folder (None when the case has none)."""
    path = folder / TAC_FILE
    return json.loads(path.read_text()) if path.is_file() else None
