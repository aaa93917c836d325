"""NIfTI loading at the boundary: one function that checks what every stage relies on.

Images are handled in RAS+ canonical orientation internally (nibabel `as_closest_canonical`).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from numpy.typing import DTypeLike

from gliopet.errors import InputError


def load_nifti(path: str | Path, *, ensure_ndim: tuple[int, ...] | None = None,
               canonical: bool = True, check_size: bool = False) -> nib.Nifti1Image:
    """Open a NIfTI file lazily (voxels are read on first access) and check its header.

    Parameters
    ----------
    path : str or Path
        ``.nii`` or ``.nii.gz`` file.
    ensure_ndim : tuple of int, optional
        Allowed numbers of dimensions, e.g. ``(3,)`` for an anatomical image or ``(3, 4)`` for PET.
    canonical : bool
        Reorient to RAS+ (closest canonical) when True.
    check_size : bool
        Also check that the file holds all the voxel bytes its header declares (reads a
        compressed file through once; `gliopet validate` does this for every image).

    Raises
    ------
    InputError
        Missing file, not a NIfTI, truncated file (size shorter than the header says),
        wrong number of dimensions, or a degenerate affine.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path, fix="check the path and the BIDS file name")
    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises several types for unreadable headers
        raise InputError(f"not a readable NIfTI image ({exc})", path=path,
                         fix="re-export the image as NIfTI-1 (.nii or .nii.gz)") from None
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise InputError(f"not a NIfTI image (read as {type(img).__name__})", path=path,
                         fix="convert it to NIfTI (.nii.gz)")
    if check_size:
        check_complete(path, img)
    if ensure_ndim is not None and img.ndim not in ensure_ndim:
        allowed = " or ".join(f"{n}-D" for n in ensure_ndim)
        raise InputError(f"expected a {allowed} image, got {img.ndim}-D with shape {img.shape}",
                         path=path, fix="check that the right file was given")
    check_affine(img.affine, path)
    if canonical:
        img = nib.as_closest_canonical(img)
    return img


def check_complete(path: Path, img: nib.Nifti1Image) -> None:
    """Raise `InputError` when the file holds fewer voxel bytes than its header declares."""
    header = img.header
    # nibabel resets the loaded header's vox_offset to 0; the proxy keeps the real offset
    offset = int(getattr(img.dataobj, "offset", header.get_data_offset()))
    expected = offset + int(np.prod(img.shape)) * header.get_data_dtype().itemsize
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                size = 0
                while chunk := handle.read(1 << 22):
                    size += len(chunk)
        else:
            size = path.stat().st_size
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"truncated or corrupt compressed file ({exc})", path=path,
                         fix="copy or export the file again") from None
    if size < expected:
        raise InputError(
            f"truncated: {size} bytes of image data where the header needs {expected}",
            path=path, fix="copy or export the file again",
        )


def check_affine(affine: np.ndarray, path: str | Path | None = None) -> None:
    """Raise `InputError` if the voxel-to-world affine is not finite and invertible."""
    affine = np.asarray(affine, dtype=float)
    linear = affine[:3, :3]
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(linear)) < 1e-6:
        raise InputError(
            "degenerate affine (voxel-to-world matrix not invertible: zero voxel size or "
            "missing orientation)",
            path=path,
            fix="fix the qform/sform of the image (e.g. re-convert from DICOM)",
        )


def read_voxels(img: nib.spatialimages.SpatialImage, path: str | Path,
                dtype: DTypeLike = np.float32) -> np.ndarray:
    """Read the voxels of a lazily loaded image, turning a truncated file into `InputError`."""
    try:
        return np.asarray(img.dataobj, dtype=dtype)
    except (EOFError, OSError, ValueError, zlib.error) as exc:
        raise InputError(f"voxel data cannot be read, the file is truncated or corrupt ({exc})",
                         path=path, fix="copy or export the file again") from None


def voxel_volume_ml(img: nib.spatialimages.SpatialImage) -> float:
    """Volume of one voxel in mL (1 mL = 1000 mm^3)."""
    return float(abs(np.linalg.det(img.affine[:3, :3]))) / 1000.0
