"""The tumour region of `gliopet evaluate-representation` (gliopet.foundation.tumour_region and
representation.region_vectors): found from the pipeline's outputs, pooled from the patch map
that `gliopet embed` writes, and the same voxels for the raw-intensity baseline."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from gliopet.foundation import representation as rep
from gliopet.foundation.encoder import patch_affine
from gliopet.foundation.tumour_region import ORIGIN_STEP, crop_origin, tumour_centre
from gliopet.io import derivatives as d

SHAPE = (48, 48, 48)
AFFINE = np.array([[2.0, 0, 0, -48.0], [0, 2.0, 0, -48.0], [0, 0, 2.0, -48.0], [0, 0, 0, 1]])
P = 8
HOT = (36, 36, 36)


def _sample() -> dict:
    """A brain filling the grid but a 2-voxel rim; PET 1 to 1.1 (a gradient along x) with a 9^3
    hot spot (5) at `HOT`: more than the brain's top 0.5 %, the PET-avid rule's share."""
    brain = np.zeros(SHAPE, bool)
    brain[2:-2, 2:-2, 2:-2] = True
    pet = np.where(brain, 1.0, 0.0).astype(np.float32)
    pet += np.linspace(0, 0.1, SHAPE[0], dtype=np.float32)[:, None, None] * brain
    pet[tuple(slice(c - 4, c + 5) for c in HOT)] = 5.0
    return {"images": {"pet": torch.tensor(pet[None])}, "brain_mask": torch.tensor(brain[None]),
            "affine": AFFINE, "present": ("pet",)}


def test_the_centre_is_the_pet_avid_spot_without_a_tumour_mask_and_the_brain_without_pet(tmp_path):
    sample = _sample()
    images = {m: v.numpy() for m, v in sample["images"].items()}
    brain = sample["brain_mask"][0].numpy()
    centre, method = tumour_centre(tmp_path, ("01", "diagnosis"), images, brain)
    assert method == "pet-avid" and np.allclose(centre, HOT)
    centre, method = tumour_centre(tmp_path, ("01", "diagnosis"), {}, brain)
    assert method == "brain" and np.allclose(centre, 23.5)
    origin = crop_origin(centre, SHAPE, 32)
    assert all(o % ORIGIN_STEP == 0 for o in origin)
    assert crop_origin(HOT, SHAPE, 32) == (16, 16, 16)  # moved inside the grid


def test_region_vectors_pool_the_region_patches_and_the_raw_vector_of_its_voxels(tmp_path):
    sample = _sample()
    grid = tuple(n // P for n in SHAPE)
    patch_map = np.full((*grid, 3), 5.0, np.float32)
    patch_map[2:, 2:, 2:] = [1.0, 2.0, 3.0]  # the region: voxels 16-47 = patches 2-5
    patch_map[0, 0, 0] = 0.0  # a patch without brain (zeroed by gliopet embed)
    path = d.EMBEDDING_MAP.path(tmp_path, ("01", "diagnosis"))
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(patch_map, patch_affine(AFFINE, P)), path)
    vectors, raw, methods = rep.region_vectors(tmp_path, [("01", "diagnosis")], [sample])
    assert methods == ["pet-avid"]
    assert vectors[0] == pytest.approx([1.0, 2.0, 3.0])
    pet, brain = sample["images"]["pet"][0].numpy(), sample["brain_mask"][0].numpy()
    region = np.zeros(SHAPE, bool)
    region[16:, 16:, 16:] = True
    expected = rep.raw_vector(sample, region)
    assert expected["pet0_mean"] == pytest.approx(pet[brain & region].mean())
    assert expected["pet0_mean"] != pytest.approx(pet[brain].mean())
    assert raw[0] == pytest.approx(list(expected.values()))
    assert rep.region_note(methods + ["tumour-mask", "pet-avid"]) == (
        "tumour region: pet-avid 2, tumour-mask 1")
