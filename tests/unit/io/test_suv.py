"""SUV scaling: each decay-correction path vs hand-computed numbers (arithmetic in comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from gliopet.errors import InputError
from gliopet.io.suv import radioactivity_bq, suv_scaling
from gliopet.io.timing import FrameTiming
from gliopet.radionuclides import frame_decay_factors

# F18: T = 6586.2 s, lambda = ln 2 / 6586.2 = 1.0524235e-4 /s
T_F18 = 6586.2
LAM = math.log(2) / T_F18


def sidecar(**changes):
    base = {
        "Units": "Bq/mL", "TracerRadionuclide": "F18",
        "InjectedRadioactivity": 185.0, "InjectedRadioactivityUnits": "MBq",
        "ImageDecayCorrected": True, "ImageDecayCorrectionTime": 0, "InjectionStart": 0,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


TIMING = FrameTiming.from_durations(
    [300.0, 300.0], first_start_s=600.0
)  # frames 600-900, 900-1200 s


@pytest.mark.parametrize(("value", "units", "bq"), [
    (185, "MBq", 185e6), (185000, "kBq", 185e6), (5, "mCi", 185e6),  # 1 mCi = 37 MBq
    (100, "uCi", 3.7e6), (0.2, "GBq", 2e8), (3.0, "Bq", 3.0),
])
def test_radioactivity_units(value, units, bq):
    assert radioactivity_bq(value, units) == pytest.approx(bq, rel=1e-12)


def test_radioactivity_unknown_unit_is_an_input_error():
    with pytest.raises(
        InputError, match=r"InjectedRadioactivityUnits 'mSv' is not an activity unit"
    ):
        radioactivity_bq(1.0, "mSv")


def test_corrected_to_injection():
    # factor = 70 kg * 1000 g/kg / (185 MBq * 1e6 Bq/MBq) = 70000 / 1.85e8 = 3.7837838e-4
    s = suv_scaling(sidecar(), 70.0, TIMING)
    assert s.factor == pytest.approx(3.7837838e-4, rel=1e-7)
    assert s.method == "corrected-to-injection"
    np.testing.assert_array_equal(s.frame_decay_factors, [1.0, 1.0])
    assert "decay-corrected to injection" in s.note and s.problems == []


def test_corrected_to_scan_start():
    # TimeZero = scan start; injection 600 s before it; image corrected to the scan start (t=0).
    # Activity at injection = activity at t_ref x 2^((t_ref - t_inj)/T) = 2^(600/6586.2) = 1.0651817
    s = suv_scaling(sidecar(InjectionStart=-600, ImageDecayCorrectionTime=0), 70.0, TIMING)
    assert s.method == "corrected-to-reference"
    np.testing.assert_allclose(s.frame_decay_factors, [1.0651817, 1.0651817], rtol=1e-7)
    assert s.factor == pytest.approx(3.7837838e-4, rel=1e-7)
    assert "600 s after injection" in s.note


def test_not_decay_corrected_frame_integrated():
    # frame 0: t_s = 600 s, dt = 300 s; lambda dt = 0.031572706
    # exp(lambda t_s) = 2^(600/6586.2) = 1.0651817; lambda dt / (1 - exp(-lambda dt)) = 1.0158694
    # product = 1.0820855
    s = suv_scaling(sidecar(ImageDecayCorrected=False), 70.0, TIMING)
    assert s.method == "not-corrected"
    assert s.frame_decay_factors[0] == pytest.approx(1.0820855, rel=1e-7)
    # frame 1 starts 300 s later: x 2^(300/6586.2)
    assert s.frame_decay_factors[1] == pytest.approx(1.0820855 * 2 ** (300 / T_F18), rel=1e-7)


def test_integrated_factor_recovers_activity_at_injection():
    # A tracer with constant decay-corrected concentration A0: the scanner measures the frame mean
    # of A0 exp(-lambda t); the factor must give A0 back (numerical integration as the truth).
    a0, start, dur = 5000.0, 1200.0, 600.0
    measured = quad(lambda t: a0 * math.exp(-LAM * t), start, start + dur)[0] / dur
    factor = frame_decay_factors(np.array([start]), np.array([dur]), T_F18)[0]
    assert measured * factor == pytest.approx(a0, rel=1e-10)
    # zero-length frame: instantaneous factor exp(lambda t)
    assert frame_decay_factors(np.array([600.0]), np.array([0.0]), T_F18)[0] == pytest.approx(
        1.0651817, rel=1e-7
    )


def test_kbq_units_scale_the_factor():
    # kBq/mL voxels: x 1000 to Bq/mL, factor = 3.7837838e-4 * 1000 = 0.37837838
    s = suv_scaling(sidecar(Units="kBq/mL"), 70.0, TIMING)
    assert s.factor == pytest.approx(0.37837838, rel=1e-7)
    assert suv_scaling(sidecar(Units="BQ/ML"), 70.0, TIMING).factor == pytest.approx(3.7837838e-4)


def test_dose_in_mci():
    # 5 mCi = 185 MBq: same factor as above
    s = suv_scaling(
        sidecar(InjectedRadioactivity=5, InjectedRadioactivityUnits="mCi"), 70.0, TIMING
    )
    assert s.factor == pytest.approx(3.7837838e-4, rel=1e-7)


def test_units_not_convertible():
    s = suv_scaling(sidecar(Units="counts"), 70.0, TIMING)
    assert s.factor is None
    assert (
        "error",
        "Units 'counts' not convertible to SUV (fix: the image must hold activity "
        "concentration in Bq/mL, kBq/mL or MBq/mL; re-export it in Bq/mL)",
    ) in s.problems


def test_missing_weight_and_zero_dose():
    s = suv_scaling(sidecar(), None, TIMING)
    assert s.factor is None and "no SUV: missing body weight" in s.note
    assert s.problems == []  # the weight is not a sidecar field: validate warns about it
    z = suv_scaling(sidecar(InjectedRadioactivity=0), 70.0, TIMING)
    assert z.factor is None and "injected activity" in z.note
    assert z.problems[0][0] == "error" and "InjectedRadioactivity is 0 MBq" in z.problems[0][1]


def test_unknown_radionuclide():
    s = suv_scaling(sidecar(TracerRadionuclide="Tc99m", ImageDecayCorrected=False), 70.0, TIMING)
    assert s.factor is None and "unknown radionuclide 'Tc99m'" in s.note
    assert s.problems[0][0] == "warning"
    # corrected to injection needs no half-life: the factor stands
    assert suv_scaling(sidecar(TracerRadionuclide="Tc99m"), 70.0, TIMING).factor == pytest.approx(
        3.7837838e-4
    )


def test_decay_correction_factor_cross_check():
    # image corrected to injection: the factor applied is the frame-integrated one from t=0:
    # frame 0 = 1.0820855 (see above); consistent -> no warning
    good = frame_decay_factors(TIMING.start_s, TIMING.duration_s, T_F18).tolist()
    s = suv_scaling(sidecar(DecayCorrectionFactor=good), 70.0, TIMING)
    assert s.problems == [] and "consistent within 1 %" in s.note
    bad = [good[0] * 1.02, good[1]]
    w = suv_scaling(sidecar(DecayCorrectionFactor=bad), 70.0, TIMING)
    assert w.factor == pytest.approx(3.7837838e-4)  # computed path kept, and said so
    assert w.problems[0][0] == "warning"
    assert w.problems[0][1].startswith(
        "DecayCorrectionFactor differs from the factor computed from the "
        "6586.2 s half-life and the frame timing by up to 2.0 % (frame 0"
    )
    assert "inconsistent" in w.note


def test_decay_correction_boolean_must_be_boolean():
    s = suv_scaling(sidecar(ImageDecayCorrected="true"), 70.0, TIMING)
    assert s.factor is None
    assert s.problems == [
        (
            "error",
            "ImageDecayCorrected is 'true', not true or false (fix: write a "
            "JSON boolean, true or false, without quotes)",
        )
    ]
