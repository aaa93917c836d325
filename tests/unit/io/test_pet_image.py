"""The one PET image API (gliopet.io.session): SUV frames and the static image, closed forms."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from gliopet.errors import InputError
from gliopet.io.session import SUV_UNITS, PETImage, StaticImage, static_image, suv_frames
from gliopet.io.timing import FrameTiming

# Three frames: 0-300 s, 300-900 s, 900-1800 s; mid-times 150, 600, 1350 s.
TIMING = FrameTiming(np.array([0.0, 300.0, 900.0]), np.array([300.0, 600.0, 900.0]))
VALUES = np.array([2.0, 4.0, 8.0])        # Bq/mL stored in each frame (uniform)
FACTORS = np.array([1.0, 1.5, 2.0])       # to "decay-corrected to injection"
SUV_FACTOR = 0.5                          # g/Bq x Bq/mL per stored unit


def _pet(tmp_path, *, suv_factor=SUV_FACTOR, factors=FACTORS) -> PETImage:
    data = np.ones((3, 2, 2, 3), np.float32) * VALUES.astype(np.float32)
    path = tmp_path / "sub-01_trc-FDOPA_pet.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0])), path)
    return PETImage(path=path, sidecar={}, timing=TIMING, suv_factor=suv_factor,
                    frame_decay_factors=factors, suv_note="no SUV: missing body weight")


def test_static_image_closed_form(tmp_path):
    # window 10-30 min holds frames 2 (mid 600 s, on the boundary) and 3 (mid 1350 s):
    # (4 x 1.5 x 600 + 8 x 2 x 900) / 1500 = 12 Bq/mL at injection; x 0.5 = 6 g/mL
    static = _pet(tmp_path).static_image((10.0, 30.0))
    assert isinstance(static, StaticImage)
    assert static.data.shape == (3, 2, 2) and static.data.dtype == np.float32
    np.testing.assert_allclose(static.data, 6.0, rtol=1e-6)
    assert static.units == SUV_UNITS == "g/mL"
    assert static.note == "frame-duration-weighted mean over 10-30 min"
    assert static.window_min == (10.0, 30.0)


def test_static_image_without_suv_factor_is_bq_per_ml(tmp_path):
    static = _pet(tmp_path, suv_factor=None).static_image((10.0, 30.0))
    np.testing.assert_allclose(static.data, 12.0, rtol=1e-6)
    assert static.units == "Bq/mL"
    assert static.note.endswith("; SUV unavailable (no SUV: missing body weight)")


def test_fallback_when_no_frame_is_in_the_window(tmp_path):
    pet = _pet(tmp_path)
    with pytest.raises(InputError, match="static window 40-50 min lies outside the acquired "
                                         "frames .frames span 0-30 min"):
        pet.static_image((40.0, 50.0))
    # all frames: (2 x 1 x 300 + 4 x 1.5 x 600 + 8 x 2 x 900) / 1800 x 0.5 = 31 / 6
    static = pet.static_image((40.0, 50.0), fallback="all")
    np.testing.assert_allclose(static.data, 31.0 / 6.0, rtol=1e-6)
    assert static.note == ("no frame inside 40-50 min: duration-weighted mean of all frames "
                           "(0-1800 s)")


def test_given_frames_replace_the_stored_ones(tmp_path):
    pet = _pet(tmp_path)
    corrected = np.ones((3, 2, 2, 3), np.float32) * np.float32([0.0, 8.0, 16.0])  # x 2
    np.testing.assert_allclose(pet.static_image((10.0, 30.0), frames=corrected).data, 12.0,
                               rtol=1e-6)
    np.testing.assert_allclose(pet.suv_frames(corrected)[0, 0, 0], [0.0, 6.0, 16.0], rtol=1e-6)
    np.testing.assert_allclose(pet.suv_frames()[0, 0, 0], [1.0, 3.0, 8.0], rtol=1e-6)


def test_suv_frames_equal_the_static_image_path(tmp_path):
    """Static image = weighted mean of the SUV frames (one conversion; float32 rounding only:
    BLAS may round a row differently with the memory alignment of a small array)."""
    rng = np.random.default_rng(0)
    frames = rng.uniform(0, 3e4, (5, 4, 3, 3)).astype(np.float32)
    suv = suv_frames(frames, SUV_FACTOR, FACTORS)
    weights = TIMING.window_weights(600.0, 1800.0)[1:].astype(np.float32)
    expected = np.tensordot(suv[..., 1:], weights, axes=([-1], [0]))
    got = static_image(frames, TIMING, (10.0, 30.0), suv_factor=SUV_FACTOR,
                       frame_decay_factors=FACTORS)
    np.testing.assert_allclose(got.data, expected, rtol=2e-7)


def test_errors():
    with pytest.raises(InputError, match="2 frame decay factors for an image with 3 frames"):
        suv_frames(np.ones((2, 2, 2, 3)), 1.0, np.ones(2))
    with pytest.raises(InputError, match="the image has 2 frames but the timing lists 3"):
        static_image(np.ones((2, 2, 2, 2)), TIMING, (10.0, 30.0))
    with pytest.raises(InputError, match="static window 1800-600 s is empty"):
        static_image(np.ones((2, 2, 2, 3)), TIMING, (30.0, 10.0))
    with pytest.raises(InputError, match="2 frame decay factors"):
        static_image(np.ones((2, 2, 2, 3)), TIMING, (10.0, 30.0), frame_decay_factors=[1, 1])


def test_single_frame_image():
    one = FrameTiming(np.array([1200.0]), np.array([600.0]))
    static = static_image(np.full((2, 2, 2), 3.0), one, (10.0, 30.0), suv_factor=2.0,
                          dtype=np.float64)
    assert static.data.dtype == np.float64 and static.data.shape == (2, 2, 2)
    np.testing.assert_array_equal(static.data, 6.0)


def test_four_frames_and_the_exact_error_message():
    frames = np.stack([np.full((2, 2, 2), v) for v in (10.0, 20.0, 30.0, 40.0)], axis=-1)
    timing = FrameTiming.from_durations([300, 300, 600, 1200])  # mids 2.5, 7.5, 15, 30 min
    factors = np.array([1.0, 1.0, 2.0, 1.0])
    np.testing.assert_allclose(suv_frames(frames, 0.5, factors)[0, 0, 0], [5.0, 10.0, 30.0, 20.0])
    static = static_image(frames, timing, (10.0, 30.0), suv_factor=0.5, frame_decay_factors=factors)
    np.testing.assert_allclose(static.data, (30.0 * 600 + 20.0 * 1200) / 1800)  # frames 3 and 4
    with pytest.raises(InputError) as err:
        static_image(np.zeros((2, 2, 2, 2)), FrameTiming.from_durations([300, 300]), (20.0, 40.0),
                     path="pet.nii.gz")
    assert str(err.value) == (
        "pet.nii.gz: static window 20-40 min lies outside the acquired frames "
        "(frames span 0-10 min from injection) (fix: choose a static window inside the "
        "acquisition)")
