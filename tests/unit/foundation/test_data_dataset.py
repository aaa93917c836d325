"""`LearningGridDataset`, `presence` and `collate_sessions` on learning-grid files written here.

Three sessions of a tiny BIDS dataset: sub-01 has every modality, sub-02 a static PET and a
T1w (no dynamic channels), sub-03 is MRI-only (its PET folder removed). The learning-grid files
are written through the derivatives contract with known values.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from gliopet.errors import InputError, ParameterError
from gliopet.foundation.data import (
    MODALITY_CHANNELS,
    LearningGridDataset,
    collate_sessions,
    learning_grid_geometry,
)
from gliopet.io import derivatives as d
from gliopet.io.bids_write import write_image
from support.bids_factory import make_bids_dataset

SES = "diagnosis"
STATIC_SUV = 2.5


def _write_session(root, subject, modalities, shape, affine, brain):
    ids = (subject, SES)
    write_image(d.LEARNING_MASK.path(root, ids), brain, affine, np.uint8, None)
    for key in modalities.get("mri", ()):
        value = {"T1w": 1.0, "ce-gadolinium_T1w": 2.0}[key]
        write_image(d.LEARNING_MRI.path(root, ids, **d.anat_fill(key)),
                    np.where(brain, value, 0.0), affine, np.float32, None)
    if modalities.get("pet"):
        static = np.where(brain, STATIC_SUV, 0.1)
        write_image(d.LEARNING_PET.path(root, ids, tracer="FDOPA"), static, affine, np.float32,
                    None)
    if modalities.get("dynamic"):
        for j, stat in enumerate(d.LEARNING_DYNAMIC_STATS):
            write_image(d.LEARNING_DYNAMIC.path(root, ids, tracer="FDOPA", stat=stat),
                        np.where(brain, 10.0 + j, 0.0), affine, np.float32, None)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("learning") / "bids"
    make_bids_dataset(root, n_subjects=3)
    shutil.rmtree(root / "sub-03" / f"ses-{SES}" / "pet")  # MRI-only session
    shape, affine = learning_grid_geometry()
    brain = np.zeros(shape, bool)
    brain[20:50, 25:65, 20:60] = True
    _write_session(root, "01", {"mri": ("T1w", "ce-gadolinium_T1w"), "pet": True,
                                "dynamic": True}, shape, affine, brain)
    _write_session(root, "02", {"mri": ("T1w",), "pet": True}, shape, affine, brain)
    _write_session(root, "03", {"mri": ("T1w",)}, shape, affine, brain)
    return root, shape, affine, brain


def test_presence_and_items(cohort):
    root, shape, affine, brain = cohort
    dataset = LearningGridDataset(root)
    table = dataset.presence()
    assert list(table.columns) == ["subject", "session", "site", *MODALITY_CHANNELS]
    assert table["subject"].tolist() == ["01", "02", "03"]
    assert table[list(MODALITY_CHANNELS)].to_numpy().tolist() == [
        [True, True, False, False, True, True],
        [True, False, False, False, True, False],
        [True, False, False, False, False, False],
    ]
    first = dataset[0]
    assert first["present"] == ("t1w", "t1ce", "pet", "pet_dynamic")
    assert (first["subject"], first["session"], first["site"]) == ("01", SES, "siteA")
    assert first["brain_mask"].dtype == torch.bool
    assert tuple(first["brain_mask"].shape) == (1, *shape)
    assert int(first["brain_mask"].sum()) == int(brain.sum())
    np.testing.assert_allclose(first["affine"], affine)
    images = first["images"]
    assert set(images) == set(first["present"])
    for modality, tensor in images.items():
        assert tensor.dtype == torch.float32
        assert tuple(tensor.shape) == (MODALITY_CHANNELS[modality], *shape)
    # static PET divided by its brain median: 1 in the brain, 0.1 / 2.5 outside
    pet = images["pet"][0].numpy()
    assert np.allclose(pet[brain], 1.0) and np.allclose(pet[~brain], 0.1 / STATIC_SUV)
    # dynamic channels as written, in LEARNING_DYNAMIC_STATS order
    dynamic = images["pet_dynamic"].numpy()
    assert [float(dynamic[j][brain].mean()) for j in range(4)] == [10.0, 11.0, 12.0, 13.0]
    assert float(images["t1ce"][0][tuple(np.argwhere(brain)[0])]) == 2.0
    assert dataset[2]["present"] == ("t1w",)


def test_subset_of_modalities(cohort):
    root = cohort[0]
    dataset = LearningGridDataset(root, modalities=["pet", "pet_dynamic"])
    assert len(dataset) == 2  # the MRI-only session has neither
    assert list(dataset.presence().columns) == ["subject", "session", "site", "pet",
                                                "pet_dynamic"]
    assert set(dataset[0]["images"]) == {"pet", "pet_dynamic"}
    only = LearningGridDataset(root, participant_labels=["sub-03"])
    assert len(only) == 1 and only[0]["present"] == ("t1w",)


def test_collate_mixed_subsets(cohort):
    root, shape, _, brain = cohort
    dataset = LearningGridDataset(root)
    batch = collate_sessions([dataset[2], dataset[0]])
    assert set(batch["images"]) == {"t1w", "t1ce", "pet", "pet_dynamic"}
    assert tuple(batch["images"]["pet_dynamic"].shape) == (2, 4, *shape)
    assert batch["present"].tolist() == [[True, False, False, False, False, False],
                                         [True, True, False, False, True, True]]
    assert float(batch["images"]["pet"][0].abs().sum()) == 0.0  # absent: zeros
    assert torch.equal(batch["images"]["pet"][1], dataset[0]["images"]["pet"])
    assert tuple(batch["brain_mask"].shape) == (2, 1, *shape)
    assert tuple(batch["affine"].shape) == (2, 4, 4)
    assert batch["subject"] == ["03", "01"] and batch["site"] == ["siteA", "siteA"]


def test_no_learning_grid_files_names_the_command(tmp_path):
    make_bids_dataset(tmp_path / "bids", n_subjects=1)
    with pytest.raises(InputError) as err:
        LearningGridDataset(tmp_path / "bids")
    assert err.value.problem == ("no session has learning-grid images of t1w, t1ce, t2w, flair, "
                                 "pet, pet_dynamic")
    assert "run `gliopet preprocess` on the dataset" in err.value.fix


def test_image_off_the_learning_grid(cohort, tmp_path):
    root = tmp_path / "bids"
    shutil.copytree(cohort[0], root)
    path = d.LEARNING_PET.path(root, ("02", SES), tracer="FDOPA")
    write_image(path, np.ones((40, 40, 40)), np.diag([2.0, 2.0, 2.0, 1.0]), np.float32, None)
    with pytest.raises(InputError) as err:
        LearningGridDataset(root)
    assert err.value.path == str(path)
    assert err.value.problem.startswith("the image is not on the learning grid (shape (40, 40, "
                                        "40), expected (77, 94, 80)")


def test_missing_dynamic_channel_and_mask(cohort, tmp_path):
    root = tmp_path / "bids"
    shutil.copytree(cohort[0], root)
    d.LEARNING_DYNAMIC.path(root, ("01", SES), tracer="FDOPA", stat="TTPrel").unlink()
    with pytest.raises(InputError, match="dynamic PET channels TTPrel are missing"):
        LearningGridDataset(root)
    d.LEARNING_MASK.path(root, ("02", SES)).unlink()
    with pytest.raises(InputError, match="without the learning-grid brain mask"):
        LearningGridDataset(root, participant_labels=["02"])


def test_unknown_modality():
    with pytest.raises(ParameterError, match="'modalities' parameter must be a non-empty list"):
        LearningGridDataset("unused", modalities=["ct"])
