"""Template space: the MNI152 2009a images nilearn bundles (offline) and template-defined regions.

Used by the phantom (anatomy) and by preprocessing (brain mask, reference regions), so both
stages share one definition of the striatum. Nothing here downloads: nilearn ships these
files inside its wheel (`nilearn.datasets.load_mni152_*`).

The striatum is not part of the bundled files, and the atlases that define it (Harvard-Oxford,
AAL) are downloaded at run time by nilearn, so caudate and putamen are defined here as ellipsoids
at published MNI coordinates, restricted to the template's grey matter. Centres: caudate head
(+/-13, 11, 9) mm and putamen (+/-25, 1, 0) mm, close to the Harvard-Oxford subcortical centroids
(caudate about (+/-13, 10, 10), putamen about (+/-25, 0, 0); Desikan 2006 / FSL atlas).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import nibabel as nib
import numpy as np

from gliopet.spatial import box_around, world_coordinates

TEMPLATE_NAME = "MNI152NLin2009aSym"


@dataclass(frozen=True)
class Ellipsoid:
    """An ellipsoid in world (RAS, mm) coordinates."""

    centre_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]

    def contains(self, world_xyz: np.ndarray) -> np.ndarray:
        """Boolean array: which points (..., 3) in RAS mm lie inside."""
        offset = (world_xyz - np.asarray(self.centre_mm)) / np.asarray(self.semi_axes_mm)
        return np.sum(offset**2, axis=-1) <= 1.0


#: Striatal structures in MNI152 space (RAS mm). Semi-axes chosen so that the volumes inside the
#: grey-matter map are close to adult caudate (about 3.5-4 mL) and putamen (about 4.5-5 mL) volumes.
STRIATUM_MNI: dict[str, Ellipsoid] = {
    "caudate_left": Ellipsoid((-13.0, 11.0, 9.0), (7.0, 15.0, 11.0)),
    "caudate_right": Ellipsoid((13.0, 11.0, 9.0), (7.0, 15.0, 11.0)),
    "putamen_left": Ellipsoid((-25.0, 1.0, 0.0), (7.5, 16.0, 10.0)),
    "putamen_right": Ellipsoid((25.0, 1.0, 0.0), (7.5, 16.0, 10.0)),
}


#: Other structures that shape healthy FDOPA uptake, for the phantom (preprocessing does not use
#: them). Approximate ellipsoids at MNI coordinates of the thalamus (centre about (+/-11, -18, 7)
#: mm, Harvard-Oxford subcortical centroids, Desikan 2006 / FSL atlas) and of the brainstem
#: (midbrain to upper medulla, about (0, -28, -28) mm); the cerebellum is the template brain below
#: and behind the tentorium (`cerebellum_mask`). As the bundled template allows: its atlases are
#: downloaded by nilearn, so these shapes are drawn here. Volumes on the 2 mm template: thalamus
#: about 5 mL per side, brainstem about 14 mL, cerebellum about 190 mL (adults: about 6-8, 25 and
#: 140-150 mL; the plane takes in some inferior occipital and temporal cortex).
DEEP_GREY_MNI: dict[str, Ellipsoid] = {
    "thalamus_left": Ellipsoid((-11.0, -18.0, 7.0), (9.0, 13.0, 10.0)),
    "thalamus_right": Ellipsoid((11.0, -18.0, 7.0), (9.0, 13.0, 10.0)),
    "brainstem": Ellipsoid((0.0, -28.0, -28.0), (11.0, 13.0, 24.0)),
}
#: Tentorium approximated by a plane: the cerebellum lies at y < CEREBELLUM_MAX_Y_MM and below
#: z = CEREBELLUM_TOP_Z_MM (MNI, mm).
CEREBELLUM_MAX_Y_MM = -40.0
CEREBELLUM_TOP_Z_MM = -18.0


@lru_cache(maxsize=4)
def load_mni(resolution_mm: int = 2) -> dict[str, nib.Nifti1Image]:
    """MNI152 2009a images at 1 or 2 mm: ``t1``, ``gm``, ``wm`` (probabilities 0-1), ``brain_mask``.

    Images are RAS+ canonical, float32; they come from files inside the nilearn package.
    """
    if resolution_mm not in (1, 2):
        raise ValueError(f"resolution_mm must be 1 or 2, got {resolution_mm!r}")
    from nilearn import datasets

    loaders = {
        "t1": datasets.load_mni152_template,
        "gm": datasets.load_mni152_gm_template,
        "wm": datasets.load_mni152_wm_template,
        "brain_mask": datasets.load_mni152_brain_mask,
    }
    images = {}
    for key, loader in loaders.items():
        img = nib.as_closest_canonical(loader(resolution=resolution_mm))
        images[key] = nib.Nifti1Image(np.asarray(img.dataobj, dtype=np.float32), img.affine)
    return images


def striatum_masks(resolution_mm: int = 2, gm_threshold: float = 0.2) -> dict[str, np.ndarray]:
    """Boolean masks of caudate and putamen (left and right) on the MNI grid of `resolution_mm`.

    Each structure is its `STRIATUM_MNI` ellipsoid restricted to template grey matter
    (probability >= `gm_threshold`), which keeps the ventricles and white matter out.
    """
    images = load_mni(resolution_mm)
    gm = np.asarray(images["gm"].dataobj)
    affine = np.asarray(images["gm"].affine, dtype=float)
    out = {}
    for name, ellipsoid in STRIATUM_MNI.items():
        # evaluate only inside the ellipsoid's bounding box (voxel index range), not the whole
        # grid; the template grid is axis-aligned, so the box covers the ellipsoid
        box = box_around(gm.shape, affine, ellipsoid.centre_mm, ellipsoid.semi_axes_mm)
        lo = np.array([b.start for b in box])
        sub_affine = affine.copy()
        sub_affine[:3, 3] = affine[:3, :3] @ lo + affine[:3, 3]
        xyz = world_coordinates(tuple(b.stop - b.start for b in box), sub_affine)
        mask = np.zeros(gm.shape, dtype=bool)
        mask[box] = ellipsoid.contains(xyz) & (gm[box] >= gm_threshold)
        out[name] = mask
    return out


def deep_structure_masks(resolution_mm: int = 2) -> dict[str, np.ndarray]:
    """Boolean masks of thalamus (left, right), brainstem and cerebellum on the MNI grid.

    Thalamus and brainstem are their `DEEP_GREY_MNI` ellipsoids inside the template brain mask;
    the cerebellum is the brain mask behind ``y = CEREBELLUM_MAX_Y_MM`` and below
    ``z = CEREBELLUM_TOP_Z_MM``, outside the brainstem. Used by the phantom only.
    """
    images = load_mni(resolution_mm)
    brain = np.asarray(images["brain_mask"].dataobj) > 0.5
    affine = np.asarray(images["brain_mask"].affine, dtype=float)
    xyz = world_coordinates(brain.shape, affine)
    out = {name: ellipsoid.contains(xyz) & brain for name, ellipsoid in DEEP_GREY_MNI.items()}
    out["cerebellum"] = (brain & (xyz[..., 1] < CEREBELLUM_MAX_Y_MM)
                         & (xyz[..., 2] < CEREBELLUM_TOP_Z_MM) & ~out["brainstem"])
    return out
