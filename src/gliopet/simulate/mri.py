"""Phantom MRI: T1w, contrast-enhanced T1w, T2w and FLAIR from the tissue label map.

Intensities are relative to white matter on T1w (= 1) before the site scaling. Grey matter,
white matter and CSF mix by their partial-volume fractions (from the warped template
probability maps); striatum, head and lesion compartments take per-contrast class values. The
enhancing rim brightens on the contrast T1w by the session's enhancement strength; treatment-
related change enhances as well (biology's ``mri_effects``), so MRI is only weakly informative
of the labels. Oedema and infiltration are bright on T2w and FLAIR. Then: a smooth
multiplicative texture per contrast, a smooth bias field (peak amplitude `bias_field_strength`),
Rician noise (sigma = `mri_noise_sd` x white-matter intensity) and the site scaling.

Class values are reasoned relative contrasts of 3 T clinical sequences (T1 MPRAGE: WM > GM >
CSF; T2: CSF > GM > WM; FLAIR: CSF suppressed, oedema bright), not measured values.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage

from gliopet.simulate.anatomy import SKULL_MM, SubjectAnatomy

CONTRASTS = ("T1w", "ce-gadolinium_T1w", "T2w", "FLAIR")

#: Intensity of each class per contrast (white matter on T1w = 1).
#: Keys: gm, wm, csf, striatum, skull, scalp, necrosis, enhancing, infiltration, oedema.
INTENSITY: dict[str, dict[str, float]] = {
    "T1w": {"gm": 0.62, "wm": 1.0, "csf": 0.22, "striatum": 0.7, "skull": 0.08, "scalp": 0.85,
            "necrosis": 0.3, "enhancing": 0.55, "infiltration": 0.55, "oedema": 0.6},
    "ce-gadolinium_T1w": {"gm": 0.64, "wm": 1.0, "csf": 0.24, "striatum": 0.72, "skull": 0.08,
                          "scalp": 0.95, "necrosis": 0.3, "enhancing": 0.6, "infiltration": 0.58,
                          "oedema": 0.62},
    "T2w": {"gm": 0.7, "wm": 0.45, "csf": 1.6, "striatum": 0.62, "skull": 0.05, "scalp": 0.6,
            "necrosis": 1.3, "enhancing": 0.85, "infiltration": 1.0, "oedema": 1.05},
    "FLAIR": {"gm": 0.85, "wm": 0.65, "csf": 0.12, "striatum": 0.8, "skull": 0.05, "scalp": 0.8,
              "necrosis": 0.45, "enhancing": 1.0, "infiltration": 1.25, "oedema": 1.3},
}
#: Extra contrast-T1w intensity of the enhancing rim at enhancement strength 1.
ENHANCEMENT_GAIN = 0.9
#: Scanner units of white matter on T1w (before the site scaling).
BASE_UNITS = 1000.0

_LABEL_CLASS = {
    5: "striatum",
    6: "striatum",
    10: "necrosis",
    11: "enhancing",
    12: "infiltration",
    13: "oedema",
}


def _smooth_field(
    rng: np.random.Generator, shape: tuple[int, ...], sigma_vox: np.ndarray
) -> np.ndarray:
    field = ndimage.gaussian_filter(
        rng.standard_normal(shape, dtype=np.float32), sigma=sigma_vox, mode="reflect"
    )
    return field / max(float(field.std()), 1e-6)


def bias_field(rng: np.random.Generator, shape: tuple[int, int, int], voxel_mm: tuple[float, ...],
               strength: float) -> np.ndarray:
    """Smooth multiplicative field ``1 + b`` with max |b| = `strength` (coarse grid, zoomed)."""
    coarse_shape = tuple(
        max(int(np.ceil(n * v / 24.0)), 2) for n, v in zip(shape, voxel_mm, strict=True)
    )
    coarse = ndimage.gaussian_filter(rng.normal(size=coarse_shape), sigma=2.0, mode="reflect")
    coarse /= max(float(np.abs(coarse).max()), 1e-9)
    zoom = [n / c for n, c in zip(shape, coarse_shape, strict=True)]
    field = ndimage.zoom(coarse, zoom, order=1, mode="nearest", grid_mode=True)[
        : shape[0], : shape[1], : shape[2]
    ]
    return (1.0 + strength * field).astype(np.float32)


def simulate_mri(anatomy: SubjectAnatomy, labels: np.ndarray, rng: np.random.Generator, *,
                 site_scale: Mapping[str, float], noise_sd: float, bias_strength: float,
                 enhancement: float = 1.0, oedema_strength: float = 1.0) -> dict[str, np.ndarray]:
    """The four MRI contrasts (float32, scanner units) on the anatomy grid.

    `labels` is the tissue map with tumour codes; `enhancement` scales the contrast uptake of
    the enhancing compartment (0 = none), `oedema_strength` the T2/FLAIR brightness of oedema
    and infiltration above white matter.
    """
    voxel = np.asarray(anatomy.grid.voxel_mm)
    fractions = np.stack([anatomy.gm, anatomy.wm, anatomy.csf])
    total = fractions.sum(axis=0)
    fractions = fractions / np.where(total > 1e-3, total, 1.0)
    head = labels > 0
    skull = (labels == 1) & (anatomy.shell_depth <= SKULL_MM)
    scalp = (labels == 1) & ~skull
    bias = bias_field(rng, anatomy.grid.shape, tuple(voxel), bias_strength)
    images = {}
    for contrast in CONTRASTS:
        table = INTENSITY[contrast]
        image = np.tensordot(np.array([table["gm"], table["wm"], table["csf"]], dtype=np.float32),
                             fractions.astype(np.float32), axes=1)
        image[skull] = table["skull"]
        image[scalp] = table["scalp"]
        for code, key in _LABEL_CLASS.items():
            value = table[key]
            if key in ("oedema", "infiltration") and contrast in ("T2w", "FLAIR"):
                value = table["wm"] + (value - table["wm"]) * oedema_strength
            if key == "enhancing" and contrast == "ce-gadolinium_T1w":
                value = value + ENHANCEMENT_GAIN * enhancement
            image[labels == code] = value
        image[~head] = 0.0
        texture = 1.0 + 0.03 * _smooth_field(rng, anatomy.grid.shape, 2.0 / voxel)
        image = image * texture * bias * BASE_UNITS
        sigma = noise_sd * BASE_UNITS
        # Rician magnitude in float32 (real and imaginary Gaussian channels of SD sigma)
        real = rng.standard_normal(image.shape, dtype=np.float32)
        real *= np.float32(sigma)
        real += image
        imag = rng.standard_normal(image.shape, dtype=np.float32)
        imag *= np.float32(sigma)
        noisy = np.hypot(real, imag, out=real)
        noisy *= np.float32(site_scale.get(contrast, 1.0))
        images[contrast] = noisy
    return images
