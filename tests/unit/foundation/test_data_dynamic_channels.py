"""The dynamic PET channels of the learning grid on constructed curves with known values."""

from __future__ import annotations

import numpy as np
import pytest

from gliopet.config import load_config
from gliopet.io import derivatives as d
from gliopet.io.timing import FrameTiming
from gliopet.quant.learning import dynamic_channels

# 1-min frames for 40 min: each window's mean is the mean of its frames' values
TIMING = FrameTiming.from_durations([60.0] * 40)
T = TIMING.mid_min


@pytest.fixture(scope="module")
def image():
    """Brain block: background voxels (flat 1 SUV), tumour voxels (linear ramp 2 + 0.1 t), one
    early-peak voxel (triangle peaking at 4.5 min); zeros outside."""
    shape = (8, 8, 8)
    frames = np.zeros(shape + (TIMING.n_frames,), np.float32)
    brain = np.zeros(shape, bool)
    brain[1:7, 1:7, 1:7] = True
    background = np.zeros(shape, bool)
    background[1:4, 1:7, 1:7] = True
    frames[brain] = 1.0
    frames[4:7, 1:4, 1:4] = 2.0 + 0.1 * T
    frames[5, 5, 5] = np.maximum(0.5, 3.0 - np.abs(T - 4.5))
    return frames, brain, background


def test_channel_values(image):
    frames, brain, background = image
    config = load_config()
    channels = dynamic_channels(frames, TIMING, brain, background, config)
    assert tuple(channels) == d.LEARNING_DYNAMIC_STATS
    early = config.quant.early_window_min
    late = config.quant.static_window_min
    in_early = (T >= early[0]) & (T <= early[1])
    in_late = (T >= late[0]) & (T <= late[1])
    ramp = 2.0 + 0.1 * T
    tumour = (5, 2, 2)
    # background is flat 1 SUV: TBRs are the tumour's window means
    assert channels["TBRearly"][tumour] == pytest.approx(ramp[in_early].mean(), rel=1e-5)
    assert channels["TBRlate"][tumour] == pytest.approx(ramp[in_late].mean(), rel=1e-5)
    assert channels["TBRlate"][2, 4, 4] == pytest.approx(1.0, rel=1e-6)
    # a rising curve peaks in the last frame (mid-time 39.5 min)
    assert channels["TTPrel"][tumour] == pytest.approx(39.5 / late[1], rel=1e-6)
    assert channels["TTPrel"][5, 5, 5] == pytest.approx(4.5 / late[1], rel=1e-6)
    # 0.1 SUV/min = 6 SUV/h over a background of 1 SUV
    assert channels["slopeTBR"][tumour] == pytest.approx(6.0, rel=1e-4)
    for data in channels.values():
        assert data.dtype == np.float32
        assert np.all(data[~brain] == 0.0)
        assert np.all(np.isfinite(data))


def test_background_scale_cancels(image):
    frames, brain, background = image
    config = load_config()
    once = dynamic_channels(frames, TIMING, brain, background, config)
    scaled = dynamic_channels(frames * 3.7, TIMING, brain, background, config)
    for stat in d.LEARNING_DYNAMIC_STATS:
        np.testing.assert_allclose(scaled[stat], once[stat], rtol=1e-5, atol=1e-6)
