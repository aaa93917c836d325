"""Phantom scanner model (PSF, noise) and site presets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gliopet.errors import InputError, ParameterError
from gliopet.io.timing import FrameTiming
from gliopet.simulate.kinetics import F18_LAMBDA_PER_MIN
from gliopet.simulate.scanner import add_reconstruction_noise, frame_noise_sd, psf_blur
from gliopet.simulate.sites import MRI_CONTRASTS, SITES, get_site

# ---------------------------------------------------------------- sites


def test_every_site_is_valid_and_covers_0_30_min():
    for name, site in SITES.items():
        assert site.name == name
        assert site.problems() == []
        assert site.n_frames >= 26
        assert site.scan_duration_s == pytest.approx(1800.0)
        timing = site.frame_timing()
        assert timing.problems() == []
        assert timing.start_s[0] == 0.0
        assert 4.0 <= site.psf_fwhm_mm <= 7.0
        assert set(site.mri_scale) == set(MRI_CONTRASTS)
        # 10-60 s frames early, then 1-5 min (docs/literature.md, "Phantom parameters")
        assert site.frame_durations_s[0] <= 60 and 60 <= site.frame_durations_s[-1] <= 300


def test_sites_differ_as_configured():
    dev = [SITES[n] for n in ("siteA", "siteB", "siteC")]
    for attr in ("scanner", "psf_fwhm_mm", "pet_voxel_mm", "frame_durations_s", "noise_level",
                 "noise_corr_fwhm_mm", "mri_noise_sd", "bias_field_strength"):
        values = [getattr(s, attr) for s in dev]
        assert len(set(values)) == 3, attr
    assert len({tuple(sorted(s.mri_scale.items())) for s in dev}) == 3
    for s in dev:
        assert (s.deformation_model, s.noise_model, s.kinetic_variant, s.held_out) == (
            "smooth_field", "correlated_gaussian", "standard", False)
    held = SITES["heldout"]
    assert held.held_out
    assert held.deformation_model != "smooth_field"
    assert held.noise_model != "correlated_gaussian"
    assert held.kinetic_variant != "standard"


def test_unknown_site_is_an_input_error():
    assert get_site("siteB") is SITES["siteB"]
    with pytest.raises(InputError) as info:
        get_site("siteZ")
    assert str(info.value) == (
        "--sites: unknown site 'siteZ'; valid sites are siteA, siteB, siteC, heldout "
        "(fix: use one or more of siteA, siteB, siteC, heldout)"
    )


def test_site_problems_are_reported():
    bad = dataclasses.replace(SITES["siteA"], psf_fwhm_mm=0.0, noise_model="magic")
    found = bad.problems()
    assert "psf_fwhm_mm must be in (0, 12] mm; got 0.0" in found
    assert any(p.startswith("noise_model must be one of") for p in found)


# ---------------------------------------------------------------- PSF


def test_psf_conserves_activity_and_has_the_stated_fwhm():
    vol = np.zeros((48, 40, 36))
    vol[24, 20, 18] = 1000.0
    vol[10:14, 8:12, 20:26] = 3.0
    blurred = psf_blur(vol, (2.0, 2.0, 2.5), 6.0)
    assert blurred.sum() == pytest.approx(vol.sum(), rel=1e-10)
    # Edge of the field of view: reflected, still conserved.
    edge = np.zeros((20, 20, 20))
    edge[0, 0, 0] = 5.0
    assert psf_blur(edge, 2.0, 7.0).sum() == pytest.approx(5.0, rel=1e-10)
    # FWHM of the point response along x (2 mm voxels): 6 mm
    profile = psf_blur(
        np.pad(np.ones((1, 1, 1)), ((60, 60), (5, 5), (5, 5))), (0.25, 2.0, 2.0), 6.0
    )[:, 5, 5]
    above = np.flatnonzero(profile >= profile.max() / 2)
    assert (above[-1] - above[0] + 1) * 0.25 == pytest.approx(6.0, abs=0.3)


def test_psf_blurs_each_frame_alone():
    vol = np.zeros((16, 16, 16, 3), dtype=np.float32)
    vol[8, 8, 8, 1] = 1.0
    out = psf_blur(vol, 2.0, 5.0)
    assert out.dtype == np.float32
    assert out[..., 0].max() == 0 and out[..., 2].max() == 0
    np.testing.assert_allclose(out[..., 1], psf_blur(vol[..., 1], 2.0, 5.0), rtol=1e-6)


@pytest.mark.parametrize("fwhm", [0.0, -3.0, float("nan")])
def test_psf_rejects_impossible_fwhm(fwhm):
    with pytest.raises(
        ParameterError, match="the 'fwhm_mm' parameter must be a positive PSF FWHM in mm"
    ):
        psf_blur(np.ones((4, 4, 4)), 2.0, fwhm)


# ---------------------------------------------------------------- noise

TIMING = FrameTiming.from_durations([10, 10, 60, 120, 300, 300])
ACTIVITY = 3400.0  # Bq/mL, healthy grey matter at SUV 1.3 for 185 MBq / 70 kg


def _uniform(shape=(48, 48, 48)) -> np.ndarray:
    return np.full((*shape, TIMING.n_frames), ACTIVITY, dtype=np.float32)


def test_noise_sd_follows_the_turku_formula():
    site = SITES["siteA"]
    frames = _uniform()
    noisy = add_reconstruction_noise(
        frames, TIMING, site.pet_voxel_mm, site, np.random.default_rng(5)
    )
    dt = TIMING.duration_s
    expected = ACTIVITY * np.sqrt(
        site.noise_level / (ACTIVITY * np.exp(-F18_LAMBDA_PER_MIN * TIMING.mid_min) * dt)
    )
    np.testing.assert_allclose(
        frame_noise_sd(frames, TIMING, site)[10, 10, 10], expected, rtol=1e-5
    )
    empirical = (noisy - frames).reshape(-1, TIMING.n_frames).std(axis=0)
    np.testing.assert_allclose(empirical, expected, rtol=0.10)
    # unbiased: the mean image is the noise-free one
    mean = (noisy - frames).reshape(-1, TIMING.n_frames).mean(axis=0)
    assert np.all(np.abs(mean) < 0.05 * expected)


def test_short_and_late_frames_are_noisier():
    site = SITES["siteB"]
    sd = frame_noise_sd(_uniform((4, 4, 4)), TIMING, site)[0, 0, 0]
    assert sd[0] > sd[2] > sd[3] > sd[4]  # shorter frames noisier
    assert sd[5] > sd[4]  # same duration, later: decayed, noisier
    # smaller voxels: fewer counts, noisier (by the square root of the volume ratio)
    small = frame_noise_sd(_uniform((4, 4, 4)), TIMING, site, voxel_mm=site.pet_voxel_mm / 2)[
        0, 0, 0
    ]
    np.testing.assert_allclose(small / sd, np.sqrt(8.0), rtol=1e-5)


def test_noise_is_spatially_correlated():
    site = dataclasses.replace(SITES["siteA"], noise_corr_fwhm_mm=4.0)  # 2 voxels of 2 mm
    frames = _uniform((40, 40, 40))
    noise = add_reconstruction_noise(frames, TIMING, 2.0, site, np.random.default_rng(8)) - frames
    for axis in range(3):
        a = np.take(noise, np.arange(39), axis=axis).ravel()
        b = np.take(noise, np.arange(1, 40), axis=axis).ravel()
        r = np.corrcoef(a, b)[0, 1]
        assert r > 0.3
        assert r == pytest.approx(np.exp(-1 / (4 * (2 / 2.3548) ** 2)), abs=0.05)  # Gaussian theory
    # frames are independent
    assert abs(np.corrcoef(noise[..., 2].ravel(), noise[..., 3].ravel())[0, 1]) < 0.05


def test_noise_is_seeded_and_heldout_model_has_the_same_variance():
    site = SITES["siteC"]
    frames = _uniform((24, 24, 24))
    a = add_reconstruction_noise(frames, TIMING, 2.0, site, np.random.default_rng(1))
    b = add_reconstruction_noise(frames, TIMING, 2.0, site, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    held = SITES["heldout"]
    big = _uniform((40, 40, 40))
    noisy = add_reconstruction_noise(big, TIMING, held.pet_voxel_mm, held, np.random.default_rng(2))
    empirical = (noisy - big).reshape(-1, TIMING.n_frames).std(axis=0)
    np.testing.assert_allclose(empirical, frame_noise_sd(big, TIMING, held)[0, 0, 0], rtol=0.10)


def test_noise_outside_the_head_uses_the_floor():
    site = SITES["siteA"]
    frames = np.zeros((8, 8, 8, TIMING.n_frames), dtype=np.float32)
    frames[2:6, 2:6, 2:6] = ACTIVITY
    sd = frame_noise_sd(frames, TIMING, site)
    np.testing.assert_allclose(sd[0, 0, 0] / sd[3, 3, 3], np.sqrt(0.01), rtol=1e-5)
