"""Which tokens the encoder sees: per-modality patch masking and whole-modality dropping.

A `MaskPlan` is drawn from a `torch.Generator`, outside the model, so that a step is a pure
function of its batch and its plan (exact resume, and the DDP test's identical masks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gliopet.foundation.config import PretextConfig


@dataclass(frozen=True)
class MaskPlan:
    """Masks of one batch.

    Attributes
    ----------
    dropped : bool (B, M)
        Modalities present in the data but withheld whole (cross-modal targets).
    masked : bool (B, M, N)
        Patches of the remaining present modalities hidden from the encoder (inpainting and
        dynamic targets).
    """

    dropped: torch.Tensor
    masked: torch.Tensor

    def visible(self, present: torch.Tensor) -> torch.Tensor:
        """bool (B, M, N): tokens given to the encoder."""
        keep = present.bool() & ~self.dropped
        return keep[:, :, None] & ~self.masked

    def split(self, index: slice) -> MaskPlan:
        """The plan of a slice of the batch."""
        return MaskPlan(self.dropped[index], self.masked[index])


def _dropped(present: Sequence[bool], modalities: Sequence[str], config: PretextConfig,
             generator: torch.Generator) -> list[bool]:
    """Whole modalities withheld for one sample (never all of its present ones)."""
    have = [i for i, p in enumerate(present) if p]
    dropped = [False] * len(modalities)
    cross = config.cross_modal
    if not cross.enabled or cross.weight == 0 or len(have) < 2:
        return dropped
    draw = float(torch.rand((), generator=generator))
    pet = [i for i in have if modalities[i] in config.pet_modalities]
    if pet and len(pet) < len(have) and draw < cross.pet_from_mri_probability:
        chosen = pet
    elif draw < cross.pet_from_mri_probability + cross.drop_probability:
        count = 1 + int(torch.randint(len(have) - 1, (), generator=generator))
        order = torch.randperm(len(have), generator=generator)[:count]
        chosen = [have[int(k)] for k in order]
    else:
        chosen = []
    for i in chosen:
        dropped[i] = True
    return dropped


def _ratio(name: str, config: PretextConfig) -> float:
    """Fraction of a modality's patches to hide (0 when its objective is off)."""
    if name == config.dynamic.modality:
        on = config.dynamic.enabled and config.dynamic.weight > 0
        return config.dynamic.mask_ratio if on else 0.0
    on = config.inpainting.enabled and config.inpainting.weight > 0
    return config.inpainting.mask_ratio if on else 0.0


def sample_plan(present: torch.Tensor, modalities: Sequence[str], n_patches: int,
                config: PretextConfig, generator: torch.Generator) -> MaskPlan:
    """Draw a plan for a batch with presence `present` (bool (B, M)).

    Each remaining present modality hides ``round(ratio * N)`` of its patches, chosen
    independently per sample and modality; at least one token per sample stays visible.
    """
    b, m = present.shape
    present = present.bool().cpu()
    dropped = torch.tensor([_dropped([bool(v) for v in present[s]], modalities, config,
                                     generator) for s in range(b)], dtype=torch.bool)
    dropped = dropped.reshape(b, m)
    hide = torch.tensor([round(_ratio(name, config) * n_patches) for name in modalities])
    rank = torch.rand((b, m, n_patches), generator=generator).argsort(-1).argsort(-1)
    kept = present & ~dropped
    masked = (rank < hide[None, :, None]) & kept[:, :, None]
    for s in torch.nonzero(~(kept[:, :, None] & ~masked).flatten(1).any(1)).flatten().tolist():
        first = torch.nonzero(kept[s]).flatten()
        if len(first):
            masked[s, int(first[0]), 0] = False
    return MaskPlan(dropped, masked)
