"""Walk a PACS export and group its DICOM files by series.

Any file names and nested folders are accepted. Files that are not DICOM (no ``DICM`` prefix
after the 128-byte preamble: README, thumbnails, ``.DS_Store``) and ``DICOMDIR`` index files
are counted and ignored. Headers are read without pixel data (``stop_before_pixels``).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from gliopet.errors import InputError

MEDIA_DIRECTORY_STORAGE = "1.2.840.10008.1.3.10"


@dataclass
class Series:
    """The files of one SeriesInstanceUID with their headers (no pixel data)."""

    uid: str
    paths: list[Path] = field(default_factory=list)
    headers: list[Dataset] = field(default_factory=list)

    @property
    def first(self) -> Dataset:
        return self.headers[0]

    @property
    def modality(self) -> str:
        return str(self.first.get("Modality", "") or "")

    @property
    def description(self) -> str:
        return str(self.first.get("SeriesDescription", "") or "")

    @property
    def series_number(self) -> str:
        """SeriesNumber (0020,0011) as written, ``""`` when absent (shown instead of the
        description, which may hold identifiers)."""
        return str(self.first.get("SeriesNumber", "") or "").strip()

    @property
    def patient_id(self) -> str:
        return str(self.first.get("PatientID", "") or "")

    @property
    def study_uid(self) -> str:
        return str(self.first.get("StudyInstanceUID", "") or "")

    @property
    def frame_of_reference_uid(self) -> str:
        return str(self.first.get("FrameOfReferenceUID", "") or "")

    @property
    def study_date(self) -> str:
        """``YYYYMMDD`` of the study (series date when the study date is missing)."""
        return str(self.first.get("StudyDate", "") or self.first.get("SeriesDate", "") or "")

    @property
    def series_time(self) -> str:
        return str(self.first.get("SeriesTime", "") or "")

    @property
    def folder(self) -> Path:
        """The deepest folder holding all the files of the series (used in messages)."""
        return Path(os.path.commonpath([str(p.parent) for p in self.paths]))


@dataclass
class ScanResult:
    """Series found under a source folder and the number of files ignored."""

    series: list[Series]
    n_files: int
    n_ignored: int


def _read_header(path: Path) -> Dataset | None:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, EOFError, OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    meta = getattr(ds, "file_meta", None)
    if meta is not None and str(meta.get("MediaStorageSOPClassUID", "")) == MEDIA_DIRECTORY_STORAGE:
        return None
    if "SeriesInstanceUID" not in ds:
        return None
    return ds


def scan_folder(src: str | Path) -> ScanResult:
    """Read the header of every file under `src` and group the DICOM files by series.

    Raises
    ------
    InputError
        `src` is missing or holds no DICOM file; the files of one series name different
        patients (PatientID).
    """
    src = Path(src)
    if not src.is_dir():
        raise InputError(
            "source folder not found", path=src, fix="give the folder of the DICOM export"
        )
    groups: dict[str, Series] = {}
    n_files = n_ignored = 0
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            n_files += 1
            header = _read_header(path)
            if header is None:
                n_ignored += 1
                continue
            uid = str(header.SeriesInstanceUID)
            series = groups.setdefault(uid, Series(uid))
            series.paths.append(path)
            series.headers.append(header)
    if not groups:
        what = (
            "is empty" if n_files == 0 else f"holds no DICOM file ({n_files} other files ignored)"
        )
        raise InputError(f"the source folder {what}", path=src,
                         fix="give the folder that holds the exported DICOM files")
    for series in groups.values():
        ids = sorted({str(h.get("PatientID", "") or "") for h in series.headers})
        if len(ids) > 1:
            odd = next(p for p, h in zip(series.paths, series.headers, strict=True)
                       if str(h.get("PatientID", "") or "") != series.patient_id)
            raise InputError(
                f"series {series.uid} mixes {len(ids)} patients "
                "(PatientID differs between its files)",
                path=odd,
                fix="export each patient separately or remove the stray files",
            )
    ordered = sorted(
        groups.values(), key=lambda s: (s.patient_id, s.study_date, s.series_time, s.uid)
    )
    return ScanResult(series=ordered, n_files=n_files, n_ignored=n_ignored)


def parse_datetime(date: str, time: str) -> dt.datetime | None:
    """DICOM DA + TM (``YYYYMMDD``, ``HHMMSS.ffffff``, possibly shortened) as a naive datetime."""
    date, time = (date or "").strip(), (time or "").strip()
    if len(date) < 8 or not time:
        return None
    return _combine(date[:8], time)


def _combine(date: str, time: str) -> dt.datetime | None:
    try:
        day = dt.datetime.strptime(date, "%Y%m%d")
    except ValueError:
        return None
    clock = time.replace(":", "")
    whole, _, frac = clock.partition(".")
    whole = whole.ljust(6, "0")
    try:
        hours, minutes, seconds = int(whole[0:2]), int(whole[2:4]), int(whole[4:6])
        micro = int((frac + "000000")[:6]) if frac else 0
    except ValueError:
        return None
    return day + dt.timedelta(hours=hours, minutes=minutes, seconds=seconds, microseconds=micro)


def parse_dt(value: str) -> dt.datetime | None:
    """DICOM DT (``YYYYMMDDHHMMSS.ffffff``, time zone offset ignored) as a naive datetime."""
    value = (value or "").strip()
    for sign in "+-":
        if sign in value[8:]:
            value = value[: 8 + value[8:].index(sign)]
    if len(value) < 8:
        return None
    return _combine(value[:8], value[8:] or "000000")


def parse_time_s(time: str) -> float | None:
    """Seconds since midnight of a DICOM TM."""
    parsed = _combine("20000101", time)
    if parsed is None:
        return None
    return (parsed - dt.datetime(2000, 1, 1)).total_seconds()
