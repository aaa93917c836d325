"""Dynamic PET channels on the learning grid: the foundation model's dynamic input.

Written by `gliopet quantify` for a dynamic PET (at least 3 frames) whose preprocessing wrote
the PET-to-T1w and T1w-to-template transforms and the learning-grid static PET (the grid the
channels are resampled onto), one file per channel (`gliopet.io.derivatives.LEARNING_DYNAMIC`,
in the order of ``LEARNING_DYNAMIC_STATS``). Definitions (docs/foundation.md, "Inputs on the
learning grid"), windows from the configuration:

* ``TBRearly``: voxel SUV mean over ``quant.early_window_min`` / background mean over the same
  window (the quantification's TBR map of that window);
* ``TBRlate``: the same over ``quant.static_window_min`` (the static window);
* ``TTPrel``: time to peak (min) / end of the static window (min);
* ``slopeTBR``: late slope over ``quant.slope_window_min`` (SUV/h) / background SUVmean over
  the static window: the slope of the TBR curve, 1/h.

The background is the quantification's (the contralateral crescent, or the healthy-brain region
when there is no tumour). Maps are computed on the PET grid inside the brain mask
(`gliopet.quant.voxelmaps`), set to 0 outside it, then resampled with linear interpolation
through template <- T1w <- PET.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from gliopet.config import Config
from gliopet.io import derivatives as d
from gliopet.io.session import Session
from gliopet.io.timing import FrameTiming
from gliopet.stage import SessionWriter

logger = logging.getLogger("gliopet")


def dynamic_channels(suv: np.ndarray, timing: FrameTiming, brain: np.ndarray,
                     background: np.ndarray, config: Config) -> dict[str, np.ndarray]:
    """The channels of ``LEARNING_DYNAMIC_STATS`` on the PET grid (float32, 0 outside `brain`).

    Parameters
    ----------
    suv : ndarray (x, y, z, frames)
        SUV frames (g/mL).
    timing : FrameTiming
        Frame times (s from injection); at least 3 frames.
    brain, background : ndarray of bool
        Brain mask and the background (reference) region, PET grid; background non-empty.
    config : Config
        Windows: ``quant.early_window_min``, ``quant.static_window_min``,
        ``quant.slope_window_min``.
    """
    from gliopet.quant import voxelmaps

    opts = config.quant
    early = (opts.early_window_min[0] * 60.0, opts.early_window_min[1] * 60.0)
    late = (opts.static_window_min[0] * 60.0, opts.static_window_min[1] * 60.0)
    slope = (opts.slope_window_min[0] * 60.0, opts.slope_window_min[1] * 60.0)
    maps = voxelmaps.voxel_maps(suv, timing, brain, background & brain, slope_window_s=slope,
                                early_window_s=early, late_window_s=late,
                                tbr_windows_s=[early, late]).maps
    background_late = float(suv[background & brain].astype(float).mean(axis=0)
                            @ timing.window_weights(*late))
    channels = {
        "TBRearly": maps[f"TBR_{voxelmaps.window_label(early)}"],
        "TBRlate": maps[f"TBR_{voxelmaps.window_label(late)}"],
        "TTPrel": maps["TTP"] / np.float32(opts.static_window_min[1]),
        "slopeTBR": maps["slope"] / np.float32(background_late),
    }
    return {stat: np.nan_to_num(channels[stat], nan=0.0, posinf=0.0, neginf=0.0)
            .astype(np.float32) for stat in d.LEARNING_DYNAMIC_STATS}


def write_dynamic_channels(root: Path, session: Session, suv: np.ndarray, timing: FrameTiming,
                           affine: np.ndarray, brain: np.ndarray, background: np.ndarray,
                           out: SessionWriter, config: Config) -> bool:
    """Write the dynamic channels on the learning grid; False (nothing written) when the PET has
    fewer than 3 frames, the background is empty or preprocessing's transforms or learning-grid
    PET are missing (outputs of an older preprocessing)."""
    from gliopet.io.nifti import load_nifti
    from gliopet.preprocess import registration as reg

    needed = {"PET-to-T1w transform": d.find_or_none(root, session, d.XFM, from_="pet",
                                                to=d.REFERENCE_SPACE),
              "T1w-to-template transform": d.find_or_none(root, session, d.XFM,
                                                     from_=d.REFERENCE_SPACE,
                                                     to=d.TEMPLATE_SPACE),
              "learning-grid PET": d.find_or_none(root, session, d.LEARNING_PET)}
    missing = [name for name, path in needed.items() if path is None]
    if timing.n_frames < 3 or not (background & brain).any() or missing:
        logger.info("%s: no dynamic channels on the learning grid (%s)", session.key,
                    f"missing {', '.join(missing)}" if missing else "static PET or no background")
        return False
    reference = reg.nifti_to_sitk(load_nifti(needed["learning-grid PET"]))
    chain = reg.compose(reg.read_transform(needed["T1w-to-template transform"]),
                        reg.read_transform(needed["PET-to-T1w transform"]))
    channels = dynamic_channels(suv, timing, brain, background, config)
    for stat, data in channels.items():
        moved, learn_affine = reg.from_sitk(reg.resample(reg.to_sitk(data, affine), reference,
                                                         chain))
        out.image(d.LEARNING_DYNAMIC, moved, learn_affine, stat=stat,
                  sidecar={"Units": CHANNEL_UNITS[stat], "Description": _describe(stat, config)})
    return True


#: Units of each channel (sidecars).
CHANNEL_UNITS = {"TBRearly": "ratio", "TBRlate": "ratio", "TTPrel": "ratio", "slopeTBR": "1/h"}


def _describe(stat: str, config: Config) -> str:
    opts = config.quant
    early, late, slope = opts.early_window_min, opts.static_window_min, opts.slope_window_min
    return {
        "TBRearly": f"SUV mean over {early[0]:g}-{early[1]:g} min / background mean over the "
                    "same window",
        "TBRlate": f"SUV mean over {late[0]:g}-{late[1]:g} min / background mean over the same "
                   "window",
        "TTPrel": f"time to peak (min) / {late[1]:g} min (end of the static window)",
        "slopeTBR": f"late slope over {slope[0]:g}-{slope[1]:g} min (SUV/h) / background SUVmean "
                    f"over {late[0]:g}-{late[1]:g} min",
    }[stat] + "; 0 outside the brain; resampled template <- T1w <- PET (linear)"
