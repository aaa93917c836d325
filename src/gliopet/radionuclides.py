"""Radionuclides of PET: half-lives, names, and radioactive decay over a frame.

The one home of physical decay in gliopet: io (SUV, DICOM import and export), simulate (the
phantom's sidecars and noise) and quant (frame weights) all use these functions.

Half-lives
----------
One source: ICRP Publication 107, *Nuclear Decay Data for Dosimetric Calculations* (K. F. Eckerman
and A. Endo, Ann. ICRP 38(3), 2008), index file ``ICRP-07.NDX`` (column 2, half-life with its
unit), read from the copy redistributed in the CRAN package RadData 1.0.2
(``data-raw/ICRP-07.NDX``), accessed 2 December 2026. Values are the ICRP figures converted to
seconds (m x 60, h x 3600, d x 86400); the original figure is given next to each entry.

This table replaced two that disagreed (before December 2026): ``io.suv`` had Ga-68 4057.7 s
(67.629 min, the older DDEP value) and Cu-64 45721.1 s; ``io.dicom.pet`` had Ga-68 4062.6 s,
Cu-64 45720.0 s and O-15 122.2 s. ICRP 107 gives Ga-68 67.71 min = 4062.6 s, Cu-64 12.700 h =
45720.0 s and O-15 122.24 s. F-18 (109.77 min = 6586.2 s) and C-11 (20.39 min = 1223.4 s) were
the same in both and are unchanged.

Decay over a frame
------------------
With ``lambda = ln 2 / T_half``, activity decays as ``A(t) = A(0) exp(-lambda t)``. A frame that
starts at ``t_s`` and lasts ``d`` (s, from the reference time, usually the injection) records the
mean activity over the frame, ``A(0) exp(-lambda t_s) (1 - exp(-lambda d)) / (lambda d)``, so:

* `frame_mean_fraction` = ``(1 - exp(-lambda d)) / (lambda d)``: mean over the frame of an
  activity that is 1 at the frame start (1 for ``d = 0``);
* `frame_decay_factors` = ``exp(lambda t_s) / frame_mean_fraction(d)``: the factor that brings a
  frame's mean activity back to the reference time (decay correction of a frame);
* `decay_weighted_offset_s` = ``-ln(frame_mean_fraction(d)) / lambda``: the time after the frame
  start at which the activity equals the frame mean (what vendors put in ``FrameReferenceTime``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

#: Physical half-lives (s), ICRP Publication 107 (see the module docstring).
HALF_LIFE_S: dict[str, float] = {
    "F18": 6586.2,       # 109.77 m
    "C11": 1223.4,       # 20.39 m
    "O15": 122.24,       # 122.24 s
    "N13": 597.9,        # 9.965 m
    "Ga68": 4062.6,      # 67.71 m
    "Cu64": 45720.0,     # 12.700 h
    "Zr89": 282276.0,    # 78.41 h
    "Rb82": 76.38,       # 1.273 m
    "I124": 360806.4,    # 4.1760 d
    "Sc44": 14292.0,     # 3.97 h
}

#: Element symbols of element names as written in DICOM code meanings (``^18^Fluorine``).
ELEMENT_SYMBOLS: dict[str, str] = {
    "fluorine": "F", "carbon": "C", "gallium": "Ga", "oxygen": "O", "nitrogen": "N",
    "copper": "Cu", "zirconium": "Zr", "rubidium": "Rb", "iodine": "I", "technetium": "Tc",
    "scandium": "Sc",
}

_SEPARATORS = re.compile(r"[\[\]\s^\-_]")


def parse_radionuclide(name: Any) -> str | None:
    """``F18``-style name (element symbol, then mass number) of any radionuclide name.

    Accepts ``F18``, ``18F``, ``[18F]``, ``F-18``, ``^18F``, ``fluorine-18``, ``^18^Fluorine``
    (case-insensitive); the nuclide need not be in `HALF_LIFE_S`. None when not a name of this
    form (metastable states such as ``Tc-99m`` are not recognised).
    """
    if not isinstance(name, str):
        return None
    text = _SEPARATORS.sub("", name)
    match = (re.fullmatch(r"(\d+)([A-Za-z]+)", text)
             or re.fullmatch(r"([A-Za-z]+)(\d+)", text))
    if match is None:
        return None
    first, second = match.groups()
    mass, element = (first, second) if first.isdigit() else (second, first)
    symbol = ELEMENT_SYMBOLS.get(element.lower(), element if len(element) <= 2 else None)
    if symbol is None:
        return None
    return f"{symbol.capitalize()}{int(mass)}"


def normalise_radionuclide(name: Any) -> str | None:
    """Key of `HALF_LIFE_S` (``F18``) for a radionuclide name; None when unknown or not a name."""
    key = parse_radionuclide(name)
    return key if key in HALF_LIFE_S else None


def half_life_s(radionuclide: Any) -> float | None:
    """Half-life (s) of a radionuclide given by any accepted name; None when unknown."""
    key = normalise_radionuclide(radionuclide)
    return None if key is None else HALF_LIFE_S[key]


def radionuclide_from_half_life(half_life: float, tolerance: float = 0.02) -> str | None:
    """The radionuclide of `HALF_LIFE_S` whose half-life is closest to `half_life` (s), if within
    `tolerance` (relative); None otherwise."""
    best = min(HALF_LIFE_S, key=lambda k: abs(HALF_LIFE_S[k] - half_life) / HALF_LIFE_S[k])
    if abs(HALF_LIFE_S[best] - half_life) / HALF_LIFE_S[best] < tolerance:
        return best
    return None


def decay_constant(half_life: float) -> float:
    """Decay constant ``ln 2 / T_half`` (per unit of `half_life`: 1/s for a half-life in s)."""
    return float(np.log(2.0)) / half_life


def remaining_fraction(elapsed_s: np.ndarray | float, half_life: float) -> np.ndarray:
    """Fraction of the activity left after `elapsed_s` (s): ``exp(-lambda t)``."""
    return np.exp(-decay_constant(half_life) * np.asarray(elapsed_s, dtype=float))


def decay_correction(elapsed_s: np.ndarray | float, half_life: float) -> np.ndarray:
    """Factor bringing an activity measured `elapsed_s` (s) after the reference time back to the
    reference time: ``exp(lambda t)`` (decay correction of an instantaneous value)."""
    return np.exp(decay_constant(half_life) * np.asarray(elapsed_s, dtype=float))


def frame_mean_fraction(duration_s: np.ndarray | float, half_life: float) -> np.ndarray:
    """Mean over a frame of `duration_s` (s) of an activity that is 1 at the frame start:
    ``(1 - exp(-lambda d)) / (lambda d)``, 1 for a frame of zero duration."""
    x = decay_constant(half_life) * np.asarray(duration_s, dtype=float)
    # -expm1(-x) = 1 - exp(-x) without cancellation for short frames
    return np.where(x > 0, -np.expm1(-x) / np.where(x > 0, x, 1.0), 1.0)


def frame_decay_factors(start_s: np.ndarray | float, duration_s: np.ndarray | float,
                        half_life: float) -> np.ndarray:
    """Decay correction of frames: the factor that brings each frame's mean activity back to
    time 0 of `start_s` (s), ``exp(lambda t_s) / frame_mean_fraction(d)``.

    `start_s`, `duration_s` in s (same shape, broadcast), `half_life` in s. A frame of zero
    duration gets the instantaneous ``exp(lambda t_s)``.
    """
    return decay_correction(start_s, half_life) / frame_mean_fraction(duration_s, half_life)


def decay_weighted_offset_s(duration_s: np.ndarray | float, half_life: float) -> np.ndarray:
    """Time after the frame start (s) at which a decaying source's activity equals its frame mean.

    ``-ln(frame_mean_fraction(d)) / lambda``, slightly less than ``d / 2``; this is the time
    vendors put in the DICOM ``FrameReferenceTime``.
    """
    return -np.log(frame_mean_fraction(duration_s, half_life)) / decay_constant(half_life)


__all__ = [
    "ELEMENT_SYMBOLS", "HALF_LIFE_S", "decay_constant", "decay_correction",
    "decay_weighted_offset_s", "frame_decay_factors", "frame_mean_fraction", "half_life_s",
    "normalise_radionuclide", "parse_radionuclide", "radionuclide_from_half_life",
    "remaining_fraction",
]
