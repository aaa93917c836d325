"""PET series: frames, timing, dose, units and decay correction from the DICOM PET modules.

Conventions written to the BIDS sidecar (docs/conventions.md, "Time zero and frame times"):
``TimeZero`` is the injection time of day, ``InjectionStart`` = 0, ``ScanStart`` = series start
- injection (s), and ``FrameTimesStart`` are frame starts relative to the injection (s).

Frame start times. ``FrameReferenceTime`` (ms from the series reference time, SeriesTime) is
the time at which the frame's average activity occurs (mid-frame or, for most vendors, the
decay-weighted point slightly before it), not the frame start, so it is not used as the start.
The start of each frame is the ``AcquisitionDate``/``AcquisitionTime`` of its images (the
DICOM PET image module defines it as the start of the frame's acquisition) and its length is
``ActualFrameDuration`` (ms). Some vendors copy the series start into every frame's
``AcquisitionTime``; when the frames do not have distinct acquisition times, the frames are
ordered by ``FrameReferenceTime`` and laid end to end from the series start using
``ActualFrameDuration`` (the acquisition is contiguous). ``FrameReferenceTime`` is kept as a
check: a reference outside its own frame gives a warning.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from gliopet.errors import InputError
from gliopet.io.bids_write import injection_fields
from gliopet.io.dicom.deidentify import attenuation_correction, recon_method_name, tracer_from_dicom
from gliopet.io.dicom.scan import Series, parse_datetime, parse_dt
from gliopet.io.timing import FrameTiming
from gliopet.radionuclides import (
    parse_radionuclide,
    radionuclide_from_half_life,
    remaining_fraction,
)


class SkipSeries(Exception):  # noqa: N818 - a signal, not an error
    """A series that is not imported, with the reason shown in the skipped table."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass
class PETSeries:
    """What the importer needs to write one PET series as BIDS.

    Attributes
    ----------
    frames : list of list of int
        Per frame (in time order), the indices of its files in the `Series`.
    timing : FrameTiming
        Frame start and duration (s from injection).
    to_bq_ml : float
        Factor from the stored real-world values to Bq/mL (1 for BQML; dose / weight for GML).
    sidecar : dict
        BIDS-PET sidecar fields.
    weight_kg : float or None
        PatientWeight (kg).
    tracer : str
        Tracer label for the ``trc-`` entity.
    warnings : list of str
    """

    frames: list[list[int]]
    timing: FrameTiming
    to_bq_ml: float
    sidecar: dict[str, Any]
    weight_kg: float | None
    tracer: str
    warnings: list[str] = field(default_factory=list)


def _number(header: Dataset, keyword: str) -> float | None:
    value = header.get(keyword)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def radionuclide(radio: Dataset, half_life_s: float) -> str:
    """BIDS ``TracerRadionuclide`` (``F18``) from the radionuclide code or, without a code, the
    nearest half-life of `gliopet.radionuclides` within 2 %; ``n/a`` otherwise."""
    codes = radio.get("RadionuclideCodeSequence") or []
    meaning = str(codes[0].get("CodeMeaning", "")) if len(codes) else ""
    return parse_radionuclide(meaning) or radionuclide_from_half_life(half_life_s) or "n/a"


DAY_S = 86400.0


def _injection(series: Series, radio: Dataset,
               series_start: dt.datetime) -> tuple[dt.datetime, str, str | None]:
    """Injection datetime, how it was found, and a warning when two tags disagree by whole days.

    ``RadiopharmaceuticalStartDateTime`` when present; otherwise ``RadiopharmaceuticalStartTime``
    on the ``SeriesDate``, moved to the previous day when that would put the injection after the
    series start (a scan just after midnight of an injection the evening before). When both are
    present and differ by a whole number of days (an anonymiser that shifted one date and not
    the other), the one that puts the injection before the series start by less than a day is
    used, and the warning says so.
    """
    full = parse_dt(str(radio.get("RadiopharmaceuticalStartDateTime", "") or ""))
    pair, pair_source = _start_time_on_series_date(series, radio, series_start)
    if full is None:
        if pair is None:
            raise SkipSeries("no RadiopharmaceuticalStartTime: the injection time is needed for "
                             "decay and SUV")
        return pair, pair_source, None
    days = 0.0 if pair is None else (full - pair).total_seconds() / DAY_S
    if pair is None or days == 0 or abs(days - round(days)) * DAY_S > 1e-3:
        return full, "RadiopharmaceuticalStartDateTime", None
    uptake_h = (series_start - full).total_seconds() / 3600.0
    if -1.0 / 3600.0 <= uptake_h < 24.0:
        chosen, source, other = full, "RadiopharmaceuticalStartDateTime", pair_source
    else:
        chosen, source, other = pair, pair_source, "RadiopharmaceuticalStartDateTime"
    n = abs(round(days))
    detail = (f"RadiopharmaceuticalStartDateTime is {n} day{'s' if n > 1 else ''} "
              f"{'later' if days > 0 else 'earlier'} than RadiopharmaceuticalStartTime on "
              f"SeriesDate")
    if chosen is pair:
        detail += (f" and would put the injection {abs(uptake_h):.1f} h "
                   f"{'after' if uptake_h < 0 else 'before'} the series start")
    note = (f"{source}, not {other}: {detail} (one of the dates was shifted, e.g. by "
            "de-identification)")
    return chosen, note, f"{detail}: the injection time is taken from {source}"


def _start_time_on_series_date(series: Series, radio: Dataset,
                               series_start: dt.datetime) -> tuple[dt.datetime | None, str]:
    """``RadiopharmaceuticalStartTime`` on SeriesDate (or AcquisitionDate), on the day before when
    that would put it after the series start; None without a start time or date."""
    time = str(radio.get("RadiopharmaceuticalStartTime", "") or "")
    date = str(series.first.get("SeriesDate", "") or series.first.get("AcquisitionDate", "") or "")
    when = parse_datetime(date, time)
    if when is None:
        return None, ""
    if when > series_start:
        return (when - dt.timedelta(days=1),
                "RadiopharmaceuticalStartTime on the day before SeriesDate")
    return when, "RadiopharmaceuticalStartTime on SeriesDate"


def _frames(series: Series) -> list[list[int]]:
    """Split the files into frames (ImageIndex, else acquisition and reference time)."""
    headers = series.headers
    n = len(headers)
    n_time = int(_number(series.first, "NumberOfTimeSlices") or 1)
    n_slices = int(_number(series.first, "NumberOfSlices") or max(1, n // max(n_time, 1)))
    index = [_number(h, "ImageIndex") for h in headers]
    if all(i is not None for i in index):
        # PS3.3 C.8.9.4.1.9: ImageIndex = (time slice - 1) * NumberOfSlices + slice, for DYNAMIC.
        keys = [int((i - 1) // n_slices) for i in index]  # type: ignore[operator]
    else:
        stamps = [(str(h.get("AcquisitionDate", "")) + str(h.get("AcquisitionTime", "")),
                   _number(h, "FrameReferenceTime") or 0.0) for h in headers]
        ordered_stamps = sorted(set(stamps), key=lambda s: (s[1], s[0]))
        ranks = {stamp: rank for rank, stamp in enumerate(ordered_stamps)}
        keys = [ranks[s] for s in stamps]
    frames: dict[int, list[int]] = {}
    for file_index, key in enumerate(keys):
        frames.setdefault(key, []).append(file_index)
    ordered = [frames[k] for k in sorted(frames)]
    counts = [len(f) for f in ordered]
    if len(ordered) != n_time or any(c != n_slices for c in counts):
        _refuse_shared_position(series, ordered, n_slices)
        bad = next((i for i, c in enumerate(counts) if c != n_slices), None)
        detail = (f"frame {bad + 1} has {counts[bad]} slices" if bad is not None
                  else f"{len(ordered)} frames found")
        raise InputError(
            f"inconsistent number of slices per frame: {detail} where NumberOfSlices = "
            f"{n_slices} and NumberOfTimeSlices = {n_time} ({n} files)",
            path=series.folder, fix="export the complete series (a slice or frame is missing)")
    return ordered


def _refuse_shared_position(series: Series, frames: list[list[int]], n_slices: int) -> None:
    """InputError when two files of one frame have the same ImagePositionPatient (mm): a
    duplicated slice, which gives its frame one slice too many."""
    for number, files in enumerate(frames, start=1):
        seen: dict[tuple[float, ...], int] = {}
        for index in files:
            try:
                key = tuple(round(float(v), 3)
                            for v in series.headers[index].get("ImagePositionPatient") or ())
            except (TypeError, ValueError):
                continue
            if len(key) != 3:
                continue
            if key in seen:
                raise InputError(
                    f"two slices share one position: this file and {series.paths[seen[key]].name} "
                    f"(frame {number} has {len(files)} slices where NumberOfSlices = {n_slices})",
                    path=series.paths[index],
                    fix="remove the duplicate file or export the series again")
            seen[key] = index


def pet_series(series: Series, *, tracer: str | None = None) -> PETSeries:
    """Read the PET tags of a series; `SkipSeries` when it cannot be imported, `InputError` when
    broken."""
    first = series.first
    warnings: list[str] = []
    units = _units(series)
    decay = str(first.get("DecayCorrection", "") or "").upper()
    if decay not in ("START", "ADMIN", "NONE"):
        raise InputError(f"PET image without a valid DecayCorrection (0054,1102): "
                         f"{decay or 'missing'}", path=series.paths[0],
                         fix="export the series with its PET image tags (DecayCorrection START, "
                             "ADMIN or NONE)")
    radio, dose_bq, half_life = _radiopharmaceutical(first)
    label = tracer or _tracer(series, radio)
    weight_kg = _number(first, "PatientWeight")
    if weight_kg is not None and weight_kg <= 0:
        weight_kg = None
    frames = _frames(series)
    timing, scan_start_s, injection, notes = _frame_timing(series, frames, radio, warnings)
    # DICOM DecayCorrection: START = to the series start, ADMIN = to the injection, NONE.
    corrected, correction_time_s = {"START": (True, scan_start_s), "ADMIN": (True, 0.0),
                                    "NONE": (False, 0.0)}[decay]
    to_bq_ml = _to_bq_ml(units, decay, weight_kg, dose_bq, correction_time_s, half_life)
    if weight_kg is None:
        warnings.append("no PatientWeight: weight written as n/a, SUV will not be available")
    import_notes = f"Injection time from {notes[0]}; frame starts from {notes[1]}." + (
        f" Voxels converted from GML (SUV, g/mL) to Bq/mL by x {to_bq_ml:.9g} = dose decayed to "
        "the correction time / weight (g)." if units == "GML" else "")
    sidecar: dict[str, Any] = {
        "Manufacturer": str(first.get("Manufacturer", "") or "n/a"),
        "ManufacturersModelName": str(first.get("ManufacturerModelName", "") or "n/a"),
        "Units": "Bq/mL",
        **injection_fields(label, radionuclide(radio, half_life), dose_bq / 1e6,
                           injection.strftime("%H:%M:%S.%f")[:-3] if injection.microsecond
                           else injection.strftime("%H:%M:%S")),
        "ScanStart": scan_start_s,
        "FrameTimesStart": [float(v) for v in timing.start_s],
        "FrameDuration": [float(v) for v in timing.duration_s],
        "AcquisitionMode": "dynamic" if timing.n_frames > 1 else "static",
        "ImageDecayCorrected": corrected,
        "ImageDecayCorrectionTime": correction_time_s,
        "ReconMethodName": recon_method_name(str(first.get("ReconstructionMethod", "") or "")),
        "ReconMethodParameterLabels": ["none"],
        "ReconMethodParameterUnits": ["none"],
        "ReconMethodParameterValues": [0],
        "ReconFilterType": "n/a",
        "ReconFilterSize": 0,
        "AttenuationCorrection": attenuation_correction(
            str(first.get("AttenuationCorrectionMethod", "") or "")),
        "RadionuclideHalfLife": half_life,
        "DICOMUnits": units,
        "DICOMDecayCorrection": decay,
        "ImportNotes": import_notes,
    }
    # DICOM DecayFactor is not copied to BIDS DecayCorrectionFactor: vendors disagree on its
    # reference (GE writes only the in-frame part), so readers recompute it from the timing.
    return PETSeries(frames=frames, timing=timing, to_bq_ml=to_bq_ml, sidecar=sidecar,
                     weight_kg=weight_kg, tracer=label, warnings=warnings)


def _tracer(series: Series, radio: Dataset) -> str:
    """Tracer label from the radiopharmaceutical code or a known name (`deidentify`); the free
    text itself is never used, so an unknown tracer needs ``--tracer``."""
    label = tracer_from_dicom(radio)
    if label is None:
        raise InputError("the PET tracer is not recognised: RadiopharmaceuticalCodeSequence holds "
                         "no known code and the Radiopharmaceutical name is not a known tracer "
                         "name (free text is never copied into the dataset)",
                         path=series.folder,
                         fix="give the tracer label with --tracer (e.g. --tracer FDOPA)")
    return label


def _units(series: Series) -> str:
    """The series' DICOM Units (BQML or GML); `SkipSeries` for counts or other units."""
    units_set = {str(h.get("Units", "") or "").upper() for h in series.headers}
    if "" in units_set:
        missing = next(p for p, h in zip(series.paths, series.headers, strict=True)
                       if not h.get("Units"))
        raise InputError("PET image without Units (0054,1001): the activity unit is unknown",
                         path=missing, fix="export the series with its PET image tags (Units BQML)")
    if len(units_set) > 1:
        raise InputError(f"the files of one PET series have different Units {sorted(units_set)}",
                         path=series.folder, fix="export the series again")
    units = units_set.pop()
    if units == "CNTS":
        raise SkipSeries("CNTS units: counts are not quantitative, export the series in BQML")
    if units not in ("BQML", "GML"):
        raise SkipSeries(f"{units} units: not an activity concentration, export the series in BQML")
    return units


def _radiopharmaceutical(first: Dataset) -> tuple[Dataset, float, float]:
    """(RadiopharmaceuticalInformationSequence item, injected dose (Bq), half-life (s))."""
    sequence = first.get("RadiopharmaceuticalInformationSequence") or []
    if not len(sequence):
        raise SkipSeries("no RadiopharmaceuticalInformationSequence: injected dose and time "
                         "unknown, export the series with its radiopharmaceutical tags")
    radio = sequence[0]
    dose_bq = _number(radio, "RadionuclideTotalDose")
    if dose_bq is None or dose_bq <= 0:
        raise SkipSeries("no RadionuclideTotalDose: the injected dose is required (BIDS "
                         "InjectedRadioactivity, SUV); export the series with its "
                         "radiopharmaceutical tags")
    half_life = _number(radio, "RadionuclideHalfLife")
    if half_life is None or half_life <= 0:
        raise SkipSeries("no RadionuclideHalfLife: decay cannot be handled")
    return radio, dose_bq, half_life


def _frame_timing(series: Series, frames: list[list[int]], radio: Dataset,
                  warnings: list[str]) -> tuple[FrameTiming, float, dt.datetime, tuple[str, str]]:
    """(timing from injection, scan start (s from injection), injection datetime,
    (injection source, timing source)); `InputError` when the timing is inconsistent."""
    headers = series.headers
    acq = []
    for members in frames:
        stamps = [parse_datetime(str(headers[i].get("AcquisitionDate", "")
                                     or headers[i].get("SeriesDate", "")),
                                 str(headers[i].get("AcquisitionTime", "") or "")) for i in members]
        stamps = [s for s in stamps if s is not None]
        acq.append(min(stamps) if stamps else None)
    series_start = _series_start(series, acq)
    injection, injection_source, disagreement = _injection(series, radio, series_start)
    if disagreement:
        warnings.append(disagreement)
    duration_s = _durations_s(series, frames)
    distinct = all(a is not None for a in acq) and len(set(acq)) == len(acq)
    if distinct or len(frames) == 1:
        start_time = acq[0] if acq[0] is not None else series_start
        starts = [(a if a is not None else start_time) for a in acq]
        start_s = np.asarray([(a - injection).total_seconds() for a in starts])
        timing_source = "AcquisitionTime of each frame (frame start) and ActualFrameDuration"
    else:
        # Frames already ordered by ImageIndex or FrameReferenceTime: contiguous from the series
        # start.
        start_s = ((series_start - injection).total_seconds()
                   + np.concatenate([[0.0], np.cumsum(duration_s)[:-1]]))
        timing_source = ("frames laid end to end from SeriesTime with ActualFrameDuration "
                         "(no per-frame AcquisitionTime)")
        warnings.append("frames share one AcquisitionTime: frame starts derived from SeriesTime "
                        "and ActualFrameDuration")
    timing = FrameTiming(start_s, duration_s)
    scan_start_s = (series_start - injection).total_seconds()
    _check_reference_times(series, frames, timing, scan_start_s, warnings)
    problems = timing.problems()
    if np.any(timing.start_s < -1.0):
        problems.append("a frame starts before the injection")
    if problems:
        raise InputError(f"PET frame timing is inconsistent: {'; '.join(problems)}",
                         path=series.folder, fix="check AcquisitionTime, ActualFrameDuration and "
                                                 "RadiopharmaceuticalStartTime")
    return timing, scan_start_s, injection, (injection_source, timing_source)


def _series_start(series: Series, acq: list[dt.datetime | None]) -> dt.datetime:
    """SeriesDate/SeriesTime, else the earliest frame acquisition time."""
    first = series.first
    series_start = parse_datetime(str(first.get("SeriesDate", "") or ""),
                                  str(first.get("SeriesTime", "") or ""))
    if series_start is None:
        known = [a for a in acq if a is not None]
        if not known:
            raise InputError("PET image without SeriesDate/SeriesTime or AcquisitionTime",
                             path=series.paths[0],
                             fix="export the series with its date and time tags")
        series_start = min(known)
    return series_start


def _durations_s(series: Series, frames: list[list[int]]) -> np.ndarray:
    """ActualFrameDuration of each frame (s)."""
    durations_ms = []
    for members in frames:
        value = _number(series.headers[members[0]], "ActualFrameDuration")
        if value is None or value <= 0:
            raise InputError("PET image without a valid ActualFrameDuration (0018,1242)",
                             path=series.paths[members[0]],
                             fix="export the series with its PET image tags")
        durations_ms.append(value)
    return np.asarray(durations_ms, dtype=float) / 1000.0


def _check_reference_times(series: Series, frames: list[list[int]], timing: FrameTiming,
                           scan_start_s: float, warnings: list[str]) -> None:
    """Warn (once) when a FrameReferenceTime lies outside its own frame."""
    reference_ms = [_number(series.headers[m[0]], "FrameReferenceTime") for m in frames]
    for f, ref in enumerate(reference_ms):
        if ref is None:
            continue
        ref_s = scan_start_s + ref / 1000.0
        if not (timing.start_s[f] - 1.0 <= ref_s <= timing.end_s[f] + 1.0):
            warnings.append(f"frame {f + 1}: FrameReferenceTime {ref:g} ms lies outside the frame "
                            f"({timing.start_s[f]:g}-{timing.end_s[f]:g} s after injection)")
            break


def _to_bq_ml(units: str, decay: str, weight_kg: float | None, dose_bq: float,
              correction_time_s: float, half_life: float) -> float:
    """Factor from the stored real-world values to Bq/mL (1 for BQML)."""
    if units != "GML":
        return 1.0
    if decay == "NONE":
        raise SkipSeries("GML units without decay correction: the SUV reference time is "
                         "undefined, export the series in BQML")
    if weight_kg is None:
        raise SkipSeries("GML units without PatientWeight: SUV cannot be converted back to "
                         "Bq/mL, export the series in BQML")
    # SUV = C * W(g) / (D * exp(-lambda t_dc)), C decay-corrected to t_dc
    #   =>  C = SUV * D(t_dc) / W(g).
    return dose_bq * float(remaining_fraction(correction_time_s, half_life)) / (weight_kg * 1000.0)
