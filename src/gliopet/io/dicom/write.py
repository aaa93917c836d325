"""DICOM series writers: classic PET Image Storage and MR Image Storage, one file per slice.

Used by the tests of `import-dicom` (vendor variants written on purpose) and by the digital
phantom's ``--dicom`` output. Written with pydicom: no library writes a classic multi-file PET
series with the PET module tags (frame timing, decay, radiopharmaceutical), so the tag
assembly below is by hand; the pixel encoding (int16 with a per-slice ``RescaleSlope``) follows
what scanners export.

Geometry: `affine` maps voxel indices (i, j, k) to RAS+ mm (NIfTI). DICOM patient coordinates
are LPS, so the first two rows of the affine change sign. Voxel index i runs along the DICOM
row direction (columns of the pixel matrix), j along the column direction (rows), k across
slices: pixel matrix of slice k = ``volume[:, :, k].T``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import format_number_as_ds

from gliopet.atomic import atomic_path
from gliopet.io.timing import FrameTiming

PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
#: Half-life of fluorine-18 (s): 109.77 min.
F18_HALF_LIFE_S = 6586.2

PET_UNITS = ("BQML", "GML", "CNTS")
DECAY_CORRECTIONS = ("START", "ADMIN", "NONE")
FRAME_REFERENCES = ("mid", "start", "decay_weighted")

# Tags an MR scanner writes that the sequence classifier (`gliopet.io.dicom.mr`) reads.
MR_SEQUENCES = {
    "T1w": dict(description="t1_mprage_sag_iso", scanning="GR\\IR", variant="SP\\MP", name="*tfl3d1",
                tr_ms=2300.0, te_ms=2.98, ti_ms=900.0, contrast=None),
    "ce-gadolinium_T1w": dict(description="t1_mprage_sag_iso", scanning="GR\\IR", variant="SP\\MP",
                              name="*tfl3d1", tr_ms=2300.0, te_ms=2.98, ti_ms=900.0,
                              contrast="Gadoterate meglumine"),
    "T2w": dict(description="t2_tse_tra", scanning="SE", variant="SK\\SP", name="*tse2d1_15",
                tr_ms=5000.0, te_ms=95.0, ti_ms=None, contrast=None),
    "FLAIR": dict(description="t2_tirm_tra_dark-fluid", scanning="SE\\IR", variant="SK\\SP\\MP",
                  name="*tir2d1_16", tr_ms=9000.0, te_ms=81.0, ti_ms=2500.0, contrast=None),
}


def _ds(value: float) -> str:
    """A decimal string of at most 16 characters (DICOM DS)."""
    return format_number_as_ds(float(value))


def _da(when: dt.datetime) -> str:
    return when.strftime("%Y%m%d")


def _tm(when: dt.datetime) -> str:
    return when.strftime("%H%M%S.%f")


def _geometry(affine: np.ndarray) -> tuple[list[float], list[float], np.ndarray, np.ndarray]:
    """ImageOrientationPatient, PixelSpacing, first-slice position and slice step, all LPS mm."""
    affine = np.asarray(affine, dtype=float)
    if affine.shape != (4, 4):
        raise ValueError(f"affine must be 4x4, got {affine.shape}")
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
    col_i, col_j, step_k = lps[:3, 0], lps[:3, 1], lps[:3, 2]
    di, dj = np.linalg.norm(col_i), np.linalg.norm(col_j)
    if di <= 0 or dj <= 0 or np.linalg.norm(step_k) <= 0:
        raise ValueError("affine has a zero voxel size")
    row_cos, col_cos = col_i / di, col_j / dj
    normal = np.cross(row_cos, col_cos)
    if abs(np.dot(row_cos, col_cos)) > 1e-4 or np.linalg.norm(np.cross(normal, step_k / np.linalg.norm(step_k))) > 1e-4:
        raise ValueError("affine is sheared: DICOM slices need orthogonal axes")
    orientation = [float(v) for v in np.concatenate([row_cos, col_cos])]
    return orientation, [float(dj), float(di)], lps[:3, 3], step_k


def _file_meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    return meta


def _common(ds: Dataset, *, patient_id: str, patient_name: str, birth_date: str, sex: str,
            study_uid: str, series_uid: str, frame_uid: str, study_when: dt.datetime,
            series_when: dt.datetime, series_description: str, modality: str,
            manufacturer: str, model: str, series_number: int) -> None:
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth_date
    ds.PatientSex = sex
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.StudyDate, ds.StudyTime = _da(study_when), _tm(study_when)
    ds.SeriesDate, ds.SeriesTime = _da(series_when), _tm(series_when)
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.Modality = modality
    ds.Manufacturer = manufacturer
    ds.ManufacturerModelName = model
    ds.SeriesDescription = series_description
    ds.SeriesNumber = series_number
    ds.PositionReferenceIndicator = ""
    ds.PatientPosition = "HFS"


def _pixels(ds: Dataset, plane: np.ndarray) -> None:
    """Store a float plane (rows, cols) as int16 with its own RescaleSlope (intercept 0)."""
    peak = float(np.max(np.abs(plane))) if plane.size else 0.0
    slope = peak / 32767.0 if peak > 0 else 1.0
    slope = float(_ds(slope))  # the slope as stored, so that rounding uses the same value
    stored = np.clip(np.rint(plane / slope), -32768, 32767).astype(np.int16)
    ds.Rows, ds.Columns = int(plane.shape[0]), int(plane.shape[1])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope = _ds(slope)
    ds.RescaleIntercept = "0"
    ds.PixelData = stored.tobytes()


def _save(ds: Dataset, path: Path) -> Path:
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return path


def decay_weighted_offset_s(duration_s: np.ndarray | float, half_life_s: float) -> np.ndarray:
    """Time after the frame start (s) at which the mean activity of a decaying source occurs.

    With lambda = ln 2 / T_half and frame length d, the frame-averaged activity equals the
    activity at ``t_start + offset`` where ``offset = -ln((1 - exp(-lambda d)) / (lambda d)) / lambda``
    (slightly less than d / 2). This is the time vendors put in ``FrameReferenceTime``.
    """
    d = np.asarray(duration_s, dtype=float)
    lam = np.log(2.0) / half_life_s
    x = lam * d
    mean_factor = np.where(x > 0, -np.expm1(-x) / np.where(x > 0, x, 1.0), 1.0)
    return -np.log(mean_factor) / lam


def write_pet_series(
    out_dir: str | Path,
    frames_bq_ml: np.ndarray,
    affine: np.ndarray,
    timing: FrameTiming,
    *,
    weight_kg: float,
    dose_bq: float,
    injection_datetime: dt.datetime,
    units: str = "BQML",
    decay_correction: str = "START",
    frame_reference: str = "mid",
    patient_id: str,
    patient_name: str,
    birth_date: str = "",
    sex: str = "O",
    study_uid: str | None = None,
    series_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    study_datetime: dt.datetime | None = None,
    series_description: str = "PET Brain FDOPA",
    radiopharmaceutical: str = "Fluorodopa F^18^",
    half_life_s: float = F18_HALF_LIFE_S,
    write_start_datetime: bool = True,
    manufacturer: str = "gliopet",
    model: str = "digital phantom",
    series_number: int = 1,
) -> list[Path]:
    """Write a (dynamic) PET series as classic PET Image Storage files, one per slice per frame.

    Parameters
    ----------
    out_dir : path
        Folder for the files (created); names are ``PT_<frame>_<slice>.dcm``.
    frames_bq_ml : ndarray (x, y, z) or (x, y, z, t)
        Activity concentration (Bq/mL) decay-corrected to the injection (DESIGN.md section 7).
        The writer converts to what the tags declare: ``START`` multiplies by
        ``2**(-scan_start / T_half)``, ``NONE`` by the frame-averaged decay
        ``2**(-t_start / T_half) * (1 - exp(-lambda d)) / (lambda d)``, ``ADMIN`` stores as given;
        ``GML`` then divides by the dose decayed to the correction time and multiplies by the
        weight (g), so the stored values are SUV (g/mL). ``CNTS`` stores the values as they are.
    affine : ndarray (4, 4)
        Voxel to RAS+ mm.
    timing : FrameTiming
        Frame start and duration (s from injection); durations are written in whole ms.
    weight_kg, dose_bq : float
        Body weight (kg) and injected activity (Bq) at `injection_datetime`.
    injection_datetime : datetime
        Start of the radiopharmaceutical administration (naive local time).
    frame_reference : {"mid", "start", "decay_weighted"}
        Where `FrameReferenceTime` (ms from the series start) points inside each frame.
    write_start_datetime : bool
        Also write ``RadiopharmaceuticalStartDateTime`` (older scanners give only the time).

    Returns
    -------
    list of Path
        The files written, frame by frame, slice by slice.
    """
    units, decay_correction = units.upper(), decay_correction.upper()
    if units not in PET_UNITS:
        raise ValueError(f"units must be one of {PET_UNITS}, got {units!r}")
    if decay_correction not in DECAY_CORRECTIONS:
        raise ValueError(f"decay_correction must be one of {DECAY_CORRECTIONS}, got {decay_correction!r}")
    if frame_reference not in FRAME_REFERENCES:
        raise ValueError(f"frame_reference must be one of {FRAME_REFERENCES}, got {frame_reference!r}")
    if units == "GML" and decay_correction == "NONE":
        raise ValueError("GML (SUV) images must be decay corrected (START or ADMIN)")
    data = np.asarray(frames_bq_ml, dtype=float)
    if data.ndim == 3:
        data = data[..., np.newaxis]
    if data.ndim != 4 or data.shape[3] != timing.n_frames:
        raise ValueError(f"frames must be (x, y, z, t) with t = {timing.n_frames} frames; got {data.shape}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    orientation, spacing, origin, step = _geometry(affine)
    n_slices, n_frames = data.shape[2], data.shape[3]

    lam = np.log(2.0) / half_life_s
    start_s = timing.start_s
    duration_ms = np.rint(timing.duration_s * 1000.0).astype(int)
    duration_s = duration_ms / 1000.0
    scan_start_s = float(start_s[0])
    in_frame = np.where(lam * duration_s > 0, -np.expm1(-lam * duration_s) / (lam * duration_s), 1.0)
    # Factor from "decay-corrected to injection" to the stored convention, and the DICOM
    # DecayFactor (the factor the scanner applied to the frame's mean activity).
    if decay_correction == "ADMIN":
        to_stored = np.ones(n_frames)
        decay_factor = np.exp(lam * start_s) / in_frame
        correction_time_s = 0.0
    elif decay_correction == "START":
        to_stored = np.full(n_frames, np.exp(-lam * scan_start_s))
        decay_factor = np.exp(lam * (start_s - scan_start_s)) / in_frame
        correction_time_s = scan_start_s
    else:
        to_stored = np.exp(-lam * start_s) * in_frame
        decay_factor = np.ones(n_frames)
        correction_time_s = 0.0
    stored = data * to_stored
    if units == "GML":
        stored = stored * (weight_kg * 1000.0) / (dose_bq * np.exp(-lam * correction_time_s))

    if frame_reference == "start":
        reference_s = start_s
    elif frame_reference == "mid":
        reference_s = start_s + duration_s / 2.0
    else:
        reference_s = start_s + decay_weighted_offset_s(duration_s, half_life_s)
    frame_reference_ms = (reference_s - scan_start_s) * 1000.0

    series_when = injection_datetime + dt.timedelta(seconds=scan_start_s)
    study_when = study_datetime or series_when
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = frame_of_reference_uid or generate_uid()

    radio = Dataset()
    radio.Radiopharmaceutical = radiopharmaceutical
    radio.RadiopharmaceuticalStartTime = _tm(injection_datetime)
    if write_start_datetime:
        radio.RadiopharmaceuticalStartDateTime = injection_datetime.strftime("%Y%m%d%H%M%S.%f")
    radio.RadionuclideTotalDose = _ds(dose_bq)
    radio.RadionuclideHalfLife = _ds(half_life_s)
    radio.RadionuclidePositronFraction = "0.97"
    nuclide = Dataset()
    nuclide.CodeValue, nuclide.CodingSchemeDesignator, nuclide.CodeMeaning = "77004003", "SCT", "^18^Fluorine"
    radio.RadionuclideCodeSequence = DicomSequence([nuclide])

    written: list[Path] = []
    for f in range(n_frames):
        frame_when = injection_datetime + dt.timedelta(seconds=float(start_s[f]))
        for k in range(n_slices):
            sop_uid = generate_uid()
            ds = Dataset()
            ds.file_meta = _file_meta(PET_IMAGE_STORAGE, sop_uid)
            ds.SOPClassUID, ds.SOPInstanceUID = PET_IMAGE_STORAGE, sop_uid
            _common(ds, patient_id=patient_id, patient_name=patient_name, birth_date=birth_date, sex=sex,
                    study_uid=study_uid, series_uid=series_uid, frame_uid=frame_uid,
                    study_when=study_when, series_when=series_when,
                    series_description=series_description, modality="PT",
                    manufacturer=manufacturer, model=model, series_number=series_number)
            ds.PatientWeight = _ds(weight_kg)
            ds.ImageType = ["ORIGINAL", "PRIMARY"]
            ds.AcquisitionDate, ds.AcquisitionTime = _da(frame_when), _tm(frame_when)
            ds.ContentDate, ds.ContentTime = _da(frame_when), _tm(frame_when)
            ds.ActualFrameDuration = int(duration_ms[f])
            ds.FrameReferenceTime = _ds(frame_reference_ms[f])
            ds.DecayFactor = _ds(decay_factor[f])
            ds.NumberOfSlices = n_slices
            ds.NumberOfTimeSlices = n_frames
            ds.ImageIndex = f * n_slices + k + 1
            ds.InstanceNumber = f * n_slices + k + 1
            ds.SeriesType = ["DYNAMIC" if n_frames > 1 else "STATIC", "IMAGE"]
            ds.Units = units
            ds.CountsSource = "EMISSION"
            ds.DecayCorrection = decay_correction
            ds.CorrectedImage = ["ATTN", "SCAT", "DTIM", "RAN", "NORM"] + (
                ["DECY"] if decay_correction != "NONE" else [])
            ds.ReconstructionMethod = "OSEM"
            ds.AttenuationCorrectionMethod = "measured"
            ds.RandomsCorrectionMethod = "DLYD"
            ds.ScatterCorrectionMethod = "model-based"
            if units == "GML":
                ds.SUVType = "BW"
            ds.RadiopharmaceuticalInformationSequence = DicomSequence([radio])
            position = origin + k * step
            ds.ImagePositionPatient = [_ds(v) for v in position]
            ds.ImageOrientationPatient = [_ds(v) for v in orientation]
            ds.PixelSpacing = [_ds(v) for v in spacing]
            ds.SliceThickness = _ds(np.linalg.norm(step))
            ds.SliceLocation = _ds(float(np.dot(position, np.cross(orientation[:3], orientation[3:]))))
            _pixels(ds, stored[:, :, k, f].T)
            written.append(_save(ds, out_dir / f"PT_{f + 1:03d}_{k + 1:04d}.dcm"))
    return written


def write_mr_series(
    out_dir: str | Path,
    volume: np.ndarray,
    affine: np.ndarray,
    *,
    sequence: str = "T1w",
    patient_id: str,
    patient_name: str,
    birth_date: str = "",
    sex: str = "O",
    study_uid: str | None = None,
    series_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    study_datetime: dt.datetime | None = None,
    series_description: str | None = None,
    field_strength_t: float = 3.0,
    manufacturer: str = "gliopet",
    model: str = "digital phantom",
    series_number: int = 2,
    extra: Sequence[tuple[str, object]] = (),
) -> list[Path]:
    """Write a 3-D MR volume as MR Image Storage files, one per slice.

    `sequence` (``T1w``, ``ce-gadolinium_T1w``, ``T2w``, ``FLAIR``) sets the tags the importer's
    classifier reads: ``SeriesDescription``, ``ScanningSequence``, ``SequenceVariant``,
    ``SequenceName``, ``RepetitionTime``/``EchoTime``/``InversionTime`` (ms) and, for contrast
    T1w, ``ContrastBolusAgent``. `extra` sets further top-level tags by keyword (e.g. to
    write a series the classifier cannot recognise).
    """
    if sequence not in MR_SEQUENCES:
        raise ValueError(f"sequence must be one of {tuple(MR_SEQUENCES)}, got {sequence!r}")
    spec = MR_SEQUENCES[sequence]
    data = np.asarray(volume, dtype=float)
    if data.ndim != 3:
        raise ValueError(f"volume must be 3-D (x, y, z); got shape {data.shape}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    orientation, spacing, origin, step = _geometry(affine)
    when = study_datetime or dt.datetime(2026, 1, 5, 9, 0, 0)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = frame_of_reference_uid or generate_uid()
    description = series_description or (spec["description"] + ("_post" if spec["contrast"] else ""))
    written: list[Path] = []
    for k in range(data.shape[2]):
        sop_uid = generate_uid()
        ds = Dataset()
        ds.file_meta = _file_meta(MR_IMAGE_STORAGE, sop_uid)
        ds.SOPClassUID, ds.SOPInstanceUID = MR_IMAGE_STORAGE, sop_uid
        _common(ds, patient_id=patient_id, patient_name=patient_name, birth_date=birth_date, sex=sex,
                study_uid=study_uid, series_uid=series_uid, frame_uid=frame_uid, study_when=when,
                series_when=when, series_description=description, modality="MR",
                manufacturer=manufacturer, model=model, series_number=series_number)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.AcquisitionDate, ds.AcquisitionTime = _da(when), _tm(when)
        ds.InstanceNumber = k + 1
        ds.ScanningSequence = spec["scanning"].split("\\")
        ds.SequenceVariant = spec["variant"].split("\\")
        ds.SequenceName = spec["name"]
        ds.MRAcquisitionType = "3D" if "tfl3d" in spec["name"] else "2D"
        ds.RepetitionTime = _ds(spec["tr_ms"])
        ds.EchoTime = _ds(spec["te_ms"])
        if spec["ti_ms"] is not None:
            ds.InversionTime = _ds(spec["ti_ms"])
        ds.MagneticFieldStrength = _ds(field_strength_t)
        if spec["contrast"]:
            ds.ContrastBolusAgent = spec["contrast"]
        position = origin + k * step
        ds.ImagePositionPatient = [_ds(v) for v in position]
        ds.ImageOrientationPatient = [_ds(v) for v in orientation]
        ds.PixelSpacing = [_ds(v) for v in spacing]
        ds.SliceThickness = _ds(np.linalg.norm(step))
        ds.SliceLocation = _ds(float(np.dot(position, np.cross(orientation[:3], orientation[3:]))))
        for keyword, value in extra:
            setattr(ds, keyword, value)
        _pixels(ds, data[:, :, k].T)
        written.append(_save(ds, out_dir / f"MR_{series_number:02d}_{k + 1:04d}.dcm"))
    return written
