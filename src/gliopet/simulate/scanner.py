"""PET scanner model of the phantom: resolution (PSF) and count-dependent, correlated noise.

- PSF: an isotropic Gaussian of the site's FWHM (mm), converted to a standard deviation in voxels
  per axis (sigma = FWHM / (2 sqrt(2 ln 2)) / voxel size). Edges are reflected, so the total
  activity is conserved exactly.
- Noise: the Turku PET Centre formula (tpcclib ``fvar4tac``; docs/literature.md),
  ``SD(t) = TAC x sqrt(Pc / (TAC x exp(-lambda t) x dt))``, evaluated per voxel and frame: TAC in
  Bq/mL decay-corrected, t the frame mid-time (min), dt the frame duration (s), lambda the F-18
  decay constant. Short frames and late (decayed) frames are noisier. ``Pc`` (site
  `noise_level`) is given for the site's own voxel size; for other voxel sizes it is scaled by
  the voxel volume ratio (fewer counts per smaller voxel). OSEM reconstructions correlate noise
  between neighbouring voxels: white noise is smoothed by a Gaussian of `noise_corr_fwhm_mm` and
  renormalised to unit variance (exactly, from the discrete kernel), then scaled by the SD map.
  Values are not clipped at zero, so the noise is unbiased (the mean image is the noise-free one).
- The held-out configuration (``noise_model="poisson_like"``) draws scaled Poisson counts with the
  same variance instead of Gaussian values (skewed at low counts), then correlates them the same
  way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from gliopet.errors import ParameterError
from gliopet.io.timing import FrameTiming
from gliopet.simulate.kinetics import F18_LAMBDA_PER_MIN
from gliopet.simulate.sites import SiteProfile
from gliopet.spatial import FWHM_TO_SIGMA

#: Fraction of the frame maximum below which the SD is computed as if the activity were this
#: floor: the air around the head is not noise-free in a reconstruction.
NOISE_FLOOR_FRACTION = 0.01


def _voxel_triplet(voxel_mm: float | Sequence[float]) -> np.ndarray:
    vox = np.broadcast_to(np.asarray(voxel_mm, dtype=float), (3,)).copy()
    if not np.all(np.isfinite(vox)) or np.any(vox <= 0):
        raise ParameterError("voxel_mm", tuple(vox.tolist()), "three positive voxel sizes in mm")
    return vox


def fwhm_to_sigma_voxels(fwhm_mm: float, voxel_mm: float | Sequence[float]) -> np.ndarray:
    """Gaussian standard deviation (voxels) per axis for an isotropic FWHM (mm)."""
    return float(fwhm_mm) * FWHM_TO_SIGMA / _voxel_triplet(voxel_mm)


def psf_blur(volume: np.ndarray, voxel_mm: float | Sequence[float], fwhm_mm: float) -> np.ndarray:
    """Blur a 3-D (x, y, z) or 4-D (x, y, z, t) image with the scanner's Gaussian PSF.

    `voxel_mm`: voxel size (mm), a number or one per axis; `fwhm_mm`: isotropic PSF FWHM (mm),
    must be > 0. Frames are blurred independently; total activity is conserved.
    """
    if not (np.isfinite(fwhm_mm) and fwhm_mm > 0):
        raise ParameterError("fwhm_mm", fwhm_mm, "a positive PSF FWHM in mm",
                             fix="use the scanner's effective resolution, typically 4-7 mm")
    volume = np.asarray(volume)
    if volume.ndim not in (3, 4):
        raise ParameterError("volume", f"{volume.ndim}-D array", "a 3-D or 4-D image")
    sigma = list(fwhm_to_sigma_voxels(fwhm_mm, voxel_mm))
    dtype = volume.dtype if np.issubdtype(volume.dtype, np.floating) else np.float64
    if volume.ndim == 3:
        return ndimage.gaussian_filter(volume.astype(dtype, copy=False), sigma, mode="reflect")
    out = np.empty(volume.shape, dtype=dtype)
    for frame in range(volume.shape[3]):  # per frame: bounded memory
        out[..., frame] = ndimage.gaussian_filter(
            volume[..., frame].astype(dtype, copy=False), sigma, mode="reflect"
        )
    return out


def frame_noise_sd(frames: np.ndarray, timing: FrameTiming, site: SiteProfile,
                   voxel_mm: float | Sequence[float] | None = None) -> np.ndarray:
    """SD map (Bq/mL) of the reconstruction noise, same shape as `frames` (x, y, z, t).

    ``SD = sqrt(Pc' x max(TAC, floor) x exp(lambda t_mid) / dt)`` with
    ``Pc' = Pc x V_site / V_voxel`` (V: voxel volume; `voxel_mm` defaults to the site's voxel) and
    floor = `NOISE_FLOOR_FRACTION` x the frame maximum.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[3] != timing.n_frames:
        raise ParameterError("frames", f"array of shape {frames.shape}",
                             f"a 4-D (x, y, z, t) array with {timing.n_frames} frames")
    vox = _voxel_triplet(site.pet_voxel_mm if voxel_mm is None else voxel_mm)
    pc = site.noise_level * site.pet_voxel_mm**3 / float(np.prod(vox))
    decay_boost = np.exp(F18_LAMBDA_PER_MIN * timing.mid_min)  # 1 / exp(-lambda t)
    per_frame = pc * decay_boost / timing.duration_s  # (t,)
    dtype = frames.dtype if np.issubdtype(frames.dtype, np.floating) else np.float64
    # computed in the frames' precision (float32 for the phantom): one 4-D pass, no float64 copy
    floor = (NOISE_FLOOR_FRACTION * frames.reshape(-1, timing.n_frames).max(axis=0)).astype(dtype)
    out = np.maximum(frames.astype(dtype, copy=False), np.maximum(floor, 0.0))
    out *= per_frame.astype(dtype)
    return np.sqrt(out, out=out)


def _unit_correlated_field(
    shape: tuple[int, ...], sigma: np.ndarray, white: np.ndarray
) -> np.ndarray:
    """Smooth a white field (unit variance) with a Gaussian and renormalise to unit variance.

    The variance of smoothed white noise is the sum of the squared kernel weights (separable:
    the product over axes); the discrete kernel is obtained from scipy by filtering a delta,
    and periodic edges keep the field stationary.
    """
    if np.all(sigma <= 0):
        return white
    field = ndimage.gaussian_filter(white, sigma, mode="wrap")
    norm = 1.0
    for s in sigma:
        if s > 0:
            radius = int(4.0 * s + 0.5)
            delta = np.zeros(2 * radius + 1)
            delta[radius] = 1.0
            kernel = ndimage.gaussian_filter1d(delta, s, mode="constant", truncate=4.0)
            norm *= float(np.sum(kernel**2))
    field /= np.sqrt(norm)
    return field


def add_reconstruction_noise(
    frames: np.ndarray,
    timing: FrameTiming,
    voxel_mm: float | Sequence[float],
    site: SiteProfile,
    rng: np.random.Generator,
) -> np.ndarray:
    """Noisy frames (Bq/mL, float32): noise-free `frames` (x, y, z, t) plus correlated noise.

    The SD per voxel and frame is `frame_noise_sd`; the noise is spatially correlated
    (`site.noise_corr_fwhm_mm`) and independent between frames. `site.noise_model` picks
    Gaussian (sites A-C) or scaled-Poisson (held-out) deviations.
    """
    frames = np.asarray(frames, dtype=np.float32)
    sd = frame_noise_sd(frames, timing, site, voxel_mm).astype(np.float32)
    vox = _voxel_triplet(voxel_mm)
    sigma = site.noise_corr_fwhm_mm * FWHM_TO_SIGMA / vox
    out = np.empty_like(frames)
    for frame in range(timing.n_frames):  # per frame: bounded memory
        s = sd[..., frame]
        if site.noise_model == "poisson_like":
            # counts with mean m and variance m, rescaled so that the deviation has SD = s
            tac = frames[..., frame]
            counted = (s > 0) & (tac > 0)
            scale = np.where(counted, s**2 / np.where(counted, tac, 1.0), 1.0)  # Bq/mL per count
            mean_counts = np.where(counted, tac / scale, 0.0)
            dev = (rng.poisson(mean_counts) - mean_counts) * scale
            white = np.where(counted, dev / np.where(counted, s, 1.0),
                             rng.standard_normal(s.shape)).astype(np.float32)
        elif site.noise_model == "correlated_gaussian":
            white = rng.standard_normal(s.shape, dtype=np.float32)
        else:
            raise ParameterError(
                "site.noise_model", site.noise_model, "'correlated_gaussian' or 'poisson_like'"
            )
        field = _unit_correlated_field(s.shape, sigma, white)
        out[..., frame] = frames[..., frame] + s * field
    return out
