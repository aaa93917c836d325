"""Where the tumour is on the learning grid, found from the pipeline's outputs (no truth).

Used by `gliopet evaluate-representation` to pool a tumour-region session vector, and by the
image families of the classifier (`gliopet.classify.images`) to cut their crops: both look at
the same 64 mm cube.

The tumour centre on the learning grid, in order of preference (`tumour_centre`):

1. ``tumour-mask``: quantification's tumour VOI (``TUMOUR_MASK``, PET grid) carried onto the
   learning grid through preprocessing's transforms (template <- T1w <- PET, as
   `gliopet.quant.learning` carries the dynamic channels); its centroid;
2. ``pet-avid``: the centroid of the largest connected component of the brain voxels whose
   normalised PET is at or above the `AVID_PERCENTILE` of the brain and above its median;
3. ``brain``: the centroid of the brain mask.

The region (`crop_origin`) is a cube of `CROP_VOXELS` voxels whose first voxel is a multiple
of `ORIGIN_STEP` (8 voxels, the largest patch of the foundation model), so that it is a whole
number of patches of any patch size that divides 8.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from gliopet.io import derivatives as d

#: Edge of the tumour region (learning-grid voxels, 2 mm): 64 mm.
CROP_VOXELS = 32
#: Region origins are multiples of this (voxels): the largest foundation-model patch.
ORIGIN_STEP = 8
#: Percentile of the brain's normalised PET above which voxels are PET-avid.
AVID_PERCENTILE = 99.5


def crop_origin(centre: Sequence[float], grid_shape: Sequence[int], size: int) -> tuple[int, ...]:
    """First voxel of a `size` crop around `centre`: the nearest multiple of `ORIGIN_STEP`
    (the centre at most 4 voxels off the crop's middle), moved inside the grid."""
    out = []
    for c, n in zip(centre, grid_shape, strict=True):
        start = ORIGIN_STEP * int(round((float(c) - size / 2.0) / ORIGIN_STEP))
        start = int(np.clip(start, 0, max(0, n - size)))
        out.append(start - start % ORIGIN_STEP)
    return tuple(out)


def mapped_tumour_mask(root: Path, ids: d.IdsLike) -> np.ndarray | None:
    """Quantification's tumour VOI on the learning grid, or None without it or the transforms."""
    from gliopet.io.nifti import load_nifti
    from gliopet.preprocess import registration as reg

    found = {"mask": d.find_or_none(root, ids, d.TUMOUR_MASK),
             "pet_t1": d.find_or_none(root, ids, d.XFM, from_="pet", to=d.REFERENCE_SPACE),
             "t1_template": d.find_or_none(root, ids, d.XFM, from_=d.REFERENCE_SPACE,
                                           to=d.TEMPLATE_SPACE),
             "reference": d.find_or_none(root, ids, d.LEARNING_MASK)}
    if any(p is None for p in found.values()):
        return None
    chain = reg.compose(reg.read_transform(found["t1_template"]),
                        reg.read_transform(found["pet_t1"]))
    mask = reg.nifti_to_sitk(load_nifti(found["mask"]))
    reference = reg.nifti_to_sitk(load_nifti(found["reference"]))
    moved = reg.resample_mask(mask, reference, chain)
    return moved if moved.any() else None


def pet_avid_centre(pet: np.ndarray, brain: np.ndarray) -> np.ndarray | None:
    """Centroid (voxels) of the largest PET-avid component in the brain; None without PET."""
    values = pet[brain]
    if values.size == 0 or not np.isfinite(values).any():
        return None
    avid = brain & (pet >= np.percentile(values, AVID_PERCENTILE)) & (pet > np.median(values))
    labels, n = ndimage.label(avid)
    if n == 0:
        return None
    sizes = ndimage.sum(avid, labels, range(1, n + 1))
    return np.array(ndimage.center_of_mass(labels == 1 + int(np.argmax(sizes))))


def tumour_centre(root: Path, ids: d.IdsLike, images: dict[str, np.ndarray],
                  brain: np.ndarray) -> tuple[np.ndarray, str]:
    """(centre in learning-grid voxels, method) by the preference of the module docstring.
    `images`: the session's learning-grid modalities, (C, X, Y, Z) each."""
    mask = mapped_tumour_mask(root, ids)
    if mask is not None:
        return np.array(ndimage.center_of_mass(mask)), "tumour-mask"
    if "pet" in images:
        centre = pet_avid_centre(images["pet"][0], brain)
        if centre is not None:
            return centre, "pet-avid"
    return np.array(ndimage.center_of_mass(brain)), "brain"


def tumour_region(root: Path, ids: d.IdsLike, images: dict[str, np.ndarray],
                  brain: np.ndarray, size: int = CROP_VOXELS) -> tuple[tuple[int, ...], str]:
    """(origin of the `size`-voxel cube around the tumour centre, method of `tumour_centre`)."""
    centre, method = tumour_centre(root, ids, images, brain)
    return crop_origin(centre, brain.shape, size), method
