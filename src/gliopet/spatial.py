"""Voxel and world geometry shared by every stage: coordinates, RAS/LPS, rigid maps, morphology.

Conventions
-----------
* **World frame.** Arrays are indexed ``(i, j, k)``; a 4 x 4 ``affine`` maps voxel indices to
  world mm. gliopet works in RAS+ (x to the right, y to the front, z up), as NIfTI; ITK and
  DICOM work in LPS (x and y flipped). ``LPS = diag(-1, -1, 1) RAS``.
* **Coordinate arrays put the axis last.** Points and world coordinates have shape
  ``(..., 3)``: `world_coordinates` returns ``(*shape, 3)``, so ``world[..., 0]`` is x and
  ``world[mask]`` lists the points of a mask as ``(n, 3)``.
* **Three kinds of RAS <-> LPS conversion, three names.** Points flip x and y
  (`ras_to_lps_points`); a world-to-world map (rigid/affine transform) is conjugated,
  ``F M F`` with ``F = diag(-1, -1, 1, 1)`` (`ras_to_lps_matrix`); a voxel-to-world affine only
  changes its output frame, ``F A`` (`ras_to_lps_affine`). Each is its own inverse; the
  ``lps_to_ras_*`` names say the direction at the call site.
* **Morphology in mm.** `dilate_mm` / `erode_mm` use the exact Euclidean distance transform with
  the voxel size, so anisotropic voxels are handled; connectivity is 6 (faces) or 26 (faces,
  edges and corners).
* **Boxes.** Index boxes are tuples of slices; a field of view is the world box of the voxel
  *edges* (centres -0.5 to n - 0.5), as (min corner, max corner) in mm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

#: RAS <-> LPS flip of homogeneous coordinates (its own inverse).
FLIP_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


# --------------------------------------------------------------------------- coordinates
def voxel_sizes(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel edge lengths (mm) from a 4 x 4 voxel-to-world affine (norms of its columns)."""
    sizes = np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))
    return (float(sizes[0]), float(sizes[1]), float(sizes[2]))


def world_coordinates(shape: Sequence[int], affine: np.ndarray,
                      dtype: type = np.float32) -> np.ndarray:
    """World coordinates (mm, the frame of `affine`) of every voxel centre, shape (*shape, 3).

    Computed in `dtype` (float32 by default, float64 for exact geometry tests).
    """
    axes = [np.arange(int(n), dtype=dtype) for n in shape]
    ijk = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    return apply_affine(affine, ijk)


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4 x 4 map to points of shape (..., 3), in the points' floating dtype."""
    matrix = np.asarray(matrix)
    points = np.asarray(points)
    if not np.issubdtype(points.dtype, np.floating):
        points = points.astype(float)
    return points @ matrix[:3, :3].T.astype(points.dtype) + matrix[:3, 3].astype(points.dtype)


# --------------------------------------------------------------------------- RAS <-> LPS
def ras_to_lps_points(points: np.ndarray) -> np.ndarray:
    """Points (..., 3) in RAS mm as LPS mm (x and y change sign); a new float array."""
    points = np.array(points, dtype=float, copy=True)
    points[..., :2] *= -1.0
    return points


def lps_to_ras_points(points: np.ndarray) -> np.ndarray:
    """Points (..., 3) in LPS mm as RAS mm (the same flip as `ras_to_lps_points`)."""
    return ras_to_lps_points(points)


def ras_to_lps_matrix(matrix_ras: np.ndarray) -> np.ndarray:
    """A 4 x 4 map of RAS world points as the same map of LPS points: ``F M F``."""
    return FLIP_LPS @ np.asarray(matrix_ras, dtype=float) @ FLIP_LPS


def lps_to_ras_matrix(matrix_lps: np.ndarray) -> np.ndarray:
    """A 4 x 4 map of LPS world points as the same map of RAS points: ``F M F``."""
    return ras_to_lps_matrix(matrix_lps)


def ras_to_lps_affine(affine_ras: np.ndarray) -> np.ndarray:
    """A voxel-to-RAS affine as the voxel-to-LPS affine of the same grid: ``F A``."""
    return FLIP_LPS @ np.asarray(affine_ras, dtype=float)


def lps_to_ras_affine(affine_lps: np.ndarray) -> np.ndarray:
    """A voxel-to-LPS affine as the voxel-to-RAS affine of the same grid: ``F A``."""
    return ras_to_lps_affine(affine_lps)


# --------------------------------------------------------------------------- rigid and affine maps
def rotation_matrix(angles_deg: Sequence[float] | np.ndarray) -> np.ndarray:
    """3 x 3 rotation about x, then y, then z (angles in degrees): ``Rz Ry Rx``."""
    ax, ay, az = np.deg2rad(np.asarray(angles_deg, dtype=float))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def affine_matrix(linear: np.ndarray, translation_mm: Sequence[float] | np.ndarray) -> np.ndarray:
    """4 x 4 map ``x -> L x + t`` from a 3 x 3 linear part and a translation (mm)."""
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(linear, dtype=float)
    matrix[:3, 3] = np.asarray(translation_mm, dtype=float)
    return matrix


def rigid_matrix(angles_deg: Sequence[float] | np.ndarray,
                 translation_mm: Sequence[float] | np.ndarray = (0.0, 0.0, 0.0),
                 centre_mm: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """4 x 4 rigid map ``x -> R (x - c) + c + t``: rotation (`rotation_matrix`, degrees) about
    `centre_mm` (origin when None), then translation (mm); in the frame of the points (RAS)."""
    centre = np.zeros(3) if centre_mm is None else np.asarray(centre_mm, dtype=float)
    rotation = rotation_matrix(angles_deg)
    return affine_matrix(rotation,
                         centre - rotation @ centre + np.asarray(translation_mm, dtype=float))


# --------------------------------------------------------------------------- morphology in mm
#: Gaussian standard deviation per unit of full width at half maximum: 1 / (2 sqrt(2 ln 2)).
FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def fwhm_to_sigma_mm(fwhm_mm: float) -> float:
    """Gaussian standard deviation (mm) of a kernel with the given FWHM (mm)."""
    return float(fwhm_mm) * FWHM_TO_SIGMA


def distance_inside_mm(mask: np.ndarray, voxel_size_mm: Sequence[float]) -> np.ndarray:
    """Distance (mm) of every voxel of `mask` to the nearest voxel outside it (0 outside)."""
    return ndimage.distance_transform_edt(mask, sampling=voxel_size_mm)


def dilate_mm(mask: np.ndarray, radius_mm: float, voxel_size_mm: Sequence[float]) -> np.ndarray:
    """Voxels within `radius_mm` (mm, Euclidean, voxel centres) of the mask.

    A copy of the mask when `radius_mm` <= 0 or the mask is empty.
    """
    mask = np.asarray(mask, dtype=bool)
    if radius_mm <= 0 or not mask.any():
        return mask.copy()
    return distance_inside_mm(~mask, voxel_size_mm) <= radius_mm


def erode_mm(mask: np.ndarray, radius_mm: float, voxel_size_mm: Sequence[float]) -> np.ndarray:
    """Voxels of the mask farther than `radius_mm` (mm, Euclidean) from every voxel outside it.

    A copy of the mask when `radius_mm` <= 0 or the mask fills the whole array (no outside).
    """
    mask = np.asarray(mask, dtype=bool)
    if radius_mm <= 0 or mask.all():
        return mask.copy()
    return distance_inside_mm(mask, voxel_size_mm) > radius_mm


# --------------------------------------------------------------------------- components
def _structure(connectivity: int) -> np.ndarray | None:
    if connectivity == 6:
        return None  # scipy's default: faces only
    if connectivity == 26:
        return np.ones((3, 3, 3), dtype=bool)
    raise ValueError(f"connectivity must be 6 or 26, got {connectivity!r}")


def label_components(mask: np.ndarray, connectivity: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(labels, sizes): connected components of a 3-D mask numbered 1..n, and their sizes in
    voxels (``sizes[k]`` is the size of label ``k + 1``)."""
    labels, n = ndimage.label(mask, structure=_structure(connectivity))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return labels, sizes


def largest_component(mask: np.ndarray, connectivity: int = 6) -> np.ndarray:
    """The largest connected component of a boolean mask (the first of equal ones; a mask of
    zero or one component is returned as a bool copy)."""
    labels, sizes = label_components(mask, connectivity)
    if sizes.size <= 1:
        return np.asarray(mask, dtype=bool).copy()
    return labels == (1 + int(np.argmax(sizes)))


# --------------------------------------------------------------------------- boxes
def bounding_box(mask: np.ndarray, margin: int | Sequence[int] = 0) -> tuple[slice, ...]:
    """Index box (slices) of the nonzero voxels of `mask`, grown by `margin` voxels (one value,
    or one per axis) and clipped to the array. ValueError for an empty mask."""
    index = np.argwhere(mask)
    if index.size == 0:
        raise ValueError("bounding_box of an empty mask")
    margin = np.broadcast_to(np.asarray(margin, dtype=int), (index.shape[1],))
    lo = np.maximum(index.min(axis=0) - margin, 0)
    hi = np.minimum(index.max(axis=0) + margin + 1, np.shape(mask))
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def box_around(shape: Sequence[int], affine: np.ndarray, centre_mm: Sequence[float] | np.ndarray,
               half_mm: float | Sequence[float]) -> tuple[slice, ...]:
    """Index box (slices) of the world box of half-size `half_mm` (mm, one value or one per
    voxel axis) around `centre_mm`, clipped to the grid (axis-aligned grids: exact cover)."""
    affine = np.asarray(affine, dtype=float)
    centre = np.linalg.solve(affine[:3, :3], np.asarray(centre_mm) - affine[:3, 3])
    half = np.asarray(half_mm, dtype=float) / np.linalg.norm(affine[:3, :3], axis=0)
    low = np.clip(np.floor(centre - half), 0, None).astype(int)
    high = np.minimum(np.ceil(centre + half).astype(int) + 1, shape)
    return tuple(slice(int(lo), int(hi)) for lo, hi in zip(low, high, strict=True))


def fov_bounds(shape: Sequence[int], affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Field of view of a grid: (min corner, max corner) in world mm of the box around every
    voxel edge (voxel centres -0.5 to n - 0.5), in the frame of `affine`."""
    size = np.asarray(shape[:3], dtype=float)
    corners = np.array([[i, j, k, 1.0] for i in (-0.5, size[0] - 0.5)
                        for j in (-0.5, size[1] - 0.5) for k in (-0.5, size[2] - 0.5)])
    world = corners @ np.asarray(affine, dtype=float).T
    return world[:, :3].min(axis=0), world[:, :3].max(axis=0)


def box_overlap_fraction(box_a: tuple[np.ndarray, np.ndarray],
                         box_b: tuple[np.ndarray, np.ndarray]) -> float:
    """Volume shared by two (min corner, max corner) boxes over the volume of the smaller one
    (0 when they do not overlap or one is empty)."""
    (lo_a, hi_a), (lo_b, hi_b) = box_a, box_b
    shared = np.clip(np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b), 0, None).prod()
    smaller = min((hi_a - lo_a).prod(), (hi_b - lo_b).prod())
    return float(shared / smaller) if smaller > 0 else 0.0


def fov_overlap_fraction(shape_a: Sequence[int], affine_a: np.ndarray, shape_b: Sequence[int],
                         affine_b: np.ndarray) -> float:
    """Shared fraction of the smaller field of view of two grids (axis-aligned world boxes)."""
    return box_overlap_fraction(fov_bounds(shape_a, affine_a), fov_bounds(shape_b, affine_b))


__all__ = [
    "FLIP_LPS",
    "FWHM_TO_SIGMA",
    "affine_matrix",
    "apply_affine",
    "bounding_box",
    "box_around",
    "box_overlap_fraction",
    "dilate_mm",
    "distance_inside_mm",
    "erode_mm",
    "fov_bounds",
    "fov_overlap_fraction",
    "fwhm_to_sigma_mm",
    "label_components",
    "largest_component",
    "lps_to_ras_affine",
    "lps_to_ras_matrix",
    "lps_to_ras_points",
    "ras_to_lps_affine",
    "ras_to_lps_matrix",
    "ras_to_lps_points",
    "rigid_matrix",
    "rotation_matrix",
    "voxel_sizes",
    "world_coordinates",
]
