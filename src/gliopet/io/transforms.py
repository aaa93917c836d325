"""Transform files: one writer for every stage, one stated direction convention.

A file ``..._from-A_to-B_mode-image_xfm.txt`` is an ITK transform (SimpleITK `ReadTransform`)
that maps points of B's space to A's space in LPS mm, so that used as a resampling transform it
resamples A onto B's grid (ITK/fMRIPrep; docs/conventions.md, "Transforms and coordinates").
Its JSON sidecar states this and gives the 4 x 4 matrix in LPS and in RAS mm when the transform
is linear.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gliopet.atomic import atomic_path, write_json
from gliopet.spatial import affine_matrix, lps_to_ras_matrix

if TYPE_CHECKING:
    import SimpleITK as sitk

CONVENTION = (
    "ITK/fMRIPrep convention (gliopet docs/conventions.md, 'Transforms and coordinates'): this "
    "transform resamples the 'From' image onto "
    "the 'To' image's grid, i.e. it maps points of the 'To' space (ITK fixed image) to points of "
    "the 'From' space (ITK moving image). The .txt file is in LPS mm (x to the left, y to the "
    "back, z up); MatrixLPS maps LPS mm points of the 'To' space to LPS mm points of the 'From' "
    "space, MatrixRAS does the same in RAS mm (flip the signs of x and y before and after)."
)


def affine_parameters(transform: sitk.Transform) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(matrix, offset) with y = matrix @ x + offset (LPS mm); (None, None) if not linear."""
    probe = np.vstack([np.zeros(3), np.eye(3)])
    try:
        mapped = np.array([transform.TransformPoint(p.tolist()) for p in probe])
    except RuntimeError:
        return None, None
    offset = mapped[0]
    matrix = (mapped[1:] - offset).T
    # Check linearity on a far point (a non-linear transform would not match).
    far = np.array([57.0, -83.0, 41.0])
    if not np.allclose(transform.TransformPoint(far.tolist()), matrix @ far + offset, atol=1e-4):
        return None, None
    return matrix, offset


def write_transform(path: str | Path, transform: sitk.Transform, *, source: str, target: str,
                    extra: dict[str, Any] | None = None) -> Path:
    """Save a SimpleITK transform (ITK text) atomically, with its JSON sidecar; return the path.

    `transform` maps `target` points to `source` points (it resamples `source` onto `target`).
    """
    import SimpleITK as sitk

    path = Path(path)
    with atomic_path(path) as tmp:
        sitk.WriteTransform(transform, str(tmp))
    sidecar: dict[str, Any] = {"From": source, "To": target, "Convention": CONVENTION,
                               "TransformType": transform.GetName(), "Units": "mm"}
    matrix, offset = affine_parameters(transform)
    if matrix is not None:
        lps = affine_matrix(matrix, offset)
        sidecar["MatrixLPS"] = lps.round(10).tolist()
        sidecar["MatrixRAS"] = lps_to_ras_matrix(lps).round(10).tolist()
    if extra:
        sidecar.update(extra)
    write_json(path.with_suffix(".json"), sidecar)
    return path
