"""Pixel data and geometry of a stack of single-frame DICOM slices, as a NIfTI-ready array.

Choice of tool: pydicom with the geometry computed here, not SimpleITK's ImageSeriesReader
nor dcm2niix. A dynamic PET series is one SeriesInstanceUID holding every frame; the frames
must be split by time (ImageIndex / acquisition time) before stacking, which GDCM's series
reader does not do, and the per-slice ``RescaleSlope`` must be applied in float for PET
quantification. dcm2niix would split the frames but rewrites the PET timing into its own
sidecar and needs a second pass over the headers we already hold. With pydicom one code path
serves PET and MR, and the geometry below is a few lines of linear algebra:

    x_LPS = IPP_0 + i * dc * row_cosine + j * dr * column_cosine + k * slice_step

with ``PixelSpacing = [dr, dc]`` (between rows, between columns), ``row_cosine`` and
``column_cosine`` the two halves of ImageOrientationPatient, and ``slice_step`` the mean
difference of ImagePositionPatient between consecutive slices sorted along the normal.
RAS = diag(-1, -1, 1) LPS. Voxel (i, j, k) = pixel matrix [j, i] of slice k.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from gliopet.errors import InputError
from gliopet.spatial import lps_to_ras_affine

#: Largest tolerated deviation of a slice position from the regular grid (mm).
SLICE_TOLERANCE_MM = 0.01


def _floats(header: Dataset, keyword: str, path: Path, count: int) -> np.ndarray:
    value = header.get(keyword)
    try:
        array = np.asarray([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        array = np.empty(0)
    if array.size != count:
        raise InputError(
            f"{keyword} is missing or malformed",
            path=path,
            fix="re-export the series from the scanner or PACS (geometry tags are required)",
        )
    return array


def slice_order(paths: Sequence[Path], headers: Sequence[Dataset]) -> tuple[list[int], np.ndarray]:
    """Indices of the slices sorted along the slice normal, and the voxel-to-RAS affine (mm).

    Raises `InputError` for missing geometry tags, differing orientations or pixel spacings,
    two slices at one position and irregular slice spacing.
    """
    orientation = _floats(headers[0], "ImageOrientationPatient", paths[0], 6)
    spacing = _floats(headers[0], "PixelSpacing", paths[0], 2)
    positions = np.stack(
        [_floats(h, "ImagePositionPatient", p, 3) for p, h in zip(paths, headers, strict=True)]
    )
    for path, header in zip(paths, headers, strict=True):
        if not np.allclose(
            _floats(header, "ImageOrientationPatient", path, 6), orientation, atol=1e-4
        ) or not np.allclose(_floats(header, "PixelSpacing", path, 2), spacing, atol=1e-4):
            raise InputError(
                "slices of one series differ in ImageOrientationPatient or PixelSpacing",
                path=path,
                fix="check that the folder holds one acquisition per series",
            )
    row_cos, col_cos = orientation[:3], orientation[3:]
    normal = np.cross(row_cos, col_cos)
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    positions, along = positions[order], along[order]
    if len(order) > 1:
        gaps = np.diff(along)
        if np.any(gaps < 1e-3):
            dup = int(order[int(np.argmin(gaps)) + 1])
            raise InputError("two slices of the series lie at the same position", path=paths[dup],
                             fix="remove the duplicate file or export the series again")
        step = (positions[-1] - positions[0]) / (len(order) - 1)
        expected = positions[0] + np.outer(np.arange(len(order)), step)
        worst = float(np.max(np.linalg.norm(positions - expected, axis=1)))
        if worst > max(SLICE_TOLERANCE_MM, 0.01 * float(np.linalg.norm(step))):
            raise InputError(
                f"slices are not evenly spaced (a slice is {worst:.2f} mm off the regular grid): "
                "a slice is missing or the series mixes stacks",
                path=paths[int(order[0])].parent,
                fix="export the complete series",
            )
    else:
        thickness = float(headers[0].get("SliceThickness", 1.0) or 1.0)
        step = normal * thickness
    lps = np.eye(4)
    lps[:3, 0] = row_cos * spacing[1]
    lps[:3, 1] = col_cos * spacing[0]
    lps[:3, 2] = step
    lps[:3, 3] = positions[0]
    return [int(i) for i in order], lps_to_ras_affine(lps)


def read_plane(path: Path) -> np.ndarray:
    """One slice in real-world units, (rows, cols) float64.

    Real-world value = stored value x RescaleSlope + RescaleIntercept.
    """
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # noqa: BLE001 - any read failure is a bad file
        raise InputError(
            f"not a readable DICOM file ({exc})", path=path, fix="export the series again"
        ) from None
    if "PixelData" not in ds:
        raise InputError(
            f"no pixel data (7FE0,0010) in this {ds.get('Modality', '')} image file",
            path=path,
            fix="export the series again with its images (not only the headers)",
        )
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise InputError("multi-frame (enhanced) DICOM images are not supported", path=path,
                         fix="export the series as classic single-frame images")
    try:
        plane = ds.pixel_array.astype(np.float64)
    except Exception as exc:  # noqa: BLE001 - decoders raise many types
        raise InputError(
            f"pixel data cannot be decoded ({exc.__class__.__name__}: {exc}; transfer syntax "
            f"{ds.file_meta.get('TransferSyntaxUID', '?')})",
            path=path,
            fix="export the series uncompressed (explicit VR little endian)",
        ) from None
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    return plane * slope + intercept


def read_volume(paths: Sequence[Path], order: Sequence[int]) -> np.ndarray:
    """Stack the slices `paths[order]` into an (x, y, z) float32 array in real-world units."""
    planes = [read_plane(paths[i]) for i in order]
    shapes = {p.shape for p in planes}
    if len(shapes) > 1:
        raise InputError(
            f"slices of one series differ in matrix size ({sorted(shapes)})",
            path=paths[order[0]].parent,
            fix="check that the folder holds one acquisition per series",
        )
    # (z, rows, cols) -> (cols, rows, z) = (i, j, k)
    return np.transpose(np.stack(planes), (2, 1, 0)).astype(np.float32)
