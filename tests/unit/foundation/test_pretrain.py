"""Pretraining with Lightning: checkpoints with their model cards, exact resume, configuration."""

from __future__ import annotations

import json

import pytest
import torch

from gliopet.errors import InputError
from gliopet.foundation.checkpoint import FORMAT, load_pretrained
from gliopet.foundation.config import load_foundation_config
from gliopet.foundation.training import GridInfo, pretrain
from gliopet.provenance import sha256_file
from support.foundation_samples import (
    AFFINE,
    CHANNELS,
    SyntheticDataset,
    collate,
    one_torch_thread,  # noqa: F401  (fixture)
    small_config,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GRID = (16, 20, 16)
SUBSETS = [tuple(CHANNELS), ("t1w", "pet", "pet_dynamic"), ("flair", "t2w"), ("t1w", "pet")]


@pytest.fixture(scope="module")
def data():
    dataset = SyntheticDataset(4, SUBSETS, grid=GRID)
    sessions = [{"subject": s["subject"], "session": s["session"], "site": s["site"]}
                for s in dataset.samples]
    return dataset, sessions


def _run(data, out, **kwargs):
    dataset, sessions = data
    return pretrain(dataset, GridInfo(CHANNELS, GRID, AFFINE), small_config(), out, seed=7,
                    collate=collate, sessions=sessions, **kwargs)


def test_resume_gives_the_same_next_losses_and_cards_describe_each_checkpoint(data, tmp_path):
    whole = _run(data, tmp_path / "whole", max_epochs=2)
    _run(data, tmp_path / "split", max_epochs=1)
    resumed = _run(data, tmp_path / "split", max_epochs=2, resume=True)
    assert len(whole.step_losses) == 4 and len(resumed.step_losses) == 2
    assert resumed.step_losses == pytest.approx(whole.step_losses[2:], rel=1e-6)
    assert [h["epoch"] for h in resumed.history] == [0, 1]

    folder = tmp_path / "whole" / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == [
        "epoch-0000.ckpt", "epoch-0000.json", "epoch-0001.ckpt", "epoch-0001.json",
        "last.ckpt", "last.json"]
    card = json.loads((folder / "epoch-0001.json").read_text())
    assert card["sha256"] == sha256_file(folder / "epoch-0001.ckpt")
    assert card["epoch"] == 1 and card["global_step"] == 4
    assert card["sites_seen"] == ["siteA", "siteB"]
    assert [s["subject"] for s in card["sessions_seen"]] == ["00", "01", "02", "03"]
    assert [h["epoch"] for h in card["losses"]] == [0, 1]
    assert card["losses"][1]["loss"] == pytest.approx(sum(whole.step_losses[2:]) / 2)
    assert card["config"]["model"]["hidden_size"] == 24
    assert card["modality_channels"] == CHANNELS and card["grid_shape"] == list(GRID)
    assert {"torch", "monai", "lightning", "gliopet"} <= set(card["versions"])

    module = load_pretrained(folder / "last.ckpt")
    assert not module.training
    assert module.model.encoder.grid_shape == GRID


def test_a_second_run_into_the_same_folder_is_refused(data, tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    with pytest.raises(InputError, match="already holds checkpoints.*--resume"):
        _run(data, tmp_path, max_epochs=1)
    with pytest.raises(InputError, match="nothing to resume"):
        _run(data, tmp_path / "empty", max_epochs=1, resume=True)


def test_foreign_checkpoints_are_refused_in_one_line(tmp_path):
    bare = tmp_path / "bare.pt"
    torch.save({"weight": torch.zeros(2)}, bare)
    with pytest.raises(InputError, match="not a gliopet foundation checkpoint") as info:
        load_pretrained(bare)
    assert "\n" not in info.value.one_line()
    (tmp_path / "junk.ckpt").write_text("not a checkpoint")
    with pytest.raises(InputError, match="not a readable torch checkpoint"):
        load_pretrained(tmp_path / "junk.ckpt")
    # gliopet's format marker, but hyper-parameters the model does not take
    odd = tmp_path / "odd.ckpt"
    torch.save({"gliopet_format": FORMAT, "state_dict": {},
                "hyper_parameters": {"config": {}, "unknown_option": 1}}, odd)
    with pytest.raises(InputError, match="hyper-parameters do not describe a gliopet model"):
        load_pretrained(odd)


def test_presets_and_user_files(tmp_path):
    tiny, base = load_foundation_config("tiny"), load_foundation_config("base")
    assert tiny.train.accelerator == "cpu" and base.train.precision == "bf16-mixed"
    assert base.train.crop_size == (128, 128, 128) and base.model.patch_size <= 8
    user = tmp_path / "mine.yaml"
    user.write_text("preset: base\ntrain: {max_epochs: 3}\n")
    mine = load_foundation_config(user)
    assert mine.train.max_epochs == 3 and mine.model.hidden_size == base.model.hidden_size
    user.write_text("model: {patch_size: 16}\n")
    with pytest.raises(InputError, match="'model.patch_size'"):
        load_foundation_config(user)
    user.write_text("train: {crop_size: [30, 32, 32]}\n")
    with pytest.raises(InputError, match="multiples of model.patch_size"):
        load_foundation_config(user)
    user.write_text("pretext: {contrastiv: {}}\n")
    with pytest.raises(InputError, match="contrastiv"):
        load_foundation_config(user)
