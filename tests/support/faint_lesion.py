"""A synthetic session whose lesion is faint on FLAIR and not PET-avid, at coarse voxels.

Reproduces the phantom's sub-031 recurrence (tiny profile, issue 11): a small infiltrating
recurrence whose FLAIR signal sits near the abnormality threshold (only a fraction of its voxels
above median + 3 MAD) and whose uptake stays below the PET-avid threshold (1.6 x the healthy
median), on 4.5 mm MRI and PET voxels. The hyperintense voxels are scattered inside the lesion
and touch at edges and corners more than at faces; neither the MRI rule nor the PET rule finds
the rest of the lesion, so only the MRI abnormality (grown by the reference margin) keeps the
healthy reference out of it.

With ``lesion_suv=2.0`` (PET-avid) and a brain mask that leaves the lesion out, it reproduces
the same patient at diagnosis: a PET-avid tumour at the brain surface, partly outside the brain
mask, whose healthy neighbours only the PET rule can keep out of the reference.

Built on `support.synthetic` (MNI anatomy, lesion = the 12 mm sphere at ``LESION_CENTRE_MNI``,
identity head positions: the true transforms are the identity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from support.synthetic import make_session, sample

#: Voxel edge (mm) of MRI and PET, as the tiny profile's MRI (4.5 mm).
VOXEL_MM = 4.5
#: FLAIR of the hyperintense lesion voxels and of the rest of the lesion (synthetic units: grey
#: matter 0.9, white 0.7; the bright lesion of `support.synthetic` is 1.6).
FLAIR_BRIGHT, FLAIR_FAINT = 1.6, 0.95
#: Lesion uptake (SUV) added to the healthy tissue it replaces (`support.synthetic` adds 2.0).
LESION_SUV = 0.2
#: Gaussian PSF FWHM (mm) of `support.synthetic`'s PET.
PSF_FWHM_MM = 6.0


@dataclass
class FaintLesionSession:
    """Arrays (RAS affines) of the session; ``lesion_mri``/``lesion_pet``: the true lesion, and
    ``bright_mri``: its voxels above the FLAIR threshold."""

    t1: np.ndarray
    flair: np.ndarray
    brain_mri: np.ndarray
    mri_affine: np.ndarray
    pet: np.ndarray
    pet_affine: np.ndarray
    lesion_mri: np.ndarray
    bright_mri: np.ndarray
    lesion_pet: np.ndarray


def faint_lesion_session(bright_fraction: float = 0.3, seed: int = 0,
                         lesion_suv: float = LESION_SUV) -> FaintLesionSession:
    """The session: `bright_fraction` of the lesion's MRI voxels (drawn with `seed`) are
    FLAIR-bright, the others faint; the PET lesion adds only `lesion_suv` (SUV, default
    `LESION_SUV`).

    Defaults: 24 of the lesion's 83 MRI voxels bright (2.2 mL), largest face-connected piece 5
    voxels (0.46 mL), all 24 26-connected (2.2 mL); sub-031: 0.9 and 2.1 mL."""
    synth = make_session(mri_spacing_mm=VOXEL_MM, pet_spacing_mm=VOXEL_MM, seed=seed,
                         durations_s=np.array([600.0, 600.0]), noise=0.02)
    lesion_mri = sample("lesion", synth.t1.shape, synth.mri_affine) >= 0.5
    rng = np.random.default_rng(seed)
    bright = lesion_mri & (rng.random(lesion_mri.shape) < bright_fraction)
    flair = synth.flair.copy()
    flair[lesion_mri] = np.where(bright[lesion_mri], FLAIR_BRIGHT, FLAIR_FAINT)
    # PET: the synthetic static image with the lesion's +2.0 SUV replaced by +LESION_SUV (the
    # lesion is blurred by the same PSF, so its contrast is taken out where it was put in).
    lesion_blur = ndimage.gaussian_filter(
        sample("lesion", synth.pet_frames.shape[:3], synth.pet_affine),
        PSF_FWHM_MM / 2.3548 / VOXEL_MM,
    )
    pet = sample("pet", synth.pet_frames.shape[:3], synth.pet_affine)
    pet = (pet - (2.0 - lesion_suv) * lesion_blur).clip(0).astype(np.float32)
    return FaintLesionSession(synth.t1, flair, synth.brain_mri, synth.mri_affine, pet,
                              synth.pet_affine, lesion_mri, bright, synth.lesion_pet)
