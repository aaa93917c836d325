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
from gliopet.radionuclides import (
    HALF_LIFE_S,
    decay_weighted_offset_s,
    frame_decay_factors,
    frame_mean_fraction,
    remaining_fraction,
)
from gliopet.spatial import ras_to_lps_affine

PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"

PET_UNITS = ("BQML", "GML", "CNTS")
DECAY_CORRECTIONS = ("START", "ADMIN", "NONE")
FRAME_REFERENCES = ("mid", "start", "decay_weighted")

# Tags an MR scanner writes that the sequence classifier (`gliopet.io.dicom.mr`) reads.
MR_SEQUENCES = {
    "T1w": dict(description="t1_mprage_sag_iso", scanning="GR\\IR", variant="SP\\MP",
                name="*tfl3d1", tr_ms=2300.0, te_ms=2.98, ti_ms=900.0, contrast=None),
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
    lps = ras_to_lps_affine(affine)
    col_i, col_j, step_k = lps[:3, 0], lps[:3, 1], lps[:3, 2]
    di, dj = np.linalg.norm(col_i), np.linalg.norm(col_j)
    if di <= 0 or dj <= 0 or np.linalg.norm(step_k) <= 0:
        raise ValueError("affine has a zero voxel size")
    row_cos, col_cos = col_i / di, col_j / dj
    normal = np.cross(row_cos, col_cos)
    slice_dir = step_k / np.linalg.norm(step_k)
    if abs(np.dot(row_cos, col_cos)) > 1e-4 or np.linalg.norm(np.cross(normal, slice_dir)) > 1e-4:
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


def write_pet_series(
    out_dir: str | Path, frames_bq_ml: np.ndarray, affine: np.ndarray, timing: FrameTiming, *,
    weight_kg: float, dose_bq: float, injection_datetime: dt.datetime, units: str = "BQML",
    decay_correction: str = "START", frame_reference: str = "mid", patient_id: str,
    patient_name: str, birth_date: str = "", sex: str = "O", study_uid: str | None = None,
    series_uid: str | None = None, frame_of_reference_uid: str | None = None,
    study_datetime: dt.datetime | None = None, series_description: str = "PET Brain FDOPA",
    radiopharmaceutical: str = "Fluorodopa F^18^", half_life_s: float = HALF_LIFE_S["F18"],
    write_start_datetime: bool = True, manufacturer: str = "gliopet",
    model: str = "digital phantom", series_number: int = 1,
    radiopharmaceutical_code: tuple[str, str, str] | None = None,
) -> list[Path]:
    """Write a (dynamic) PET series as classic PET Image Storage files, one per slice per frame.

    Parameters
    ----------
    out_dir : path
        Folder for the files (created); names are ``PT_<frame>_<slice>.dcm``.
    frames_bq_ml : ndarray (x, y, z) or (x, y, z, t)
        Activity concentration (Bq/mL) decay-corrected to the injection (docs/conventions.md),
        converted to what the tags declare (`_stored_values`).
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
    half_life_s : float
        Radionuclide half-life (s); default F-18 (`gliopet.radionuclides`).
    write_start_datetime : bool
        Also write ``RadiopharmaceuticalStartDateTime`` (older scanners give only the time).
    radiopharmaceutical_code : (code value, coding scheme, code meaning), optional
        Written as ``RadiopharmaceuticalCodeSequence`` (e.g. ``("C-B1034", "SRT",
        "Fluoro-L-dopa F^18^")``); by default none, only the `radiopharmaceutical` name.

    Returns
    -------
    list of Path
        The files written, frame by frame, slice by slice.
    """
    units, decay_correction = _check_pet_options(units, decay_correction, frame_reference)
    data = np.asarray(frames_bq_ml, dtype=float)
    if data.ndim == 3:
        data = data[..., np.newaxis]
    if data.ndim != 4 or data.shape[3] != timing.n_frames:
        raise ValueError(f"frames must be (x, y, z, t) with t = {timing.n_frames} frames; "
                         f"got {data.shape}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    geometry = _geometry(affine)
    duration_ms = np.rint(timing.duration_s * 1000.0).astype(int)
    stored, decay_factor = _stored_values(data, timing.start_s, duration_ms / 1000.0, units,
                                          decay_correction, weight_kg, dose_bq, half_life_s)
    reference_ms = _frame_reference_ms(timing.start_s, duration_ms / 1000.0, frame_reference,
                                       half_life_s)
    series_when = injection_datetime + dt.timedelta(seconds=float(timing.start_s[0]))
    common = dict(patient_id=patient_id, patient_name=patient_name, birth_date=birth_date, sex=sex,
                  study_uid=study_uid or generate_uid(), series_uid=series_uid or generate_uid(),
                  frame_uid=frame_of_reference_uid or generate_uid(),
                  study_when=study_datetime or series_when, series_when=series_when,
                  series_description=series_description, modality="PT",
                  manufacturer=manufacturer, model=model, series_number=series_number)
    radio = _radiopharmaceutical_item(radiopharmaceutical, injection_datetime, dose_bq,
                                      half_life_s, write_start_datetime, radiopharmaceutical_code)
    n_slices, n_frames = data.shape[2], data.shape[3]
    written: list[Path] = []
    for f in range(n_frames):
        frame_when = injection_datetime + dt.timedelta(seconds=float(timing.start_s[f]))
        for k in range(n_slices):
            ds = _pet_slice(common, geometry, k, f, n_slices, n_frames, frame_when, weight_kg,
                            int(duration_ms[f]), reference_ms[f], decay_factor[f], units,
                            decay_correction, radio)
            _pixels(ds, stored[:, :, k, f].T)
            written.append(_save(ds, out_dir / f"PT_{f + 1:03d}_{k + 1:04d}.dcm"))
    return written


def _check_pet_options(units: str, decay_correction: str, frame_reference: str) -> tuple[str, str]:
    """Upper-cased (units, decay_correction); ValueError for values the writer cannot encode."""
    units, decay_correction = units.upper(), decay_correction.upper()
    if units not in PET_UNITS:
        raise ValueError(f"units must be one of {PET_UNITS}, got {units!r}")
    if decay_correction not in DECAY_CORRECTIONS:
        raise ValueError(f"decay_correction must be one of {DECAY_CORRECTIONS}, "
                         f"got {decay_correction!r}")
    if frame_reference not in FRAME_REFERENCES:
        raise ValueError(f"frame_reference must be one of {FRAME_REFERENCES}, "
                         f"got {frame_reference!r}")
    if units == "GML" and decay_correction == "NONE":
        raise ValueError("GML (SUV) images must be decay corrected (START or ADMIN)")
    return units, decay_correction


def _stored_values(data: np.ndarray, start_s: np.ndarray, duration_s: np.ndarray, units: str,
                   decay_correction: str, weight_kg: float, dose_bq: float,
                   half_life: float) -> tuple[np.ndarray, np.ndarray]:
    """(stored values, DICOM DecayFactor per frame) from activity decay-corrected to injection.

    ``START`` multiplies by the decay from injection to the series start
    ``2**(-scan_start / T_half)``, ``NONE`` by the frame-averaged decay
    ``2**(-t_start / T_half) * (1 - exp(-lambda d)) / (lambda d)``, ``ADMIN`` stores as given;
    ``GML`` then divides by the dose decayed to the correction time and multiplies by the weight
    (g), so the stored values are SUV (g/mL). ``CNTS`` stores the values as they are. DecayFactor
    is the factor the scanner applied to the frame's mean activity (1 for ``NONE``).
    """
    n_frames = start_s.size
    scan_start_s = float(start_s[0])
    if decay_correction == "ADMIN":
        to_stored = np.ones(n_frames)
        decay_factor = frame_decay_factors(start_s, duration_s, half_life)
        correction_time_s = 0.0
    elif decay_correction == "START":
        to_stored = np.full(n_frames, remaining_fraction(scan_start_s, half_life))
        decay_factor = frame_decay_factors(start_s - scan_start_s, duration_s, half_life)
        correction_time_s = scan_start_s
    else:
        to_stored = (remaining_fraction(start_s, half_life)
                     * frame_mean_fraction(duration_s, half_life))
        decay_factor = np.ones(n_frames)
        correction_time_s = 0.0
    stored = data * to_stored
    if units == "GML":
        stored = stored * (weight_kg * 1000.0) / (
            dose_bq * remaining_fraction(correction_time_s, half_life))
    return stored, decay_factor


def _frame_reference_ms(start_s: np.ndarray, duration_s: np.ndarray, frame_reference: str,
                        half_life: float) -> np.ndarray:
    """FrameReferenceTime (ms from the series start) at the frame start, mid or decay-weighted
    point."""
    if frame_reference == "start":
        reference_s = start_s
    elif frame_reference == "mid":
        reference_s = start_s + duration_s / 2.0
    else:
        reference_s = start_s + decay_weighted_offset_s(duration_s, half_life)
    return (reference_s - float(start_s[0])) * 1000.0


def _radiopharmaceutical_item(name: str, injection_datetime: dt.datetime, dose_bq: float,
                              half_life: float, write_start_datetime: bool,
                              code: tuple[str, str, str] | None = None) -> Dataset:
    """The RadiopharmaceuticalInformationSequence item (F-18 radionuclide code)."""
    radio = Dataset()
    radio.Radiopharmaceutical = name
    radio.RadiopharmaceuticalStartTime = _tm(injection_datetime)
    if write_start_datetime:
        radio.RadiopharmaceuticalStartDateTime = injection_datetime.strftime("%Y%m%d%H%M%S.%f")
    radio.RadionuclideTotalDose = _ds(dose_bq)
    radio.RadionuclideHalfLife = _ds(half_life)
    radio.RadionuclidePositronFraction = "0.97"
    nuclide = Dataset()
    nuclide.CodeValue, nuclide.CodingSchemeDesignator = "77004003", "SCT"
    nuclide.CodeMeaning = "^18^Fluorine"
    radio.RadionuclideCodeSequence = DicomSequence([nuclide])
    if code is not None:
        tracer = Dataset()
        tracer.CodeValue, tracer.CodingSchemeDesignator, tracer.CodeMeaning = code
        radio.RadiopharmaceuticalCodeSequence = DicomSequence([tracer])
    return radio


def _pet_slice(common: dict, geometry: tuple, k: int, f: int, n_slices: int, n_frames: int,
               frame_when: dt.datetime, weight_kg: float, duration_ms: int, reference_ms: float,
               decay_factor: float, units: str, decay_correction: str,
               radio: Dataset) -> Dataset:
    """The header of slice `k` of frame `f` (pixels not yet set)."""
    orientation, spacing, origin, step = geometry
    sop_uid = generate_uid()
    ds = Dataset()
    ds.file_meta = _file_meta(PET_IMAGE_STORAGE, sop_uid)
    ds.SOPClassUID, ds.SOPInstanceUID = PET_IMAGE_STORAGE, sop_uid
    _common(ds, **common)
    ds.PatientWeight = _ds(weight_kg)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.AcquisitionDate, ds.AcquisitionTime = _da(frame_when), _tm(frame_when)
    ds.ContentDate, ds.ContentTime = _da(frame_when), _tm(frame_when)
    ds.ActualFrameDuration = duration_ms
    ds.FrameReferenceTime = _ds(reference_ms)
    ds.DecayFactor = _ds(decay_factor)
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
    _position(ds, orientation, spacing, origin + k * step, step)
    return ds


def _position(ds: Dataset, orientation: list[float], spacing: list[float], position: np.ndarray,
              step: np.ndarray) -> None:
    """ImagePositionPatient, orientation, spacing, thickness and SliceLocation (LPS mm)."""
    ds.ImagePositionPatient = [_ds(v) for v in position]
    ds.ImageOrientationPatient = [_ds(v) for v in orientation]
    ds.PixelSpacing = [_ds(v) for v in spacing]
    ds.SliceThickness = _ds(np.linalg.norm(step))
    ds.SliceLocation = _ds(float(np.dot(position, np.cross(orientation[:3], orientation[3:]))))


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
    description = series_description or (
        spec["description"] + ("_post" if spec["contrast"] else ""))
    written: list[Path] = []
    for k in range(data.shape[2]):
        sop_uid = generate_uid()
        ds = Dataset()
        ds.file_meta = _file_meta(MR_IMAGE_STORAGE, sop_uid)
        ds.SOPClassUID, ds.SOPInstanceUID = MR_IMAGE_STORAGE, sop_uid
        _common(ds, patient_id=patient_id, patient_name=patient_name, birth_date=birth_date,
                sex=sex, study_uid=study_uid, series_uid=series_uid, frame_uid=frame_uid,
                study_when=when,
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
        _position(ds, orientation, spacing, origin + k * step, step)
        for keyword, value in extra:
            setattr(ds, keyword, value)
        _pixels(ds, data[:, :, k].T)
        written.append(_save(ds, out_dir / f"MR_{series_number:02d}_{k + 1:04d}.dcm"))
    return written
