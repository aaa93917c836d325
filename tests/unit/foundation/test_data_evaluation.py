"""Patch-level clustering against true compartments (gliopet.foundation.evaluation) on a
constructed learning grid with three compartments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gliopet.errors import InputError
from gliopet.foundation.evaluation import (
    PatchGrid,
    baseline_aris,
    baseline_patch_grid,
    embedding_ari,
    patch_index,
    patch_labels,
    patch_means,
)

SHAPE = (24, 24, 16)
AFFINE = np.array([[2.0, 0, 0, -24.0], [0, 2.0, 0, -30.0], [0, 0, 2.0, -10.0], [0, 0, 0, 1]])
P = 4


@pytest.fixture(scope="module")
def scene():
    """Grey matter (3) left, white matter (4) right, a tumour (11) block; brain inside a 2-voxel
    border (scalp label 1 outside)."""
    truth = np.full(SHAPE, 3, np.int16)
    truth[12:] = 4
    truth[4:12, 8:16, 4:12] = 11
    brain = np.zeros(SHAPE, bool)
    brain[2:-2, 2:-2, 2:-2] = True
    truth[~brain] = 1
    rng = np.random.default_rng(0)
    level = {1: 0.0, 3: 1.0, 4: -1.0, 11: 3.0}
    t1 = np.vectorize(level.get)(truth).astype(np.float32) + rng.normal(0, 0.2, SHAPE)
    pet = np.where(truth == 11, 3.0, 1.0) + rng.normal(0, 0.1, SHAPE)
    dynamic = np.stack([pet, pet * 0.9, np.where(truth == 11, 0.2, 0.8), -pet])
    sample = {"images": {"t1w": torch.tensor(t1[None], dtype=torch.float32),
                         "pet": torch.tensor(pet[None], dtype=torch.float32),
                         "pet_dynamic": torch.tensor(dynamic, dtype=torch.float32)},
              "brain_mask": torch.tensor(brain[None]), "affine": AFFINE}
    return truth, brain, sample


def test_patch_index_baseline_and_offset_grid():
    grid = baseline_patch_grid(SHAPE, AFFINE, P)
    assert grid.shape == (6, 6, 4)
    index = patch_index(SHAPE, AFFINE, grid)
    assert index[5, 9, 2] == np.ravel_multi_index((1, 2, 0), grid.shape)
    assert index[23, 23, 15] == np.ravel_multi_index((5, 5, 3), grid.shape)
    # a model that pads 2 voxels before the first one: patch p covers voxels 4p-2 ... 4p+1
    offset = np.diag([P, P, P, 1.0])
    offset[:3, 3] = (P - 1) / 2.0 - 2.0
    padded = PatchGrid((7, 6, 4), AFFINE @ offset)
    index = patch_index(SHAPE, AFFINE, padded)
    assert [np.unravel_index(index[x, 0, 0], padded.shape)[0] for x in (0, 1, 2, 5, 6, 23)] == [
        0, 0, 1, 1, 2, 6]


def test_patch_labels_majority_and_brain_fraction(scene):
    truth, brain, _ = scene
    grid = baseline_patch_grid(SHAPE, AFFINE, P)
    n = int(np.prod(grid.shape))
    labels = patch_labels(truth, brain, patch_index(SHAPE, AFFINE, grid), n).reshape(grid.shape)
    assert labels[0, 0, 0] == -1  # 8 brain voxels of 64: left out
    assert labels[1, 1, 1] == 3 and labels[4, 1, 1] == 4
    assert labels[1, 2, 1] == 11 and labels[2, 3, 2] == 11


def test_embeddings_and_baselines(scene):
    truth, brain, sample = scene
    grid = baseline_patch_grid(SHAPE, AFFINE, P)
    n = int(np.prod(grid.shape))
    labels = patch_labels(truth, brain, patch_index(SHAPE, AFFINE, grid), n)
    rng = np.random.default_rng(1)
    onehot = np.stack([labels == k for k in (3, 4, 11)], axis=1).astype(float)
    perfect = (onehot + rng.normal(0, 0.05, onehot.shape)).reshape(*grid.shape, 3)
    assert embedding_ari(perfect, grid.affine, truth, brain, AFFINE, seed=0) == 1.0
    noise = rng.normal(size=(*grid.shape, 8))
    assert abs(embedding_ari(noise, grid.affine, truth, brain, AFFINE, seed=0)) < 0.2
    aris = baseline_aris(sample, truth, patch_size=P, seed=0)
    assert aris["raw"] > 0.9  # three well separated intensity levels
    # the PET channels tell the tumour apart but not grey from white matter
    assert -0.2 < aris["kinetic"] < aris["raw"] - 0.5
    index = patch_index(SHAPE, AFFINE, grid)
    means = patch_means(sample["images"]["pet_dynamic"].numpy(), brain, index, n)
    tumour_patch = np.ravel_multi_index((1, 2, 1), grid.shape)
    assert means[tumour_patch, 2] == pytest.approx(0.2)


def test_bad_embedding_and_nothing_to_cluster(scene):
    truth, brain, _ = scene
    with pytest.raises(InputError, match=r"an embedding map has 4 axes \(x, y, z, feature\)"):
        embedding_ari(np.zeros((6, 6, 4)), AFFINE, truth, brain, AFFINE, seed=0)
    uniform = np.where(brain, 3, 1).astype(np.int16)
    grid = baseline_patch_grid(SHAPE, AFFINE, P)
    with pytest.raises(InputError, match=r"1 true compartment\(s\) in \d+ patches"):
        embedding_ari(np.ones((*grid.shape, 2)), grid.affine, uniform, brain, AFFINE, seed=0)
