"""Numerical helpers shared by the kinetic modules: integrals and convolutions of TACs.

Times are in minutes inside the kinetic code (rate constants per min); `FrameTiming` gives s.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from gliopet.errors import InputError
from gliopet.io.timing import FrameTiming


def require_dynamic(timing: FrameTiming, what: str, minimum: int = 3) -> None:
    """Raise `InputError` when the acquisition has too few frames for `what`."""
    if timing.n_frames < minimum:
        raise InputError(
            f"{what} needs a dynamic PET with at least {minimum} frames; "
            f"this image has {timing.n_frames} frame{'s' if timing.n_frames != 1 else ''}",
            fix="give the dynamic (4-D) PET, or compute only the static columns",
        )


def cumulative_integral(values: np.ndarray, timing: FrameTiming) -> np.ndarray:
    """Integral from injection to each frame mid-time of frame-mean values (value x min).

    Written by hand (no library integrates frame means this way): frame means are integrated
    exactly frame by frame (mean x duration), half of the current frame is added, gaps between
    frames use the trapezoid between neighbouring frame means, and the time before the first
    frame a linear ramp from zero at injection. `values` has frames on the last axis.
    """
    values = np.asarray(values, dtype=float)
    dur_min = timing.duration_s / 60.0
    start_min = timing.start_s / 60.0
    end_min = timing.end_s / 60.0
    whole = values * dur_min
    before = np.concatenate(
        [np.zeros(values.shape[:-1] + (1,)), np.cumsum(whole, axis=-1)[..., :-1]], axis=-1
    )
    gaps = np.zeros_like(values)
    if timing.n_frames > 1:
        gap_len = np.clip(start_min[1:] - end_min[:-1], 0.0, None)
        gap_area = 0.5 * (values[..., :-1] + values[..., 1:]) * gap_len
        gaps[..., 1:] = np.cumsum(gap_area, axis=-1)
    ramp = 0.5 * values[..., :1] * max(start_min[0], 0.0)
    return before + gaps + ramp + 0.5 * whole


def fine_grid(timing: FrameTiming, step_s: float | None = None) -> np.ndarray:
    """A uniform time grid (min) from injection to the end of the last frame."""
    if step_s is None:
        step_s = float(np.clip(timing.duration_s.min() / 4.0, 0.25, 5.0))
    n = int(np.ceil(timing.end_s.max() / step_s)) + 1
    return np.arange(n) * (step_s / 60.0)


def interpolate_frames(values: np.ndarray, timing: FrameTiming, grid_min: np.ndarray) -> np.ndarray:
    """Piecewise-linear curve through (0, 0) and the frames' (mid-time, value), on `grid_min`."""
    t = np.concatenate([[0.0], timing.mid_min])
    v = np.concatenate([[0.0], np.asarray(values, dtype=float)])
    return np.interp(grid_min, t, v)


def frame_average(curve: np.ndarray, grid_min: np.ndarray, timing: FrameTiming) -> np.ndarray:
    """Mean of a curve sampled on a uniform grid (min) over each frame (last axis = time)."""
    curve = np.asarray(curve, dtype=float)
    dt = grid_min[1] - grid_min[0]
    cum = np.concatenate(
        [
            np.zeros(curve.shape[:-1] + (1,)),
            np.cumsum(0.5 * (curve[..., 1:] + curve[..., :-1]) * dt, axis=-1),
        ],
        axis=-1,
    )
    start = timing.start_s / 60.0
    end = timing.end_s / 60.0
    lo = np.stack([np.interp(start, grid_min, c) for c in cum.reshape(-1, cum.shape[-1])])
    hi = np.stack([np.interp(end, grid_min, c) for c in cum.reshape(-1, cum.shape[-1])])
    out = (hi - lo) / (end - start)
    return out.reshape(curve.shape[:-1] + (timing.n_frames,))


def convolve_exp(curve: np.ndarray, rates_per_min: np.ndarray | float, dt_min: float) -> np.ndarray:
    """Convolution of a piecewise-linear curve on a uniform grid with exp(-rate t), exactly.

    Written by hand (scipy has no exact piecewise-linear exponential convolution): the recursion
    y[i+1] = exp(-a) y[i] + c0 x[i] + c1 x[i+1], a = rate dt, evaluated with `lfilter`.
    Returns shape (n_rates, n_times) for an array of rates, (n_times,) for a scalar rate.
    """
    scalar = np.ndim(rates_per_min) == 0
    rates = np.atleast_1d(np.asarray(rates_per_min, dtype=float))
    x = np.asarray(curve, dtype=float)
    out = np.empty((rates.size, x.size))
    for i, b in enumerate(rates):  # loop over a few rates, never over voxels
        a = b * dt_min
        if a < 1e-8:  # no decay: running trapezoid integral
            out[i] = np.concatenate([[0.0], np.cumsum(0.5 * (x[1:] + x[:-1]) * dt_min)])
            continue
        ea = np.exp(-a)
        i0 = (1.0 - ea) / b
        i1 = (1.0 - ea * (1.0 + a)) / b**2
        c0 = i1 / dt_min
        c1 = i0 - c0
        y = lfilter([c1, c0], [1.0, -ea], x)
        # y[0] must be 0 (no history before the grid): remove the decaying start-up term
        out[i] = y - c1 * x[0] * ea ** np.arange(x.size)
    return out[0] if scalar else out
