"""Template space: bundled MNI images and the shared striatum definition."""

from __future__ import annotations

import numpy as np
import pytest

from gliopet.spatial import world_coordinates
from gliopet.templates import STRIATUM_MNI, load_mni, striatum_masks


def test_mni_images_are_offline_and_aligned():
    images = load_mni(2)
    assert {img.shape for img in images.values()} == {(99, 117, 95)}
    assert np.allclose(images["t1"].affine, images["gm"].affine)
    brain_ml = np.asarray(images["brain_mask"].dataobj).sum() * 8 / 1000
    assert 1400 < brain_ml < 2200  # adult intracranial brain mask, mL


def test_striatum_volumes_and_sides():
    masks = striatum_masks(2)
    volumes = {name: mask.sum() * 8 / 1000 for name, mask in masks.items()}
    for name in ("caudate_left", "caudate_right"):
        assert 3.0 <= volumes[name] <= 4.5, volumes  # adult caudate, mL
    for name in ("putamen_left", "putamen_right"):
        assert 3.8 <= volumes[name] <= 5.5, volumes  # adult putamen, mL
    xyz = world_coordinates(masks["caudate_left"].shape, load_mni(2)["gm"].affine)
    assert xyz[masks["caudate_left"], 0].max() < 0 < xyz[masks["caudate_right"], 0].min()
    assert not np.any(masks["caudate_left"] & masks["putamen_left"])


def test_ellipsoid_contains_centre_not_far_points():
    ellipsoid = STRIATUM_MNI["putamen_right"]
    inside = ellipsoid.contains(np.array([ellipsoid.centre_mm, [0.0, 0.0, 0.0]]))
    assert inside.tolist() == [True, False]


def test_bad_resolution_refused():
    with pytest.raises(ValueError, match="resolution_mm must be 1 or 2"):
        load_mni(3)
