"""gliopet.radionuclides: the half-life table, names, and decay over a frame (closed forms)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from gliopet.radionuclides import (
    HALF_LIFE_S,
    decay_constant,
    decay_correction,
    decay_weighted_offset_s,
    frame_decay_factors,
    frame_mean_fraction,
    half_life_s,
    normalise_radionuclide,
    parse_radionuclide,
    radionuclide_from_half_life,
    remaining_fraction,
)

T_F18 = 6586.2  # s, ICRP 107: 109.77 min


def test_icrp107_values():
    # ICRP 107 figures (min, h, d) converted to s
    expected = {"F18": 109.77 * 60, "C11": 20.39 * 60, "O15": 122.24, "N13": 9.965 * 60,
                "Ga68": 4062.6, "Cu64": 12.700 * 3600, "Zr89": 78.41 * 3600,
                "Rb82": 1.273 * 60, "I124": 4.1760 * 86400, "Sc44": 3.97 * 3600}
    assert set(HALF_LIFE_S) == set(expected)
    for key, value in expected.items():
        assert HALF_LIFE_S[key] == pytest.approx(value, rel=1e-12), key
    assert HALF_LIFE_S["F18"] == 6586.2  # the value the project has always used


@pytest.mark.parametrize("alias", ["F18", "18F", "[18F]", "F-18", "f18", "^18F", "fluorine-18",
                                   "Fluorine18", "^18^Fluorine", " 18 F "])
def test_fluorine_aliases(alias):
    assert normalise_radionuclide(alias) == "F18"
    assert half_life_s(alias) == T_F18


def test_other_names():
    assert normalise_radionuclide("[11C]") == "C11"
    assert normalise_radionuclide("68Ga") == "Ga68"
    assert normalise_radionuclide("^64^Copper") == "Cu64"
    assert parse_radionuclide("^99^Technetium") == "Tc99"  # parsed, but not a PET nuclide here
    assert normalise_radionuclide("^99^Technetium") is None
    for bad in ("Tc99m", "FDOPA", "", None, 18, "F"):
        assert normalise_radionuclide(bad) is None, bad
    assert half_life_s("Tc99m") is None and half_life_s(None) is None


def test_nuclide_from_half_life():
    assert radionuclide_from_half_life(6586.2) == "F18"
    assert radionuclide_from_half_life(6600.0) == "F18"       # 0.2 % off
    assert radionuclide_from_half_life(4057.7) == "Ga68"      # the older DDEP figure
    assert radionuclide_from_half_life(3000.0) is None        # nothing within 2 %


def test_decay_constant_and_instantaneous_factors():
    lam = math.log(2) / T_F18
    assert decay_constant(T_F18) == pytest.approx(lam, rel=1e-15)
    assert remaining_fraction(T_F18, T_F18) == pytest.approx(0.5, rel=1e-14)
    assert decay_correction(2 * T_F18, T_F18) == pytest.approx(4.0, rel=1e-14)
    t = np.array([0.0, 600.0, 1800.0])
    np.testing.assert_allclose(remaining_fraction(t, T_F18) * decay_correction(t, T_F18), 1.0,
                               rtol=1e-15)


@pytest.mark.parametrize(("start", "duration"), [(0.0, 10.0), (600.0, 300.0), (1200.0, 1800.0),
                                                 (30.0, 1e-4)])
def test_frame_factor_against_numerical_integration(start, duration):
    """A source of activity a0 at time 0, measured as its mean over the frame, comes back to a0."""
    lam = math.log(2) / T_F18
    a0 = 5000.0
    mean = quad(lambda t: a0 * math.exp(-lam * t), start, start + duration,
                epsabs=0, epsrel=1e-13)[0] / duration
    assert mean * frame_decay_factors(start, duration, T_F18) == pytest.approx(a0, rel=1e-11)
    assert frame_mean_fraction(duration, T_F18) == pytest.approx(
        mean / (a0 * math.exp(-lam * start)), rel=1e-11)


def test_zero_length_frame_is_instantaneous():
    assert frame_mean_fraction(0.0, T_F18) == 1.0
    assert frame_decay_factors(600.0, 0.0, T_F18) == pytest.approx(2 ** (600 / T_F18), rel=1e-14)


def test_decay_weighted_offset():
    """The activity at start + offset equals the frame mean; slightly before the mid-time."""
    lam = math.log(2) / T_F18
    d = 1200.0
    offset = float(decay_weighted_offset_s(d, T_F18))
    mean = quad(lambda t: math.exp(-lam * t), 0.0, d)[0] / d
    assert math.exp(-lam * offset) == pytest.approx(mean, rel=1e-12)
    assert 0.49 * d < offset < 0.5 * d
    np.testing.assert_allclose(decay_weighted_offset_s(np.array([1e-6, 60.0]), T_F18),
                               [0.5e-6, 30.0], rtol=1e-3)
