"""Static quantification: SUVmax/mean/peak, TBR, TSR, BTV of a static SUV image.

Conventions (docs/conventions.md, "Ratios and volumes"; Law 2019 EANM/EANO/RANO/SNMMI guideline):
- SUV (body weight) = activity (Bq/mL, decay-corrected to injection) x weight (g) / dose (Bq).
- SUV frames and the static image (frame-duration-weighted mean of the frames whose mid-time is
  inside the window, configuration ``quant.static_window_min``) come from `gliopet.io.session`
  (`PETImage.suv_frames`, `PETImage.static_image`).
- TBRmax = tumour SUVmax / background SUVmean, TBRmean = tumour SUVmean / background SUVmean,
  TBRpeak = SUVpeak / background SUVmean; TSRmax, TSRmean use the mean SUV of both striata.
- SUVpeak: mean SUV in the 1 mL sphere of highest mean centred on a tumour voxel (the sphere
  may extend beyond the VOI, as in PERCIST); the sphere is the set of voxels whose centres lie
  within the radius of a 1 mL ball, so its volume is close to, not exactly, 1 mL.
- rano_measurable: BTV > 0.5 mL (PET RANO 1.0, Albert 2024).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gliopet.errors import InputError
from gliopet.spatial import bounding_box

#: PET RANO 1.0 measurability threshold (mL).
RANO_MIN_ML = 0.5


def sphere_kernel(voxel_size_mm: tuple[float, float, float], volume_ml: float = 1.0) -> np.ndarray:
    """Boolean kernel: voxels whose centres lie within the radius of a `volume_ml` ball (mm
    grid)."""
    radius = (3.0 * volume_ml * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
    half = [int(np.floor(radius / v)) for v in voxel_size_mm]
    axes = [np.arange(-h, h + 1) * v for h, v in zip(half, voxel_size_mm, strict=True)]
    gx, gy, gz = np.meshgrid(*axes, indexing="ij")
    return gx**2 + gy**2 + gz**2 <= radius**2 + 1e-9


def peak_map(image: np.ndarray, voi: np.ndarray, voxel_size_mm: tuple[float, float, float],
             volume_ml: float = 1.0) -> np.ndarray:
    """Sphere-mean image (same units) at every voxel of the VOI's bounding box, NaN elsewhere.

    The sphere mean at a voxel is the mean over the sphere's voxels lying inside the image
    (convolution with the spherical kernel, normalised by the in-image count at the borders).
    """
    kernel = sphere_kernel(voxel_size_mm, volume_ml).astype(float)
    box = bounding_box(voi, np.array(kernel.shape) // 2)
    sub = np.asarray(image[box], dtype=float)
    sums = ndimage.correlate(sub, kernel, mode="constant", cval=0.0)
    counts = ndimage.correlate(np.ones_like(sub), kernel, mode="constant", cval=0.0)
    out = np.full(image.shape, np.nan)
    out[box] = sums / counts
    return out


def suv_peak(image: np.ndarray, voi: np.ndarray, voxel_size_mm: tuple[float, float, float],
             volume_ml: float = 1.0) -> tuple[float, tuple[int, int, int]]:
    """SUVpeak: highest sphere mean centred on a VOI voxel, and that voxel's index."""
    means = peak_map(image, voi, voxel_size_mm, volume_ml)
    inside = np.where(voi, means, -np.inf)
    flat = int(np.argmax(inside))
    centre = tuple(int(i) for i in np.unravel_index(flat, image.shape))
    return float(inside.flat[flat]), centre  # type: ignore[return-value]


def voxel_volume_ml(voxel_size_mm: tuple[float, float, float]) -> float:
    """Volume of one voxel (mL) from its size (mm)."""
    return float(np.prod(voxel_size_mm)) / 1000.0


def check_mask(mask: np.ndarray | None, shape: tuple[int, ...], name: str, *,
               path: str | None = None, allow_empty: bool = False) -> np.ndarray | None:
    """Check a mask's shape (and that it is not empty); return it as bool."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise InputError(f"the {name} mask has shape {mask.shape} but the PET grid is "
                         f"{tuple(shape)}", path=path,
                         fix=f"resample the {name} mask onto the PET grid")
    mask = mask.astype(bool)
    if not allow_empty and not mask.any():
        raise InputError(f"the {name} mask is empty (no voxel set)", path=path,
                         fix=f"give a {name} mask with at least one voxel on the PET grid")
    return mask


def static_metrics(image: np.ndarray, tumour: np.ndarray, background: np.ndarray,
                   voxel_size_mm: tuple[float, float, float], striatum: np.ndarray | None = None,
                   *, peak_volume_ml: float = 1.0, tumour_path: str | None = None,
                   background_path: str | None = None) -> dict[str, float | bool]:
    """The guideline static columns from a static SUV image and the VOIs.

    Returns SUVmax, SUVmean, SUVpeak (SUV), TBRmax, TBRmean, TBRpeak, TSRmax, TSRmean (ratios;
    NaN without a striatum mask), BTV_mL (tumour VOI volume, mL), background_SUVmean,
    striatum_SUVmean and rano_measurable (BTV > 0.5 mL).
    """
    image = np.asarray(image, dtype=float)
    tumour = check_mask(tumour, image.shape, "tumour", path=tumour_path)
    background = check_mask(background, image.shape, "background", path=background_path)
    striatum = check_mask(striatum, image.shape, "striatum", allow_empty=True)
    overlap = int(np.count_nonzero(tumour & background))
    if overlap:
        raise InputError(f"the background mask overlaps the tumour mask in {overlap} voxels",
                         path=background_path, fix="give a background region outside the tumour")
    values = image[tumour]
    suv_max = float(values.max())
    suv_mean = float(values.mean())
    suv_pk, _ = suv_peak(image, tumour, voxel_size_mm, peak_volume_ml)
    bg = float(image[background].mean())
    if striatum is not None and striatum.any():
        st = float(image[striatum].mean())
    else:
        st = float("nan")
    btv = float(np.count_nonzero(tumour)) * voxel_volume_ml(voxel_size_mm)
    return {
        "SUVmax": suv_max,
        "SUVmean": suv_mean,
        "SUVpeak": suv_pk,
        "TBRmax": suv_max / bg,
        "TBRmean": suv_mean / bg,
        "TBRpeak": suv_pk / bg,
        "TSRmax": suv_max / st,
        "TSRmean": suv_mean / st,
        "BTV_mL": btv,
        "background_SUVmean": bg,
        "striatum_SUVmean": st,
        "rano_measurable": bool(btv > RANO_MIN_ML),
    }
