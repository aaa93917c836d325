"""Pretext tasks trained together (issue 12, item 3).

One `PretextModel` holds the encoder, a light MAE decoder (MONAI `TransformerBlock`s over every
token of the modalities present in the data, hidden ones replaced by a learned mask token), one
linear reconstruction head per modality and a projection head. Its objectives, each with a
weight and a switch in the configuration (`gliopet.foundation.config.PretextConfig`):

* ``inpainting``: mean squared error on the brain voxels of the masked patches, masking each
  modality's patches independently (`gliopet.foundation.masking`);
* ``cross_modal``: the same error on modalities withheld whole and reconstructed from the
  others, PET from MRI included (every PET modality withheld);
* ``dynamic``: the same error on the dynamic PET channels (early, late, shape features of the
  time-activity curve) of the masked or withheld patches of the dynamic modality;
* ``contrastive``: InfoNCE (NT-Xent, SimCLR form) between the session vectors of two augmented
  views, with the negatives of every process gathered with gradient under DDP.

Each reconstruction error is a mean per sample (over its target voxels) then a mean over the
batch, and InfoNCE a mean over anchors: under DDP, averaging the gradients of the processes
gives the gradient of the whole batch (tested).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.distributed as dist
from monai.networks.blocks import TransformerBlock
from torch import nn

from gliopet.foundation.config import FoundationConfig
from gliopet.foundation.encoder import ModalityViT, fuse, gather_positions, run_sequence
from gliopet.foundation.masking import MaskPlan, sample_plan
from gliopet.foundation.views import View, crop_size, make_view

OBJECTIVES = ("inpainting", "cross_modal", "dynamic", "contrastive")


def patchify(volume: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, x, y, z) -> (B, N, C * P^3), patches in the tokenisers' order (x, y, z)."""
    b, c = volume.shape[:2]
    p = patch_size
    gx, gy, gz = (n // p for n in volume.shape[2:])
    v = volume.reshape(b, c, gx, p, gy, p, gz, p).permute(0, 2, 4, 6, 1, 3, 5, 7)
    return v.reshape(b, gx * gy * gz, c * p**3)


def unpatchify(patches: torch.Tensor, channels: int, grid: Sequence[int],
               patch_size: int) -> torch.Tensor:
    """Inverse of `patchify`: (B, N, C * P^3) -> (B, C, x, y, z)."""
    b, p = patches.shape[0], patch_size
    gx, gy, gz = grid
    v = patches.reshape(b, gx, gy, gz, channels, p, p, p).permute(0, 4, 1, 5, 2, 6, 3, 7)
    return v.reshape(b, channels, gx * p, gy * p, gz * p)


def gather_with_grad(tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Concatenate `tensor` (same shape on every process) over the processes, keeping the
    gradient to every process's part (``torch.distributed.nn.functional.all_gather``); returns
    it with this process's offset. Without a process group: the tensor and 0."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor, 0
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor), 0), dist.get_rank() * tensor.shape[0]


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric NT-Xent between paired rows of `z1` and `z2` (B, d), one loss per anchor pair.

    Negatives: every other row of both views on every process. Returns (B,) per-sample losses
    (the mean of the two anchors' cross-entropies).
    """
    z1, z2 = nn.functional.normalize(z1, dim=1), nn.functional.normalize(z2, dim=1)
    all1, offset = gather_with_grad(z1)
    all2, _ = gather_with_grad(z2)
    keys = torch.cat([all1, all2], 0)  # (2G, d)
    g, b = all1.shape[0], z1.shape[0]
    rows = torch.arange(b, device=z1.device) + offset
    losses = []
    for anchors, self_col, positive_col in ((z1, rows, rows + g), (z2, rows + g, rows)):
        logits = anchors @ keys.T / temperature
        logits = logits.masked_fill(
            nn.functional.one_hot(self_col, 2 * g).bool(), float("-inf"))
        losses.append(nn.functional.cross_entropy(logits, positive_col, reduction="none"))
    return (losses[0] + losses[1]) / 2


def _masked_error(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                  tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample sum of squared errors and of weights over the `tokens` (B, N) patches."""
    w = weight * tokens[..., None]
    return ((pred - target) ** 2 * w).sum((1, 2)), w.sum((1, 2))


class PretextModel(nn.Module):
    """Encoder, decoder, heads and the joint pretext loss."""

    def __init__(self, modality_channels: Mapping[str, int], grid_shape: Sequence[int],
                 config: FoundationConfig):
        super().__init__()
        m = config.model
        self.config = config
        self.encoder = ModalityViT(modality_channels, grid_shape, m.patch_size, m.hidden_size,
                                   m.depth, m.num_heads, m.mlp_dim, m.qkv_bias)
        enc = self.encoder
        d = m.decoder_hidden_size
        self.decoder_embed = nn.Linear(m.hidden_size, d)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d))
        self.decoder_position = nn.Parameter(torch.zeros(1, d, *enc.patches))
        self.decoder_modality = nn.Parameter(torch.zeros(len(enc.modalities), d))
        self.decoder_blocks = nn.ModuleList([
            TransformerBlock(d, 2 * d, m.decoder_num_heads, qkv_bias=True,
                             use_flash_attention=True) for _ in range(m.decoder_depth)])
        self.decoder_norm = nn.LayerNorm(d)
        self.heads = nn.ModuleDict({name: nn.Linear(d, c * m.patch_size**3)
                                    for name, c in enc.channels.items()})
        self.projection = nn.Sequential(nn.Linear(m.hidden_size, m.hidden_size), nn.GELU(),
                                        nn.Linear(m.hidden_size, m.projection_dim))
        for p in (self.mask_token, self.decoder_position, self.decoder_modality):
            nn.init.trunc_normal_(p, std=0.02)

    # ------------------------------------------------------------------ parts
    def decode(self, encoded: torch.Tensor, visible: torch.Tensor, present: torch.Tensor,
               origin: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        """Decoder outputs (B, M, N, d) for every token of the present modalities."""
        b, m, n, _ = encoded.shape
        x = torch.where(visible[..., None], self.decoder_embed(encoded),
                        self.mask_token.to(encoded.dtype))
        pos = gather_positions(self.decoder_position, shape, origin, self.encoder.patch_size)
        x = x + pos[:, None] + self.decoder_modality[None, :, None]
        keep = present.bool()[:, :, None].expand(-1, -1, n)
        out = run_sequence(self.decoder_blocks, self.decoder_norm, x.reshape(b, m * n, -1),
                           keep.reshape(b, m * n))
        return out.reshape(b, m, n, -1)

    def session_vector(self, encoded: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """(B, D): mean of the fused vectors of the patches with a visible token."""
        fused, covered = fuse(encoded, visible)
        w = covered.to(fused.dtype)[..., None]
        return (fused * w).sum(1) / w.sum(1).clamp(min=1)

    # ------------------------------------------------------------------ losses
    def predict(self, view: View, plan: MaskPlan) -> tuple[dict[str, torch.Tensor],
                                                            torch.Tensor, torch.Tensor]:
        """Reconstructions of every present modality's patches, (B, N, C_m * P^3) by modality,
        with the encoder outputs (B, M, N, D) and the visible tokens (B, M, N)."""
        enc = self.encoder
        first = next(iter(view.images.values()))
        tokens = enc.tokenise(view.images, view.origin)
        present = enc.visible_modalities(view.images, view.present)
        visible = plan.visible(present)
        encoded = enc.encode(tokens, visible)
        decoded = self.decode(encoded, visible, present, view.origin, first.shape)
        preds = {name: self.heads[name](decoded[:, i]) for i, name in enumerate(enc.modalities)
                 if name in view.images and bool(present[:, i].any())}
        return preds, encoded, visible

    def reconstruct(self, view: View, plan: MaskPlan) -> dict[str, torch.Tensor]:
        """Reconstructed crops (B, C_m, x, y, z) of the modalities present in the view."""
        preds, _, _ = self.predict(view, plan)
        first = next(iter(view.images.values()))
        grid = [n // self.encoder.patch_size for n in first.shape[-3:]]
        return {m: unpatchify(p, self.encoder.channels[m], grid, self.encoder.patch_size)
                for m, p in preds.items()}

    def view_losses(self, view: View, plan: MaskPlan) -> tuple[dict[str, torch.Tensor],
                                                                torch.Tensor | None]:
        """Per-sample reconstruction errors of one view (B,) by objective, and its session
        vector (B, D) when the contrastive objective is on (else None)."""
        enc, cfg = self.encoder, self.config.pretext
        on = self.enabled()
        preds, encoded, visible = self.predict(view, plan)
        present = enc.visible_modalities(view.images, view.present)
        brain = patchify(view.brain, enc.patch_size)
        b = encoded.shape[0]
        sums = {k: torch.zeros(b, device=encoded.device) for k in OBJECTIVES[:3]}
        weights = {k: torch.zeros_like(v) for k, v in sums.items()}
        for i, name in enumerate(enc.modalities):
            if name not in preds:
                continue
            target = patchify(view.images[name], enc.patch_size)
            weight = brain.repeat(1, 1, enc.channels[name])
            hidden = present[:, i, None] & plan.masked[:, i]
            dropped = present[:, i, None] & plan.dropped[:, i, None].expand_as(hidden)
            if name == cfg.dynamic.modality:
                parts = {"dynamic": hidden | dropped}
            else:
                parts = {"inpainting": hidden, "cross_modal": dropped}
            for key, which in parts.items():
                if key not in on:
                    continue
                err, w = _masked_error(preds[name].float(), target.float(), weight, which)
                sums[key], weights[key] = sums[key] + err, weights[key] + w
        errors = {k: sums[k] / weights[k].clamp(min=1) for k in sums}
        vector = self.session_vector(encoded, visible) if "contrastive" in on else None
        return errors, vector

    def enabled(self) -> list[str]:
        """Objectives switched on with a weight above 0."""
        cfg = self.config.pretext
        return [k for k in OBJECTIVES if getattr(cfg, k).enabled and getattr(cfg, k).weight > 0]

    def forward(self, views: Sequence[View], plans: Sequence[MaskPlan]) -> dict[str, torch.Tensor]:
        """Batch losses: ``loss`` (weighted sum) and one entry per enabled objective.

        One view without the contrastive objective; two views (and plans) with it.
        """
        cfg = self.config.pretext
        on = self.enabled()
        per_view = [self.view_losses(v, p) for v, p in zip(views, plans, strict=True)]
        out: dict[str, torch.Tensor] = {}
        for key in OBJECTIVES[:3]:
            if key in on:
                out[key] = torch.stack([errors[key] for errors, _ in per_view]).mean(0).mean()
        if "contrastive" in on:
            if len(per_view) != 2:
                raise ValueError("the contrastive objective needs two views")
            z1, z2 = (self.projection(vector) for _, vector in per_view)
            out["contrastive"] = info_nce(z1.float(), z2.float(),
                                          cfg.contrastive.temperature).mean()
        out["loss"] = sum(getattr(cfg, k).weight * v for k, v in out.items())
        return out


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    """The generator of one training step of one process."""
    return torch.Generator().manual_seed(hash((int(seed), int(step), int(rank))) & 0x7FFFFFFF)


def draw_views(batch: dict, model: PretextModel, generator: torch.Generator
               ) -> tuple[list[View], list[MaskPlan]]:
    """The augmented views and mask plans of one step (two with the contrastive objective)."""
    cfg = model.config
    enc = model.encoder
    size = crop_size(enc.grid_shape, cfg.train.crop_size, enc.patch_size)
    n_patches = 1
    for s in size:
        n_patches *= s // enc.patch_size
    count = 2 if "contrastive" in model.enabled() else 1
    shift = cfg.pretext.contrastive.view_shift
    views, plans = [], []
    for _ in range(count):
        near = views[0].origin if views and shift is not None else None
        view = make_view(batch, size, enc.patch_size, cfg.train.augment, generator, near,
                         shift or 0)
        present = enc.visible_modalities(view.images, view.present.cpu())
        views.append(view)
        plans.append(sample_plan(present, enc.modalities, n_patches, cfg.pretext, generator))
    device = views[0].brain.device
    plans = [MaskPlan(p.dropped.to(device), p.masked.to(device)) for p in plans]
    return views, plans
