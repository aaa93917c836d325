"""DICOM RTSTRUCT of the biopsy export (rt-utils), for systems that read contours only.

rt-utils (`RTStructBuilder.create_new` on the MR series folder, `add_roi`) traces each slice of a
mask with OpenCV (contour points at the centres of the boundary pixels) and maps pixel (x, y,
slice) to patient coordinates with the first slice's ImageOrientationPatient and
ImagePositionPatient. Its matrix multiplies the row direction by ``PixelSpacing[0]``, which is the
spacing between rows (DICOM: ``PixelSpacing`` = row spacing, column spacing), so contours of a
series with non-square pixels land in the wrong place; `write_rtstruct` recomputes every point
with the standard mapping (hand-written: rt-utils has no option for it) and then checks, by
reading the points back, that each lands on a voxel of its mask on the slice it references.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gliopet.atomic import atomic_path
from gliopet.export.series import Series, session_uid
from gliopet.spatial import apply_affine, ras_to_lps_affine

#: (name, RGB colour) of each ROI, in mask order.
ROIS = (("aggressive subregion", [230, 120, 20]), ("biopsy target", [220, 20, 60]))


def series_lps_affine(series: Series) -> np.ndarray:
    """Voxel (c, r, k) to LPS mm of the series (the standard DICOM mapping)."""
    return ras_to_lps_affine(series.affine)


def write_rtstruct(path: Path, series: Series, masks: Sequence[np.ndarray], key: str) -> Path:
    """Write the masks (each on the series' (c, r, k) grid) as RTSTRUCT ROIs; return the path.

    Raises
    ------
    RuntimeError
        A contour point does not land on its mask (a geometry error: a bug, not bad input).
    """
    from rt_utils import RTStructBuilder
    from rt_utils.image_helper import get_pixel_to_patient_transformation_matrix

    builder = RTStructBuilder.create_new(dicom_series_path=str(series.folder))
    for mask, (name, colour) in zip(masks, ROIS, strict=False):
        builder.add_roi(mask=np.transpose(mask.astype(bool), (1, 0, 2)), color=colour, name=name,
                        approximate_contours=False)
    ds = builder.ds
    rt_matrix = np.asarray(get_pixel_to_patient_transformation_matrix(builder.series_data), float)
    _fix_points(ds, np.linalg.inv(rt_matrix), series_lps_affine(series))
    check_contours(ds, series, masks)
    ds.SeriesInstanceUID = session_uid(key, series.origin, "rtstruct series")
    ds.SOPInstanceUID = session_uid(key, series.origin, "rtstruct instance")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesDescription = "gliopet biopsy target (research use)"
    ds.SeriesNumber = 903
    ds.Manufacturer = "gliopet"
    _complete(ds, series)
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return path


def _complete(ds: object, series: Series) -> None:
    """Attributes rt-utils leaves out that the RTSTRUCT IOD requires (dciodvfy): type 2 study
    and series attributes, and the series' Frame of Reference."""
    first = series.slices[0]
    for keyword in ("ReferringPhysicianName", "AccessionNumber", "OperatorsName",
                    "PositionReferenceIndicator"):
        if keyword not in ds:
            setattr(ds, keyword, getattr(first, keyword, ""))
    ds.FrameOfReferenceUID = first.FrameOfReferenceUID


def _contours(ds: object) -> list[tuple[int, object]]:
    """(ROI index, contour item) of every contour of an RTSTRUCT, in ROI order."""
    out = []
    for index, roi in enumerate(ds.ROIContourSequence):
        out.extend((index, item) for item in getattr(roi, "ContourSequence", []))
    return out


def _fix_points(ds: object, rt_inverse: np.ndarray, lps_affine: np.ndarray) -> None:
    """Map every contour point back to rt-utils' pixel coordinates and forward again with the
    standard (c, r, k) -> LPS mapping."""
    for _, item in _contours(ds):
        points = np.asarray(item.ContourData, float).reshape(-1, 3)
        pixels = apply_affine(rt_inverse, points)
        item.ContourData = [float(f"{v:.4f}") for v in apply_affine(lps_affine, pixels).ravel()]


def contour_voxels(ds: object, series: Series) -> list[np.ndarray]:
    """Per ROI, the (c, r, k) voxels of every contour point (standard mapping), shape (n, 3),
    and a check that each point lies on a pixel centre of the slice it references."""
    inverse = np.linalg.inv(series_lps_affine(series))
    slice_of = {s.SOPInstanceUID: k for k, s in enumerate(series.slices)}
    found: list[list[np.ndarray]] = [[] for _ in ds.ROIContourSequence]
    for index, item in _contours(ds):
        points = apply_affine(inverse, np.asarray(item.ContourData, float).reshape(-1, 3))
        voxels = np.rint(points).astype(int)
        referenced = slice_of.get(item.ContourImageSequence[0].ReferencedSOPInstanceUID)
        if np.abs(points - voxels).max() > 0.05 or np.any(voxels[:, 2] != referenced):
            raise RuntimeError("an RTSTRUCT contour point is off the pixel centres of the slice "
                               "it references (geometry error in the export)")
        found[index].append(voxels)
    return [np.concatenate(v) if v else np.zeros((0, 3), int) for v in found]


def check_contours(ds: object, series: Series, masks: Sequence[np.ndarray]) -> None:
    """Every contour point lies on a voxel of its mask, and every slice of a mask has contours.

    Raises
    ------
    RuntimeError
        Otherwise (flipped or shifted contours).
    """
    for voxels, mask in zip(contour_voxels(ds, series), masks, strict=False):
        inside = (np.all(voxels >= 0, axis=1) & np.all(voxels < np.asarray(mask.shape), axis=1))
        if not inside.all() or not mask[tuple(voxels.T)].all():
            raise RuntimeError("RTSTRUCT contours do not land on their mask (flipped or "
                               "shifted contours): not written")
        if set(np.flatnonzero(mask.any(axis=(0, 1)))) != set(voxels[:, 2].tolist()):
            raise RuntimeError("RTSTRUCT contours miss slices of their mask: not written")
