"""Grids, rigid transforms and resampling of the phantom, and transform files (ITK text + JSON).

Conventions (docs/conventions.md, "Transforms and coordinates", as fMRIPrep/ITK):

* Matrices here are 4x4 homogeneous maps of world points in RAS mm unless the name says LPS.
* A transform file ``..._from-A_to-B_mode-image_xfm.txt`` resamples image A onto B's grid: as an
  ITK transform it maps points of B's space (the fixed image) to A's space (the moving image),
  in LPS mm. Its JSON sidecar states the convention and gives the same matrix in RAS and LPS.
* ``RAS = diag(-1, -1, 1) LPS``, so a RAS matrix ``M`` is ``F M F`` in LPS with
  ``F = diag(-1,-1,1,1)`` (`gliopet.spatial.ras_to_lps_matrix`). Rotations, rigid maps and
  point mapping come from `gliopet.spatial`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from gliopet.io.transforms import write_transform as write_transform_file
from gliopet.spatial import (
    lps_to_ras_matrix,
    ras_to_lps_matrix,
    rigid_matrix,
    voxel_sizes,
    world_coordinates,
)


@dataclass(frozen=True)
class Grid:
    """A voxel grid: shape (x, y, z) and its voxel-to-world affine (RAS mm)."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    @classmethod
    def box(cls, voxel_mm: tuple[float, float, float] | float, centre_mm: np.ndarray,
            extent_mm: tuple[float, float, float], max_size: int | None = None) -> Grid:
        """Axis-aligned RAS grid of voxel size `voxel_mm` (mm) covering `extent_mm` around
        `centre_mm`.

        `max_size` caps the number of voxels per axis (the field of view is cropped around the
        centre).
        """
        voxel = np.broadcast_to(np.asarray(voxel_mm, dtype=float), (3,))
        shape = np.ceil(np.asarray(extent_mm, dtype=float) / voxel).astype(int)
        if max_size is not None:
            shape = np.minimum(shape, max_size)
        affine = np.diag([*voxel, 1.0])
        affine[:3, 3] = np.asarray(centre_mm, dtype=float) - voxel * (shape - 1) / 2.0
        return cls(tuple(int(n) for n in shape), affine)

    @property
    def voxel_mm(self) -> tuple[float, float, float]:
        """Voxel edge lengths (mm)."""
        return voxel_sizes(self.affine)

    @property
    def voxel_ml(self) -> float:
        """Voxel volume (mL)."""
        return float(abs(np.linalg.det(self.affine[:3, :3])) / 1000.0)

    def world(self, dtype: type = np.float32) -> np.ndarray:
        """World coordinates (RAS mm) of every voxel centre, shape (*shape, 3)."""
        return world_coordinates(self.shape, self.affine, dtype=dtype)

    def subsample(self, factor: int) -> Grid:
        """Every `factor`-th voxel of this grid (same origin voxel): ``data[::f, ::f, ::f]``."""
        affine = self.affine.copy()
        affine[:3, :3] *= factor
        shape = tuple(int(np.ceil(n / factor)) for n in self.shape)
        return Grid(shape, affine)


def random_rigid(rng: np.random.Generator, max_rotation_deg: float, max_translation_mm: float,
                 centre_mm: np.ndarray | None = None) -> np.ndarray:
    """Random rigid map (RAS): uniform angles in +/- `max_rotation_deg`, translation of norm <=
    `max_translation_mm` (mm)."""
    angles = rng.uniform(-max_rotation_deg, max_rotation_deg, 3)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    translation = direction * rng.uniform(0.0, max_translation_mm)
    return rigid_matrix(angles, translation, centre_mm)


def resample(data: np.ndarray, src: Grid, dst: Grid, *, dst_to_src: np.ndarray | None = None,
             order: int = 1, cval: float = 0.0) -> np.ndarray:
    """Resample `data` (3-D, or 4-D with frames last) from grid `src` onto grid `dst`.

    `dst_to_src` (4x4, RAS mm) maps world points of the destination space to world points of the
    source space (identity when both grids live in the same world). ``order=0`` (nearest) for label
    maps, 1 (linear) for intensities; destination voxels outside the source get `cval`.
    Orders 0 and 1 use SimpleITK's multi-threaded resampler on the voxel-index map (several times
    faster than scipy for the phantom's 4-D frames); higher orders use scipy.ndimage.
    """
    world_map = np.eye(4) if dst_to_src is None else dst_to_src
    matrix = np.linalg.inv(src.affine) @ world_map @ dst.affine
    data = np.asarray(data)
    if order > 1:
        if data.ndim == 4:
            return np.stack([ndimage.affine_transform(data[..., k], matrix, output_shape=dst.shape,
                                                      order=order, mode="constant", cval=cval)
                             for k in range(data.shape[3])], axis=-1)
        return ndimage.affine_transform(data, matrix, output_shape=dst.shape, order=order,
                                        mode="constant", cval=cval)
    import SimpleITK as sitk

    # A C-ordered numpy (x, y, z) array is a SimpleITK image with axes (z, y, x): permute the
    # index map.
    flip = np.eye(3)[::-1]
    transform = sitk.AffineTransform(3)
    transform.SetMatrix((flip @ matrix[:3, :3] @ flip).ravel().tolist())
    transform.SetTranslation((flip @ matrix[:3, 3]).tolist())
    reference = sitk.Image([int(n) for n in dst.shape[::-1]], sitk.sitkUInt8)
    interpolator = sitk.sitkNearestNeighbor if order == 0 else sitk.sitkLinear

    def one(volume: np.ndarray) -> np.ndarray:
        image = sitk.GetImageFromArray(np.ascontiguousarray(volume))
        moved = sitk.Resample(image, reference, transform, interpolator, float(cval),
                              image.GetPixelID())
        return sitk.GetArrayFromImage(moved)

    if data.ndim == 4:
        out = np.empty((*dst.shape, data.shape[3]), dtype=data.dtype)
        for frame in range(data.shape[3]):   # loop over frames, each resampled whole
            out[..., frame] = one(data[..., frame])
        return out
    if data.dtype == bool:
        return one(data.astype(np.uint8)).astype(bool)
    if data.dtype == np.int8:
        if order == 0:
            return one(data.view(np.uint8)).view(np.int8)
        return one(data.astype(np.float32))
    return one(data)


def resample_labels(labels: np.ndarray, src: Grid, dst: Grid, *,
                    dst_to_src: np.ndarray | None = None) -> np.ndarray:
    """Resample a label map by the majority of partial volumes: each label's indicator is
    resampled linearly and every destination voxel takes the label with the largest fraction.

    More faithful to the geometry than nearest-neighbour when the grids differ in voxel size
    and orientation (one loop per label value, each step vectorised over voxels).
    """
    values = np.unique(labels)
    best = np.full(dst.shape, -1.0, dtype=np.float32)
    out = np.zeros(dst.shape, dtype=labels.dtype)
    for value in values:
        fraction = resample((labels == value).astype(np.float32), src, dst, dst_to_src=dst_to_src,
                            order=1, cval=1.0 if value == 0 else 0.0)
        better = fraction > best
        out[better] = value
        best[better] = fraction[better]
    return out


def write_transform(path: str | Path, matrix_ras: np.ndarray, *, from_space: str, to_space: str,
                    description: str = "") -> tuple[Path, Path]:
    """Write a rigid/affine transform given in RAS with the shared writer (`gliopet.io.transforms`).

    `matrix_ras` maps RAS world points of `to_space` to RAS world points of `from_space`
    (it resamples `from_space` images onto `to_space` grids). Returns (txt path, json path).
    """
    import SimpleITK as sitk

    lps = ras_to_lps_matrix(matrix_ras)
    transform = sitk.AffineTransform(3)
    transform.SetMatrix([float(v) for v in lps[:3, :3].ravel()])
    transform.SetTranslation([float(v) for v in lps[:3, 3]])
    path = write_transform_file(path, transform, source=from_space, target=to_space,
                                extra={"Description": description} if description else None)
    return path, path.with_suffix(".json")


def read_transform(path: str | Path) -> np.ndarray:
    """Read an ITK affine/rigid text transform; return its 4x4 matrix in RAS mm."""
    import SimpleITK as sitk

    transform = sitk.ReadTransform(str(path))
    if transform.GetName() == "CompositeTransform":
        transform = sitk.CompositeTransform(transform).GetNthTransform(0)
    if transform.GetName() not in ("AffineTransform", "Euler3DTransform", "VersorRigid3DTransform"):
        raise ValueError(f"{path}: expected an affine or rigid transform, got "
                         f"{transform.GetName()}")
    generic = sitk.AffineTransform(3)
    generic.SetMatrix(transform.GetMatrix())
    generic.SetTranslation(transform.GetTranslation())
    generic.SetCenter(transform.GetCenter())
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(generic.GetMatrix()).reshape(3, 3)
    centre = np.asarray(generic.GetCenter())
    matrix[:3, 3] = np.asarray(generic.GetTranslation()) + centre - matrix[:3, :3] @ centre
    return lps_to_ras_matrix(matrix)


def read_transform_json(path: str | Path) -> np.ndarray:
    """The RAS matrix stored in a transform's JSON sidecar."""
    return np.asarray(json.loads(Path(path).read_text())["MatrixRAS"], dtype=float)
