"""Anatomical regions on the PET grid (names: docs/conventions.md, "Derivatives layout").

Every mask is computed on the PET native grid by carrying subject- or template-space
definitions through the saved transforms:

* ``brain``: the refined MRI brain mask (`gliopet.preprocess.brainmask`), PET <- T1w.
* ``lefthemisphere`` / ``righthemisphere``: brain voxels whose template (MNI RAS) x is < 0 / > 0.
* ``striatum`` (and ``caudateL``, ``caudateR``, ``putamenL``, ``putamenR``): the shared template
  definition (`gliopet.templates.striatum_masks`) carried PET <- T1w <- MNI, the reference for
  T/S ratios (lesion and margin removed, see below).
* ``striatumanat``: the same striatum without that removal: the anatomical striatum that the
  quantification stage keeps out of the tumour candidates (with its safety margin), so that
  physiological striatal uptake next to a lesion is never taken for tumour.
* ``healthy``: brain voxels with template grey + white matter probability >= 0.5, outside the
  striatum, outside the MRI abnormality (FLAIR/T2 hyperintensity and contrast enhancement)
  dilated by `margin_mm`, and
  outside PET-avid voxels (above `pet_threshold` x the healthy median: the tumour-candidate rule,
  configuration ``quant.tumour_threshold_x_background``) dilated by `margin_mm`.

Striatal voxels inside the dilated MRI abnormality are removed as well, so no reference region
touches visible lesion. The tumour VOI and the background crescent are made by the
quantification stage.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from gliopet.preprocess.brainmask import template_images
from gliopet.preprocess.registration import (
    compose,
    from_sitk,
    invert,
    resample,
    resample_mask,
    to_sitk,
    transform_points,
)
from gliopet.spatial import (
    dilate_mm,
    erode_mm,
    label_components,
    largest_component,
    lps_to_ras_points,
    ras_to_lps_points,
    world_coordinates,
)
from gliopet.templates import STRIATUM_MNI, striatum_masks

STRIATUM_DESC = {"caudate_left": "caudateL", "caudate_right": "caudateR",
                 "putamen_left": "putamenL", "putamen_right": "putamenR"}


def grid_points_lps(reference: sitk.Image) -> np.ndarray:
    """LPS mm coordinates of every voxel centre of `reference`, shape (i, j, k, 3)."""
    _, affine = from_sitk(reference)
    return ras_to_lps_points(world_coordinates(reference.GetSize(), affine))


def mri_abnormality(image: np.ndarray, brain: np.ndarray, spacing: tuple[float, float, float],
                    *, z_threshold: float = 3.0, min_volume_ml: float = 1.0) -> np.ndarray:
    """Hyperintense region of a FLAIR or T2w image inside the brain (bool).

    Voxels above median + `z_threshold` x 1.4826 MAD of the brain intensities, opened by 2 mm,
    components of at least `min_volume_ml` kept. Empty when there is none.
    """
    values = np.asarray(image, dtype=np.float32)
    inside = values[brain]
    if inside.size < 100:
        return np.zeros(values.shape, dtype=bool)
    median = float(np.median(inside))
    mad = 1.4826 * float(np.median(np.abs(inside - median))) or 1.0
    hyper = brain & (values > median + z_threshold * mad)
    hyper = dilate_mm(erode_mm(hyper, 1.5, spacing), 1.5, spacing) & hyper
    labels, counts = label_components(hyper)
    if counts.size == 0:
        return hyper
    voxel_ml = float(np.prod(spacing)) / 1000.0
    sizes = counts * voxel_ml
    keep = np.flatnonzero(sizes >= min_volume_ml) + 1
    return np.isin(labels, keep)


def enhancement_map(t1_contrast: np.ndarray, t1: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Contrast enhancement: contrast T1w minus T1w, each divided by its brain median (unitless).

    Both images on the same grid; `mri_abnormality` of the result finds the enhancing region.
    """
    def normalised(image: np.ndarray) -> np.ndarray:
        values = np.asarray(image, dtype=np.float32)
        scale = float(np.median(values[brain])) if brain.any() else 1.0
        return values / (scale or 1.0)

    return normalised(t1_contrast) - normalised(t1)


def lesion_centroid_mni(abnormal: np.ndarray, affine: np.ndarray,
                        xfm_t1_to_template: sitk.Transform) -> np.ndarray | None:
    """Centroid (MNI RAS mm) of the largest component of an abnormality mask on a T1w grid.

    `xfm_t1_to_template` is the saved from-T1w_to-MNI transform (maps MNI points to T1w points),
    so its inverse carries the subject centroid into the template.
    """
    if not abnormal.any():
        return None
    ijk = np.argwhere(largest_component(abnormal)).mean(axis=0)
    ras = np.asarray(affine)[:3, :3] @ ijk + np.asarray(affine)[:3, 3]
    mni_lps = transform_points(invert(xfm_t1_to_template), ras_to_lps_points(ras[None, :]))[0]
    return lps_to_ras_points(mni_lps)


def pet_regions(
    pet_reference: sitk.Image,
    t1: sitk.Image,
    brain_t1: np.ndarray,
    xfm_pet_to_t1: sitk.Transform,
    xfm_t1_to_template: sitk.Transform,
    *,
    abnormal_t1: np.ndarray | None = None,
    pet_threshold: float | None,
    margin_mm: float = 5.0,
    resolution_mm: int = 2,
) -> dict[str, np.ndarray]:
    """Masks on the PET grid (bool arrays keyed by BIDS ``desc`` label).

    Parameters
    ----------
    pet_reference : sitk.Image
        Any image on the PET grid (e.g. the static PET).
    t1 : sitk.Image
        The MRI registration target (contrast T1w or T1w); `brain_t1` and `abnormal_t1` are on
        its grid.
    xfm_pet_to_t1 : sitk.Transform
        from-pet_to-T1w (maps T1w points to PET points).
    xfm_t1_to_template : sitk.Transform
        from-T1w_to-MNI152NLin2009aSym (maps template points to T1w points).
    margin_mm : float
        Safety margin (mm) around the MRI abnormality (and the PET-avid voxels) excluded from the
        reference regions.
    pet_threshold : float or None
        `pet_reference` voxels above this multiple of the healthy median (outside the striatum)
        are also left out of ``healthy``, with the margin; None disables it. Required: pass the
        quantification's tumour threshold (configuration ``quant.tumour_threshold_x_background``)
        so that both stages use one rule.
    """
    pet_to_t1 = invert(xfm_pet_to_t1)                      # PET points -> T1w points
    pet_to_mni = compose(pet_to_t1, invert(xfm_t1_to_template))  # PET points -> MNI points
    _, t1_affine = from_sitk(t1)
    brain = resample_mask(to_sitk(brain_t1.astype(np.float32), t1_affine), pet_reference, pet_to_t1)
    template = template_images(resolution_mm)
    gm = from_sitk(resample(template["gm"], pet_reference, pet_to_mni))[0]
    wm = from_sitk(resample(template["wm"], pet_reference, pet_to_mni))[0]
    mni_x_ras = -transform_points(pet_to_mni, grid_points_lps(pet_reference).reshape(-1, 3))[:, 0]
    mni_x_ras = mni_x_ras.reshape(brain.shape)

    excluded = np.zeros(brain.shape, dtype=bool)
    if abnormal_t1 is not None and abnormal_t1.any():
        spacing = t1.GetSpacing()
        grown = dilate_mm(abnormal_t1.astype(bool), margin_mm, spacing)
        excluded = resample_mask(to_sitk(grown.astype(np.float32), t1_affine), pet_reference,
                                 pet_to_t1, threshold=0.01)

    masks: dict[str, np.ndarray] = {"brain": brain,
                                    "lefthemisphere": brain & (mni_x_ras < 0),
                                    "righthemisphere": brain & (mni_x_ras > 0)}
    template_affine = from_sitk(template["t1"])[1]
    striatum = np.zeros(brain.shape, dtype=bool)
    anatomical = np.zeros(brain.shape, dtype=bool)
    for name, mask in striatum_masks(resolution_mm).items():
        carried = resample_mask(to_sitk(mask.astype(np.float32), template_affine), pet_reference,
                                pet_to_mni) & brain
        anatomical |= carried
        masks[STRIATUM_DESC[name]] = carried & ~excluded
        striatum |= carried & ~excluded
    masks["striatum"] = striatum
    masks["striatumanat"] = anatomical
    healthy = brain & ((gm + wm) >= 0.5) & ~striatum & ~excluded
    if pet_threshold is not None and healthy.any():
        # Tumour that the MRI does not show (non-enhancing, little oedema) is still PET-avid: leave
        # out voxels above `pet_threshold` x the healthy median (the tumour-candidate rule of the
        # quantification stage), grown by the same margin, so the reference stays in healthy tissue.
        pet = from_sitk(pet_reference)[0]
        avid = brain & ~striatum & (pet > pet_threshold * float(np.median(pet[healthy])))
        if avid.any():
            healthy &= ~dilate_mm(avid, margin_mm, pet_reference.GetSpacing())
    masks["healthy"] = healthy
    return masks


__all__ = ["STRIATUM_DESC", "STRIATUM_MNI", "enhancement_map", "grid_points_lps",
           "lesion_centroid_mni", "mri_abnormality", "pet_regions"]
