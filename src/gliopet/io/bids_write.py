"""Writing BIDS-PET datasets: images, sidecars, participants and sessions tables.

Every file is written atomically (temporary name, then rename). Column descriptions go to
the JSON sidecars of ``participants.tsv`` and ``sub-<id>_sessions.tsv`` as BIDS asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
from numpy.typing import DTypeLike

from gliopet import DISCLAIMER, __version__
from gliopet.atomic import write_json, write_nifti, write_tsv
from gliopet.io.bids_names import anat_entities, raw_path, session_dir

BIDS_VERSION = "1.9.0"


def write_dataset_description(root: str | Path, name: str, *, dataset_type: str = "raw",
                              generated_by: list[dict[str, Any]] | None = None,
                              extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``dataset_description.json`` (raw dataset or derivative)."""
    description: dict[str, Any] = {
        "Name": name,
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": dataset_type,
        "GeneratedBy": generated_by
        or [{"Name": "gliopet", "Version": __version__, "Description": DISCLAIMER}],
    }
    if extra:
        description.update(extra)
    return write_json(Path(root) / "dataset_description.json", description)


def _nifti(data: np.ndarray, affine: np.ndarray, dtype=np.float32) -> nib.Nifti1Image:
    img = nib.Nifti1Image(np.asarray(data, dtype=dtype), np.asarray(affine, dtype=float))
    img.header.set_xyzt_units("mm", "sec")
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    return img


def write_image(target: str | Path, data: np.ndarray, affine: np.ndarray,
                dtype: DTypeLike = np.float32,
                sidecar: Mapping[str, Any] | None = None) -> Path:
    """Write a NIfTI image (mm, s units; qform = sform = `affine`) and its JSON sidecar if given."""
    target = Path(target)
    write_nifti(target, _nifti(data, affine, dtype=dtype))
    if sidecar is not None:
        write_json(target.with_name(target.name.replace(".nii.gz", ".json")), dict(sidecar))
    return target


def injection_fields(
    tracer: str, radionuclide: str, dose_mbq: float, time_zero: str
) -> dict[str, Any]:
    """Tracer and injection block of a BIDS-PET sidecar (bolus, unknown mass and specific activity).

    ``dose_mbq``: injected activity (MBq); ``time_zero``: the injection clock time (hh:mm:ss),
    so ``InjectionStart`` is 0 and every other time is in s from injection (docs/conventions.md).
    """
    return {
        "TracerName": tracer,
        "TracerRadionuclide": radionuclide,
        "InjectedRadioactivity": dose_mbq,
        "InjectedRadioactivityUnits": "MBq",
        "InjectedMass": "n/a",
        "InjectedMassUnits": "n/a",
        "SpecificRadioactivity": "n/a",
        "SpecificRadioactivityUnits": "n/a",
        "ModeOfAdministration": "bolus",
        "TimeZero": time_zero,
        "InjectionStart": 0,
    }


def write_pet(
    root: str | Path,
    subject: str,
    session: str | None,
    data: np.ndarray,
    affine: np.ndarray,
    sidecar: Mapping[str, Any],
    *,
    tracer: str | None = "FDOPA",
) -> Path:
    """Write a PET image (Bq/mL, 3-D or 4-D float32) and its JSON sidecar; return the NIfTI path.

    The sidecar must already hold the BIDS-PET fields (`FrameTimesStart`, `FrameDuration`
    in s, `Units`, dose, decay correction, ...); it is written as given.
    """
    path = raw_path(root, subject, session, "pet", trc=tracer)
    img = _nifti(data, affine)
    write_nifti(path, img)
    write_json(path.with_name(path.name.replace(".nii.gz", ".json")), dict(sidecar))
    return path


def write_anat(root: str | Path, subject: str, session: str | None, anat_key: str,
               data: np.ndarray, affine: np.ndarray, sidecar: Mapping[str, Any] | None = None,
               dtype: DTypeLike = np.float32) -> Path:
    """Write an anatomical image keyed ``T1w``, ``ce-gadolinium_T1w``, ``T2w`` or ``FLAIR``."""
    suffix, entities = anat_entities(anat_key)
    path = raw_path(root, subject, session, suffix, **entities)
    write_nifti(path, _nifti(data, affine, dtype=dtype))
    if sidecar is not None:
        write_json(path.with_name(path.name.replace(".nii.gz", ".json")), dict(sidecar))
    return path


def write_table(path: str | Path, table: pd.DataFrame,
                descriptions: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write a BIDS TSV and, when `descriptions` is given, its JSON sidecar of column meanings."""
    path = Path(path)
    write_tsv(path, table)
    if descriptions:
        write_json(
            path.with_suffix(".json"),
            {k: dict(v) for k, v in descriptions.items() if k in table.columns},
        )
    return path


def write_participants(root: str | Path, table: pd.DataFrame,
                       descriptions: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write ``participants.tsv`` (first column ``participant_id`` = ``sub-<id>``)."""
    if table.columns[0] != "participant_id":
        raise ValueError("the first column of participants.tsv must be 'participant_id'")
    return write_table(Path(root) / "participants.tsv", table, descriptions)


def write_sessions(root: str | Path, subject: str, table: pd.DataFrame,
                   descriptions: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write ``sub-<id>/sub-<id>_sessions.tsv`` (first column ``session_id`` = ``ses-<id>``)."""
    if table.columns[0] != "session_id":
        raise ValueError("the first column of a sessions file must be 'session_id'")
    path = session_dir(root, subject, None) / f"sub-{subject}_sessions.tsv"
    return write_table(path, table, descriptions)
