"""`gliopet pretrain` and `gliopet embed` on a BIDS dataset with learning-grid images.

Three sessions (all modalities; T1w + PET + dynamic PET; MRI only at a second site) written on
the real learning grid; a tiny model pretrained for one epoch through the CLI; embeddings whose
maps must overlay the learning grid exactly; every refusal one line with nothing written.
"""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from gliopet.foundation.data import learning_grid_geometry
from gliopet.foundation.encoder import patch_affine
from gliopet.io import derivatives as d
from support.bids_factory import make_bids_dataset
from support.cli import run_cli
from support.foundation_samples import (
    one_torch_thread,  # noqa: F401  (fixture)
    write_learning_session,
)

# slow: about 35 s (three sessions on the 77 x 94 x 80 grid, one epoch, whole-grid embedding)
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

SES = "diagnosis"
P = 8
CONFIG = """\
preset: tiny
model: {patch_size: 8, hidden_size: 24, depth: 1, num_heads: 4, mlp_dim: 48,
        decoder_hidden_size: 16, decoder_depth: 1, decoder_num_heads: 4, projection_dim: 8}
train: {crop_size: [16, 16, 16], batch_size: 2, max_epochs: 1, threads: 1}
"""
SUBSETS = {"01": ("t1w", "t1ce", "t2w", "flair", "pet", "pet_dynamic"),
           "02": ("t1w", "pet", "pet_dynamic"), "03": ("t1w", "flair")}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("foundation")
    root = base / "bids"
    make_bids_dataset(root, n_subjects=3)
    sessions = root / "sub-03" / "sub-03_sessions.tsv"
    table = pd.read_csv(sessions, sep="\t")
    table["site"] = "siteB"
    table.to_csv(sessions, sep="\t", index=False)
    samples = {s: write_learning_session(root, s, SES, m, i)
               for i, (s, m) in enumerate(SUBSETS.items())}
    (base / "tiny.yaml").write_text(CONFIG)
    from monai.networks.nets import ViT  # a general model on the padded learning grid

    torch.save(ViT(1, (80, 96, 80), P, hidden_size=24, mlp_dim=48, num_layers=1,
                   num_heads=4).state_dict(), base / "vit.pt")
    code, out, err = run_cli("pretrain", root, "--config", base / "tiny.yaml", "--out",
                             base / "run", "--exclude-site", "siteB", "--init", base / "vit.pt")
    assert code == 0, err
    return root, base, samples, out


def _foundation_dir(root):
    return d.FOUNDATION.root(root)


def test_pretrain_writes_checkpoint_and_card_without_the_excluded_site(trained):
    root, base, _, out = trained
    assert "pretrained 1 epoch(s)" in out
    card = json.loads((base / "run" / "checkpoints" / "last.json").read_text())
    assert card["sites_seen"] == ["siteA"] and card["excluded_sites"] == ["siteB"]
    assert [s["subject"] for s in card["sessions_seen"]] == ["01", "02"]
    assert card["modalities_seen"] == list(SUBSETS["01"])
    assert card["grid_shape"] == list(learning_grid_geometry()[0])


def test_pretrain_init_prints_and_saves_its_report(trained):
    _, base, _, out = trained
    assert f"--init {base / 'vit.pt'} (monai-vit): 28 tensors loaded, 0 skipped, " in out
    report = json.loads((base / "run" / "init-report.json").read_text())
    loaded = {e["target"] for e in report["loaded"]}
    assert {"position_embedding", "blocks.0.attn.qkv.weight", "tokenisers.pet.weight"} <= loaded
    assert report["left_at_initialisation"] == ["modality_embedding", "blocks.0.attn.qkv.bias"]
    card = json.loads((base / "run" / "checkpoints" / "last.json").read_text())
    assert card["init"]["layout"] == "monai-vit"


def test_embed_maps_overlay_the_learning_grid(trained):
    root, base, samples, _ = trained
    code, out, err = run_cli("embed", root, "--model", base / "run" / "checkpoints" / "last.ckpt",
                             "--dense", "--participant-label", "01", "--participant-label", "02")
    assert code == 0, err
    assert "embedded 2 session(s)" in out
    shape, affine = learning_grid_geometry()
    for subject in ("01", "02"):
        path = d.find(root, (subject, SES), d.EMBEDDING_MAP)
        image = nib.load(path)
        grid = tuple(-(-n // P) for n in shape)
        assert image.shape == (*grid, 24)
        np.testing.assert_allclose(image.affine, patch_affine(affine, P), atol=1e-5)
        # overlay: every learning-grid voxel, mapped through the two affines to the map's nearest
        # voxel, lands on the patch that holds it (floor(v / P)); brain voxels on non-zero vectors
        voxels = np.argwhere(samples[subject]["brain_mask"][0].numpy())
        world = affine @ np.c_[voxels, np.ones(len(voxels))].T
        index = np.rint(np.linalg.solve(image.affine, world)[:3].T).astype(int)
        np.testing.assert_array_equal(index, voxels // P)
        data = image.get_fdata()
        assert (np.abs(data[tuple(index.T)]).sum(-1) > 0).all()
        brain_patches = np.zeros(grid, bool)
        brain_patches[tuple((voxels // P).T)] = True
        assert ((np.abs(data).sum(-1) > 0) == brain_patches).all()
        dense = nib.load(d.find(root, (subject, SES), d.EMBEDDING_DENSE))
        assert dense.shape == (*shape, 24)
        np.testing.assert_allclose(dense.affine, affine, atol=1e-5)
        sidecar = json.loads(path.with_name(path.name.replace(".nii.gz", ".json")).read_text())
        assert sidecar["Modalities"] == list(SUBSETS[subject])
    table = pd.read_csv(d.EMBEDDING_TABLE.path(root), sep="\t", dtype={"subject": str})
    assert table["subject"].tolist() == ["01", "02"]
    vector = table.loc[0, [f"e{i:03d}" for i in range(24)]].to_numpy(float)
    data = nib.load(d.find(root, ("01", SES), d.EMBEDDING_MAP)).get_fdata()
    inside = data[np.abs(data).sum(-1) > 0]
    np.testing.assert_allclose(vector, inside.mean(0), rtol=1e-4, atol=1e-6)


def _refused(root, *args):
    before = _foundation_dir(root).exists()
    code, out, err = run_cli("embed", root, *args)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert _foundation_dir(root).exists() == before
    return err


def test_bad_inputs_are_one_line_and_write_nothing(trained, tmp_path):
    root, base, _, _ = trained
    ckpt = base / "run" / "checkpoints" / "last.ckpt"
    fresh = tmp_path / "bids"
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns("foundation"))
    # a checkpoint of another architecture
    from monai.networks.nets import ViT

    torch.save(ViT(1, (16, 16, 16), 8, hidden_size=24, mlp_dim=48, num_layers=1,
                   num_heads=4).state_dict(), tmp_path / "vit.pt")
    assert "not a gliopet foundation checkpoint" in _refused(fresh, "--model", tmp_path / "vit.pt")
    # a modality the model never saw (sub-03's FLAIR-only site was excluded: pretend T1w-only)
    raw = torch.load(ckpt, weights_only=False)
    raw["gliopet_modalities_seen"] = ["t1w", "pet"]
    torch.save(raw, tmp_path / "t1-pet.ckpt")
    assert "never saw modality 't1ce'" in _refused(fresh, "--model", tmp_path / "t1-pet.ckpt")
    # a model trained on another learning grid
    raw = torch.load(ckpt, weights_only=False)
    raw["hyper_parameters"]["grid_affine"][0][3] += 2.0
    torch.save(raw, tmp_path / "shifted.ckpt")
    assert "not the one the model was trained on" in _refused(fresh, "--model",
                                                              tmp_path / "shifted.ckpt")
    # an image not on the learning grid
    path = d.find(fresh, ("02", SES), d.LEARNING_PET)
    image = nib.load(path)
    nib.save(nib.Nifti1Image(image.get_fdata()[:-1], image.affine), path)
    assert "not on the learning grid" in _refused(fresh, "--model", ckpt)
    # an empty dataset (nothing preprocessed)
    empty = tmp_path / "empty"
    make_bids_dataset(empty, n_subjects=1)
    assert "no session has learning-grid images" in _refused(empty, "--model", ckpt)
