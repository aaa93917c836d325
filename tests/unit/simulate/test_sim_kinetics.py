"""Phantom kinetics: the closed-form frame means equal the ODE solution of the 2-tissue model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from gliopet.errors import ParameterError
from gliopet.io.timing import FrameTiming
from gliopet.simulate.kinetics import (
    CALIBRATION_GREY,
    F18_HALF_LIFE_MIN,
    GREY_SUV_TARGET,
    KineticParams,
    frame_means,
    input_function,
    solve_reference,
    time_to_peak_min,
)
from gliopet.simulate.sites import SITES

DOSE_BQ, WEIGHT_KG = 185e6, 70.0
SUV_FACTOR = WEIGHT_KG * 1000.0 / DOSE_BQ  # g / Bq

CASES = {
    "grey (small k3, k4 = 0)": KineticParams(0.045, 0.06, 0.004, 0.0, 0.04),
    "striatum (trapping, small k4)": KineticParams(0.06, 0.06, 0.06, 0.004, 0.04),
    "one tissue (k3 = 0)": KineticParams(0.06, 0.05, 0.0, 0.0, 0.0),
    "k3 = 0, k2 = k4": KineticParams(0.1, 0.1, 0.0, 0.1, 0.1),
    "fast washout, blood": KineticParams(0.15, 0.35, 0.01, 0.0, 0.08),
    "k2 equal to the bolus rate": KineticParams(0.1, 4.1339, 0.0, 0.0, 0.0),
    "k2 equal to the slow input rate": KineticParams(0.05, 0.0104, 0.0, 0.0, 0.0),
    "k2 = 0: pure accumulation": KineticParams(0.05, 0.0, 0.0, 0.0, 0.02),
    "blood only": KineticParams(0.0, 0.1, 0.0, 0.0, 1.0),
}


@pytest.fixture(scope="module")
def inp():
    return input_function(DOSE_BQ, WEIGHT_KG)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("site", ["siteA", "heldout"])
def test_frame_means_equal_the_ode_solution(name, site, inp):
    timing = SITES[site].frame_timing()
    params = CASES[name]
    inp_site = inp if site == "siteA" else input_function(DOSE_BQ, WEIGHT_KG, variant="heldout")
    fast = frame_means(params, timing, inp_site)
    ref = solve_reference(params, timing, inp_site)
    assert fast.shape == (timing.n_frames,)
    # Contract: within 0.5 % of the peak; the closed form is in fact exact to ~1e-9.
    assert np.max(np.abs(fast - ref)) <= 0.005 * ref.max()
    assert np.max(np.abs(fast - ref)) <= 1e-6 * ref.max()


def test_frame_means_with_gaps_and_unsorted_frames(inp):
    timing = FrameTiming(np.array([600.0, 0.0, 1200.0, 30.0]), np.array([300.0, 20.0, 60.0, 90.0]))
    params = CASES["striatum (trapping, small k4)"]
    np.testing.assert_allclose(
        frame_means(params, timing, inp), solve_reference(params, timing, inp), rtol=1e-7
    )


def test_vectorised_over_voxels_equals_one_at_a_time(inp):
    timing = SITES["siteB"].frame_timing()
    rng = np.random.default_rng(3)
    shape = (4, 5, 3)
    params = KineticParams(
        rng.uniform(0.01, 0.2, shape),
        rng.uniform(0.01, 0.6, shape),
        rng.uniform(0.0, 0.08, shape),
        rng.choice([0.0, 0.003, 0.02], shape),
        0.05,
    )
    out = frame_means(params, timing, inp, chunk=7)  # several chunks
    assert out.shape == (*shape, timing.n_frames)
    assert frame_means(params, timing, inp, dtype=np.float32).dtype == np.float32
    K1, k2, k3, k4, vB = params.arrays()
    for idx in [(0, 0, 0), (3, 4, 2), (2, 1, 1)]:
        one = frame_means(KineticParams(K1[idx], k2[idx], k3[idx], k4[idx], vB[idx]), timing, inp)
        np.testing.assert_allclose(out[idx], one, rtol=1e-12)
    ref = solve_reference(
        KineticParams(K1[1, 2, 0], k2[1, 2, 0], k3[1, 2, 0], k4[1, 2, 0], 0.05), timing, inp
    )
    np.testing.assert_allclose(out[1, 2, 0], ref, rtol=1e-6, atol=1e-9 * ref.max())


def test_decay_convention_values_are_decay_corrected_to_injection(inp):
    # vB = 1: the frame mean is the plain time average of the whole-blood curve, with no decay
    # factor.
    timing = FrameTiming(np.array([0.0, 600.0, 1500.0]), np.array([60.0, 300.0, 300.0]))
    out = frame_means(KineticParams(0.0, 0.1, 0.0, 0.0, 1.0), timing, inp)
    expected = [quad(inp.blood, s / 60, (s + d) / 60, limit=200)[0] / (d / 60)
                for s, d in zip(timing.start_s, timing.duration_s, strict=True)]
    np.testing.assert_allclose(out, expected, rtol=1e-9)
    assert F18_HALF_LIFE_MIN == pytest.approx(109.77)


def test_input_function_scale_and_calibration(inp):
    # Calibration: mean-subject healthy grey matter has SUV GREY_SUV_TARGET over 10-30 min.
    window = FrameTiming(np.array([600.0]), np.array([1200.0]))
    grey = frame_means(CALIBRATION_GREY, window, inp)[0] * SUV_FACTOR
    assert grey == pytest.approx(GREY_SUV_TARGET, rel=1e-9)
    # Bq/mL scale with dose / weight: twice the dose gives twice the activity.
    double = input_function(2 * DOSE_BQ, WEIGHT_KG)
    t = np.linspace(0.1, 30, 50)
    np.testing.assert_allclose(double.plasma(t), 2 * inp.plasma(t), rtol=1e-12)
    # Feng shape: zero before injection, early bolus peak (< 1 min), positive tail.
    assert inp.plasma(-1.0) == 0.0 and inp.plasma(0.0) == 0.0
    fine = np.linspace(0.0, 30, 3001)
    assert fine[np.argmax(inp.plasma(fine))] < 1.0
    assert np.all(inp.plasma(fine[1:]) > 0)
    # Blood contains metabolites on top of the parent tracer.
    assert np.all(inp.blood(fine[100:]) > inp.plasma(fine[100:]))


def test_input_function_subject_variation_is_seeded():
    a = input_function(DOSE_BQ, WEIGHT_KG, np.random.default_rng(11))
    b = input_function(DOSE_BQ, WEIGHT_KG, np.random.default_rng(11))
    c = input_function(DOSE_BQ, WEIGHT_KG, np.random.default_rng(12))
    assert a == b
    assert a != c
    held = input_function(DOSE_BQ, WEIGHT_KG, variant="heldout")
    t = np.linspace(0, 5, 501)
    assert t[np.argmax(held.plasma(t))] > t[np.argmax(input_function(DOSE_BQ, WEIGHT_KG).plasma(t))]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(dose_bq=-1.0, weight_kg=70.0),
            "the 'dose_bq' parameter must be a positive injected activity in Bq; got -1.0 instead",
        ),
        (
            dict(dose_bq=1e8, weight_kg=0.0),
            "the 'weight_kg' parameter must be a positive body weight in kg; got 0.0 instead",
        ),
        (
            dict(dose_bq=1e8, weight_kg=70.0, variant="other"),
            "the 'variant' parameter must be 'standard' or 'heldout'; got 'other' instead",
        ),
    ],
)
def test_input_function_rejects_impossible_values(kwargs, message):
    with pytest.raises(ParameterError) as info:
        input_function(**kwargs)
    assert str(info.value) == message


def test_frame_means_rejects_negative_rates(inp):
    with pytest.raises(ParameterError, match="k2 must be finite and >= 0"):
        frame_means(KineticParams(0.1, -0.1), SITES["siteA"].frame_timing(), inp)


def test_trapping_rises_and_fast_washout_peaks_early(inp):
    timing = SITES["siteA"].frame_timing()
    trapped = frame_means(KineticParams(0.06, 0.06, 0.06, 0.0, 0.04), timing, inp)
    washout = frame_means(KineticParams(0.15, 0.35, 0.005, 0.0, 0.06), timing, inp)
    late = timing.mid_min >= 10
    assert np.all(np.diff(trapped[late]) > 0)  # striatum-like: still rising at 30 min
    assert time_to_peak_min(trapped, timing) == pytest.approx(timing.mid_min[-1])
    assert time_to_peak_min(washout, timing) < 5.4  # IDH-wildtype-like early peak (Ginet 2020)
    assert washout[-1] < washout.max() * 0.9
    # TTP on a stack of TACs: last axis is frames.
    stack = np.stack([trapped, washout])
    np.testing.assert_allclose(time_to_peak_min(stack, timing),
                               [timing.mid_min[-1], time_to_peak_min(washout, timing)])
