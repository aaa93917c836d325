"""Tiny valid BIDS-PET test datasets written with `gliopet.io.bids_write`, with knobs to break them.

`make_bids_dataset(root)` writes subjects with one session each (dynamic PET in Bq/mL
decay-corrected to injection, T1w and contrast T1w), a participants table and sessions tables
with the body weight, and returns the paths together with the true SUV factor
(weight (g) / dose (Bq)) and the true activity (Bq/mL) of every frame.

The PET voxels are ``activity_bq_ml[frame]`` everywhere, so the SUV of every voxel of frame f
is ``activity_bq_ml[f] * suv_factor`` exactly.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliopet.io.bids_write import (
    write_anat,
    write_dataset_description,
    write_participants,
    write_pet,
    write_sessions,
)

#: Put as a value in `sidecar_overrides` to delete the key from the sidecar.
DROP = object()


@dataclass
class FactoryDataset:
    """What `make_bids_dataset` wrote, and the truth."""

    root: Path
    pet: dict[str, Path] = field(default_factory=dict)     # key: sub-XX_ses-YY
    anat: dict[str, dict[str, Path]] = field(default_factory=dict)
    sidecars: dict[str, dict[str, Any]] = field(default_factory=dict)
    suv_factor: dict[str, float | None] = field(default_factory=dict)
    activity_bq_ml: np.ndarray = field(default_factory=lambda: np.zeros(0))
    frame_start_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    frame_duration_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def sidecar_path(self, key: str | None = None) -> Path:
        pet = self.pet[key or next(iter(self.pet))]
        return pet.with_name(pet.name.replace(".nii.gz", ".json"))

    def first_pet(self) -> Path:
        return next(iter(self.pet.values()))


def frame_durations(n_frames: int) -> np.ndarray:
    """A realistic dynamic schedule (s): 2 x 60, 2 x 120, then 300 s frames."""
    base = [60.0, 60.0, 120.0, 120.0]
    return np.array((base + [300.0] * max(0, n_frames - 4))[:n_frames])


def pet_affine(
    shape: tuple[int, int, int], voxel_mm: float = 2.0, offset_mm=(0.0, 0.0, 0.0)
) -> np.ndarray:
    """RAS affine centring the grid on the origin (+ `offset_mm`)."""
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = -voxel_mm * (np.asarray(shape) - 1) / 2.0 + np.asarray(offset_mm)
    return affine


def make_bids_dataset(
    root: str | Path,
    n_subjects: int = 1,
    n_frames: int = 6,
    shape: tuple[int, int, int] = (12, 12, 10),
    *,
    session: str | None = "diagnosis",
    weight_kg: float | None = 70.0,
    weight_in: str = "sessions",
    dose_mbq: float = 185.0,
    sidecar_overrides: dict[str, Any] | None = None,
    pet_data: Callable[[np.ndarray], np.ndarray] | None = None,
    pet_affine_override: np.ndarray | None = None,
    anat: tuple[str, ...] = ("T1w", "ce-gadolinium_T1w"),
    anat_offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    write_description: bool = True,
    write_participants_table: bool = True,
) -> FactoryDataset:
    """Write a tiny BIDS-PET dataset under `root` and return its paths and truth.

    Parameters
    ----------
    weight_kg : float or None
        Body weight (kg); None writes ``n/a``.
    weight_in : ``"sessions"`` or ``"participants"``
        Which table holds the weight (the other gets none).
    sidecar_overrides : dict
        Keys replaced in every PET sidecar (value `DROP` removes the key).
    pet_data : callable
        Maps the clean 4-D array (x, y, z, frame) in Bq/mL to the one written.
    pet_affine_override, anat_offset_mm
        Geometry knobs (degenerate affine, MRI moved away from the PET).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    durations = frame_durations(n_frames)
    starts = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    # A plausible FDOPA-like time course: rises, then a slow washout (Bq/mL).
    activity = 4000.0 + 6000.0 * (1.0 - np.exp(-(starts + durations / 2) / 300.0)) * \
        np.exp(-(starts + durations / 2) / 20000.0)
    out = FactoryDataset(
        root=root, activity_bq_ml=activity, frame_start_s=starts, frame_duration_s=durations
    )
    if write_description:
        write_dataset_description(root, "gliopet test dataset")

    participants, descriptions = [], {"weight": {"Description": "body weight", "Units": "kg"}}
    for index in range(1, n_subjects + 1):
        subject = f"{index:02d}"
        key = f"sub-{subject}" + (f"_ses-{session}" if session else "")
        data = np.broadcast_to(activity, (*shape, n_frames)).astype(np.float32)
        if pet_data is not None:
            data = pet_data(data)
        sidecar: dict[str, Any] = {
            "Manufacturer": "Siemens", "ManufacturersModelName": "Biograph Vision",
            "Units": "Bq/mL", "TracerName": "FDOPA", "TracerRadionuclide": "F18",
            "InjectedRadioactivity": dose_mbq, "InjectedRadioactivityUnits": "MBq",
            "ImageDecayCorrected": True, "ImageDecayCorrectionTime": 0,
            "TimeZero": "10:00:00", "ScanStart": 0, "InjectionStart": 0,
            "FrameTimesStart": starts.tolist(), "FrameDuration": durations.tolist(),
            "AcquisitionMode": "list mode",
        }
        for name, value in (sidecar_overrides or {}).items():
            if value is DROP:
                sidecar.pop(name, None)
            else:
                sidecar[name] = value
        affine = pet_affine(shape) if pet_affine_override is None else pet_affine_override
        out.pet[key] = write_pet(root, subject, session, data, affine, sidecar, tracer="FDOPA")
        out.sidecars[key] = sidecar
        out.suv_factor[key] = None if weight_kg is None else weight_kg * 1000.0 / (dose_mbq * 1e6)
        out.anat[key] = {}
        anat_shape = (16, 16, 12)
        for anat_key in anat:
            image = np.random.default_rng(index).normal(500.0, 50.0, anat_shape)
            out.anat[key][anat_key] = write_anat(root, subject, session, anat_key, image,
                                                 pet_affine(anat_shape, 1.5, anat_offset_mm))
        weight_cell = weight_kg if weight_kg is not None else np.nan
        participants.append({"participant_id": f"sub-{subject}", "sex": "F" if index % 2 else "M",
                             "weight": weight_cell if weight_in == "participants" else np.nan})
        if session:
            sessions = pd.DataFrame(
                [
                    {
                        "session_id": f"ses-{session}",
                        "site": "siteA",
                        "grade": 2,
                        "weight": weight_cell if weight_in == "sessions" else np.nan,
                    }
                ]
            )
            write_sessions(root, subject, sessions, descriptions)
    if write_participants_table:
        write_participants(root, pd.DataFrame(participants), descriptions)
    return out


# Helpers that break a written dataset.

def truncate(path: Path, keep_fraction: float = 0.5, *, cut_compressed: bool = False) -> None:
    """Shorten a NIfTI file to `keep_fraction` of its bytes.

    By default the uncompressed stream is cut and compressed again (a complete gzip file whose
    image is short); with ``cut_compressed`` the .gz bytes themselves are cut (a broken gzip
    stream, as an interrupted copy leaves it).
    """
    raw = path.read_bytes()
    if path.name.endswith(".gz") and not cut_compressed:
        data = gzip.decompress(raw)
        path.write_bytes(gzip.compress(data[: int(len(data) * keep_fraction)]))
    else:
        path.write_bytes(raw[: int(len(raw) * keep_fraction)])


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under `root` with size and mtime (ns), to prove nothing was written."""
    listing = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            stat = path.stat()
            listing[str(path.relative_to(root))] = (
                stat.st_size if path.is_file() else 0,
                stat.st_mtime_ns,
            )
    return listing


def make_affine_degenerate(path: Path) -> None:
    """Rewrite a NIfTI so that its sform has a zero row (no qform): a non-invertible affine.

    nibabel refuses to build such an image from an affine, so the header fields are set directly.
    """
    import nibabel as nib

    img = nib.load(str(path))
    header = img.header.copy()
    header["qform_code"] = 0
    header["sform_code"] = 1
    header["srow_z"] = [0.0, 0.0, 0.0, 0.0]
    nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj), None, header=header), str(path))
