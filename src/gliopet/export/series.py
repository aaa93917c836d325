"""The MR series the exported SEG and RTSTRUCT refer to, and masks carried onto its grid.

Two sources:

* the session came from DICOM (`gliopet import-dicom`) and the user gives the import's id-map:
  a series with the original Study, Series and Frame of Reference UIDs and, slice by slice, the
  original SOP Instance UIDs (the id-map keeps them in the order of the imported image's slices),
  on the geometry of the imported image as written (not reoriented), so that references land
  on the original images in the PACS;
* otherwise: a DICOM copy of the reference MRI that gliopet writes (MR Image Storage, new UIDs
  derived from the session, `gliopet.io.dicom.write.write_mr_series`).

Either way the series is read back and its geometry checked (one orientation, pixel spacing,
matrix and frame of reference; equally spaced, aligned slices) before anything refers to it.
Voxel (c, r, k) of a series volume is column c, row r of slice k (slices sorted along the slice
normal, as rt-utils sorts them); the pixel matrix of slice k is ``volume[:, :, k].T``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import Dataset, dcmread
from pydicom.uid import generate_uid

from gliopet.errors import InputError
from gliopet.spatial import lps_to_ras_affine

#: Geometry tolerance (mm) of positions and spacings inside one series.
TOLERANCE_MM = 0.01
#: MR Image IOD attributes the phantom's writer leaves out (dciodvfy: type 2 / 2C, empty or
#: one echo), added to the copies written here.
MR_EXTRA = (("Laterality", ""), ("ScanOptions", ""), ("EchoTrainLength", 1))


@dataclass(frozen=True)
class Series:
    """A read-back MR series: its folder, slices (sorted along the normal), RAS affine of the
    (c, r, k) grid, its shape and where it comes from (``copy`` or ``original``)."""

    folder: Path
    slices: list[Dataset]
    affine: np.ndarray
    shape: tuple[int, int, int]
    origin: str


def session_uid(*parts: str) -> str:
    """A UID derived from the given strings (same strings, same UID: reruns are identical)."""
    return str(generate_uid(entropy_srcs=["gliopet biopsy export", *parts]))


def write_copy(folder: Path, volume: np.ndarray, affine: np.ndarray, anat_key: str,
               ids: tuple[str, str | None]) -> list[Path]:
    """Write the reference MRI (RAS affine) as a de-identified MR series with session UIDs."""
    from gliopet.io.dicom.write import MR_SEQUENCES, write_mr_series

    subject, session = ids
    key = f"sub-{subject}_ses-{session}"
    return write_mr_series(folder, volume, affine, sequence=anat_key if anat_key in MR_SEQUENCES
                           else "T1w", patient_id=key, patient_name=f"sub-{subject}^ses-{session}",
                           study_uid=session_uid(key, "study"),
                           series_uid=session_uid(key, "mri series"),
                           frame_of_reference_uid=session_uid(key, "frame of reference"),
                           series_description="gliopet copy of the reference MRI",
                           manufacturer="gliopet", model="gliopet biopsy export",
                           series_number=901, extra=MR_EXTRA)


def id_map_record(id_map: dict[str, Any], bids_relative: str, path: Path) -> dict[str, Any]:
    """The id-map's record of the imported image `bids_relative` (the latest import), with the
    import's ``source`` folder added (``_source``)."""
    for entry in reversed(id_map.get("imports", [])):
        for record in entry.get("files", []):
            if record.get("bids_path") == bids_relative:
                return {**record, "_source": entry.get("source")}
    raise InputError(f"the id-map has no record of {bids_relative} (the session did not come "
                     "from this import)", path=path,
                     fix="give the id-map of the import that wrote this dataset, or leave "
                         "--id-map out to export against a DICOM copy of the MRI")


def write_original(folder: Path, volume: np.ndarray, affine: np.ndarray, anat_key: str,
                   record: dict[str, Any], path: Path) -> list[Path]:
    """Write a series carrying the original UIDs of `record` on the imported image's own grid
    (`volume`, `affine` as stored, not reoriented: slice k is the record's k-th instance).

    Raises
    ------
    InputError
        The record's instance count differs from the image's slices, or the original files
        (when still readable) sit elsewhere than the imported geometry says.
    """
    from gliopet.io.dicom.write import MR_SEQUENCES, write_mr_series

    uids = list(record.get("SOPInstanceUIDs", []))
    if len(uids) != volume.shape[2]:
        raise InputError(f"inconsistent geometry: the id-map lists {len(uids)} instances of "
                         f"{record.get('bids_path')} but the image has {volume.shape[2]} slices",
                         path=path, fix="give the id-map of the import that wrote this dataset")
    when = dt.datetime.strptime(str(record.get("StudyDate") or "20000101"), "%Y%m%d")
    files = write_mr_series(folder, volume, affine, sequence=anat_key if anat_key in MR_SEQUENCES
                            else "T1w", patient_id=str(record.get("PatientID", "")),
                            patient_name="", study_uid=record["StudyInstanceUID"],
                            series_uid=record["SeriesInstanceUID"],
                            frame_of_reference_uid=record["FrameOfReferenceUID"],
                            study_datetime=when,
                            series_description=str(record.get("SeriesDescription", "")),
                            extra=MR_EXTRA)
    patient = source_patient(record)
    for file, uid in zip(files, uids, strict=True):
        ds = dcmread(file)
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        for keyword, value in patient.items():
            setattr(ds, keyword, value)
        ds.save_as(file, enforce_file_format=True)
    return files


#: Patient and study attributes copied from an original file when it is still readable (the
#: navigation system matches the objects to its patient by them; the id-map holds only the ID).
PATIENT_KEYWORDS = ("PatientName", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                    "StudyID", "AccessionNumber", "ReferringPhysicianName")


def source_patient(record: dict[str, Any]) -> dict[str, Any]:
    """`PATIENT_KEYWORDS` of the first original file of `record` (empty when it is gone)."""
    names = record.get("source_files") or []
    file = Path(record["_source"]) / names[0] if record.get("_source") and names else None
    if file is None or not file.is_file():
        return {}
    ds = dcmread(file, stop_before_pixels=True)
    return {k: ds[k].value for k in PATIENT_KEYWORDS if k in ds}


def check_against_source(series: Series, record: dict[str, Any], path: Path) -> int:
    """Compare the rebuilt series with the original files when they are still readable (the
    import's source folder): each slice's position and orientation must match the original
    instance of the same SOP Instance UID within `TOLERANCE_MM`. Returns the number of files
    compared (0 when the source is gone: the imported geometry is then trusted).

    Raises
    ------
    InputError
        An original instance lies elsewhere (``inconsistent geometry``).
    """
    source = record.get("_source")
    names = record.get("source_files") or []
    if not source or len(names) != len(series.slices):
        return 0
    originals = {}
    for name in names:
        file = Path(source) / name
        if not file.is_file():
            return 0
        ds = dcmread(file, stop_before_pixels=True)
        originals[str(ds.SOPInstanceUID)] = ds
    for built in series.slices:
        original = originals.get(str(built.SOPInstanceUID))
        if original is None or not _same_plane(built, original):
            raise _inconsistent("the original instance "
                                f"{built.SOPInstanceUID} is not where the imported image puts "
                                "it", path)
    return len(originals)


def _same_plane(a: Dataset, b: Dataset) -> bool:
    for keyword, tolerance in (("ImagePositionPatient", TOLERANCE_MM),
                               ("ImageOrientationPatient", 1e-4), ("PixelSpacing", 1e-4)):
        left = np.array([float(v) for v in getattr(a, keyword)])
        right = np.array([float(v) for v in getattr(b, keyword, [np.nan] * len(left))])
        if left.shape != right.shape or not np.all(np.abs(left - right) <= tolerance):
            return False
    return True


def read_series(folder: Path, origin: str, path: Path | None = None) -> Series:
    """Read a series folder back, sort its slices along the normal and check its geometry.

    Raises
    ------
    InputError
        Mixed series or frames of reference, orientations, spacings or matrices, or slices not
        equally spaced or not aligned (``inconsistent geometry``).
    """
    slices = [dcmread(p) for p in sorted(folder.iterdir()) if p.is_file()]
    if not slices:
        raise InputError("the reference MRI series is empty", path=path or folder,
                         fix="check the reference MRI")
    _check_uniform(slices, path or folder)
    row, col = (np.array(slices[0].ImageOrientationPatient[i:i + 3], float) for i in (0, 3))
    normal = np.cross(row, col)
    slices.sort(key=lambda s: float(np.dot(normal, np.array(s.ImagePositionPatient, float))))
    step = _slice_step(slices, normal, path or folder)
    dr, dc = (float(v) for v in slices[0].PixelSpacing)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2] = row * dc, col * dr, step
    lps[:3, 3] = np.array(slices[0].ImagePositionPatient, float)
    shape = (int(slices[0].Columns), int(slices[0].Rows), len(slices))
    return Series(folder, slices, lps_to_ras_affine(lps), shape, origin)


def _check_uniform(slices: list[Dataset], path: Path) -> None:
    for keyword in ("SeriesInstanceUID", "FrameOfReferenceUID", "Rows", "Columns"):
        values = {str(getattr(s, keyword, "")) for s in slices}
        if len(values) > 1:
            raise _inconsistent(f"{len(values)} different {keyword} values", path)
    for keyword in ("ImageOrientationPatient", "PixelSpacing"):
        values = np.array([[float(v) for v in getattr(s, keyword)] for s in slices])
        if np.abs(values - values[0]).max() > 1e-4:
            raise _inconsistent(f"the slices differ in {keyword}", path)


def _slice_step(slices: list[Dataset], normal: np.ndarray, path: Path) -> np.ndarray:
    """The slice step vector (LPS mm); refuses unequal spacing and misaligned slices."""
    positions = np.array([[float(v) for v in s.ImagePositionPatient] for s in slices])
    if len(slices) == 1:
        return normal * float(getattr(slices[0], "SliceThickness", 1.0) or 1.0)
    steps = np.diff(positions, axis=0)
    step = (positions[-1] - positions[0]) / (len(slices) - 1)
    if np.linalg.norm(step) < TOLERANCE_MM:
        raise _inconsistent("two or more slices share one position", path)
    if np.abs(steps - step).max() > max(TOLERANCE_MM, 0.01 * np.linalg.norm(step)):
        raise _inconsistent("the slices are not equally spaced or not aligned (positions "
                            f"step by {np.linalg.norm(steps, axis=1).min():.3f} to "
                            f"{np.linalg.norm(steps, axis=1).max():.3f} mm)", path)
    return step


def _inconsistent(problem: str, path: Path) -> InputError:
    return InputError(f"the reference MRI series has inconsistent geometry: {problem}",
                      path=path, fix="export the MR series again (one complete, regular "
                                     "series) and re-import it")


def frames(volume: np.ndarray) -> np.ndarray:
    """A (c, r, k) series volume as (k, rows, columns) frames in slice order."""
    return np.ascontiguousarray(np.transpose(volume, (2, 1, 0)))
