"""Anatomical regions on the PET grid (names: docs/conventions.md, "Derivatives layout").

Every mask is computed on the PET native grid by carrying subject- or template-space
definitions through the saved transforms:

* ``brain``: the refined MRI brain mask (`gliopet.preprocess.brainmask`), PET <- T1w.
* ``lefthemisphere`` / ``righthemisphere``: brain voxels whose template (MNI RAS) x is < 0 / > 0.
* ``caudateL``, ``caudateR``, ``putamenL``, ``putamenR``: the shared template definition
  (`gliopet.templates.striatum_masks`) carried PET <- T1w <- MNI (lesion and margin removed,
  see below): the *registered* striatum.
* ``striatum``: the reference for T/S ratios, the registered striatum refined with the patient's
  own static PET as a physician draws a striatal VOI (`refine_striatum`): per side, the voxels
  within `search_margin_mm` of the registered region whose uptake is at least the reference plus
  `core_fraction` of the way to that side's striatal peak, connected to the registered region,
  lesion and margin removed. It falls back to the registered striatum (``refined`` false in the
  QC row) when the striatum does not stand out (peak below `min_contrast` x the healthy median).
* ``striatumanat``: the striatum that the quantification stage keeps out of the tumour
  candidates (with its safety margin), so that physiological striatal uptake next to a lesion is
  never taken for tumour: the same refinement with only the MRI abnormality itself removed
  (not its margin), together with the registered striatum where the refinement fell back.
* ``abnormal``: the MRI abnormality (FLAIR/T2 hyperintensity, contrast enhancement) on the PET
  grid, without margin: tumour candidates inside it are kept even next to the striatum.
* ``healthy``: brain voxels with template grey + white matter probability >= 0.5, outside the
  striatum, outside the MRI abnormality (FLAIR/T2 hyperintensity and contrast enhancement)
  dilated by `margin_mm`, and
  outside PET-avid voxels (above `pet_threshold` x the healthy median: the tumour-candidate rule,
  configuration ``quant.tumour_threshold_x_background``) dilated by `margin_mm`. PET-avid voxels
  are sought in the brain grown by `margin_mm`, so that tumour at the brain surface that the
  brain mask leaves out still keeps the reference away.

Striatal voxels inside the dilated MRI abnormality are removed as well, so no reference region
touches visible lesion. The tumour VOI and the background crescent are made by the
quantification stage.
"""

from __future__ import annotations

from dataclasses import dataclass

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

#: Voxels averaged for the striatal peak of `refine_striatum` (the highest ones of a side).
PEAK_VOXELS = 5

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
    components (26-connected) of at least `min_volume_ml` kept. Empty when there is none.

    26-connected, not face-connected: a small lesion whose signal is near the threshold (an
    infiltrating recurrence, a thin enhancing rim) lights up as scattered voxels that touch at
    edges and corners on coarse MRI voxels (4-5 mm); face-connected, each piece was under
    `min_volume_ml` and the whole lesion was dropped, so the reference regions reached into it
    (phantom sub-031 at recurrence: 2.1 mL found 26-connected, largest face-connected piece
    0.9 mL).
    """
    values = np.asarray(image, dtype=np.float32)
    inside = values[brain]
    if inside.size < 100:
        return np.zeros(values.shape, dtype=bool)
    median = float(np.median(inside))
    mad = 1.4826 * float(np.median(np.abs(inside - median))) or 1.0
    hyper = brain & (values > median + z_threshold * mad)
    hyper = dilate_mm(erode_mm(hyper, 1.5, spacing), 1.5, spacing) & hyper
    labels, counts = label_components(hyper, connectivity=26)
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


@dataclass
class StriatumRefinement:
    """The striatum refined with the patient's PET (`refine_striatum`).

    Attributes
    ----------
    mask : ndarray of bool
        Refined striatum (the registered one when ``refined`` is false).
    refined : bool
        False when the refinement failed and the registered striatum was kept.
    refined_ml, template_ml : float
        Volumes (mL) of the refined and of the registered striatum (same exclusions).
    levels : dict of str to float
        Per side, the uptake level (image units, SUV) above which voxels were kept.
    note : str
        How the mask was made.
    """

    mask: np.ndarray
    refined: bool
    refined_ml: float
    template_ml: float
    levels: dict[str, float]
    note: str

    @property
    def volume_ratio(self) -> float:
        """Refined / registered volume (NaN when the registered striatum is empty)."""
        return self.refined_ml / self.template_ml if self.template_ml > 0 else float("nan")


def _peak(pet: np.ndarray, region: np.ndarray) -> float:
    """Mean of the `PEAK_VOXELS` highest voxels of `region` (image units)."""
    return float(np.sort(pet[region])[-PEAK_VOXELS:].mean())


def _side_core(pet: np.ndarray, registered: np.ndarray, allowed: np.ndarray, reference: float,
               spacing: tuple[float, float, float], search_margin_mm: float,
               core_fraction: float) -> tuple[np.ndarray, float]:
    """Uptake-defined core of one side's striatum and its level (SUV); see `refine_striatum`."""
    seed = registered & allowed
    level = reference + core_fraction * (_peak(pet, seed) - reference)
    core = dilate_mm(registered, search_margin_mm, spacing) & allowed & (pet >= level)
    labels, _ = label_components(core, connectivity=26)
    touching = np.unique(labels[seed & core])
    return np.isin(labels, touching[touching > 0]), level


def refine_striatum(pet: np.ndarray, registered: dict[str, np.ndarray], reference_suv: float,
                    spacing: tuple[float, float, float], *, allowed: np.ndarray,
                    search_margin_mm: float = 6.0, core_fraction: float = 0.4,
                    min_contrast: float = 1.3) -> StriatumRefinement:
    """The registered striatum refined with the patient's own static PET.

    Per side (a key of `registered`, e.g. ``"left"``, ``"right"``): the peak is the mean of the
    `PEAK_VOXELS` (5) highest voxels of the registered region inside `allowed` (less biased by
    noise than the single highest); the level is `reference_suv` +
    `core_fraction` x (peak - `reference_suv`) (0.4: below the half-way contour between the
    healthy median and the peak, because the grey matter around the striatum is above the
    median; on phantoms it follows the striatum's edge after a 5-8 mm FWHM blur); the
    side's striatum is every `allowed` voxel at or above the level within `search_margin_mm`
    (mm) of the registered region and connected (26-neighbour) to its voxels above the level.
    So a striatum smaller, larger or shifted (a few mm) from the template is drawn from its own
    uptake, not from the template's shape.

    Parameters
    ----------
    pet : ndarray
        Static PET (SUV or Bq/mL; `reference_suv` in the same units).
    registered : dict of str to ndarray of bool
        Registered (template) striatum per side.
    reference_suv : float
        Healthy-brain median uptake (outside the striatum).
    spacing : tuple of float
        Voxel edges (mm).
    allowed : ndarray of bool
        Brain voxels the striatum may hold (e.g. brain minus the MRI abnormality).
    min_contrast : float
        A side whose peak is below `min_contrast` x `reference_suv` (no visible striatum, or
        a tracer without striatal uptake) makes the whole refinement fall back to the
        registered striatum (``refined`` false).
    """
    voxel_ml = float(np.prod(spacing)) / 1000.0
    template = np.zeros(pet.shape, dtype=bool)
    for mask in registered.values():
        template |= mask & allowed
    template_ml = float(template.sum()) * voxel_ml
    refined, levels = np.zeros(pet.shape, dtype=bool), {}
    for side, mask in registered.items():
        if not (mask & allowed).any():
            continue  # the whole side lies in the excluded region
        if _peak(pet, mask & allowed) < min_contrast * reference_suv:
            return StriatumRefinement(
                template, False, template_ml, template_ml, {},
                f"striatum: registered template (the {side} striatum does not stand out: peak "
                f"below {min_contrast:g} x the healthy median)")
        core, levels[side] = _side_core(pet, mask, allowed, reference_suv, spacing,
                                        search_margin_mm, core_fraction)
        refined |= core
    if not refined.any():
        return StriatumRefinement(template, False, template_ml, template_ml, {},
                                  "striatum: registered template (no voxel to refine)")
    return StriatumRefinement(
        refined, True, float(refined.sum()) * voxel_ml, template_ml, levels,
        f"striatum: uptake >= healthy median + {core_fraction:g} x (striatal peak - median), "
        f"within {search_margin_mm:g} mm of the registered striatum")


def striatum_flags(refinement: StriatumRefinement,
                   ratio_range: tuple[float, float] = (0.5, 1.5)) -> list[str]:
    """QC flags of the striatum refinement: ``striatum_not_refined`` (registered template kept)
    and ``striatum_volume`` (refined / registered volume outside `ratio_range`)."""
    if not refinement.refined:
        return ["striatum_not_refined"]
    ratio = refinement.volume_ratio
    return [] if ratio_range[0] <= ratio <= ratio_range[1] else ["striatum_volume"]


class PETRegions(dict[str, np.ndarray]):
    """Masks on the PET grid keyed by ``desc`` (a dict), with the striatum refinement
    (``refinement``, the T/S reference) attached."""

    refinement: StriatumRefinement | None = None


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
    striatum_search_mm: float = 6.0,
    striatum_core_fraction: float = 0.4,
    striatum_min_contrast: float = 1.3,
) -> PETRegions:
    """Masks on the PET grid (bool arrays keyed by BIDS ``desc`` label) and the striatum
    refinement (``.refinement``).

    Parameters
    ----------
    pet_reference : sitk.Image
        The static PET (the striatum is refined with its uptake).
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
    striatum_search_mm, striatum_core_fraction, striatum_min_contrast : float
        `refine_striatum`'s `search_margin_mm`, `core_fraction` and `min_contrast`.
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

    abnormal, excluded = _abnormal_on_pet(abnormal_t1, t1, pet_reference, pet_to_t1, margin_mm)
    masks = PETRegions(brain=brain, lefthemisphere=brain & (mni_x_ras < 0),
                       righthemisphere=brain & (mni_x_ras > 0))
    sides = _template_striata(masks, template["t1"], resolution_mm, pet_reference, pet_to_mni,
                              brain, excluded)
    anatomical = sides["left"] | sides["right"]
    registered = anatomical & ~excluded
    pet, spacing = from_sitk(pet_reference)[0], pet_reference.GetSpacing()
    healthy = brain & ((gm + wm) >= 0.5) & ~anatomical & ~excluded
    reference = float(np.median(pet[healthy])) if healthy.any() else float("nan")
    refine = {"search_margin_mm": striatum_search_mm, "core_fraction": striatum_core_fraction,
              "min_contrast": striatum_min_contrast}
    masks.refinement = refine_striatum(pet, sides, reference, spacing, allowed=brain & ~excluded,
                                       **refine)
    kept_out = refine_striatum(pet, sides, reference, spacing, allowed=brain & ~abnormal, **refine)
    masks["striatum"] = masks.refinement.mask
    masks["striatumanat"] = kept_out.mask if kept_out.refined else anatomical
    masks["abnormal"] = abnormal
    healthy &= ~masks["striatum"]
    if pet_threshold is not None and healthy.any():
        striatal = registered | masks["striatum"] | masks["striatumanat"]
        # searched in the brain grown by the margin: a tumour at the brain surface can lie partly
        # outside the brain mask at 4-6 mm PET voxels (phantom sub-031: 71 of 561 tumour voxels)
        near_brain = dilate_mm(brain, margin_mm, spacing)
        healthy &= ~_pet_avid(pet, near_brain & ~striatal, healthy, pet_threshold, margin_mm,
                              spacing)
    masks["healthy"] = healthy
    return masks


def _template_striata(masks: PETRegions, template_t1: sitk.Image, resolution_mm: int,
                      pet_reference: sitk.Image, pet_to_mni: sitk.Transform, brain: np.ndarray,
                      excluded: np.ndarray) -> dict[str, np.ndarray]:
    """Carry the template's caudate and putamen onto the PET grid: each into `masks` (without
    the `excluded` voxels), and their union per side (``left``, ``right``) returned."""
    template_affine = from_sitk(template_t1)[1]
    sides = {"left": np.zeros(brain.shape, dtype=bool), "right": np.zeros(brain.shape, dtype=bool)}
    for name, mask in striatum_masks(resolution_mm).items():
        carried = resample_mask(to_sitk(mask.astype(np.float32), template_affine), pet_reference,
                                pet_to_mni) & brain
        sides[name.split("_")[1]] |= carried
        masks[STRIATUM_DESC[name]] = carried & ~excluded
    return sides


def _pet_avid(pet: np.ndarray, candidates: np.ndarray, healthy: np.ndarray, threshold: float,
              margin_mm: float, spacing: tuple[float, ...]) -> np.ndarray:
    """PET-avid `candidates` (above `threshold` x the healthy median), grown by `margin_mm`.

    Tumour that the MRI does not show (non-enhancing, little oedema) is still PET-avid: these
    voxels (the tumour-candidate rule of the quantification stage) are left out of the healthy
    reference with the same margin, so that the reference stays in healthy tissue.
    """
    avid = candidates & (pet > threshold * float(np.median(pet[healthy])))
    return dilate_mm(avid, margin_mm, spacing) if avid.any() else avid


def _abnormal_on_pet(abnormal_t1: np.ndarray | None, t1: sitk.Image, pet_reference: sitk.Image,
                     pet_to_t1: sitk.Transform,
                     margin_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """The MRI abnormality on the PET grid, as it is and grown by `margin_mm` (bool, bool)."""
    shape = tuple(pet_reference.GetSize())
    abnormal = np.zeros(shape, dtype=bool)
    excluded = np.zeros(shape, dtype=bool)
    if abnormal_t1 is None or not abnormal_t1.any():
        return abnormal, excluded
    t1_affine = from_sitk(t1)[1]
    abnormal = resample_mask(to_sitk(abnormal_t1.astype(np.float32), t1_affine), pet_reference,
                             pet_to_t1)
    grown = dilate_mm(abnormal_t1.astype(bool), margin_mm, t1.GetSpacing())
    excluded = resample_mask(to_sitk(grown.astype(np.float32), t1_affine), pet_reference,
                             pet_to_t1, threshold=0.01)
    return abnormal, excluded


__all__ = ["STRIATUM_DESC", "STRIATUM_MNI", "PETRegions", "StriatumRefinement", "enhancement_map",
           "grid_points_lps", "lesion_centroid_mni", "mri_abnormality", "pet_regions",
           "refine_striatum", "striatum_flags"]
