"""Body-weight SUV scaling of a BIDS-PET image, with the decay-correction path it took.

Conventions (docs/conventions.md, "Decay correction and SUV"):

- Time zero is the injection. BIDS times (`FrameTimesStart`, `InjectionStart`,
  `ImageDecayCorrectionTime`, `ScanStart`) are in s relative to `TimeZero`; a `FrameTiming`
  holds frame starts in s relative to the injection.
- SUV (body weight) = activity (Bq/mL) x weight (g) / injected activity (Bq), both decay-corrected
  to the same time, the injection. The voxel values of an image are brought to "decay-corrected
  to injection" by per-frame factors (`SUVScaling.frame_decay_factors`), then multiplied by
  `SUVScaling.factor` = weight (g) / dose (Bq) x (Bq/mL per stored unit).

Three decay-correction paths are handled, and the note says which one was taken:

1. ``ImageDecayCorrected`` true and ``ImageDecayCorrectionTime`` = ``InjectionStart``:
   frame factors are 1.
2. decay-corrected to another reference time t_ref: the voxels hold activity at t_ref; the
   constant ``2 ** ((t_ref - t_inj) / T_half)`` brings them to the injection
   (`gliopet.radionuclides.decay_correction`).
3. not decay-corrected: each frame holds the mean activity over the frame, so the factor is the
   frame-integrated one, ``exp(lambda t_s) lambda dt / (1 - exp(-lambda dt))`` (t_s from
   injection; `gliopet.radionuclides.frame_decay_factors`).

Half-lives come from `gliopet.radionuclides` (one cited table).

A `DecayCorrectionFactor` in the sidecar is only used as a cross-check (a warning when it
differs from the computed factor by more than 1 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gliopet.errors import InputError
from gliopet.io.timing import FrameTiming
from gliopet.radionuclides import HALF_LIFE_S, decay_correction, frame_decay_factors, half_life_s

#: Activity units accepted for `InjectedRadioactivityUnits`, in Bq.
ACTIVITY_UNITS_BQ: dict[str, float] = {
    "bq": 1.0, "kbq": 1e3, "mbq": 1e6, "gbq": 1e9,
    "ci": 3.7e10, "mci": 3.7e7, "uci": 3.7e4, "µci": 3.7e4, "μci": 3.7e4,
}

#: Concentration units of the voxels accepted for SUV, in Bq/mL per unit.
CONCENTRATION_UNITS_BQ_PER_ML: dict[str, float] = {
    "bq/ml": 1.0, "kbq/ml": 1e3, "mbq/ml": 1e6, "bq/cc": 1.0, "kbq/cc": 1e3, "mbq/cc": 1e6,
}

#: Relative difference between a sidecar `DecayCorrectionFactor` and the computed factor
#: above which a warning is given.
DECAY_FACTOR_TOLERANCE = 0.01

_TIME_TOLERANCE_S = 1e-3


@dataclass
class SUVScaling:
    """How to turn stored voxel values into SUV (body weight).

    Attributes
    ----------
    factor : float or None
        weight (g) / injected activity (Bq) x (Bq/mL per stored unit, 1 for ``Bq/mL``);
        None when it cannot be computed (see `note`).
    frame_decay_factors : ndarray, shape (n_frames,)
        Per-frame factors that bring the voxels to "decay-corrected to injection".
    note : str
        The path taken (decay correction, units) or why the factor is missing.
    method : str
        ``"corrected-to-injection"``, ``"corrected-to-reference"``, ``"not-corrected"`` or
        ``"unknown"`` (decay correction could not be established).
    problems : list of (level, message)
        Problems of the sidecar found on the way (``"error"`` or ``"warning"``); the missing
        weight is not one of them (it is not a sidecar field).
    """

    factor: float | None
    frame_decay_factors: np.ndarray
    note: str
    method: str = "unknown"
    problems: list[tuple[str, str]] = field(default_factory=list)


def radioactivity_bq(value: float, units: str) -> float:
    """Convert an activity in MBq, kBq, Bq, GBq, mCi or uCi to Bq.

    Raises
    ------
    InputError
        Unknown unit or a value that is not a number.
    """
    key = str(units).strip().lower().replace("micro", "u")
    if key not in ACTIVITY_UNITS_BQ:
        raise InputError(f"InjectedRadioactivityUnits {units!r} is not an activity unit",
                         fix="use MBq (or kBq, Bq, GBq, mCi, uCi)")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"InjectedRadioactivity {value!r} is not a number",
                         fix="give the injected activity as a number, e.g. 185")
    return float(value) * ACTIVITY_UNITS_BQ[key]


def concentration_scale(units: Any) -> float | None:
    """Bq/mL per stored voxel unit (1 for ``Bq/mL``, 1000 for ``kBq/mL``); None if not
    convertible."""
    if not isinstance(units, str):
        return None
    return CONCENTRATION_UNITS_BQ_PER_ML.get(units.strip().lower().replace(" ", ""))


def _number(sidecar: dict[str, Any], key: str) -> float | None:
    value = sidecar.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _dose_bq(sidecar: dict[str, Any], problems: list[tuple[str, str]]) -> float | None:
    value, units = sidecar.get("InjectedRadioactivity"), sidecar.get("InjectedRadioactivityUnits")
    if value is None or units is None:
        return None  # reported as a missing required field by the sidecar check
    try:
        dose = radioactivity_bq(value, units)
    except InputError as exc:
        problems.append(("error", f"{exc.problem} (fix: {exc.fix})"))
        return None
    if dose <= 0:
        problems.append(("error", f"InjectedRadioactivity is {value:g} {units}: the injected "
                                  "activity must be positive (fix: enter the activity measured at "
                                  "injection)"))
        return None
    return dose


def suv_scaling(sidecar: dict[str, Any], weight_kg: float | None, timing: FrameTiming,
                path: str | Path | None = None) -> SUVScaling:
    """SUV (body weight) scaling of a PET image from its BIDS sidecar, body weight and timing.

    Parameters
    ----------
    sidecar : dict
        The BIDS-PET JSON sidecar (`Units`, `InjectedRadioactivity` + units,
        `TracerRadionuclide`, `ImageDecayCorrected`, `ImageDecayCorrectionTime`,
        `InjectionStart`, optional `DecayCorrectionFactor`).
    weight_kg : float or None
        Body weight (kg).
    timing : FrameTiming
        Frame starts (s from injection) and durations (s).
    path : str or Path, optional
        The sidecar's file. Not used in the computation: callers (`validate_dataset`) attach
        the file to the problems returned.

    Returns
    -------
    SUVScaling
        Never raises for bad sidecar values: the factor is None and `problems` says why.
    """
    problems: list[tuple[str, str]] = []
    notes: list[str] = []
    units = sidecar.get("Units")
    scale = concentration_scale(units)
    if units is not None and scale is None:
        problems.append(("error", f"Units {units!r} not convertible to SUV (fix: the image must "
                                  "hold activity concentration in Bq/mL, kBq/mL or MBq/mL; "
                                  "re-export it in Bq/mL)"))
    dose = _dose_bq(sidecar, problems)
    method, factors = _decay_path(sidecar, timing, problems, notes)
    factor = _suv_factor(weight_kg, dose, scale, units, factors is not None, notes)
    return SUVScaling(factor=factor,
                      frame_decay_factors=np.ones(timing.n_frames) if factors is None else factors,
                      note="; ".join(notes), method=method, problems=problems)


def _decay_path(sidecar: dict[str, Any], timing: FrameTiming, problems: list[tuple[str, str]],
                notes: list[str]) -> tuple[str, np.ndarray | None]:
    """(method, per-frame factors to injection or None): which decay-correction path applies."""
    radionuclide = sidecar.get("TracerRadionuclide")
    t_half = half_life_s(radionuclide)
    corrected = sidecar.get("ImageDecayCorrected")
    t_ref = _number(sidecar, "ImageDecayCorrectionTime")
    t_inj = _number(sidecar, "InjectionStart")
    method = "unknown"
    factors: np.ndarray | None = None
    if corrected is not None and not isinstance(corrected, bool):
        problems.append(("error", f"ImageDecayCorrected is {corrected!r}, not true or false "
                                  "(fix: write a JSON boolean, true or false, without quotes)"))
    elif corrected is True and t_ref is not None and t_inj is not None:
        if abs(t_ref - t_inj) <= _TIME_TOLERANCE_S:
            method, factors = "corrected-to-injection", np.ones(timing.n_frames)
            notes.append("image decay-corrected to injection (ImageDecayCorrectionTime = "
                         f"InjectionStart = {t_inj:g} s): frame factors 1")
        elif t_half is not None:
            constant = float(decay_correction(t_ref - t_inj, t_half))
            method, factors = "corrected-to-reference", np.full(timing.n_frames, constant)
            notes.append(f"image decay-corrected to {t_ref - t_inj:g} s after injection: "
                         f"x {constant:.6g} (= 2^(({t_ref:g} - {t_inj:g}) s / {t_half:g} s)) "
                         "to bring it to injection")
    elif corrected is False and t_inj is not None and t_half is not None:
        method = "not-corrected"
        factors = frame_decay_factors(timing.start_s, timing.duration_s, t_half)
        notes.append("image not decay-corrected: frame-integrated decay factors to injection "
                     f"({factors.min():.6g} to {factors.max():.6g})")
    if (factors is None and corrected in (True, False) and t_half is None
            and radionuclide is not None):
        problems.append(("warning", f"TracerRadionuclide {radionuclide!r} is not a known "
                                    "radionuclide, so the decay correction to injection cannot be "
                                    "computed and SUV is unavailable (fix: use one of "
                                    f"{', '.join(HALF_LIFE_S)})"))
        notes.append(f"unknown radionuclide {radionuclide!r}: no half-life")
    if factors is not None:
        _cross_check(sidecar, timing, t_half, t_ref, t_inj, corrected, problems, notes)
    return method, factors


def _suv_factor(weight_kg: float | None, dose: float | None, scale: float | None, units: Any,
                decay_known: bool, notes: list[str]) -> float | None:
    """weight (g) / dose (Bq) x (Bq/mL per stored unit), or None with a note of what is missing."""
    missing = []
    if weight_kg is None or not math.isfinite(weight_kg) or weight_kg <= 0:
        missing.append("body weight (weight column of sessions.tsv or participants.tsv)")
    if dose is None:
        missing.append("injected activity")
    if scale is None:
        missing.append("activity units (Bq/mL)")
    if not decay_known:
        missing.append("decay correction to injection")
    if missing:
        notes.append("no SUV: missing " + ", ".join(missing))
        return None
    factor = weight_kg * 1000.0 / dose * scale
    unit_note = f" x {scale:g} ({units} to Bq/mL)" if scale != 1.0 else ""
    notes.append(f"SUV factor = {weight_kg:g} kg x 1000 g/kg / {dose:.6g} Bq{unit_note} = "
                 f"{factor:.6g}")
    return factor


def _cross_check(sidecar: dict[str, Any], timing: FrameTiming, t_half: float | None,
                 t_ref: float | None, t_inj: float | None, corrected: Any,
                 problems: list[tuple[str, str]], notes: list[str]) -> None:
    """Compare a sidecar `DecayCorrectionFactor` with the one the timing implies."""
    given = sidecar.get("DecayCorrectionFactor")
    if given is None or t_half is None or t_inj is None:
        return
    try:
        given_arr = np.atleast_1d(np.asarray(given, dtype=float))
    except (TypeError, ValueError):
        problems.append(("warning", "DecayCorrectionFactor is not a list of numbers "
                                    "(fix: one factor per frame, or remove the field)"))
        return
    if given_arr.size != timing.n_frames:
        problems.append(("warning", f"DecayCorrectionFactor has {given_arr.size} values for "
                                    f"{timing.n_frames} frames (fix: one factor per frame)"))
        return
    # The factor the scanner applied (corrected image) or would apply (uncorrected image):
    # frame-integrated decay from the reference time (ImageDecayCorrectionTime, or injection).
    reference = t_ref if corrected is True and t_ref is not None else t_inj
    start_from_ref = timing.start_s + t_inj - reference
    expected = frame_decay_factors(start_from_ref, timing.duration_s, t_half)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.abs(given_arr / expected - 1.0)
    worst = int(np.nanargmax(relative)) if np.any(np.isfinite(relative)) else 0
    if not np.all(np.isfinite(relative)) or relative[worst] > DECAY_FACTOR_TOLERANCE:
        problems.append((
            "warning",
            f"DecayCorrectionFactor differs from the factor computed from the {t_half:g} s "
            f"half-life and the frame timing by up to {100 * relative[worst]:.1f} % (frame "
            f"{worst}: given {given_arr[worst]:.6g}, computed {expected[worst]:.6g}); the "
            "computed factor is used (fix: check TracerRadionuclide, FrameTimesStart and "
            "ImageDecayCorrectionTime)",
        ))
        notes.append("DecayCorrectionFactor inconsistent (computed factor used)")
    else:
        notes.append("DecayCorrectionFactor consistent within 1 %")
