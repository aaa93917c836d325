"""TACs, voxel maps, habitats and hot spots on constructed dynamic images with known truth."""

from __future__ import annotations

import numpy as np
import pytest

from gliopet.errors import InputError
from gliopet.io.timing import FrameTiming
from gliopet.quant.clustering import tac_habitats
from gliopet.quant.hotspots import dynamic_hotspots
from gliopet.quant.tac import STATIC_NOTE, late_slope, ttp_min, voi_dynamics, voi_tac
from gliopet.quant.voxelmaps import voxel_maps

TIMING = FrameTiming.from_durations([10] * 6 + [30] * 6 + [60] * 4 + [120] * 4 + [240] * 6)
T = TIMING.mid_min
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def _early_peak(t):  # peaks then decreases (wash-out)
    return 3.0 * t * np.exp(-t / 3.0) / (3.0 * np.exp(-1.0)) + 0.0


def _increasing(t):  # rises to the end
    return 2.0 * (1.0 - np.exp(-t / 12.0))


def _image():
    """24^3 volume, brain block; tumour block with an early-peak corner (hot spot) and
    increasing rest; background block; frames in SUV."""
    shape = (24, 24, 24)
    frames = np.zeros(shape + (TIMING.n_frames,), np.float32)
    brain = np.zeros(shape, bool)
    brain[2:22, 2:22, 2:22] = True
    frames[brain] = _increasing(T) * 0.5
    tumour = np.zeros(shape, bool)
    tumour[4:12, 4:12, 4:12] = True
    frames[tumour] = _increasing(T) * 1.5
    hot = np.zeros(shape, bool)
    hot[4:8, 4:8, 4:8] = True  # 64 voxels x 8 uL = 0.512 mL
    frames[hot] = _early_peak(T)
    background = np.zeros(shape, bool)
    background[14:20, 14:20, 14:20] = True
    return frames, brain, tumour, hot, background


def test_ttp_and_slope_exact():
    tac = np.zeros(TIMING.n_frames)
    tac[9] = 5.0
    assert ttp_min(tac, TIMING) == pytest.approx(TIMING.mid_min[9])
    linear = 2.0 + 3.0 * TIMING.mid_s / 3600.0  # 3 SUV/h
    assert late_slope(linear, TIMING) == pytest.approx(3.0, rel=1e-12)


def test_voi_dynamics_and_static_note():
    frames, brain, tumour, hot, background = _image()
    out = voi_dynamics(frames, TIMING, hot, striatum=background)
    assert out["TTP_min"] == pytest.approx(T[np.argmax(_early_peak(T))])
    assert out["slope_SUV_per_h"] < 0
    assert out["TTP_ratio"] == pytest.approx(out["TTP_min"] / T[-1])
    static = voi_dynamics(frames[..., -1:], FrameTiming([1200.0], [600.0]), hot)
    assert np.isnan(static["TTP_min"]) and np.isnan(static["slope_ratio"])
    assert static["dynamic_note"] == STATIC_NOTE


def test_voxel_maps_match_per_voxel_values():
    frames, brain, tumour, hot, background = _image()
    vm = voxel_maps(frames, TIMING, brain, background, tumour)
    i, j, k = 5, 5, 5  # a hot-spot voxel
    tac = frames[i, j, k].astype(float)
    assert vm.maps["TTP"][i, j, k] == pytest.approx(ttp_min(tac, TIMING))
    assert vm.maps["slope"][i, j, k] == pytest.approx(late_slope(tac, TIMING), rel=1e-5)
    early = tac @ TIMING.window_weights(60, 600)
    late = tac @ TIMING.window_weights(600, 1800)
    assert vm.maps["earlylate"][i, j, k] == pytest.approx(early / late, rel=1e-5)
    bg_late = frames[background][0].astype(float) @ TIMING.window_weights(600, 1800)
    assert vm.maps["TBR_10to30min"][i, j, k] == pytest.approx(late / bg_late, rel=1e-5)
    assert np.isnan(vm.maps["TTP"][0, 0, 0])
    frac = np.count_nonzero(hot) / np.count_nonzero(tumour)
    assert vm.fractions["frac_early_peak"] == pytest.approx(frac)
    assert vm.fractions["frac_negative_slope"] == pytest.approx(frac)
    # rest of the tumour: TBR 3; hot spot: its own late TBR (below 2 here)
    hot_tbr = late / bg_late
    expected = (
        np.count_nonzero(tumour & ~hot) + np.count_nonzero(hot) * (hot_tbr > 2)
    ) / np.count_nonzero(tumour)
    assert hot_tbr < 2
    assert vm.fractions["frac_TBR_gt_2"] == pytest.approx(expected)


def test_voxel_maps_refuse_static_pet():
    frames, brain, *_ = _image()
    with pytest.raises(InputError) as err:
        voxel_maps(frames[..., :1], FrameTiming([0.0], [1800.0]), brain)
    assert str(err.value) == (
        "voxel TTP/slope maps needs a dynamic PET with at least 3 frames; this image has 1 frame "
        "(fix: give the dynamic (4-D) PET, or compute only the static columns)")


def test_hotspots_find_planted_region():
    frames, brain, tumour, hot, background = _image()
    found = dynamic_hotspots(frames, TIMING, tumour, AFFINE, min_volume_ml=0.5)
    assert len(found.spots) == 1
    spot = found.spots[0]
    np.testing.assert_array_equal(found.labels == 1, hot)
    assert spot["volume_mL"] == pytest.approx(0.512)
    assert spot["centroid_ras_mm"] == pytest.approx((11.0, 11.0, 11.0))  # voxel 5.5 x 2 mm
    assert spot["TTP_min"] == pytest.approx(T[np.argmax(_early_peak(T))])
    assert dynamic_hotspots(frames, TIMING, tumour, AFFINE, min_volume_ml=0.6).spots == []
    # zero planted contrast: no hot spot
    flat = frames.copy()
    flat[hot] = flat[tumour & ~hot][0]
    assert dynamic_hotspots(flat, TIMING, tumour, AFFINE).spots == []


def test_habitats_recover_two_shapes():
    frames, brain, tumour, hot, background = _image()
    rng = np.random.default_rng(0)
    noisy = frames * (1 + 0.02 * rng.standard_normal(frames.shape)).astype(np.float32)
    result = tac_habitats(noisy, TIMING, tumour, seed=0)
    assert result.k == 2
    assert (result.labels[hot] == 1).all()  # early peak first (ordered by TTP)
    assert (result.labels[tumour & ~hot] == 2).all()
    assert (result.labels[~tumour] == 0).all()
    np.testing.assert_allclose(result.mean_tacs[0], voi_tac(noisy, hot), rtol=1e-6)
