"""The per-modality 3D ViT: tokens, any modality subset, fusion, padding, patch affine."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from gliopet.foundation.encoder import ModalityViT, fuse, pad_to_patches, patch_affine, patch_grid
from support.foundation_samples import (
    AFFINE,
    CHANNELS,
    GRID,
    collate,
    one_torch_thread,  # noqa: F401  (fixture)
    synthetic_sample,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SUBSETS = [s for k in range(1, len(CHANNELS) + 1) for s in itertools.combinations(CHANNELS, k)]


def _encoder(patch: int = 4) -> ModalityViT:
    torch.manual_seed(0)
    return ModalityViT(CHANNELS, GRID, patch_size=patch, hidden_size=24, depth=1, num_heads=4,
                       mlp_dim=48).eval()


def _batch(subsets):
    return collate([synthetic_sample(i % 4, s) for i, s in enumerate(subsets)])


def test_every_modality_subset_encodes_with_one_model():
    """All 63 subsets in one batch: outputs exactly at the given modalities' tokens."""
    enc = _encoder()
    batch = _batch(SUBSETS)
    images = {m: v[..., 8:24, 8:24, 8:24] for m, v in batch["images"].items()}  # a 16^3 crop
    with torch.no_grad():
        out, visible = enc(images, batch["present"], (2, 2, 2))
    n = 4**3
    assert out.shape == (len(SUBSETS), len(CHANNELS), n, 24)
    for row, subset in enumerate(SUBSETS):
        given = [m in subset for m in CHANNELS]
        assert visible[row].all(1).tolist() == given
        assert (out[row][torch.tensor(given)].abs().sum(-1) > 0).all()
        assert (out[row][~torch.tensor(given)] == 0).all()
    fused, covered = fuse(out, visible)
    assert fused.shape == (len(SUBSETS), n, 24) and covered.all()


def test_fusion_is_the_mean_of_the_given_modality_tokens():
    out = torch.randn(1, 3, 5, 4)
    visible = torch.tensor([[[1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [0, 0, 0, 0, 0]]], dtype=bool)
    fused, covered = fuse(out, visible)
    torch.testing.assert_close(fused[0, 0], (out[0, 0, 0] + out[0, 1, 0]) / 2)
    torch.testing.assert_close(fused[0, 1], out[0, 0, 1])
    torch.testing.assert_close(fused[0, 2], out[0, 1, 2])
    assert covered[0].tolist() == [True, True, True, False, False]
    assert (fused[0, 3:] == 0).all()


def test_a_sample_does_not_see_its_batch_neighbours():
    """The key-padding mask: a T1w-only sample batched with an all-modality one gives the same
    outputs as alone (its sequence is padded to the other's length)."""
    enc = _encoder()
    alone = _batch([("t1w",)])
    mixed = collate([synthetic_sample(0, ("t1w",)), synthetic_sample(1, tuple(CHANNELS))])
    with torch.no_grad():
        a, _ = enc({m: pad_to_patches(v, 4) for m, v in alone["images"].items()},
                   alone["present"])
        b, _ = enc({m: pad_to_patches(v, 4) for m, v in mixed["images"].items()},
                   mixed["present"])
    torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=1e-5)


def test_attention_is_scaled_dot_product_attention(monkeypatch):
    calls = []
    original = torch.nn.functional.scaled_dot_product_attention

    def counting(*args, **kwargs):
        calls.append(kwargs["query"].shape)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counting)
    enc = _encoder()
    batch = _batch([("t1w", "pet")])
    with torch.no_grad():
        enc({m: pad_to_patches(v, 4) for m, v in batch["images"].items()}, batch["present"])
    assert len(calls) == 1  # one block


def test_patches_larger_than_16_mm_are_refused():
    with pytest.raises(ValueError, match="<= 16 mm"):
        ModalityViT(CHANNELS, GRID, patch_size=9)


def test_crop_tokens_carry_their_grid_positions():
    """A crop at patch origin (1, 2, 0) gets the same tokens as the whole grid at those patches."""
    enc = _encoder()
    batch = _batch([("t1w",)])
    whole = pad_to_patches(batch["images"]["t1w"], 4)
    crop = whole[:, :, 4:12, 8:16, 0:8]
    with torch.no_grad():
        all_tokens = enc.tokenise({"t1w": whole})[0, 0].reshape(*patch_grid(GRID, 4), -1)
        crop_tokens = enc.tokenise({"t1w": crop}, (1, 2, 0))[0, 0].reshape(2, 2, 2, -1)
    torch.testing.assert_close(crop_tokens, all_tokens[1:3, 2:4, 0:2])
    with pytest.raises(ValueError, match="leaves the grid"):
        enc.tokenise({"t1w": crop}, (9, 0, 0))


def test_patch_affine_puts_each_map_voxel_at_its_patch_centre():
    p = 8
    out = patch_affine(AFFINE, p)
    for index in [(0, 0, 0), (3, 1, 4)]:
        first = np.array(index) * p
        centre_voxel = first + (p - 1) / 2
        expected = AFFINE @ np.append(centre_voxel, 1)
        np.testing.assert_allclose(out @ np.append(index, 1), expected)
    np.testing.assert_allclose(np.abs(np.diag(out)[:3]), 16.0)


def test_per_sample_origins_gather_the_same_positions_as_slices():
    enc = _encoder()
    shape = (2, 1, 8, 8, 4)
    both = enc.positions(shape, torch.tensor([[1, 2, 0], [0, 0, 3]]))
    torch.testing.assert_close(both[0], enc.positions(shape, (1, 2, 0))[0])
    torch.testing.assert_close(both[1], enc.positions(shape, (0, 0, 3))[1])
