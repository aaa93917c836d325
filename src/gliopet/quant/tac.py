"""Time-activity curves (TACs) of VOIs and their dynamic features.

Conventions (docs/conventions.md, "Dynamic features"): time zero is the injection; TTP is the
mid-time (min) of the frame with the highest value; the late slope is the least-squares line
through the frame values against frame mid-time inside the window (FDOPA default 10-30 min), in
SUV/h.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gliopet.config import package_defaults, window_s
from gliopet.errors import InputError
from gliopet.io.timing import FrameTiming

if TYPE_CHECKING:
    import pandas as pd

#: Default late-slope window (s from injection): configuration ``quant.slope_window_min``.
SLOPE_WINDOW_S = window_s(package_defaults().quant.slope_window_min)
#: Note given for a static (single-frame) PET.
STATIC_NOTE = "static PET (1 frame): dynamic features (TTP, slope and their ratios) not computed"


def voi_tac(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of each frame inside the mask (frames on the last axis; same units, e.g. SUV)."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[..., np.newaxis]
    mask = np.asarray(mask, bool)
    if mask.shape != frames.shape[:3]:
        raise InputError(f"mask shape {mask.shape} differs from the PET grid {frames.shape[:3]}",
                         fix="resample the mask onto the PET grid")
    if not mask.any():
        raise InputError("the mask is empty: no TAC can be computed", fix="give a non-empty VOI")
    return frames[mask].astype(float).mean(axis=0)


def ttp_min(tac: np.ndarray, timing: FrameTiming) -> float:
    """Time to peak (min): mid-time of the frame with the highest value."""
    return float(timing.mid_min[int(np.argmax(tac))])


def slope_weights(
    timing: FrameTiming, window_s: tuple[float, float] = SLOPE_WINDOW_S
) -> np.ndarray:
    """Weights w such that ``values @ w`` is the least-squares slope (per h) over the window.

    Closed form: slope = sum((t - mean t) y) / sum((t - mean t)^2) over frames whose mid-time is
    inside the window; frames outside get weight 0. All zeros (and a NaN slope) when fewer than
    two frames fall in the window.
    """
    t_h = timing.mid_s / 3600.0
    inside = (timing.mid_s >= window_s[0]) & (timing.mid_s <= window_s[1])
    w = np.zeros(timing.n_frames)
    if np.count_nonzero(inside) < 2:
        return w * np.nan
    tc = t_h[inside] - t_h[inside].mean()
    w[inside] = tc / np.sum(tc**2)
    return w


def late_slope(tac: np.ndarray, timing: FrameTiming,
               window_s: tuple[float, float] = SLOPE_WINDOW_S) -> float:
    """Late slope (value units per h, SUV/h for an SUV TAC) of a TAC over the window (s)."""
    return float(np.asarray(tac, dtype=float) @ slope_weights(timing, window_s))


def voi_dynamics(frames: np.ndarray, timing: FrameTiming, tumour: np.ndarray,
                 striatum: np.ndarray | None = None,
                 slope_window_s: tuple[float, float] = SLOPE_WINDOW_S) -> dict[str, float | str]:
    """VOI-level dynamic columns: TTP_min, slope_SUV_per_h and tumour/striatum ratios.

    ``TTP_ratio`` = tumour TTP / striatum TTP, ``slope_ratio`` = tumour slope / striatum slope.
    For a static PET (one frame) every value is NaN and ``dynamic_note`` says why (the static
    columns are computed elsewhere and are unaffected).
    """
    out: dict[str, float | str] = {
        "TTP_min": np.nan, "slope_SUV_per_h": np.nan, "striatum_TTP_min": np.nan,
        "striatum_slope_SUV_per_h": np.nan, "TTP_ratio": np.nan, "slope_ratio": np.nan,
        "dynamic_note": "",
    }
    if timing.n_frames < 2:
        out["dynamic_note"] = STATIC_NOTE
        return out
    tac = voi_tac(frames, tumour)
    out["TTP_min"] = ttp_min(tac, timing)
    out["slope_SUV_per_h"] = late_slope(tac, timing, slope_window_s)
    if striatum is not None and np.any(striatum):
        st = voi_tac(frames, striatum)
        out["striatum_TTP_min"] = ttp_min(st, timing)
        out["striatum_slope_SUV_per_h"] = late_slope(st, timing, slope_window_s)
        out["TTP_ratio"] = out["TTP_min"] / out["striatum_TTP_min"]
        s = out["striatum_slope_SUV_per_h"]
        out["slope_ratio"] = out["slope_SUV_per_h"] / s if s != 0 else np.nan
    if not np.isfinite(out["slope_SUV_per_h"]):
        out["dynamic_note"] = "fewer than two frames inside the slope window: slope not computed"
    return out


def tac_table(frames: np.ndarray, timing: FrameTiming,
              masks: dict[str, np.ndarray]) -> pd.DataFrame:
    """TACs of several VOIs as a DataFrame: ``frame_start_s``, ``frame_duration_s``,
    ``mid_time_min`` and one column (SUV) per non-empty mask name."""
    import pandas as pd

    table = pd.DataFrame({
        "frame_start_s": timing.start_s, "frame_duration_s": timing.duration_s,
        "mid_time_min": timing.mid_min,
    })
    for name, mask in masks.items():
        if mask is not None and np.any(mask):
            table[name] = voi_tac(frames, mask)
    return table
