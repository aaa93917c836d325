"""Saliency helpers: crops placed back on the learning grid, mass inside a mask, the
randomisation check's verdicts, the tumour centre of a session's crop."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from gliopet.classify import images
from gliopet.classify.saliency import (
    RANDOMISATION_BOUND,
    mass_inside,
    randomisation_check,
    spearman_per_case,
    write_overlay,
    write_saliency,
)
from gliopet.errors import ParameterError

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def test_cut_and_paste_are_inverse_and_origins_sit_on_patches():
    grid = (40, 44, 36)
    volume = np.random.default_rng(0).random((1, *grid)).astype(np.float32)
    origin = images.crop_origin((30.0, 5.0, 35.0), grid, 16)
    # x: 30 - 8 = 22 -> nearest multiple of 8, 24; y: clipped to 0; z: 27 -> 24 > 36 - 16 = 20
    # -> clipped to 20 -> down to 16
    assert origin == (24, 0, 16)
    crop = images.cut(volume, origin, 16)
    back = images.paste(crop[0], origin, grid)
    block = tuple(slice(o, o + 16) for o in origin)
    assert np.array_equal(back[block], volume[0][block])
    assert np.count_nonzero(back) == 16**3
    edge = images.cut(volume, (32, 40, 32), 16)  # beyond the grid: zeros
    assert np.array_equal(edge[0, :8, :4, :4], volume[0, 32:, 40:, 32:])
    assert not edge[0, 8:].any()


def test_saliency_nifti_is_on_the_grid_with_the_crop_in_place(tmp_path):
    grid = (24, 24, 24)
    crop = np.zeros((8, 8, 8), np.float32)
    crop[2, 3, 4] = 1.0
    path = write_saliency(tmp_path / "map.nii.gz", crop, (8, 16, 0), grid, AFFINE, {"Method": "x"})
    img = nib.load(path)
    assert img.shape == grid and np.allclose(img.affine, AFFINE)
    assert np.argwhere(np.asarray(img.dataobj)).tolist() == [[10, 19, 4]]
    assert (tmp_path / "map.json").is_file()
    png = write_overlay(tmp_path / "map.png", np.ones((8, 8, 8)), crop, "title")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mass_inside_counts_the_positive_part():
    maps = np.zeros((2, 4, 4, 4))
    masks = np.zeros((2, 4, 4, 4), bool)
    masks[:, 0] = True
    maps[0, 0] = 3.0
    maps[0, 1] = 1.0
    maps[0, 2] = -5.0  # negative evidence is not mass
    assert np.allclose(mass_inside(maps, masks), [0.75, np.nan], equal_nan=True)


class _Fixed:
    """A fitted 'model' whose randomised copy gives the maps it was built with."""

    def __init__(self, maps, other):
        self.maps, self.other = maps, other

    def explain(self, X, method="gradcam"):
        return self.maps

    def randomised(self, seed=0):
        return _Fixed(self.other, self.other)


def test_randomisation_check_fails_unchanged_maps_and_passes_new_ones():
    rng = np.random.default_rng(1)
    maps = rng.random((3, 6, 6, 6))
    same = randomisation_check(_Fixed(maps, 2 * maps), None)
    assert np.allclose(same.spearman, 1.0) and not same.passed  # rank-identical: not changed
    new = randomisation_check(_Fixed(maps, rng.random((3, 6, 6, 6))), None)
    assert abs(new.median) < 0.2 < RANDOMISATION_BOUND and new.passed
    assert np.isnan(spearman_per_case(np.zeros((1, 2, 2, 2)), maps[:1, :2, :2, :2])[0])
    with pytest.raises(ParameterError, match="one of gradcam, occlusion, ig"):
        randomisation_check(_Fixed(maps, maps), None, "lime")


def _write_session(root, with_mask: bool):
    import SimpleITK as sitk

    from gliopet.foundation.data import learning_grid_geometry
    from gliopet.io import derivatives as d
    from gliopet.io.bids_write import write_image

    shape, affine = learning_grid_geometry()
    ids = ("01", "a")
    brain = np.zeros(shape, bool)
    brain[10:60, 10:80, 10:70] = True
    pet = brain * 1.0
    pet[40:44, 50:54, 30:34] = 5.0  # the PET-avid spot, centre (41.5, 51.5, 31.5)
    write_image(d.LEARNING_MASK.path(root, ids), brain, affine, np.uint8, None)
    write_image(d.LEARNING_PET.path(root, ids, tracer="FDOPA"), pet, affine, np.float32, None)
    if with_mask:  # tumour VOI elsewhere, on a "PET grid" equal to the learning grid
        tumour = np.zeros(shape, np.uint8)
        tumour[20:24, 20:24, 20:24] = 1
        write_image(d.TUMOUR_MASK.path(root, ids), tumour, affine, np.uint8, None)
        for source, target in (("pet", d.REFERENCE_SPACE), (d.REFERENCE_SPACE, d.TEMPLATE_SPACE)):
            path = d.XFM.path(root, ids, from_=source, to=target)
            path.parent.mkdir(parents=True, exist_ok=True)
            sitk.WriteTransform(sitk.Transform(3, sitk.sitkIdentity), str(path))
    return ids


@pytest.mark.parametrize(("with_mask", "method", "centre"),
                         [(True, "tumour-mask", (21.5, 21.5, 21.5)),
                          (False, "pet-avid", (41.5, 51.5, 31.5))])
def test_session_crop_is_centred_on_the_tumour(tmp_path, with_mask, method, centre):
    ids = _write_session(tmp_path, with_mask)
    frame, channels = images.read_crops(tmp_path, [ids], size=16)
    assert channels == ["pet"] and frame["centre_method"].iloc[0] == method
    origin = np.array(frame["origin"].iloc[0])
    assert (origin % images.ORIGIN_STEP == 0).all()
    assert (origin <= np.array(centre)).all() and (np.array(centre) < origin + 16).all()
    crop = frame["crop"].iloc[0]
    assert crop.shape == (1, 16, 16, 16) and crop.dtype == np.float32
    if not with_mask:  # PET / brain median (1): the spot reads 5 inside the crop
        assert crop.max() == pytest.approx(5.0)


def test_grad_cam_leaves_the_network_picklable():
    import pickle

    import torch

    from gliopet.classify.cnn import CAM_LAYER, CompactResNet
    from gliopet.classify.saliency import grad_cam

    torch.manual_seed(0)
    net = CompactResNet(1, 4).eval()
    maps = grad_cam(net, CAM_LAYER, torch.randn(2, 1, 16, 16, 16))
    assert maps.shape == (2, 16, 16, 16) and maps.max() <= 1.0 + 1e-6
    pickle.dumps(net)  # no MONAI hook left behind
