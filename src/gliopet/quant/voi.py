"""Tumour VOI and background region (docs/conventions.md, "Tumour VOI").

Rule, unless the user gives a tumour mask:

1. Healthy-brain reference: median SUV of the brain outside the striatum in the static image
   (median rather than mean so that the tumour itself barely moves it; ``reference="mean"``
   is available).
2. Candidates: brain voxels above 1.6 x reference, outside the striatum dilated by a safety
   margin (mm; at least the voxel diagonal, `striatum_margin`) (1.6: Pauleit 2005 for FET; the
   IADI-Nancy open FDOPA code uses 1.6 x healthy brain mean). Voxels of the MRI abnormality
   (``keep``) stay candidates even inside that margin: a PET-avid tumour that MRI shows is not
   cut where it comes close to the striatum (the striatum given is preprocessing's, refined with
   the patient's uptake and without the abnormality, so striatal uptake itself stays out).
3. Lesion hemisphere: the side (world x > 0 right, x < 0 left in RAS, split by the mid-sagittal
   plane x = 0 unless a left-hemisphere mask is given) holding most candidate voxels.
4. Background: the guideline crescent in the contralateral hemisphere (Unterrainer 2017, EJNMMI
   Res 7:50, doi 10.1186/s13550-017-0295-y: a crescent of grey and white matter in the healthy
   hemisphere has the lowest reader variability). Construction here: contralateral brain voxels
   (a) within ``crescent_depth_mm`` of the brain surface (cortex plus underlying white matter,
   which gives the crescent shape on axial slices), (b) in an axial band of
   ``band_height_mm`` centred on the lesion's centroid height, (c) within
   ``band_ap_mm`` / 2 of the centroid mirrored across the midline in the anterior-posterior
   direction, excluding the striatum with its margin, the ventricles (when a mask is given),
   every candidate voxel and, when given, everything outside the healthy-appearing brain of
   preprocessing (`healthy`: outside the MRI abnormality, the PET-avid voxels and their margin),
   so that infiltrating tumour below the threshold, e.g. crossing the midline, stays out of the
   reference. If this is empty, the whole healthy contralateral hemisphere is used (with a note).
5. BTV: brain voxels above 1.6 x background SUVmean outside the striatum margin (``keep``
   voxels again excepted); connected
   components (26-connectivity) are kept when they are the largest or at least
   ``min_component_ml``; the background loses any voxel that the final tumour VOI holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gliopet.config import package_defaults
from gliopet.errors import InputError
from gliopet.quant.static import check_mask, voxel_volume_ml
from gliopet.spatial import (
    dilate_mm,
    distance_inside_mm,
    label_components,
    voxel_sizes,
    world_coordinates,
)


class NoTumourFound(InputError):
    """No brain voxel exceeds the tumour threshold: an expected outcome (e.g. a healthy subject).

    ``reason`` states the threshold that no voxel reached, without the conclusion.
    """

    def __init__(self, reason: str, *, conclusion: str = "", fix: str | None = None):
        self.reason = reason
        super().__init__(reason + conclusion, fix=fix)


@dataclass
class VOIResult:
    """Tumour and background regions on the PET grid.

    Attributes
    ----------
    tumour, background : ndarray of bool
    lesion_side : str
        ``"left"`` or ``"right"`` (patient side, RAS world x < 0 is left).
    reference_suv : float
        Healthy-brain reference (SUV) used for the candidates (NaN for a user mask).
    background_suv : float
        Background SUVmean (SUV).
    threshold_suv : float
        Threshold of the final BTV (SUV; NaN for a user mask).
    note : str
        How the regions were made.
    """

    tumour: np.ndarray
    background: np.ndarray
    lesion_side: str
    reference_suv: float
    background_suv: float
    threshold_suv: float
    note: str


def hemispheres(brain: np.ndarray, affine: np.ndarray,
                left_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) brain masks: split at world x = 0 (RAS: x < 0 is left) unless given."""
    if left_mask is not None:
        left = brain & check_mask(left_mask, brain.shape, "left-hemisphere")
    else:
        x = world_coordinates(brain.shape, affine, dtype=np.float64)[..., 0]
        left = brain & (x < 0)
    return left, brain & ~left


def striatum_margin(margin_mm: float, voxel_size_mm: tuple[float, float, float]) -> float:
    """Effective safety margin (mm) around the striatum: `margin_mm`, but at least one voxel in
    every direction (the voxel diagonal). The striatum mask comes from registration and partial
    volume, so on coarse grids (5-6 mm voxels) its boundary can be off by one voxel, diagonals
    included; a 5 mm margin would then let striatal uptake into the tumour candidates."""
    return max(float(margin_mm), float(np.linalg.norm(voxel_size_mm)) * (1.0 + 1e-6))


def healthy_reference(image: np.ndarray, brain: np.ndarray, striatum: np.ndarray | None = None,
                      statistic: str = "median") -> float:
    """Healthy-brain reference SUV: median (default) or mean of brain voxels outside the
    striatum."""
    region = brain if striatum is None else brain & ~striatum
    values = image[region]
    if values.size == 0:
        raise InputError("the brain mask holds no voxel outside the striatum",
                         fix="check the brain and striatum masks")
    if statistic == "median":
        return float(np.median(values))
    if statistic == "mean":
        return float(values.mean())
    raise InputError(f"unknown reference statistic {statistic!r}", fix="use 'median' or 'mean'")


def _keep_components(mask: np.ndarray, voxel_ml: float, min_component_ml: float) -> np.ndarray:
    """26-connected components of at least `min_component_ml` (mL), and the largest."""
    labels, counts = label_components(mask, connectivity=26)
    if counts.size == 0:
        return mask
    sizes = counts * voxel_ml
    keep = (sizes >= min_component_ml) | (sizes == sizes.max())
    return np.isin(labels, np.flatnonzero(keep) + 1)


def background_crescent(brain: np.ndarray, affine: np.ndarray, lesion: np.ndarray,
                        exclude: np.ndarray | None = None, *, left_mask: np.ndarray | None = None,
                        crescent_depth_mm: float = 20.0, band_height_mm: float = 30.0,
                        band_ap_mm: float = 80.0) -> tuple[np.ndarray, str, str]:
    """Contralateral crescent background (see module docstring); returns (mask, lesion side,
    note)."""
    sizes = voxel_sizes(affine)
    left, right = hemispheres(brain, affine, left_mask)
    world = world_coordinates(brain.shape, affine, dtype=np.float64)  # (*shape, 3)
    left_count, right_count = np.count_nonzero(lesion & left), np.count_nonzero(lesion & right)
    side = "left" if left_count >= right_count else "right"
    contra = right if side == "left" else left
    centroid = world[lesion].mean(axis=0)
    depth = distance_inside_mm(brain, sizes)
    healthy = contra & ~lesion
    if exclude is not None:
        healthy &= ~exclude
    band = (np.abs(world[..., 2] - centroid[2]) <= band_height_mm / 2.0) & \
        (np.abs(world[..., 1] - centroid[1]) <= band_ap_mm / 2.0)
    crescent = healthy & band & (depth <= crescent_depth_mm)
    note = (f"background: contralateral ({'right' if side == 'left' else 'left'}) crescent, "
            f"depth <= {crescent_depth_mm:g} mm from the brain surface, {band_height_mm:g} mm "
            f"axial band x {band_ap_mm:g} mm AP around the mirrored lesion centroid "
            "(Unterrainer 2017)")
    if not crescent.any():
        crescent = healthy
        note = ("background: whole healthy contralateral hemisphere (the crescent band held no "
                "brain voxel)")
    if not crescent.any():
        raise InputError("no healthy brain voxel in the contralateral hemisphere for the "
                         "background", fix="check the brain mask, or give a background mask")
    return crescent, side, note


def tumour_voi(image: np.ndarray, brain: np.ndarray, affine: np.ndarray,
               striatum: np.ndarray | None = None, *, ventricles: np.ndarray | None = None,
               healthy: np.ndarray | None = None, left_mask: np.ndarray | None = None,
               threshold: float = package_defaults().quant.tumour_threshold_x_background,
               reference: str = "median", striatum_margin_mm: float = 5.0,
               min_component_ml: float = 0.5, crescent_depth_mm: float = 20.0,
               band_height_mm: float = 30.0, band_ap_mm: float = 80.0,
               keep: np.ndarray | None = None) -> VOIResult:
    """Automatic tumour VOI and background from a static SUV image (module docstring rule).

    ``keep``: the MRI abnormality (bool, PET grid), exempt from the striatum margin; None: no
    exemption.

    Raises `InputError` when the brain mask is empty, and `NoTumourFound` (an `InputError`)
    when no voxel exceeds the threshold.
    """
    image = np.asarray(image, dtype=float)
    brain = check_mask(brain, image.shape, "brain")
    striatum = check_mask(striatum, image.shape, "striatum", allow_empty=True)
    ventricles = check_mask(ventricles, image.shape, "ventricles", allow_empty=True)
    sizes = voxel_sizes(affine)
    ref = healthy_reference(image, brain, striatum, reference)
    margin = striatum_margin(striatum_margin_mm, sizes)
    keep_out = np.zeros_like(brain) if striatum is None else dilate_mm(striatum, margin, sizes)
    keep = check_mask(keep, image.shape, "abnormality", allow_empty=True)
    if keep is not None:
        keep_out &= ~keep
    candidates = brain & ~keep_out & (image > threshold * ref)
    if not candidates.any():
        raise NoTumourFound(
            f"no brain voxel above {threshold:g} x the healthy-brain reference "
            f"(SUV {threshold * ref:.3g}) outside the striatum and its {margin:.3g} mm margin",
            conclusion=": no tumour uptake found",
            fix="give a tumour mask (--tumour-mask) if a lesion is expected")
    exclude = keep_out | candidates
    if ventricles is not None:
        exclude = exclude | ventricles
    if healthy is not None:
        exclude = exclude | (brain & ~check_mask(healthy, image.shape, "healthy", allow_empty=True))
    background, side, note = background_crescent(
        brain, affine, candidates, exclude, left_mask=left_mask,
        crescent_depth_mm=crescent_depth_mm, band_height_mm=band_height_mm, band_ap_mm=band_ap_mm)
    bg = float(image[background].mean())
    btv = brain & ~keep_out & ~background & (image > threshold * bg)
    if not btv.any():
        raise NoTumourFound(f"no brain voxel above {threshold:g} x background SUVmean "
                            f"({threshold * bg:.3g})",
                            fix="give a tumour mask if a lesion is expected")
    tumour = _keep_components(btv, voxel_volume_ml(sizes), min_component_ml)
    return VOIResult(tumour, background, side, ref, bg, threshold * bg,
                     f"tumour: > {threshold:g} x background SUVmean, healthy reference = "
                     f"{reference} brain SUV outside the striatum ({ref:.3g}); {note}")


def user_voi(image: np.ndarray, tumour: np.ndarray, brain: np.ndarray, affine: np.ndarray,
             striatum: np.ndarray | None = None, *, background: np.ndarray | None = None,
             ventricles: np.ndarray | None = None, healthy: np.ndarray | None = None,
             left_mask: np.ndarray | None = None, striatum_margin_mm: float = 5.0,
             tumour_path: str | None = None, background_path: str | None = None,
             **crescent: float) -> VOIResult:
    """Use the user's tumour mask; build the crescent background unless one is given.

    Raises `InputError` for an empty tumour mask or a background overlapping the tumour.
    """
    image = np.asarray(image, dtype=float)
    tumour = check_mask(tumour, image.shape, "tumour", path=tumour_path)
    brain = check_mask(brain, image.shape, "brain")
    sizes = voxel_sizes(affine)
    if background is not None:
        background = check_mask(background, image.shape, "background", path=background_path)
        overlap = int(np.count_nonzero(tumour & background))
        if overlap:
            raise InputError(f"the background mask overlaps the tumour mask in {overlap} voxels",
                             path=background_path,
                             fix="give a background region outside the tumour")
        left, _ = hemispheres(brain, affine, left_mask)
        in_left = np.count_nonzero(tumour & left)
        side = "left" if in_left * 2 >= np.count_nonzero(tumour) else "right"
        note = "tumour and background: user masks"
    else:
        exclude = tumour.copy()
        if striatum is not None and np.any(striatum):
            margin = striatum_margin(striatum_margin_mm, sizes)
            exclude |= dilate_mm(np.asarray(striatum, bool), margin, sizes)
        if ventricles is not None:
            exclude |= np.asarray(ventricles, bool)
        if healthy is not None:
            exclude |= brain & ~check_mask(healthy, image.shape, "healthy", allow_empty=True)
        background, side, note = background_crescent(brain, affine, tumour, exclude,
                                                      left_mask=left_mask, **crescent)
        note = "tumour: user mask; " + note
    bg = float(image[background].mean())
    return VOIResult(tumour, background, side, float("nan"), bg, float("nan"), note)
