"""The biopsy target rule and its geometry (gliopet.signature.biopsy), on arrays with known
answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gliopet.errors import InputError
from gliopet.io.transforms import write_transform
from gliopet.signature import biopsy as b
from gliopet.spatial import apply_affine, world_coordinates
from support.synthetic import ras_matrix_to_sitk, rigid_matrix

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
AFFINE[:3, 3] = [-20.0, -20.0, -20.0]


def _ball(shape, centre, radius_vox):
    ijk = np.indices(shape).transpose(1, 2, 3, 0)
    return np.linalg.norm(ijk - np.asarray(centre), axis=-1) <= radius_vox


def test_target_is_the_peak_of_the_smoothed_map_deep_inside():
    shape = (24, 24, 24)
    region = _ball(shape, (12, 12, 12), 5)  # 10 mm radius: radius + margin = 4.5 mm fits
    xyz = np.indices(shape).transpose(1, 2, 3, 0)
    peak = np.array([13, 11, 12])
    aggressiveness = np.exp(-np.sum((xyz - peak) ** 2, -1) / 8.0) * region
    target = b.choose_target(aggressiveness, region, AFFINE, radius_mm=2.5, margin_mm=2.0)
    assert target.voxel == (13, 11, 12)
    assert target.edge_rule_met and target.edge_distance_mm >= 4.5
    np.testing.assert_allclose(target.ras_mm, apply_affine(AFFINE, peak.astype(float)))


def test_a_peak_at_the_edge_is_pulled_inside_by_the_margin():
    shape = (24, 24, 24)
    region = _ball(shape, (12, 12, 12), 5)
    xyz = np.indices(shape).transpose(1, 2, 3, 0)
    edge = np.array([12, 12, 17])  # on the region's edge
    aggressiveness = np.exp(-np.sum((xyz - edge) ** 2, -1) / 8.0) * region
    target = b.choose_target(aggressiveness, region, AFFINE, radius_mm=2.5, margin_mm=2.0)
    assert target.edge_distance_mm >= 4.5 - 1e-9
    assert target.voxel[2] > 12  # still on the side of the peak


def test_a_thin_region_gives_its_deepest_voxels_and_says_the_margin_is_not_kept():
    region = np.zeros((20, 20, 20), bool)
    region[5:15, 5:15, 10] = True  # one slice thick: depth 2 mm everywhere
    aggressiveness = region * np.arange(20)[:, None, None]
    target = b.choose_target(aggressiveness.astype(float), region, AFFINE)
    assert not target.edge_rule_met
    assert region[target.voxel]


def test_region_checks_exact_messages():
    empty = np.zeros((10, 10, 10), bool)
    with pytest.raises(InputError, match=r"the session has no tumour \(the tumour VOI of "
                                         r"gliopet quantify is empty\): no biopsy target"):
        b.check_target_region(empty, empty, AFFINE, 2.5)
    tiny = empty.copy()
    tiny[5, 5, 5] = True  # 8 uL < a 2.5 mm sphere (65 uL)
    with pytest.raises(InputError, match=r"the tumour VOI \(0.008 mL\) is smaller than the "
                                         r"minimum target volume \(0.065 mL, a sphere of 2.5 "
                                         r"mm radius\)"):
        b.check_target_region(tiny, tiny, AFFINE, 2.5)
    tumour = _ball((10, 10, 10), (5, 5, 5), 3)
    outside = np.zeros_like(tumour)
    outside[0, 0, 0] = True
    with pytest.raises(InputError, match="the aggressive subregion does not overlap the tumour"):
        b.check_target_region(tumour, outside, AFFINE, 2.5)


def test_alternatives_suvmax_and_earliest_hotspot():
    suv = np.zeros((8, 8, 8))
    tumour = np.zeros_like(suv, bool)
    tumour[2:6, 2:6, 2:6] = True
    suv[1, 1, 1] = 99.0  # outside the tumour: ignored
    suv[3, 4, 5] = 5.0
    assert b.suvmax_voxel(suv, tumour) == (3, 4, 5)
    table = pd.DataFrame({"TTP_min": [4.0, 3.0, 3.0], "volume_mL": [9.0, 1.0, 2.0],
                          "x_ras_mm": [0, 1, 2], "y_ras_mm": [0, 0, 0], "z_ras_mm": [0, 0, 0]})
    assert b.earliest_hotspot(table)["x_ras_mm"] == 2  # earliest, larger on a tie
    assert b.earliest_hotspot(table.iloc[:0]) is None


def test_sphere_on_a_fine_grid_has_the_ball_volume():
    affine = np.diag([0.5, 0.5, 0.5, 1.0])
    sphere = b.sphere_on_grid(np.array([8.0, 8.0, 8.0]), 2.5, affine, (32, 32, 32))
    assert sphere.sum() * 0.125 / 1000 == pytest.approx(b.sphere_volume_ml(2.5), rel=0.05)
    coarse = b.sphere_on_grid(np.array([1.3, 1.2, 1.1]), 0.5, np.diag([4.0, 4, 4, 1]),
                              (4, 4, 4))
    assert coarse.sum() == 1  # smaller than a voxel: the nearest voxel


def test_mask_to_mri_is_exact_on_a_flipped_and_permuted_grid():
    rng = np.random.default_rng(0)
    mask = rng.random((6, 7, 8)) > 0.6
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    # The same grid with axes reversed and permuted: voxel (a, b, c) = mask (5 - c, b, 7 - a)...
    other = np.zeros((4, 4))
    other[:3, 0] = [0, 0, -4.0]   # first axis runs down z
    other[:3, 1] = [0, 3.0, 0]
    other[:3, 2] = [-2.0, 0, 0]   # third axis runs down x
    other[:3, 3] = [10.0, 0, 28.0]
    other[3, 3] = 1.0
    moved = b.mask_to_mri(mask, affine, np.eye(4), other, (8, 7, 6))
    expected = np.transpose(mask, (2, 1, 0))[::-1, :, ::-1]
    np.testing.assert_array_equal(moved, expected)


def test_pet_to_mri_matrix_inverts_the_stored_transform(tmp_path):
    t1w_to_pet = rigid_matrix((5.0, -3.0, 10.0), (4.0, -6.0, 2.0))
    path = tmp_path / "xfm.txt"
    write_transform(path, ras_matrix_to_sitk(t1w_to_pet), source="pet", target="T1w")
    np.testing.assert_allclose(b.pet_to_mri_matrix(path), np.linalg.inv(t1w_to_pet), atol=1e-6)


def test_coordinates_ras_lps_and_voxel():
    affine = np.diag([-1.0, 1.0, 1.0, 1.0])  # the x axis runs to the left
    affine[:3, 3] = [10.0, -5.0, 0.0]
    out = b.coordinates(np.array([7.2, -3.1, 4.0]), affine, (20, 20, 20))
    assert out["target_lps_mm"] == [-7.2, 3.1, 4.0]
    assert out["target_voxel_mri"] == [3, 2, 4] and out["inside_mri"]
    centres = world_coordinates((20, 20, 20), affine)
    assert np.allclose(centres[3, 2, 4], [7.0, -3.0, 4.0])
