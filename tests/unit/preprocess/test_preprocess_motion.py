"""Dynamic PET motion correction (`gliopet.preprocess.motion`) against known frame motion."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk

from gliopet.io.timing import FrameTiming
from gliopet.preprocess import registration as reg
from gliopet.preprocess.motion import head_mask_from_pet, motion_correct, reference_weights
from support.synthetic import make_session, ras_matrix_to_sitk, rigid_matrix

sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(2)
MOVED = {
    7: rigid_matrix((2.0, -1.0, 3.0), (2.5, -1.5, 1.0)),
    8: rigid_matrix((0.0, 2.0, -2.0), (-1.0, 2.0, 1.5)),
}


@pytest.fixture(scope="module")
def synth():
    return make_session(pet_spacing_mm=4.0, frame_motion=MOVED, seed=2)


@pytest.fixture(scope="module")
def corrected(synth):
    timing = FrameTiming.from_durations(synth.frame_durations_s)
    return motion_correct(synth.pet_frames, synth.pet_affine, timing, seed=5, iterations=60)


def test_reference_is_the_late_frames_weighted_by_duration():
    timing = FrameTiming.from_durations([60, 60, 480, 600, 600])
    weights = reference_weights(timing, 600.0)
    np.testing.assert_allclose(weights, [0, 0, 0, 0.5, 0.5])
    single = reference_weights(FrameTiming.from_durations([60, 120]), 600.0)
    np.testing.assert_allclose(single, [0, 1])  # nothing late: the last frame


def test_frames_are_realigned_within_1mm_of_the_truth(synth, corrected):
    points = reg.mask_points(head_mask_from_pet(corrected.reference), synth.pet_affine)
    truth = [ras_matrix_to_sitk(m) for m in synth.true_frame_motion_ras]
    errors = np.array([reg.mean_displacement_mm(est, true, points)
                       for est, true in zip(corrected.transforms, truth, strict=True)])
    true_motion = np.array([reg.mean_displacement_mm(t, None, points) for t in truth])
    assert true_motion[7] > 3.0 and true_motion[8] > 2.5  # the planted motion is real
    assert errors.max() < 1.0, errors  # mm, every frame, including the early ones


def test_early_frames_take_the_nearest_reliable_frame(corrected):
    table = corrected.table
    early = table[table["start_s"] < 120.0]
    assert not early["registered"].any()
    first_reliable = int(table.loc[table["registered"], "frame"].min())
    assert (early["transform_from_frame"] == first_reliable).all()
    assert np.allclose(early["displacement_mm"], table.loc[first_reliable, "displacement_mm"])


def test_motion_table_and_warning(synth, caplog):
    timing = FrameTiming.from_durations(synth.frame_durations_s)
    with caplog.at_level(logging.WARNING, logger="gliopet"):
        result = motion_correct(synth.pet_frames, synth.pet_affine, timing, seed=5, iterations=40,
                                threshold_mm=1.5)
    table = result.table
    assert list(table.columns[:6]) == ["frame", "start_s", "duration_s", "mid_s", "registered",
                                       "transform_from_frame"]
    assert set(np.flatnonzero(table["above_threshold"])) == {7, 8}
    assert result.n_flagged == 2
    assert "PET motion above 1.5 mm in 2 frame(s)" in caplog.text


def test_corrected_moved_frame_matches_the_reference(synth, corrected):
    mask = head_mask_from_pet(corrected.reference)
    ref = corrected.reference[mask]
    before = np.corrcoef(synth.pet_frames[..., 7][mask], ref)[0, 1]
    after = np.corrcoef(corrected.corrected[..., 7][mask], ref)[0, 1]
    assert after > before + 0.02
