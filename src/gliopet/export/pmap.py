"""The aggressiveness map as DICOM images on an MR series, for the operating room.

Two encodings of one map (values 0-1, unitless; 0 outside the tumour), both on the series' own
grid, with its Study and Frame of Reference UIDs and, frame by frame or slice by slice, a
reference to the MR instance it was derived from:

* a **Parametric Map** (highdicom ``hd.pm.ParametricMap``): one multi-frame object, 32-bit
  float pixels, a Real World Value Mapping (identity, unit UCUM ``1``, range 0-1) that states
  the meaning, content qualification RESEARCH; its frames are the run of consecutive slices
  from the first to the last that holds a non-zero value (a regular slab: float frames of a
  whole 1 mm head are about 30 MB, mostly zeros; the SEG leaves out empty frames likewise);
* a **derived MR image series** (MR Image Storage, one 16-bit unsigned image per slice,
  ``RescaleSlope`` = `STEP` so that stored values map back to 0-1, ImageType
  ``DERIVED\\SECONDARY\\OTHER``, a series description that says it is a research map), for
  navigation systems that import only ordinary image series. No library writes a derived
  single-frame series from an existing one, so each slice is a copy of its source MR slice
  (patient, study, geometry and acquisition attributes) with new UIDs, type and pixels.

Voxel (c, r, k) of a series volume is column c, row r of slice k (`gliopet.export.series`).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
from pydicom import Dataset, dcmread

from gliopet import DISCLAIMER, __version__
from gliopet.atomic import atomic_path
from gliopet.errors import InputError
from gliopet.export.series import Series, frames, session_uid

#: Value of one stored unit of the derived MR series (map units): quantisation step 1e-4.
STEP = 1e-4
#: Tolerance on the map's range 0-1 (float32 rounding of the signature's writer).
RANGE_TOLERANCE = 1e-6
#: Series numbers (the MRI copy is 901, the SEG 902, the RTSTRUCT 903).
PMAP_SERIES_NUMBER = 904
MAP_SERIES_NUMBER = 905
#: Series description of both (LO, at most 64 characters).
DESCRIPTION = "gliopet aggressiveness map 0-1 (research, not for diagnosis)"
#: What the values are (DerivationDescription, ST).
DERIVATION = ("aggressiveness map of gliopet signature (PET + MRI; unitless, 0 = least, 1 = most "
              "aggressive, 0 outside the tumour) carried onto this MR series by nearest "
              "neighbour. " + DISCLAIMER)
#: Attributes of the source MR slice that do not describe the map (window, pixel statistics,
#: earlier derivation) and are dropped from a map slice.
DROPPED = ("WindowCenter", "WindowWidth", "WindowCenterWidthExplanation",
           "SmallestImagePixelValue", "LargestImagePixelValue", "PixelPaddingValue",
           "ReferencedImageSequence", "SourceImageSequence", "DerivationCodeSequence",
           "RealWorldValueMappingSequence", "ImageComments", "LossyImageCompression")


def check_map_values(values: np.ndarray, path: Path) -> None:
    """Refuse a map with NaN or values outside 0-1 (both encodings state that range).

    Raises
    ------
    InputError
        ``the aggressiveness map holds ...``.
    """
    if not np.all(np.isfinite(values)):
        raise InputError("the aggressiveness map holds NaN or infinite values", path=path,
                         fix="rerun gliopet signature")
    low, high = float(values.min()), float(values.max())
    if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
        raise InputError(f"the aggressiveness map holds values outside 0-1 ({low:.4g} to "
                         f"{high:.4g})", path=path, fix="rerun gliopet signature")


def quantise(volume: np.ndarray) -> np.ndarray:
    """Map values 0-1 as the derived series' stored values (uint16, value = stored x `STEP`)."""
    return np.rint(np.clip(volume, 0.0, 1.0) / STEP).astype(np.uint16)


# ---------------------------------------------------------------------------- Parametric Map
def write_parametric_map(path: Path, series: Series, volume: np.ndarray, key: str) -> Path:
    """Write the map (float, on the series' (c, r, k) grid) as one Parametric Map; return path.

    `key` (the session) seeds the UIDs so that a rerun writes the same object.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    mapping = hd.pm.RealWorldValueMapping(
        lut_label="aggressiveness", lut_explanation="gliopet aggressiveness, unitless 0-1",
        unit=codes.UCUM.NoUnits, value_range=(0.0, 1.0), slope=1.0, intercept=0.0)
    run = slab(volume)
    pmap = hd.pm.ParametricMap(
        source_images=series.slices[run],
        pixel_array=frames(np.clip(volume[:, :, run], 0.0, 1.0).astype(np.float32)),
        series_instance_uid=session_uid(key, series.origin, "pmap series"),
        series_number=PMAP_SERIES_NUMBER,
        sop_instance_uid=session_uid(key, series.origin, "pmap instance"), instance_number=1,
        manufacturer="gliopet", manufacturer_model_name="gliopet biopsy export",
        software_versions=__version__, device_serial_number="none",
        contains_recognizable_visual_features=False, real_world_value_mappings=[mapping],
        voi_lut_transformations=[hd.VOILUTTransformation(window_center=0.5, window_width=1.0)],
        content_label="AGGRESSIVENESS", content_description="aggressiveness map 0-1 (research)",
        content_qualification=hd.ContentQualificationValues.RESEARCH)
    pmap.SeriesDescription = DESCRIPTION
    pmap.Laterality = series.slices[0].get("Laterality", "")  # type 2C, as on the MR
    with atomic_path(path) as tmp:
        pmap.save_as(tmp)
    return path


def slab(volume: np.ndarray) -> slice:
    """Slices (axis k) from the first to the last holding a non-zero value (all when none)."""
    held = np.flatnonzero(volume.any(axis=(0, 1)))
    if held.size == 0:
        return slice(0, volume.shape[2])
    return slice(int(held[0]), int(held[-1]) + 1)


# ---------------------------------------------------------------------------- MR series
def write_map_series(folder: Path, series: Series, volume: np.ndarray, key: str) -> list[Path]:
    """Write the map (on the series' (c, r, k) grid) as a derived MR series, one 16-bit file per
    slice of `series`; return the files in slice order."""
    stored = quantise(volume)
    series_uid = session_uid(key, series.origin, "map series")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for k, source in enumerate(series.slices):
        uid = session_uid(key, series.origin, "map instance", str(k))
        ds = derived_slice(source, stored[:, :, k].T, series_uid, uid, k + 1)
        path = folder / f"MAP_{k + 1:04d}.dcm"
        with atomic_path(path) as tmp:
            ds.save_as(tmp, enforce_file_format=True)
        written.append(path)
    return written


def derived_slice(source: Dataset, plane: np.ndarray, series_uid: str, sop_uid: str,
                  number: int) -> Dataset:
    """One map slice: a copy of `source` (its patient, study, frame of reference, geometry and
    acquisition attributes) with new UIDs, derived image type and the stored plane (rows,
    columns; uint16)."""
    ds = copy.deepcopy(source)
    for keyword in DROPPED:
        if keyword in ds:
            delattr(ds, keyword)
    ds.SOPInstanceUID = sop_uid
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = series_uid, MAP_SERIES_NUMBER, number
    ds.SeriesDescription = DESCRIPTION
    ds.ImageType = ["DERIVED", "SECONDARY", "OTHER"]
    ds.DerivationDescription = DERIVATION
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = (source.SOPClassUID,
                                                               source.SOPInstanceUID)
    ds.SourceImageSequence = [ref]
    ds.ImageComments = f"research map: value = stored x {STEP:g} (0-1, unitless)"
    ds.Rows, ds.Columns = int(plane.shape[0]), int(plane.shape[1])
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = f"{STEP:g}", "0"
    ds.WindowCenter, ds.WindowWidth = "0.5", "1"
    ds.PixelData = np.ascontiguousarray(plane, dtype=np.uint16).tobytes()
    return ds


# ---------------------------------------------------------------------------- read back
def read_parametric_map(path: Path, series: Series) -> np.ndarray:
    """The Parametric Map's real-world values on the series' (c, r, k) grid, 0 on slices it
    leaves out (round trips)."""
    import highdicom as hd

    pmap = hd.pm.ParametricMap.from_dataset(dcmread(path), copy=False)
    uids = [s.SOPInstanceUID for s in series.slices]
    pixels = pmap.get_pixels_by_source_instance(source_sop_instance_uids=uids,
                                                assert_missing_frames_are_empty=True,
                                                apply_real_world_transform=True)
    return np.transpose(pixels, (2, 1, 0))
