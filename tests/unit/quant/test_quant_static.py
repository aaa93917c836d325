"""Static quantification and the tumour VOI rule on constructed images with exact answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gliopet.errors import InputError
from gliopet.quant.static import sphere_kernel, static_metrics, suv_peak
from gliopet.quant.voi import hemispheres, striatum_margin, tumour_voi, user_voi

VOX = (2.0, 2.0, 2.0)
SHAPE = (40, 40, 32)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
AFFINE[:3, 3] = [-(SHAPE[0] / 2 - 0.5) * 2, -(SHAPE[1] / 2 - 0.5) * 2, -(SHAPE[2] / 2 - 0.5) * 2]


def _phantom():
    """Brain ellipsoid (SUV 1), striata (SUV 2), right tumour ball (RAS world x > 0) (SUV 3 +
    gradient)."""
    idx = np.indices(SHAPE).astype(float)
    c = (np.array(SHAPE) - 1) / 2.0
    brain = (((idx[0] - c[0]) / 18) ** 2 + ((idx[1] - c[1]) / 18) ** 2
             + ((idx[2] - c[2]) / 14) ** 2 <= 1)
    striatum = np.zeros(SHAPE, bool)
    for dx in (-4, 4):
        striatum |= ((idx[0] - (c[0] + dx)) ** 2 + (idx[1] - (c[1] + 3)) ** 2
                     + (idx[2] - c[2]) ** 2 <= 4)
    tumour = (idx[0] - 30) ** 2 + (idx[1] - 14) ** 2 + (idx[2] - 16) ** 2 <= 16
    image = np.where(brain, 1.0, 0.0)
    image[striatum] = 2.0
    image[tumour] = 3.0 + 0.1 * (idx[0][tumour] - 26)
    return image, brain, striatum, tumour


def test_static_metrics_exact_on_constructed_image():
    image, brain, striatum, tumour = _phantom()
    left, right = hemispheres(brain, AFFINE)
    background = left & ~striatum
    m = static_metrics(image, tumour, background, VOX, striatum)
    values = image[tumour]
    assert m["SUVmax"] == pytest.approx(values.max())
    assert m["SUVmean"] == pytest.approx(values.mean())
    assert m["background_SUVmean"] == pytest.approx(1.0)
    assert m["striatum_SUVmean"] == pytest.approx(2.0)
    assert m["TBRmax"] == pytest.approx(values.max())
    assert m["TSRmean"] == pytest.approx(values.mean() / 2.0)
    assert m["BTV_mL"] == pytest.approx(np.count_nonzero(tumour) * 0.008)
    assert m["rano_measurable"] is True
    # SUVpeak by hand: mean over the in-image voxels within 6.2035 mm (1 mL ball) of each centre
    radius = (3000.0 / (4 * np.pi)) ** (1 / 3)
    offsets = [o for o in itertools.product(range(-3, 4), repeat=3)
               if 4.0 * sum(v * v for v in o) <= radius**2]
    assert len(offsets) == np.count_nonzero(sphere_kernel(VOX)) == 123
    best = max(np.mean([image[i + a, j + b, k + c] for a, b, c in offsets])
               for i, j, k in np.argwhere(tumour))
    assert m["SUVpeak"] == pytest.approx(best, rel=1e-12)
    assert m["TBRpeak"] == pytest.approx(best)
    peak, centre = suv_peak(image, tumour, VOX)
    assert tumour[centre]


def test_static_metrics_bad_masks():
    image, brain, striatum, tumour = _phantom()
    with pytest.raises(InputError) as err:
        static_metrics(image, np.zeros(SHAPE, bool), brain, VOX, tumour_path="tumour.nii.gz")
    assert str(err.value) == ("tumour.nii.gz: the tumour mask is empty (no voxel set) "
                              "(fix: give a tumour mask with at least one voxel on the PET grid)")
    with pytest.raises(InputError) as err:
        static_metrics(image, tumour, brain, VOX)
    assert str(err.value) == ("the background mask overlaps the tumour mask in "
                              f"{np.count_nonzero(tumour)} voxels (fix: give a background region "
                              "outside the tumour)")


def test_tumour_voi_rule_recovers_planted_tumour():
    image, brain, striatum, tumour = _phantom()
    voi = tumour_voi(image, brain, AFFINE, striatum)
    np.testing.assert_array_equal(voi.tumour, tumour)
    assert voi.lesion_side == "right"  # tumour at x index 30 > midline: world x > 0 (RAS right)
    assert voi.reference_suv == pytest.approx(1.0)
    assert voi.background_suv == pytest.approx(1.0)
    assert voi.background.any() and not (voi.background & voi.tumour).any()
    world_x = AFFINE[0, 0] * np.argwhere(voi.background)[:, 0] + AFFINE[0, 3]
    assert (world_x < 0).all()  # contralateral
    assert not (voi.background & striatum).any()


def test_background_stays_in_the_healthy_appearing_brain():
    """Infiltration below the threshold that crosses the midline (SUV 1.4 < 1.6 x 1.0) must not
    enter the contralateral background when preprocessing marked it abnormal (`healthy`)."""
    image, brain, striatum, tumour = _phantom()
    idx = np.indices(SHAPE)
    crossing = (brain & (np.abs(idx[0] - 15) <= 6) & (np.abs(idx[1] - 14) <= 4)
                & (np.abs(idx[2] - 16) <= 4) & ~tumour)
    image[crossing] = 1.4
    plain = tumour_voi(image, brain, AFFINE, striatum)
    assert (plain.background & crossing).any()  # without the healthy mask the infiltration leaks in
    assert plain.background_suv > 1.0
    healthy = brain & ~crossing & ~tumour
    voi = tumour_voi(image, brain, AFFINE, striatum, healthy=healthy)
    assert not (voi.background & crossing).any()
    assert voi.background_suv == pytest.approx(1.0)
    user = user_voi(image, tumour, brain, AFFINE, striatum, healthy=healthy)
    assert not (user.background & crossing).any() and user.background_suv == pytest.approx(1.0)


def test_striatum_margin_covers_one_voxel_in_every_direction(monkeypatch):
    """On coarse grids the margin grows to the voxel diagonal, so a striatum mask whose boundary is
    off by one voxel (diagonals included) cannot let striatal uptake into the candidates."""
    assert striatum_margin(5.0, (2.0, 2.0, 2.0)) == 5.0
    assert striatum_margin(5.0, (5.0, 5.0, 5.0)) == pytest.approx(np.sqrt(75.0))
    image, brain, striatum, tumour = _phantom()
    corner = tuple(int(v) for v in np.argwhere(striatum)[0] - 1)  # diagonal neighbour of the mask
    coarse = AFFINE.copy()
    coarse[:3] *= 2.5  # 5 mm voxels, same centre
    distance = np.min(np.linalg.norm((np.argwhere(striatum) - corner) * 5.0, axis=1))
    assert 5.0 < distance <= np.sqrt(75.0) + 1e-9  # outside a plain 5 mm margin
    image[corner] = 2.0  # striatal uptake that the (registered) mask missed
    voi = tumour_voi(image, brain, coarse, striatum, min_component_ml=0.0)
    assert not voi.tumour[corner]
    np.testing.assert_array_equal(voi.tumour, tumour)
    # control: with a plain 5 mm margin the missed striatal voxel becomes tumour
    monkeypatch.setattr("gliopet.quant.voi.striatum_margin", lambda margin_mm, sizes: margin_mm)
    assert tumour_voi(image, brain, coarse, striatum, min_component_ml=0.0).tumour[corner]


def test_tumour_voi_no_candidate_and_user_masks():
    image, brain, striatum, tumour = _phantom()
    flat = np.where(brain, 1.0, 0.0)
    with pytest.raises(InputError) as err:
        tumour_voi(flat, brain, AFFINE, striatum)
    assert str(err.value).startswith(
        "no brain voxel above 1.6 x the healthy-brain reference (SUV 1.6)")
    voi = user_voi(image, tumour, brain, AFFINE, striatum)
    assert voi.background.any() and not (voi.background & tumour).any()
    with pytest.raises(InputError) as err:
        user_voi(image, np.zeros(SHAPE, bool), brain, AFFINE, tumour_path="t.nii.gz")
    assert str(err.value).startswith("t.nii.gz: the tumour mask is empty")
    with pytest.raises(InputError) as err:
        user_voi(image, tumour, brain, AFFINE, background=brain, background_path="bg.nii.gz")
    assert str(err.value) == (f"bg.nii.gz: the background mask overlaps the tumour mask in "
                              f"{np.count_nonzero(tumour)} voxels (fix: give a background region "
                              "outside the tumour)")
