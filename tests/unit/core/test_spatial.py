"""gliopet.spatial: coordinate shape convention, RAS/LPS, rigid maps, morphology in mm, boxes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gliopet import spatial
from gliopet.spatial import (
    FLIP_LPS,
    affine_matrix,
    apply_affine,
    bounding_box,
    box_around,
    box_overlap_fraction,
    dilate_mm,
    erode_mm,
    fov_bounds,
    fov_overlap_fraction,
    label_components,
    largest_component,
    lps_to_ras_affine,
    lps_to_ras_matrix,
    lps_to_ras_points,
    ras_to_lps_affine,
    ras_to_lps_matrix,
    ras_to_lps_points,
    rigid_matrix,
    rotation_matrix,
    voxel_sizes,
    world_coordinates,
)

AFFINE = rigid_matrix((10.0, -5.0, 20.0), (3.0, 4.0, 5.0)) @ np.diag([2.0, 3.0, 4.0, 1.0])


def test_world_coordinates_axis_last():
    shape = (4, 5, 6)
    world = world_coordinates(shape, AFFINE, dtype=np.float64)
    assert world.shape == (*shape, 3)
    for ijk in [(0, 0, 0), (3, 1, 5), (2, 4, 0)]:
        np.testing.assert_allclose(world[ijk], (AFFINE @ [*ijk, 1.0])[:3], atol=1e-12)
    assert world_coordinates(shape, AFFINE).dtype == np.float32
    mask = np.zeros(shape, bool)
    mask[1, 2, 3] = mask[3, 0, 1] = True
    assert world[mask].shape == (2, 3)  # points of a mask: (n, 3)
    assert voxel_sizes(AFFINE) == pytest.approx((2.0, 3.0, 4.0))


def test_apply_affine_keeps_float_dtype_and_converts_integers():
    points = np.array([[1, 2, 3]])
    np.testing.assert_allclose(apply_affine(AFFINE, points)[0], (AFFINE @ [1, 2, 3, 1.0])[:3])
    assert apply_affine(AFFINE, points.astype(np.float32)).dtype == np.float32


def test_ras_lps_points_and_matrices_are_different_operations():
    rng = np.random.default_rng(0)
    points_ras = rng.normal(size=(7, 3)) * 50
    points_lps = ras_to_lps_points(points_ras)
    np.testing.assert_array_equal(points_lps, points_ras * [-1, -1, 1])
    np.testing.assert_array_equal(lps_to_ras_points(points_lps), points_ras)  # round trip
    # A map of RAS points, expressed in LPS, maps the LPS points to the LPS images.
    m_ras = rigid_matrix((12.0, -7.0, 3.0), (5.0, -2.0, 8.0), (0.0, -18.0, 10.0))
    m_lps = ras_to_lps_matrix(m_ras)
    np.testing.assert_allclose(apply_affine(m_lps, points_lps),
                               ras_to_lps_points(apply_affine(m_ras, points_ras)), atol=1e-10)
    np.testing.assert_array_equal(lps_to_ras_matrix(m_lps), m_ras)  # round trip
    assert not np.allclose(m_lps, FLIP_LPS @ m_ras)  # a map is conjugated, not flipped once
    # A voxel-to-world affine only changes its output frame.
    affine_lps = ras_to_lps_affine(AFFINE)
    ijk = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(apply_affine(affine_lps, ijk),
                               ras_to_lps_points(apply_affine(AFFINE, ijk)), atol=1e-12)
    np.testing.assert_array_equal(lps_to_ras_affine(affine_lps), AFFINE)


def test_rigid_and_affine_matrices():
    rotation = rotation_matrix((30.0, 0.0, 0.0))
    np.testing.assert_allclose(rotation @ [0.0, 1.0, 0.0], [0.0, np.cos(np.pi / 6),
                                                             np.sin(np.pi / 6)], atol=1e-15)
    np.testing.assert_allclose(rotation_matrix((10.0, 20.0, 30.0)),
                               rotation_matrix((0, 0, 30.0)) @ rotation_matrix((0, 20.0, 0))
                               @ rotation_matrix((10.0, 0, 0)), atol=1e-15)
    centre = np.array([1.0, -18.0, 10.0])
    m = rigid_matrix((5.0, -3.0, 8.0), (2.0, 0.0, -1.0), centre)
    np.testing.assert_allclose(apply_affine(m, centre[None])[0], centre + [2.0, 0.0, -1.0])
    np.testing.assert_allclose(m[:3, :3] @ m[:3, :3].T, np.eye(3), atol=1e-14)
    np.testing.assert_array_equal(affine_matrix(np.eye(3) * 2, [1, 2, 3]),
                                  [[2, 0, 0, 1], [0, 2, 0, 2], [0, 0, 2, 3], [0, 0, 0, 1]])


def _brute_force_dilation(mask: np.ndarray, radius: float, voxel: tuple[float, ...]) -> np.ndarray:
    """Every voxel whose centre lies within `radius` (mm) of a mask voxel centre."""
    inside = np.argwhere(mask) * voxel
    out = np.zeros_like(mask)
    for index in itertools.product(*(range(n) for n in mask.shape)):
        out[index] = np.min(np.linalg.norm(inside - np.array(index) * voxel, axis=1)) <= radius
    return out


@pytest.mark.parametrize("radius", [0.9, 2.0, 3.2, 5.5])
def test_dilate_mm_against_brute_force_distance(radius):
    rng = np.random.default_rng(int(radius * 10))
    voxel = (1.0, 1.5, 2.5)  # anisotropic
    mask = rng.random((7, 6, 5)) > 0.93
    mask[3, 3, 2] = True
    np.testing.assert_array_equal(dilate_mm(mask, radius, voxel),
                                  _brute_force_dilation(mask, radius, voxel))


def test_erode_is_the_complement_of_dilating_the_outside():
    rng = np.random.default_rng(1)
    voxel = (2.0, 1.0, 1.0)
    mask = rng.random((8, 7, 6)) > 0.2
    mask[0] = False  # keep some outside
    np.testing.assert_array_equal(erode_mm(mask, 1.6, voxel), ~dilate_mm(~mask, 1.6, voxel))


def test_morphology_edge_cases():
    empty = np.zeros((4, 4, 4), bool)
    assert not dilate_mm(empty, 5.0, (1, 1, 1)).any()  # no background-only artefacts
    full = ~empty
    assert erode_mm(full, 1.0, (1, 1, 1)).all()
    one = empty.copy()
    one[1, 1, 1] = True
    np.testing.assert_array_equal(dilate_mm(one, 0.0, (1, 1, 1)), one)
    assert dilate_mm(one.astype(np.uint8), 1.0, (1, 1, 1)).sum() == 7  # not a bitwise ~


def test_components_6_and_26():
    mask = np.zeros((5, 5, 5), bool)
    mask[0, 0, 0] = mask[1, 1, 1] = True          # diagonal neighbours
    mask[3:5, 3:5, 3:5] = True                     # a cube of 8
    labels6, sizes6 = label_components(mask, connectivity=6)
    labels26, sizes26 = label_components(mask, connectivity=26)
    assert sorted(sizes6.tolist()) == [1, 1, 8] and sorted(sizes26.tolist()) == [2, 8]
    assert labels6.max() == 3 and labels26.max() == 2
    np.testing.assert_array_equal(
        largest_component(mask), mask & (np.indices(mask.shape) >= 3).all(0)
    )
    assert largest_component(np.zeros((2, 2, 2), bool)).dtype == bool
    with pytest.raises(ValueError, match="connectivity"):
        label_components(mask, connectivity=18)


def test_boxes():
    mask = np.zeros((10, 8, 6), bool)
    mask[2:4, 5, 1:3] = True
    assert bounding_box(mask) == (slice(2, 4), slice(5, 6), slice(1, 3))
    assert bounding_box(mask, 3) == (slice(0, 7), slice(2, 8), slice(0, 6))  # clipped
    assert bounding_box(mask, (1, 0, 2)) == (slice(1, 5), slice(5, 6), slice(0, 5))
    with pytest.raises(ValueError):
        bounding_box(np.zeros((2, 2, 2)))
    grid = np.diag([2.0, 2.0, 2.0, 1.0])
    grid[:3, 3] = [-10.0, -10.0, -10.0]
    # centre (0, 0, 0) mm is voxel (5, 5, 5); 3 mm = 1.5 voxels -> indices 3..7
    assert box_around((20, 20, 20), grid, (0.0, 0.0, 0.0), 3.0) == (slice(3, 8),) * 3
    assert box_around((6, 20, 20), grid, (0.0, 0.0, 0.0), (3.0, 3.0, 3.0))[0] == slice(3, 6)


def test_field_of_view_and_overlap():
    grid = np.diag([2.0, 2.0, 2.0, 1.0])
    lo, hi = fov_bounds((10, 10, 10), grid)
    np.testing.assert_allclose(lo, [-1.0] * 3)
    np.testing.assert_allclose(hi, [19.0] * 3)
    shifted = grid.copy()
    shifted[:3, 3] = [10.0, 0.0, 0.0]
    assert fov_overlap_fraction((10, 10, 10), grid, (10, 10, 10), shifted) == pytest.approx(0.5)
    small = np.diag([1.0, 1.0, 1.0, 1.0])
    assert fov_overlap_fraction((10, 10, 10), grid, (4, 4, 4), small) == pytest.approx(1.0)
    far = grid.copy()
    far[:3, 3] = [500.0, 0.0, 0.0]
    assert fov_overlap_fraction((10, 10, 10), grid, (10, 10, 10), far) == 0.0
    assert box_overlap_fraction((np.zeros(3), np.zeros(3)), (np.zeros(3), np.ones(3))) == 0.0
    # flipping the frame (RAS -> LPS) keeps the overlap
    assert fov_overlap_fraction((10, 10, 10), ras_to_lps_affine(grid), (10, 10, 10),
                                ras_to_lps_affine(shifted)) == pytest.approx(0.5)


def test_everything_public_is_exported():
    public = {n for n in vars(spatial) if not n.startswith("_") and n not in
              ("annotations", "np", "ndimage", "Sequence")}
    assert public == set(spatial.__all__)


def test_fwhm_to_sigma():
    # a Gaussian of sigma s has FWHM 2 s sqrt(2 ln 2) = 2.3548 s
    assert spatial.fwhm_to_sigma_mm(2.354820045) == pytest.approx(1.0, rel=1e-9)
    assert spatial.fwhm_to_sigma_mm(0.0) == 0.0
