"""Pretext tasks: mask plans, reconstruction shapes for every modality subset, the InfoNCE
loss against MONAI's, switches, and losses that decrease over a short run."""

from __future__ import annotations

import itertools

import pytest
import torch
from monai.losses import ContrastiveLoss

from gliopet.foundation.masking import sample_plan
from gliopet.foundation.pretext import PretextModel, draw_views, info_nce, patchify, unpatchify
from gliopet.foundation.views import make_view
from support.foundation_samples import (
    CHANNELS,
    collate,
    one_torch_thread,  # noqa: F401  (fixture)
    small_config,
    synthetic_sample,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODALITIES = tuple(CHANNELS)
SUBSETS = [s for k in range(1, len(CHANNELS) + 1) for s in itertools.combinations(CHANNELS, k)]
GRID = (16, 16, 16)


def _model(config=None) -> PretextModel:
    torch.manual_seed(0)
    return PretextModel(CHANNELS, GRID, config or small_config())


def _batch(subsets):
    return collate([synthetic_sample(i % 4, s, grid=GRID) for i, s in enumerate(subsets)])


def test_plan_masks_each_modality_and_never_drops_everything():
    cfg = small_config().pretext
    present = torch.tensor([[m in s for m in MODALITIES] for s in SUBSETS])
    plan = sample_plan(present, MODALITIES, 64, cfg, torch.Generator().manual_seed(1))
    assert plan.masked.shape == (len(SUBSETS), 6, 64) and plan.dropped.shape == (len(SUBSETS), 6)
    kept = present & ~plan.dropped
    assert kept.any(1).all()                        # something is always left
    assert not (plan.dropped & ~present).any()      # only present modalities are dropped
    hidden = plan.masked.sum(2)
    assert (hidden[kept] == round(0.6 * 64)).all()  # 60 % of each kept modality's patches
    assert (hidden[~kept] == 0).all()
    assert plan.dropped.any()                       # cross-modal drops happen
    masks = plan.masked[kept]
    assert len({tuple(m.nonzero().flatten().tolist()) for m in masks}) > len(masks) // 2


def test_pet_from_mri_drops_every_pet_modality():
    cfg = small_config(pretext={"cross_modal": {"pet_from_mri_probability": 1.0}}).pretext
    present = torch.ones((4, 6), dtype=bool)
    plan = sample_plan(present, MODALITIES, 8, cfg, torch.Generator().manual_seed(2))
    assert plan.dropped.tolist() == [[False] * 4 + [True] * 2] * 4
    pet_only = torch.tensor([[False] * 4 + [True, True]])
    plan = sample_plan(pet_only, MODALITIES, 8, cfg, torch.Generator().manual_seed(2))
    assert plan.dropped[0, 4:].sum() <= 1           # PET-only: never both PET modalities


def test_switched_off_objectives_mask_nothing_for_themselves():
    cfg = small_config(pretext={"inpainting": {"enabled": False},
                                "cross_modal": {"weight": 0.0}}).pretext
    present = torch.ones((3, 6), dtype=bool)
    plan = sample_plan(present, MODALITIES, 64, cfg, torch.Generator().manual_seed(3))
    assert not plan.dropped.any()
    assert (plan.masked[:, :5].sum(2) == 0).all() and (plan.masked[:, 5].sum(1) == 38).all()


def test_reconstruction_shapes_for_every_modality_subset():
    model = _model().eval()
    batch = _batch(SUBSETS)
    g = torch.Generator().manual_seed(0)
    view = make_view(batch, [16, 16, 16], 4, model.config.train.augment, g)
    plan = sample_plan(view.present, MODALITIES, 64, model.config.pretext, g)
    with torch.no_grad():
        recon = model.reconstruct(view, plan)
        errors, vector = model.view_losses(view, plan)
    assert set(recon) == set(MODALITIES)
    for name, volume in recon.items():
        assert volume.shape == (len(SUBSETS), CHANNELS[name], 16, 16, 16)
    assert vector.shape == (len(SUBSETS), 24)
    for key, values in errors.items():
        assert values.shape == (len(SUBSETS),) and torch.isfinite(values).all(), key
    for row, subset in enumerate(SUBSETS):  # cross-modal error only where something was dropped
        assert (errors["cross_modal"][row] > 0) == bool(plan.dropped[row, :5].any())
        if "pet_dynamic" not in subset:
            assert errors["dynamic"][row] == 0


def test_patchify_round_trips():
    volume = torch.randn(2, 3, 8, 12, 4)
    patches = patchify(volume, 4)
    assert patches.shape == (2, 6, 3 * 64)
    torch.testing.assert_close(unpatchify(patches, 3, (2, 3, 1), 4), volume)
    torch.testing.assert_close(patches[0, 1, :64], volume[0, 0, 0:4, 4:8, 0:4].reshape(-1))


def test_info_nce_equals_monai_contrastive_loss():
    z1, z2 = torch.randn(5, 8), torch.randn(5, 8)
    ours = info_nce(z1, z2, 0.3).mean()
    theirs = ContrastiveLoss(temperature=0.3)(z1, z2)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("only", ["inpainting", "cross_modal", "dynamic", "contrastive", None])
def test_losses_decrease_over_a_short_run(only):
    """Each objective alone (and all together) goes down over 12 steps on the same 4 samples."""
    objectives = ("inpainting", "cross_modal", "dynamic", "contrastive")
    pretext = {k: {"enabled": only in (None, k)} for k in objectives}
    if only == "cross_modal":
        pretext["cross_modal"]["drop_probability"] = 1.0
    model = _model(small_config(pretext=pretext, train={"learning_rate": 3e-3}))
    batch = _batch([tuple(CHANNELS), ("t1w", "pet", "pet_dynamic"), ("flair", "t2w"),
                    tuple(CHANNELS)])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for step in range(12):
        views, plans = draw_views(batch, model, torch.Generator().manual_seed(step % 3))
        out = model(views, plans)
        assert set(out) == {"loss", *([only] if only else objectives)}
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"]))
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.8 * first, losses


def test_contrastive_views_overlap_when_a_view_shift_is_set():
    grid = (32, 32, 32)  # 8 patches per axis; 16^3 crops leave 4 patches of room
    batch = collate([synthetic_sample(i, CHANNELS, grid=grid) for i in range(2)])
    origins = {}
    for shift in (None, 0, 1):
        config = small_config(pretext={"contrastive": {"view_shift": shift}})
        torch.manual_seed(0)
        model = PretextModel(CHANNELS, grid, config)
        g = torch.Generator().manual_seed(5)
        origins[shift] = [[v.origin for v in draw_views(batch, model, g)[0]] for _ in range(30)]
    same = [torch.equal(a, b) for a, b in origins[0]]
    assert all(same)
    gaps = torch.stack([(a - b).abs() for a, b in origins[1]])
    assert gaps.max() == 1 and ((torch.stack([b for _, b in origins[1]]) >= 0).all())
    assert (torch.stack([b for _, b in origins[1]]) <= 4).all()
    assert torch.stack([(a - b).abs() for a, b in origins[None]]).max() > 1  # independent
