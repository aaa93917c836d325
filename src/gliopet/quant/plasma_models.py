"""Plasma-input compartment models on VOI TACs, and readers of arterial input data.

Input: a metabolite-corrected arterial plasma curve (parent tracer only), e.g. from a BIDS-PET
``_blood.tsv`` (``plasma_radioactivity`` x ``metabolite_parent_fraction``) or the kinfitr CSV
exports used in the tests. There is deliberately no image-derived input function: for FDOPA the
labelled metabolites (3-O-methyl-FDOPA and others) make an image-derived blood curve an
unreliable estimate of the parent plasma input.

Models (times in min, rates per min, frames averaged exactly over their duration):
- 1TCM: Ct = K1 exp(-k2 t) conv Cp; VT = K1/k2.
- 2TCM (reversible): Ct = K1/(a2-a1) [(k3+k4-a1) exp(-a1 t) + (a2-k3-k4) exp(-a2 t)] conv Cp,
  a1,2 = (k2+k3+k4 -/+ sqrt((k2+k3+k4)^2 - 4 k2 k4))/2; VT = K1/k2 (1 + k3/k4).
- Measured TAC = (1 - vB) Ct + vB Cb (whole blood, or plasma when no whole-blood curve).
- Fits: weighted nonlinear least squares (`scipy.optimize.least_squares`, trust-region
  reflective with bounds), residuals scaled by sqrt(weight); several starting points for 2TCM.
- Plasma-input Logan (Logan 1990): int(Ct)/Ct = VT int(Cp)/Ct + b for t >= t*.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from gliopet.errors import InputError
from gliopet.io.timing import FrameTiming
from gliopet.quant._curves import convolve_exp, cumulative_integral, fine_grid, frame_average
from gliopet.radionuclides import remaining_fraction


@dataclass
class PlasmaInput:
    """Arterial input: parent plasma (metabolite-corrected) and optional whole blood.

    Attributes
    ----------
    time_s : ndarray
        Sample times (s from injection).
    plasma : ndarray
        Metabolite-corrected plasma activity (same units as the tissue TACs, e.g. Bq/mL).
    whole_blood : ndarray or None
        Whole-blood activity at the same times (for the blood-volume term).
    """

    time_s: np.ndarray
    plasma: np.ndarray
    whole_blood: np.ndarray | None = None

    def on_grid(self, grid_min: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(plasma, blood) linearly interpolated on a time grid (min); zero before the first
        sample at time > 0 is reached from (0, 0), last value held after the last sample."""
        t = self.time_s / 60.0
        cp, cb = self.plasma, self.plasma if self.whole_blood is None else self.whole_blood
        if t[0] > 0:
            t, cp, cb = np.r_[0.0, t], np.r_[0.0, cp], np.r_[0.0, cb]
        return np.interp(grid_min, t, cp), np.interp(grid_min, t, cb)


def _read_table(path: Path):
    import pandas as pd

    if not path.is_file():
        raise InputError("file not found", path=path, fix="check the path")
    try:
        return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", na_values=["n/a"])
    except Exception as exc:  # pandas raises several types for unreadable tables
        raise InputError(f"not a readable table ({exc})", path=path, fix="check the file") from None


def read_blood_tsv(path: str | Path, injection_start_s: float = 0.0) -> PlasmaInput:
    """Read a BIDS-PET ``_blood.tsv`` (+ ``.json``) into a metabolite-corrected `PlasmaInput`.

    Needs ``time`` (s from TimeZero) and ``plasma_radioactivity``; the parent fraction
    (``metabolite_parent_fraction``) is linearly interpolated between the samples where it was
    measured, taken as 1 at injection when the first measurement is later, and held after the
    last one. A file without parent fractions is refused (uncorrected plasma would bias VT).
    """
    path = Path(path)
    table = _read_table(path)
    sidecar_path = path.with_suffix("").with_suffix(".json") if path.suffix == ".tsv" else None
    sidecar = {}
    if sidecar_path is not None and sidecar_path.is_file():
        sidecar = json.loads(sidecar_path.read_text())
    for column in ("time", "plasma_radioactivity"):
        if column not in table:
            raise InputError(f"no {column!r} column (columns: {', '.join(table.columns)})",
                             path=path, fix="give a _blood.tsv with time and plasma_radioactivity "
                                            "(BIDS-PET)")
    table = table.dropna(subset=["time", "plasma_radioactivity"]).sort_values("time")
    time_s = table["time"].to_numpy(float) - injection_start_s
    plasma = table["plasma_radioactivity"].to_numpy(float)
    if "metabolite_parent_fraction" in table and table["metabolite_parent_fraction"].notna().any():
        known = table["metabolite_parent_fraction"].notna().to_numpy()
        tk, fk = time_s[known], table["metabolite_parent_fraction"].to_numpy(float)[known]
        if tk[0] > 0:
            tk, fk = np.r_[0.0, tk], np.r_[1.0, fk]
        plasma = plasma * np.interp(time_s, tk, fk)
    else:
        raise InputError("the plasma curve has no metabolite_parent_fraction column", path=path,
                         fix="give a metabolite-corrected plasma input (parent fraction per "
                             "sample)")
    blood = None
    if "whole_blood_radioactivity" in table and table["whole_blood_radioactivity"].notna().all():
        blood = table["whole_blood_radioactivity"].to_numpy(float)
    units = sidecar.get("plasma_radioactivity", {}).get("Units", "")
    if units.lower().startswith("kbq"):
        plasma, blood = plasma * 1000.0, None if blood is None else blood * 1000.0
    return PlasmaInput(time_s, plasma, blood)


@dataclass
class KinfitrScan:
    """One kinfitr PBR28 scan: frame timing, regional TACs, kinfitr's weights and the input."""

    timing: FrameTiming
    tacs: dict[str, np.ndarray]
    weights: np.ndarray
    input: PlasmaInput


def read_kinfitr_csv(tacs_csv: str | Path, blood_csv: str | Path) -> KinfitrScan:
    """Read the kinfitr PBR28 exports (``*_tacs.csv``, ``*_procblood.csv``; times in s).

    Frames of zero duration (kinfitr's leading placeholder) are dropped.
    """
    tacs = _read_table(Path(tacs_csv))
    blood = _read_table(Path(blood_csv))
    for column in ("StartTime", "Duration"):
        if column not in tacs:
            raise InputError(f"no {column!r} column", path=tacs_csv,
                             fix="give a kinfitr *_tacs.csv")
    for column in ("Time", "Cpl_metabcorr"):
        if column not in blood:
            raise InputError(f"no {column!r} column", path=blood_csv,
                             fix="give a kinfitr *_procblood.csv")
    keep = tacs["Duration"].to_numpy(float) > 0
    tacs = tacs[keep]
    timing = FrameTiming(tacs["StartTime"].to_numpy(float), tacs["Duration"].to_numpy(float))
    regions = [c for c in tacs.columns if c not in ("Times", "Weights", "StartTime", "Duration")]
    blood = blood.sort_values("Time")
    inp = PlasmaInput(blood["Time"].to_numpy(float), blood["Cpl_metabcorr"].to_numpy(float),
                      blood["Cbl_dispcorr"].to_numpy(float) if "Cbl_dispcorr" in blood else None)
    weights = tacs["Weights"].to_numpy(float) if "Weights" in tacs else np.ones(timing.n_frames)
    return KinfitrScan(timing, {r: tacs[r].to_numpy(float) for r in regions}, weights, inp)


def frame_weights(timing: FrameTiming, half_life_s: float | None = None) -> np.ndarray:
    """Frame weights proportional to duration x decay (counts of a decay-corrected image).

    w = duration x exp(-ln2 t_mid / T_half), normalised to a maximum of 1; duration only when no
    half-life (s) is given (`gliopet.radionuclides.half_life_s`).
    """
    w = timing.duration_s.astype(float)
    if half_life_s:
        w = w * remaining_fraction(timing.mid_s, half_life_s)
    return w / w.max()


class _Model:
    """Frame-mean predictions of 1TCM/2TCM for one input and one frame schedule."""

    def __init__(self, inp: PlasmaInput, timing: FrameTiming, step_s: float | None = None):
        self.timing = timing
        self.grid = fine_grid(timing, step_s)
        self.dt = self.grid[1] - self.grid[0]
        self.cp, cb = inp.on_grid(self.grid)
        self.cb_frames = frame_average(cb, self.grid, timing)

    def tissue(self, params: np.ndarray, model: str) -> np.ndarray:
        if model == "1TCM":
            k1, k2 = params[:2]
            curve = k1 * convolve_exp(self.cp, k2, self.dt)
        else:
            k1, k2, k3, k4 = params[:4]
            s = k2 + k3 + k4
            root = np.sqrt(max(s * s - 4.0 * k2 * k4, 0.0))
            a1, a2 = (s - root) / 2.0, (s + root) / 2.0
            c1, c2 = convolve_exp(self.cp, np.array([a1, a2]), self.dt)
            if a2 - a1 < 1e-9:
                return frame_average(k1 * c1, self.grid, self.timing)
            curve = k1 / (a2 - a1) * ((k3 + k4 - a1) * c1 + (a2 - k3 - k4) * c2)
        return frame_average(curve, self.grid, self.timing)

    def predict(self, params: np.ndarray, model: str) -> np.ndarray:
        vb = params[-1]
        return (1.0 - vb) * self.tissue(params, model) + vb * self.cb_frames


def fit_compartment(tac: np.ndarray, timing: FrameTiming, inp: PlasmaInput, model: str = "2TCM",
                    weights: np.ndarray | None = None, vb: float | None = None,
                    step_s: float | None = None) -> dict[str, float]:
    """Fit 1TCM or 2TCM to a VOI TAC by weighted nonlinear least squares.

    ``weights`` default to frame durations; ``vb`` fixes the blood volume fraction (fitted in
    [0, 0.2] when None). Returns K1 (mL/cm3/min), k2..k4 (per min), vB, VT (mL/cm3) and the
    weighted residual sum of squares ``wrss``.
    """
    if model not in ("1TCM", "2TCM"):
        raise InputError(f"unknown model {model!r}", fix="use '1TCM' or '2TCM'")
    tac = np.asarray(tac, dtype=float)
    if tac.size != timing.n_frames:
        raise InputError(f"the TAC has {tac.size} values but the timing {timing.n_frames} frames",
                         fix="check the frame schedule")
    w = frame_weights(timing) if weights is None else np.asarray(weights, float)
    sw = np.sqrt(np.clip(w, 0.0, None))
    m = _Model(inp, timing, step_s)
    n_k = 2 if model == "1TCM" else 4
    lower = [1e-5] * n_k + [0.0]
    upper = [5.0, 5.0] + ([2.0, 2.0] if n_k == 4 else []) + [0.2]
    if vb is not None:
        lower[-1], upper[-1] = vb - 1e-12, vb + 1e-12

    def residuals(p: np.ndarray) -> np.ndarray:
        return sw * (m.predict(p, model) - tac)

    scale = max(float(np.max(np.abs(tac))), 1e-12)
    starts = [[0.1, 0.1, 0.05]] if model == "1TCM" else \
        [[0.1, 0.1, 0.05, 0.05, 0.05], [0.2, 0.3, 0.1, 0.02, 0.05], [0.05, 0.05, 0.02, 0.05, 0.03],
         [0.3, 0.8, 0.3, 0.1, 0.05]]
    best = None
    for start in starts:
        x0 = np.clip(np.array(start, float), np.array(lower) + 1e-9, np.array(upper) - 1e-9)
        if vb is not None:
            x0[-1] = vb
        fit = least_squares(residuals, x0, bounds=(lower, upper), x_scale="jac",
                            diff_step=1e-4, max_nfev=2000, ftol=1e-10 * scale, xtol=1e-10)
        if best is None or fit.cost < best.cost:
            best = fit
    p = best.x
    out = {"K1": float(p[0]), "k2": float(p[1]), "vB": float(p[-1]), "wrss": float(2.0 * best.cost)}
    if model == "1TCM":
        out["VT"] = float(p[0] / p[1])
    else:
        out.update(k3=float(p[2]), k4=float(p[3]), VT=float(p[0] / p[1] * (1.0 + p[2] / p[3])))
    return out


def logan_plasma(tac: np.ndarray, timing: FrameTiming, inp: PlasmaInput,
                 t_star_min: float = 30.0, step_s: float | None = None,
                 vb: float | None = None) -> dict[str, float]:
    """Plasma-input Logan plot: VT (mL/cm3, slope) and intercept (min) over frames after t*.

    ``vb``: when given, the TAC is first corrected for the blood volume,
    (TAC - vB Cb) / (1 - vB), with Cb the whole-blood curve averaged over each frame.
    """
    tac = np.asarray(tac, dtype=float)
    if vb is not None:
        model = _Model(inp, timing, step_s)
        tac = (tac - vb * model.cb_frames) / (1.0 - vb)
    late = timing.mid_min >= t_star_min
    if np.count_nonzero(late) < 3:
        raise InputError(f"fewer than 3 frames after t* = {t_star_min:g} min",
                         fix="choose an earlier t* or give a longer acquisition")
    grid = fine_grid(timing, step_s)
    cp, _ = inp.on_grid(grid)
    int_cp_grid = np.concatenate([[0.0], np.cumsum(0.5 * (cp[1:] + cp[:-1]) * (grid[1] - grid[0]))])
    int_cp = np.interp(timing.mid_min, grid, int_cp_grid)
    int_ct = cumulative_integral(tac, timing)
    x = int_cp[late] / tac[late]
    y = int_ct[late] / tac[late]
    slope, intercept = np.polyfit(x, y, 1)
    return {"VT": float(slope), "intercept": float(intercept)}
