"""Voxel-level dynamic maps, computed for all brain voxels at once (matrix operations).

Maps (NaN outside the brain): ``TTP`` (min, mid-time of each voxel's highest frame), ``slope``
(SUV/h, closed-form least squares over the late window for every voxel as one matrix-vector
product), ``earlylate`` (early-window mean / late-window mean, unitless) and ``TBR_<a>to<b>min``
(window mean / background window mean). Tumour fractions follow Vomacka 2018 (FET: fraction of
voxels with TTP < 20 min, negative slope, TBR > 2); the early-peak threshold is a parameter
(FDOPA default 5.4 min, the IDH cut-off of Ginet 2020 for the tumour TAC).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gliopet.config import package_defaults, window_s
from gliopet.io.timing import FrameTiming
from gliopet.quant._curves import require_dynamic
from gliopet.quant.static import check_mask
from gliopet.quant.tac import SLOPE_WINDOW_S, slope_weights

#: Early-peak TTP threshold (min), from the configuration (``quant.early_peak_min``).
EARLY_PEAK_MIN = package_defaults().quant.early_peak_min

#: Early window (s) of the early/late ratio (FDOPA: around the tumour peak); configuration
#: ``quant.early_window_min``.
EARLY_WINDOW_S = window_s(package_defaults().quant.early_window_min)
#: Late window (s), the static window (configuration ``quant.static_window_min``).
LATE_WINDOW_S = window_s(package_defaults().quant.static_window_min)


@dataclass
class VoxelMaps:
    """Voxel maps (3-D float32, NaN outside the brain) and tumour fractions."""

    maps: dict[str, np.ndarray]
    fractions: dict[str, float] = field(default_factory=dict)


def _window_matrix(timing: FrameTiming, windows: list[tuple[float, float]]) -> np.ndarray:
    return np.stack([timing.window_weights(a, b) for a, b in windows], axis=1)


def window_label(window_s: tuple[float, float]) -> str:
    """BIDS-friendly label of a window in min, e.g. ``10to30min``."""
    return f"{window_s[0] / 60:g}to{window_s[1] / 60:g}min".replace(".", "p")


def voxel_maps(frames: np.ndarray, timing: FrameTiming, brain: np.ndarray,
               background: np.ndarray | None = None, tumour: np.ndarray | None = None, *,
               slope_window_s: tuple[float, float] = SLOPE_WINDOW_S,
               early_window_s: tuple[float, float] = EARLY_WINDOW_S,
               late_window_s: tuple[float, float] = LATE_WINDOW_S,
               tbr_windows_s: list[tuple[float, float]] | None = None,
               early_peak_min: float = EARLY_PEAK_MIN, tbr_threshold: float = 2.0) -> VoxelMaps:
    """TTP, late slope, early/late ratio and TBR maps for every brain voxel (SUV frames).

    ``tbr_windows_s`` defaults to the early and late windows. TBR maps need the background mask.
    Fractions (of tumour voxels, when a tumour mask is given): ``frac_early_peak``
    (TTP < ``early_peak_min``), ``frac_negative_slope`` and ``frac_TBR_gt_2`` (late-window TBR >
    ``tbr_threshold``).
    Raises `InputError` for a static PET (fewer than 3 frames).
    """
    require_dynamic(timing, "voxel TTP/slope maps")
    frames = np.asarray(frames)
    shape = frames.shape[:3]
    brain = check_mask(brain, shape, "brain")
    background = check_mask(background, shape, "background")
    tumour = check_mask(tumour, shape, "tumour")
    windows = tbr_windows_s or [early_window_s, late_window_s]
    data = frames[brain].astype(np.float32, copy=False)  # (n_voxels, n_frames)

    ttp = timing.mid_min.astype(np.float32)[np.argmax(data, axis=1)]
    slope = data @ slope_weights(timing, slope_window_s).astype(np.float32)
    all_windows = [early_window_s, late_window_s, *windows]
    means = data @ _window_matrix(timing, all_windows).astype(np.float32)  # (n_voxels, n_windows)
    with np.errstate(divide="ignore", invalid="ignore"):
        early_late = means[:, 0] / means[:, 1]

    def to_map(values: np.ndarray) -> np.ndarray:
        out = np.full(shape, np.nan, dtype=np.float32)
        out[brain] = values
        return out

    maps = {"TTP": to_map(ttp), "slope": to_map(slope), "earlylate": to_map(early_late)}
    if background is not None:
        bg_means = frames[background].astype(float).mean(axis=0) @ _window_matrix(timing, windows)
        for j, window in enumerate(windows):
            maps[f"TBR_{window_label(window)}"] = to_map(means[:, 2 + j] / np.float32(bg_means[j]))
    fractions: dict[str, float] = {}
    if tumour is not None:
        in_tumour = tumour[brain]
        n = max(int(np.count_nonzero(tumour & brain)), 1)
        fractions["frac_early_peak"] = float(np.count_nonzero(ttp[in_tumour] < early_peak_min)) / n
        fractions["frac_negative_slope"] = float(np.count_nonzero(slope[in_tumour] < 0)) / n
        if background is not None:
            late = f"TBR_{window_label(late_window_s)}"
            if late not in maps:
                bg_late = frames[background].astype(float).mean(axis=0) @ timing.window_weights(
                    *late_window_s
                )
                tbr_late = means[:, 1] / bg_late
            else:
                tbr_late = maps[late][brain]
            fractions["frac_TBR_gt_2"] = (
                float(np.count_nonzero(tbr_late[in_tumour] > tbr_threshold)) / n
            )
    return VoxelMaps(maps, fractions)
