"""The biopsy target: one point inside the aggressive subregion and the tumour, by a stated rule,
with the guideline alternatives (SUVmax, earliest-peaking dynamic hot spot), carried from the PET
grid onto the reference MRI.

Rule (`RULE`): among the voxels of the aggressive subregion inside the tumour VOI (PET grid),
keep those at least ``radius_mm + margin_mm`` from the edge of that region (the deepest ones
when none is that deep); the target is the one whose target sphere (radius ``radius_mm``) has
the highest mean aggressiveness (the map averaged over the sphere, 0 outside the tumour); ties go
to the deeper voxel, then to the first in C order. Alternatives: ``suvmax`` (the tumour voxel of
highest static SUV) and ``ttp_hotspot`` (the centroid of the dynamic hot spot with the earliest
TTP, the larger one on a tie; none when quantification found no hot spot).

Coordinates: PET points go to the reference MRI (space T1w) through preprocessing's rigid
transform ``from-pet_to-T1w`` (it maps T1w points to PET points; its inverse is used);
``target_ras_mm`` is RAS mm of the reference MRI's world frame, ``target_lps_mm`` the same point
in LPS mm (DICOM patient coordinates), ``target_voxel_mri`` its nearest voxel (i, j, k) of the
reference MRI as gliopet loads it (RAS+ canonical orientation). docs/biopsy.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from gliopet.errors import InputError
from gliopet.spatial import (
    apply_affine,
    distance_inside_mm,
    lps_to_ras_matrix,
    ras_to_lps_points,
    voxel_sizes,
)

#: Default radius of the target sphere (mm): a stereotactic biopsy core (2-3 mm needle window).
RADIUS_MM = 2.5
#: Default distance (mm) kept between the sphere and the edge of the region, when possible
#: (the order of the application accuracy of frame-based and frameless stereotaxy).
MARGIN_MM = 2.0
RULE = ("aggressive subregion inside the tumour VOI (PET grid); voxels at least radius + margin "
        "from its edge (the deepest ones when none is that deep); target = the voxel whose "
        "sphere of the given radius has the highest mean aggressiveness (ties: deeper, then "
        "first in C order); mapped to the reference MRI by the inverse of preprocessing's "
        "from-pet_to-T1w rigid transform")


@dataclass(frozen=True)
class PetTarget:
    """A target on the PET grid: its voxel, its world point (PET RAS mm) and what chose it."""

    voxel: tuple[int, int, int]
    ras_mm: np.ndarray
    score: float
    edge_distance_mm: float
    edge_rule_met: bool


def ball(radius_mm: float, voxel_mm: tuple[float, float, float]) -> np.ndarray:
    """Boolean kernel of the voxels whose centres lie within `radius_mm` of the central one."""
    half = [int(np.floor(radius_mm / s)) for s in voxel_mm]
    axes = [np.arange(-h, h + 1) * s for h, s in zip(half, voxel_mm, strict=True)]
    grid = np.meshgrid(*axes, indexing="ij")
    return sum(g ** 2 for g in grid) <= radius_mm ** 2 + 1e-9


def sphere_volume_ml(radius_mm: float) -> float:
    """Volume (mL) of a ball of `radius_mm` (the minimum target volume)."""
    return float(4.0 / 3.0 * np.pi * radius_mm ** 3 / 1000.0)


def check_target_region(tumour: np.ndarray, aggressive: np.ndarray, affine: np.ndarray,
                        radius_mm: float, path: Path | None = None) -> np.ndarray:
    """The target region (aggressive subregion inside the tumour VOI), refused when too small.

    Raises
    ------
    InputError
        No tumour, a tumour or region smaller than the target sphere, or a subregion outside
        the tumour.
    """
    voxel_ml = float(np.prod(voxel_sizes(affine))) / 1000.0
    minimum = sphere_volume_ml(radius_mm)
    if not tumour.any():
        raise InputError("the session has no tumour (the tumour VOI of gliopet quantify is "
                         "empty): no biopsy target", path=path,
                         fix="check the PET; give a tumour mask to gliopet quantify "
                             "--tumour-mask if the tumour is not PET-avid")
    if tumour.sum() * voxel_ml < minimum:
        raise InputError(f"the tumour VOI ({tumour.sum() * voxel_ml:.3f} mL) is smaller than "
                         f"the minimum target volume ({minimum:.3f} mL, a sphere of "
                         f"{radius_mm:g} mm radius)", path=path,
                         fix="check the tumour VOI, or give a smaller --radius-mm")
    region = aggressive & tumour
    if not region.any():
        raise InputError("the aggressive subregion does not overlap the tumour VOI", path=path,
                         fix="rerun gliopet signature after gliopet quantify")
    return region


def choose_target(aggressiveness: np.ndarray, region: np.ndarray, affine: np.ndarray, *,
                  radius_mm: float = RADIUS_MM, margin_mm: float = MARGIN_MM) -> PetTarget:
    """The target voxel of `RULE` in `region` (PET grid, RAS affine)."""
    voxel_mm = voxel_sizes(affine)
    kernel = ball(radius_mm, voxel_mm).astype(float)
    smoothed = ndimage.convolve(np.nan_to_num(aggressiveness.astype(float)),
                                kernel / kernel.sum(), mode="constant")
    depth = distance_inside_mm(region, voxel_mm)
    wanted = radius_mm + margin_mm
    floor = min(wanted, float(depth[region].max()))
    candidates = region & (depth >= floor - 1e-6)
    index = np.flatnonzero(candidates)
    order = np.lexsort((index, -depth.ravel()[index], -smoothed.ravel()[index]))
    best = int(index[order[0]])
    voxel = tuple(int(v) for v in np.unravel_index(best, region.shape))
    return PetTarget(voxel, apply_affine(affine, np.asarray(voxel, float)),
                     float(smoothed.ravel()[best]), float(depth.ravel()[best]),
                     bool(floor >= wanted - 1e-6))


def suvmax_voxel(suv: np.ndarray, tumour: np.ndarray) -> tuple[int, int, int]:
    """The tumour voxel of highest SUV (the first in C order on a tie)."""
    masked = np.where(tumour, np.nan_to_num(suv, nan=-np.inf), -np.inf)
    return tuple(int(v) for v in np.unravel_index(int(np.argmax(masked)), suv.shape))


def earliest_hotspot(table: Any) -> dict[str, Any] | None:
    """The hot spot of the earliest TTP (larger volume on a tie) as a dict, or None when the
    table (quantification's hot-spot table, a DataFrame) is empty or absent."""
    if table is None or len(table) == 0:
        return None
    ranked = table.sort_values(["TTP_min", "volume_mL"], ascending=[True, False], kind="stable")
    return ranked.iloc[0].to_dict()


# ---------------------------------------------------------------------------- PET -> MRI
def pet_to_mri_matrix(xfm_path: Path) -> np.ndarray:
    """4 x 4 RAS map of PET points to reference-MRI points: the inverse of preprocessing's
    ``from-pet_to-T1w`` transform (which maps T1w points to PET points, LPS mm in the file)."""
    from gliopet.io.transforms import affine_parameters
    from gliopet.preprocess.registration import read_transform
    from gliopet.spatial import affine_matrix

    matrix, offset = affine_parameters(read_transform(xfm_path))
    if matrix is None:
        raise InputError("the PET-to-MRI transform is not linear", path=xfm_path,
                         fix="rerun gliopet preprocess --force (it writes a rigid transform)")
    t1w_to_pet_ras = lps_to_ras_matrix(affine_matrix(matrix, offset))
    return np.linalg.inv(t1w_to_pet_ras)


def coordinates(point_ras: np.ndarray, mri_affine: np.ndarray,
                mri_shape: tuple[int, ...]) -> dict[str, Any]:
    """``target_ras_mm``, ``target_lps_mm`` and ``target_voxel_mri`` of a reference-MRI point
    (``inside_mri``: whether that voxel lies inside the MRI grid)."""
    point = np.asarray(point_ras, dtype=float)
    voxel = np.rint(apply_affine(np.linalg.inv(mri_affine), point)).astype(int)
    inside = bool(np.all(voxel >= 0) and np.all(voxel < np.asarray(mri_shape[:3])))
    return {"target_ras_mm": [round(float(v), 3) for v in point],
            "target_lps_mm": [round(float(v), 3) for v in ras_to_lps_points(point)],
            "target_voxel_mri": [int(v) for v in voxel], "inside_mri": inside}


def sphere_on_grid(centre_ras: np.ndarray, radius_mm: float, affine: np.ndarray,
                   shape: tuple[int, ...]) -> np.ndarray:
    """Voxels of a grid whose centres lie within `radius_mm` of a world point, always holding
    the point's nearest voxel (so that a sphere smaller than a voxel is not empty)."""
    from gliopet.spatial import world_coordinates

    out = np.zeros(shape[:3], dtype=bool)
    centre = np.asarray(centre_ras, dtype=float)
    voxel = apply_affine(np.linalg.inv(affine), centre)
    reach = np.ceil(radius_mm / np.asarray(voxel_sizes(affine))).astype(int) + 1
    lo = np.clip(np.floor(voxel).astype(int) - reach, 0, np.asarray(shape[:3]))
    hi = np.clip(np.ceil(voxel).astype(int) + reach + 1, 0, np.asarray(shape[:3]))
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    shifted = affine.copy()
    shifted[:3, 3] = apply_affine(affine, lo.astype(float))
    xyz = world_coordinates(tuple(hi - lo), shifted, dtype=np.float64)
    out[box] = np.linalg.norm(xyz - centre, axis=-1) <= radius_mm + 1e-9
    nearest = np.rint(voxel).astype(int)
    if np.all(nearest >= 0) and np.all(nearest < np.asarray(shape[:3])):
        out[tuple(nearest)] = True
    return out


def mask_to_mri(mask: np.ndarray, pet_affine: np.ndarray, pet_to_mri: np.ndarray,
                mri_affine: np.ndarray, mri_shape: tuple[int, ...]) -> np.ndarray:
    """A PET-grid mask on the reference MRI grid by nearest neighbour (each MRI voxel takes the
    value of the PET voxel its centre falls in); only the mask's bounding box is computed."""
    return values_to_mri(np.asarray(mask, dtype=bool), pet_affine, pet_to_mri, mri_affine,
                         mri_shape)


def values_to_mri(values: np.ndarray, pet_affine: np.ndarray, pet_to_mri: np.ndarray,
                  mri_affine: np.ndarray, mri_shape: tuple[int, ...]) -> np.ndarray:
    """A PET-grid image (0 outside its region, e.g. the aggressiveness map) on the reference
    MRI grid by the nearest neighbour of `mask_to_mri` (the same voxels as the masks); only the
    bounding box of its non-zero voxels is computed, 0 elsewhere; dtype of `values`."""
    from gliopet.spatial import world_coordinates

    out = np.zeros(mri_shape[:3], dtype=values.dtype)
    if not values.any():
        return out
    ijk = np.argwhere(values)
    box = np.stack([ijk.min(0) - 0.5, ijk.max(0) + 0.5])  # the non-zero box, voxel edges
    pet_pts = np.array([[box[a, 0], box[b, 1], box[c, 2]]
                        for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=float)
    to_mri_voxel = np.linalg.inv(mri_affine) @ pet_to_mri @ pet_affine
    mri_pts = apply_affine(to_mri_voxel, pet_pts)
    lo = np.clip(np.floor(mri_pts.min(0)).astype(int) - 1, 0, np.asarray(mri_shape[:3]))
    hi = np.clip(np.ceil(mri_pts.max(0)).astype(int) + 2, 0, np.asarray(mri_shape[:3]))
    if np.any(hi <= lo):
        return out
    shifted = mri_affine.copy()
    shifted[:3, 3] = apply_affine(mri_affine, lo.astype(float))
    xyz = world_coordinates(tuple(hi - lo), shifted, dtype=np.float64)
    to_pet_voxel = np.linalg.inv(pet_affine) @ np.linalg.inv(pet_to_mri)
    pet_idx = np.rint(apply_affine(to_pet_voxel, xyz)).astype(int)
    valid = np.all((pet_idx >= 0) & (pet_idx < np.asarray(values.shape)), axis=-1)
    box_values = np.zeros(valid.shape, dtype=values.dtype)
    box_values[valid] = values[tuple(pet_idx[valid].T)]
    out[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] = box_values
    return out
