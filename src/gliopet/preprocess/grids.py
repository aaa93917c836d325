"""Analysis grids: the PET native grid and the common learning grid.

* PET native grid (quantification): every MRI sequence resampled onto the PET voxels through
  PET <- T1w (<- sequence) transforms; values unchanged (no normalisation).
* Learning grid (foundation models): template space (MNI152NLin2009aSym) at 2 mm, cropped to the
  template brain's bounding box plus `margin_mm`; PET and MRI resampled through the composed
  transforms; MRI intensity-normalised (z-score over the template brain: mean 0, SD 1); PET kept
  in its units (SUV when known, else Bq/mL).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import SimpleITK as sitk

from gliopet.preprocess.brainmask import template_images
from gliopet.preprocess.registration import compose, from_sitk, invert, resample
from gliopet.spatial import bounding_box


def mri_on_pet_grid(pet_reference: sitk.Image, images: dict[str, sitk.Image],
                    xfm_pet_to_t1: sitk.Transform,
                    xfm_to_t1: dict[str, sitk.Transform]) -> dict[str, np.ndarray]:
    """Each MRI (keyed by name) resampled onto the PET grid (linear interpolation).

    `xfm_to_t1[name]` is from-<name>_to-T1w (identity for the T1w target itself).
    """
    pet_to_t1 = invert(xfm_pet_to_t1)
    out = {}
    for name, image in images.items():
        chain = compose(pet_to_t1, xfm_to_t1[name]) if name in xfm_to_t1 else pet_to_t1
        out[name] = from_sitk(resample(image, pet_reference, chain))[0]
    return out


@lru_cache(maxsize=2)
def learning_reference(margin_mm: float = 4.0, resolution_mm: int = 2) -> sitk.Image:
    """The learning grid: template space at `resolution_mm`, cropped to the brain + margin."""
    template = template_images(resolution_mm)
    brain = from_sitk(template["brain_mask"])[0] > 0
    box = bounding_box(brain, int(np.ceil(margin_mm / resolution_mm)))
    return sitk.RegionOfInterest(template["brain_mask"], [s.stop - s.start for s in box],
                                 [s.start for s in box])


def learning_grid(
    images: dict[str, sitk.Image],
    to_t1: dict[str, sitk.Transform | None],
    xfm_t1_to_template: sitk.Transform,
    *,
    mri_names: tuple[str, ...] = (),
    margin_mm: float = 4.0,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Resample images onto the learning grid; returns (arrays, RAS affine).

    Parameters
    ----------
    images : dict
        Name -> image on its own grid (e.g. ``pet`` static SUV, ``T1w``, ``FLAIR``).
    to_t1 : dict
        Name -> from-<name>_to-T1w transform (None for the T1w target itself).
    xfm_t1_to_template : sitk.Transform
        from-T1w_to-MNI152NLin2009aSym.
    mri_names : tuple of str
        Names to z-score over the template brain mask.
    """
    reference = learning_reference(margin_mm)
    brain = from_sitk(reference)[0] > 0
    out = {}
    for name, image in images.items():
        chain = (
            xfm_t1_to_template
            if to_t1.get(name) is None
            else compose(xfm_t1_to_template, to_t1[name])
        )
        data = from_sitk(resample(image, reference, chain))[0]
        if name in mri_names:
            values = data[brain]
            sd = float(values.std()) or 1.0
            data = np.where(brain, (data - float(values.mean())) / sd, 0.0).astype(np.float32)
        out[name] = data
    return out, from_sitk(reference)[1]


def learning_mask(mask: np.ndarray, affine: np.ndarray, xfm_t1_to_template: sitk.Transform, *,
                  margin_mm: float = 4.0) -> np.ndarray:
    """A mask of the reference MRI grid (RAS `affine`) carried onto the learning grid.

    Linear interpolation then a 0.5 threshold (`registration.resample_mask`); boolean array.
    """
    from gliopet.preprocess.registration import resample_mask, to_sitk

    image = to_sitk(np.asarray(mask, dtype=np.float32), affine)
    return resample_mask(image, learning_reference(margin_mm), xfm_t1_to_template)
