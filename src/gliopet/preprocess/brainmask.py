"""MRI bias correction, MRI-to-template registration and the brain mask.

* `n4_correct`: N4 bias-field correction (SimpleITK) estimated on a shrunk image (about 6 mm
  voxels) and applied at full resolution through the log bias field.
* `register_to_template`: affine registration of the subject's T1 (contrast T1 or T1) to the
  MNI152 2009a template bundled by nilearn (`gliopet.templates`). The template is skull-stripped
  and the subject is not, so the metric is masked to the (dilated) template brain; a second
  affine pass then uses the refined, skull-stripped subject brain.
* `rough_brain_mask`: a first skull strip of the subject from intensities and morphology.
* `refine_brain_mask`: the template brain mask carried to the subject is the prior; its interior
  (eroded by `shell_mm`) is kept, and in the band around its border the subject's rough brain
  decides. Morphology uses distances in mm (`gliopet.spatial`), so anisotropic voxels are
  handled. Both rules are hand-written: no library skull stripper is usable offline here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from gliopet.preprocess.registration import (
    RegistrationResult,
    from_sitk,
    nifti_to_sitk,
    register,
    resample,
    resample_isotropic,
    to_sitk,
)
from gliopet.spatial import dilate_mm, distance_inside_mm, erode_mm, largest_component


def n4_correct(image: sitk.Image, mask: sitk.Image | None = None, *, shrink_to_mm: float = 6.0,
               iterations: tuple[int, ...] = (50, 40, 30),
               seed: int = 0) -> tuple[sitk.Image, sitk.Image]:
    """N4 bias-field correction; returns (corrected image, bias field), both on the input grid.

    The field is estimated on the image shrunk to about `shrink_to_mm` voxels (per axis, so thick
    slices are not shrunk further) inside `mask` (default: Otsu foreground of positive voxels).
    """
    image = sitk.Cast(image, sitk.sitkFloat32)
    image = sitk.Threshold(image, lower=0.0, upper=float("inf"), outsideValue=0.0)
    if mask is None:
        mask = sitk.OtsuThreshold(image, 0, 1, 128)
    mask = sitk.Cast(mask > 0, sitk.sitkUInt8) * sitk.Cast(image > 0, sitk.sitkUInt8)
    # Per-axis shrink factor; a 4-5 mm voxel is still halved (N4 on unshrunk images is slow).
    factors = [max(1, int(np.ceil(shrink_to_mm / s - 0.25))) for s in image.GetSpacing()]
    small = sitk.Shrink(image, factors)
    small_mask = sitk.Shrink(mask, factors)
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations(list(iterations))
    corrector.Execute(small, small_mask)
    log_bias = corrector.GetLogBiasFieldAsImage(image)
    bias = sitk.Exp(log_bias)
    corrected = sitk.Cast(image / bias, sitk.sitkFloat32)
    return corrected, sitk.Cast(bias, sitk.sitkFloat32)


def refine_brain_mask(image: np.ndarray, prior: np.ndarray, spacing: tuple[float, float, float],
                      *, shell_mm: float = 8.0, tolerance_mm: float = 3.0,
                      rough: np.ndarray | None = None) -> np.ndarray:
    """Refine a registered template brain mask with the subject's own image.

    The prior's interior (eroded by `shell_mm`) is kept as is. In the band of +/- `shell_mm`
    around the prior's border the subject decides: a prior voxel is kept only within
    `tolerance_mm` of the subject's rough brain (`rough_brain_mask`: tissue intensity, connected
    to the brain, not scalp), and a voxel outside the prior is added only when the rough brain
    contains it. The largest component is kept and holes are filled.

    Parameters
    ----------
    image : ndarray
        T1-weighted intensities (bias-corrected) on the subject grid.
    prior : ndarray
        Template brain-mask probability (0-1) carried to the subject grid.
    spacing : tuple of float
        Voxel size (mm).
    rough : ndarray, optional
        The subject's rough brain mask (computed from `image` when None).
    """
    prior_mask = np.asarray(prior) >= 0.5
    if not prior_mask.any():
        return prior_mask
    if rough is None:
        rough = rough_brain_mask(image, spacing)
    if rough.sum() < 0.3 * prior_mask.sum():  # the rough mask failed: trust the prior alone
        return prior_mask
    core = erode_mm(prior_mask, shell_mm, spacing)
    candidate = dilate_mm(prior_mask, shell_mm, spacing)
    near_rough = dilate_mm(rough, tolerance_mm, spacing)
    mask = core | (candidate & ((prior_mask & near_rough) | rough))
    return _fill_holes(largest_component(mask))


@dataclass
class TemplateResult:
    """Outcome of `register_to_template`.

    Attributes
    ----------
    registration : RegistrationResult
        Its transform maps template points (LPS mm) to subject points: from-T1w_to-<template>.
    brain_mask : ndarray
        Refined brain mask on the subject grid (bool).
    prior : ndarray
        The template brain mask carried to the subject grid (probability 0-1).
    """

    registration: RegistrationResult
    brain_mask: np.ndarray
    prior: np.ndarray


@lru_cache(maxsize=2)
def template_images(resolution_mm: int = 2) -> dict[str, sitk.Image]:
    """The MNI152 2009a t1, gm, wm and brain_mask as SimpleITK images (LPS; cached, do not
    modify)."""
    from gliopet.templates import load_mni

    return {key: nifti_to_sitk(img) for key, img in load_mni(resolution_mm).items()}


def rough_brain_mask(image: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """A first brain mask of a non-skull-stripped T1 (bias-corrected), to guide registration.

    Head = Otsu foreground (largest component, holes filled). Brain tissue intensity ``m`` is the
    median deeper than 25 mm inside the head; tissue voxels (0.6 m to 1.4 m: not skull/CSF, not
    fat) are eroded by 4 mm to cut them from the scalp, the largest component is kept and dilated
    back, and holes are closed and filled. Hand-written (no library skull stripper is usable
    offline here); the template prior then corrects it (`refine_brain_mask`).
    """
    values = np.asarray(image, dtype=np.float32)
    positive = values[values > 0]
    if positive.size < 1000:
        return np.zeros(values.shape, dtype=bool)
    head = largest_component(values > _otsu(positive))
    head = _fill_holes(head)
    depth = distance_inside_mm(head, spacing)
    deep = depth > min(25.0, 0.5 * depth.max())
    m = float(np.median(values[deep]))
    tissue = head & (values > 0.6 * m) & (values < 1.4 * m)
    # At least one voxel is peeled off, so coarse grids (4-5 mm) are separated from the scalp too.
    radius = max(4.0, 1.01 * min(spacing))
    core = largest_component(erode_mm(tissue, radius, spacing))
    rough = dilate_mm(core, radius, spacing) & head & (values > 0.45 * m) & (values < 1.4 * m)
    rough = erode_mm(dilate_mm(rough, radius, spacing), radius, spacing)
    return _fill_holes(rough)


def _otsu(values: np.ndarray, bins: int = 128) -> float:
    flt = sitk.OtsuThresholdImageFilter()
    flt.SetNumberOfHistogramBins(bins)
    flt.Execute(sitk.GetImageFromArray(np.asarray(values, dtype=np.float32)[None, None, :]))
    return float(flt.GetThreshold())


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    mask = ndimage.binary_fill_holes(mask)
    for k in range(mask.shape[2]):  # thick axial slices: fill slice by slice too
        mask[..., k] = ndimage.binary_fill_holes(mask[..., k])
    return mask


def register_to_template(t1: sitk.Image, *, seed: int, resolution_mm: int = 2,
                         iterations: int = 150, work_spacing_mm: float = 2.0,
                         sampling_percentage: float = 0.1, refine: bool = True) -> TemplateResult:
    """Affine registration of a (bias-corrected) subject T1 to the MNI template, and brain mask.

    The template is skull-stripped, the subject usually not: the subject is first stripped with
    `rough_brain_mask`, resampled to isotropic `work_spacing_mm` voxels (a balanced pyramid for
    thick slices), then registered rigidly and affinely (Mattes MI, metric restricted to the
    template brain dilated by 8 mm) down to `work_spacing_mm`. The template brain mask carried
    back is refined on the subject (`refine_brain_mask`). `seed`: the metric sampling seed
    (configuration ``seed``).
    """
    template = template_images(resolution_mm)
    fixed = template["t1"]
    brain = from_sitk(template["brain_mask"])[0] > 0
    roi = to_sitk(dilate_mm(brain, 8.0, fixed.GetSpacing()).astype(np.float32), from_sitk(fixed)[1])
    subject, affine_ras = from_sitk(t1)
    spacing = t1.GetSpacing()
    rough = rough_brain_mask(subject, spacing)
    if rough.sum() * np.prod(spacing) < 200e3:  # < 200 mL: not a usable head image
        rough = np.ones(subject.shape, dtype=bool)
    stripped = to_sitk(subject * dilate_mm(rough, 2.0, spacing), affine_ras)
    moving = resample_isotropic(stripped, work_spacing_mm)
    # Pyramid levels of the template grid down to the working resolution (coarse to fine).
    # At least two levels (a single coarse level fails on 4-5 mm subjects).
    finest = min(work_spacing_mm, 2.0 * resolution_mm)
    levels = [f for f in (4, 2, 1) if f * resolution_mm >= finest - 1e-6]
    sigmas = [max(0.5 * f * resolution_mm, 1.0) for f in levels]
    rigid = register(fixed, moving, kind="rigid", initializer="moments", fixed_mask=roi,
                     shrink_factors=levels, smoothing_sigmas_mm=sigmas,
                     iterations=iterations, seed=seed, sampling_percentage=sampling_percentage)
    result = register(fixed, moving, kind="affine", initial=rigid.transform, fixed_mask=roi,
                      shrink_factors=levels[-2:], smoothing_sigmas_mm=sigmas[-2:],
                      iterations=iterations, seed=seed, learning_rate=1.0,
                      sampling_percentage=sampling_percentage)
    # Report the whole two-stage registration: the starting point is the moments-centred one.
    result.metric_initial, result.nmi_initial = rigid.metric_initial, rigid.nmi_initial
    prior = from_sitk(resample(template["brain_mask"], t1, _inverse(result.transform), "linear"))[0]
    mask = refine_brain_mask(subject, prior, spacing, rough=rough) if refine else prior >= 0.5
    return TemplateResult(registration=result, brain_mask=mask, prior=prior)


def _inverse(transform: sitk.Transform) -> sitk.Transform:
    from gliopet.preprocess.registration import invert

    return invert(transform)
