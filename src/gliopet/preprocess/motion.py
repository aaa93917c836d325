"""Dynamic PET motion correction: rigid frame-to-reference registration.

Rule (stated once, used everywhere):

* **Reference**: the frame-duration-weighted mean of the late frames, those whose mid-time is
  at or after `reference_start_s` (default 600 s); when no frame is that late, the last frame.
* **Reliable frames** start at or after `motion_start_s` (default 120 s): after the first two
  minutes an FDOPA frame has enough counts and a brain-like distribution. Each reliable frame is
  smoothed (Gaussian, `fwhm_mm`, default 8 mm, times sqrt(reference frame duration / frame
  duration), at most 2 x, so short noisy frames are smoothed more) and registered rigidly to
  the smoothed reference (Mattes MI, seeded), the metric computed over the head without its
  hot regions (`metric_mask`: tumour and striatum change contrast over the scan).
* **Early frames** (before `motion_start_s`: blood pool, few counts) are not registered; they get
  the transform of the nearest reliable frame in time (the first one).

Motion per frame is reported as the mean displacement (mm) of the head-mask points under the
frame's transform (and its change from the previous frame); frames above `threshold_mm` are
flagged and logged as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import SimpleITK as sitk

from gliopet.io.timing import FrameTiming
from gliopet.preprocess.registration import (
    mask_points,
    register,
    resample,
    smooth,
    to_sitk,
    transform_points,
)
from gliopet.progress import logger
from gliopet.spatial import dilate_mm, largest_component

#: Largest factor applied to `fwhm_mm` for short frames (see `motion_correct`).
BOOST_CAP = 2.0
#: Hot regions left out of the registration metric (`metric_mask`): above this x the head median
#: of the reference, grown by this margin (mm).
HOT_FACTOR = 1.6
HOT_MARGIN_MM = 4.0


@dataclass
class MotionResult:
    """Outcome of `motion_correct`.

    Attributes
    ----------
    corrected : ndarray (x, y, z, frame)
        Frames resampled onto the reference position (same units as the input, e.g. Bq/mL).
    reference : ndarray (x, y, z)
        The reference image (duration-weighted mean of the late frames, uncorrected).
    transforms : list of sitk.Transform
        Per frame: maps reference points to frame points (from-frame_to-reference).
    table : pandas.DataFrame
        One row per frame (timing, rule applied, Euler parameters, displacement in mm).
    max_displacement_mm : float
    n_flagged : int
        Frames whose displacement exceeds the threshold.
    """

    corrected: np.ndarray
    reference: np.ndarray
    transforms: list[sitk.Transform]
    table: pd.DataFrame
    max_displacement_mm: float
    n_flagged: int


def head_mask_from_pet(image: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """Head/brain mask of a PET image: voxels above `fraction` of the robust maximum, filled.

    The robust maximum (99.5th percentile) sits in the striatum or a PET-avid tumour, so 0.1 of
    it keeps the scalp and the brain edge, which anchor the registration of early frames.

    Keeps the largest connected component (`gliopet.spatial`) and fills holes (scipy.ndimage).
    """
    from scipy import ndimage

    data = np.nan_to_num(np.asarray(image, dtype=np.float32))
    top = np.percentile(data[data > 0], 99.5) if np.any(data > 0) else 0.0
    return ndimage.binary_fill_holes(largest_component(data > fraction * top))


def metric_mask(reference: np.ndarray, head: np.ndarray, affine: np.ndarray,
                hot_factor: float = HOT_FACTOR, margin_mm: float = HOT_MARGIN_MM) -> np.ndarray:
    """The head mask without the hot regions of the reference (voxels above `hot_factor` x the
    head median, grown by `margin_mm`): the registration metric is computed there.

    A PET-avid tumour and the striatum change contrast over the scan (an early peak and washout,
    a slow rise), so in early frames they pull the registration towards a wrong match; on the
    phantom a bright early-peaking tumour biased 2-6 min frames by 1-2 mm. The rest of the head
    keeps its shape over time. Falls back to the whole head when less than half would remain.
    """
    data = np.nan_to_num(np.asarray(reference, dtype=np.float32))
    hot = head & (data > hot_factor * float(np.median(data[head]))) if head.any() else head
    voxel_mm = np.sqrt((np.asarray(affine, dtype=float)[:3, :3] ** 2).sum(axis=0))
    keep = head & ~dilate_mm(hot, margin_mm, voxel_mm)
    return keep if keep.sum() >= 0.5 * head.sum() else head


def reference_weights(timing: FrameTiming, reference_start_s: float = 600.0) -> np.ndarray:
    """Frame weights (sum 1) of the motion reference: late frames, proportional to duration."""
    late = timing.mid_s >= reference_start_s
    if not late.any():
        late = np.zeros(timing.n_frames, dtype=bool)
        late[-1] = True
    weights = np.where(late, timing.duration_s, 0.0)
    return weights / weights.sum()


def motion_correct(
    frames: np.ndarray,
    affine: np.ndarray,
    timing: FrameTiming,
    *,
    motion_start_s: float = 120.0,
    reference_start_s: float = 600.0,
    fwhm_mm: float = 8.0,
    threshold_mm: float = 2.0,
    seed: int,
    iterations: int = 100,
    mask: np.ndarray | None = None,
) -> MotionResult:
    """Rigidly realign the frames of a dynamic PET to the late-frame reference.

    Parameters
    ----------
    frames : ndarray (x, y, z, frame)
        Activity (Bq/mL or SUV), RAS canonical grid.
    affine : ndarray (4, 4)
        RAS voxel-to-world affine (mm).
    timing : FrameTiming
        Frame start and duration (s from injection).
    motion_start_s, reference_start_s : float
        See the module docstring (s from injection).
    fwhm_mm : float
        Gaussian smoothing applied to frame and reference before registration.
    threshold_mm : float
        Frames with a mean displacement above this are flagged (warning).
    mask : ndarray, optional
        Head mask on the PET grid for the metric and the displacement; default from the
        reference (`head_mask_from_pet`).
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim == 3:
        frames = frames[..., np.newaxis]
    n = frames.shape[-1]
    if n != timing.n_frames:
        raise ValueError(f"{n} frames but timing for {timing.n_frames}")
    weights = reference_weights(timing, reference_start_s)
    reference = np.tensordot(frames, weights.astype(np.float32), axes=([3], [0]))
    if mask is None:
        mask = head_mask_from_pet(reference)
    ref_img = to_sitk(reference, affine)
    ref_smooth = smooth(ref_img, fwhm_mm)
    mask_img = to_sitk(metric_mask(reference, mask, affine).astype(np.float32), affine)
    points = mask_points(mask, affine, seed=seed)

    reliable = np.flatnonzero(timing.start_s >= motion_start_s - 1e-6)
    if reliable.size == 0:
        reliable = np.array([n - 1])
    transforms, registered = _register_reliable(frames, affine, timing, weights, reliable,
                                                ref_smooth, mask_img, fwhm_mm, iterations, seed)
    source = _borrow_nearest(transforms, reliable, timing)

    table = _motion_table(transforms, points, timing, registered, source, threshold_mm)
    corrected = np.empty_like(frames)
    for index, transform in enumerate(transforms):
        corrected[..., index] = _resample_frame(frames[..., index], affine, ref_img, transform)
    flagged = int(table["above_threshold"].sum())
    if flagged:
        logger.warning("PET motion above %.1f mm in %d frame(s) (max %.1f mm)", threshold_mm,
                       flagged, table["displacement_mm"].max())
    return MotionResult(corrected=corrected, reference=reference, transforms=transforms,
                        table=table, max_displacement_mm=float(table["displacement_mm"].max()),
                        n_flagged=flagged)


def _register_reliable(frames: np.ndarray, affine: np.ndarray, timing: FrameTiming,
                       weights: np.ndarray, reliable: np.ndarray, ref_smooth: sitk.Image,
                       mask_img: sitk.Image, fwhm_mm: float, iterations: int,
                       seed: int) -> tuple[list[sitk.Transform | None], np.ndarray]:
    """Register each reliable frame to the smoothed reference; None for the other frames.

    Returns the per-frame transforms and which frames were registered.
    """
    n = frames.shape[-1]
    # Shorter (noisier) frames are smoothed more: FWHM x sqrt(typical reference frame duration /
    # frame duration), at most x BOOST_CAP (counts scale with duration; noise SD with its
    # square root).
    typical = float(np.median(timing.duration_s[weights > 0]))
    boost = np.clip(np.sqrt(typical / timing.duration_s), 1.0, BOOST_CAP)
    identity = sitk.Euler3DTransform()
    transforms: list[sitk.Transform | None] = [None] * n
    registered = np.zeros(n, dtype=bool)
    for index in reliable:
        if weights[index] > 0.999:  # the reference is this frame alone
            transforms[index] = sitk.Euler3DTransform(identity)
            registered[index] = True
            continue
        moving = smooth(to_sitk(frames[..., index], affine), fwhm_mm * boost[index])
        result = register(ref_smooth, moving, kind="rigid", initializer="none",
                          fixed_mask=mask_img, shrink_factors=(2, 1),
                          smoothing_sigmas_mm=(2.0, 0.0), iterations=iterations,
                          sampling_percentage=0.25, seed=seed, learning_rate=1.0)
        transforms[index] = result.transform
        registered[index] = True
    return transforms, registered


def _borrow_nearest(transforms: list[sitk.Transform | None], reliable: np.ndarray,
                    timing: FrameTiming) -> np.ndarray:
    """Give each unregistered (early) frame the transform of the nearest reliable frame in time.

    Fills `transforms` in place; returns, per frame, the frame whose transform it uses.
    """
    source = np.arange(len(transforms))
    for index in range(len(transforms)):
        if transforms[index] is None:  # early frame: nearest reliable frame in time
            nearest = reliable[np.argmin(np.abs(timing.mid_s[reliable] - timing.mid_s[index]))]
            transforms[index] = transforms[nearest]
            source[index] = nearest
    return source


def _motion_table(transforms: list[sitk.Transform], points: np.ndarray, timing: FrameTiming,
                  registered: np.ndarray, source: np.ndarray,
                  threshold_mm: float) -> pd.DataFrame:
    """One row per frame: timing, rule applied, Euler parameters, mean displacement of the
    head-mask `points` (mm) from the reference and from the previous frame."""
    rows = []
    previous = points
    for index, transform in enumerate(transforms):
        moved = transform_points(transform, points)
        displacement = float(np.linalg.norm(moved - points, axis=1).mean())
        rows.append({
            "frame": index, "start_s": timing.start_s[index],
            "duration_s": timing.duration_s[index], "mid_s": timing.mid_s[index],
            "registered": bool(registered[index]), "transform_from_frame": int(source[index]),
            **_euler_columns(transform),
            "displacement_mm": displacement,
            "framewise_displacement_mm": float(np.linalg.norm(moved - previous, axis=1).mean()),
            "above_threshold": displacement > threshold_mm,
        })
        previous = moved
    return pd.DataFrame(rows)


def _euler_columns(transform: sitk.Transform) -> dict[str, float]:
    """Euler angles (rad), translation and centre (LPS mm) of a rigid transform (table columns)."""
    euler = sitk.Euler3DTransform()
    euler.SetCenter(transform.GetCenter() if hasattr(transform, "GetCenter") else (0, 0, 0))
    euler.SetMatrix(transform.GetMatrix(), 1e-3)
    euler.SetTranslation(transform.GetTranslation())
    rx, ry, rz, tx, ty, tz = euler.GetParameters()
    cx, cy, cz = euler.GetCenter()
    return {"rot_x_rad": rx, "rot_y_rad": ry, "rot_z_rad": rz,
            "trans_x_mm": tx, "trans_y_mm": ty, "trans_z_mm": tz,
            "center_x_mm": cx, "center_y_mm": cy, "center_z_mm": cz}


def _resample_frame(frame: np.ndarray, affine: np.ndarray, reference: sitk.Image,
                    transform: sitk.Transform) -> np.ndarray:
    from gliopet.preprocess.registration import from_sitk

    return from_sitk(resample(to_sitk(frame, affine), reference, transform))[0]
