"""Augmented views of a batch: patch-aligned random crops and intensity changes.

A view is a crop whose first voxel sits on the patch grid (so tokens keep their absolute
positions on the learning grid) with a random intensity scale, shift and Gaussian noise per
sample and modality. Written here rather than with MONAI's random transforms because every
draw comes from one `torch.Generator` seeded per training step: a resumed run draws exactly
the views the uninterrupted run drew, and the DDP test can split one batch's draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gliopet.foundation.config import AugmentConfig
from gliopet.foundation.encoder import pad_to_patches


@dataclass(frozen=True)
class View:
    """One view of a batch.

    Attributes
    ----------
    images : dict of str to (B, C_m, x, y, z)
    present : bool (B, M)
    brain : float (B, 1, x, y, z) brain mask of the crop (0 in the padding)
    origin : long (B, 3) crop origin on the padded learning grid (patches)
    """

    images: dict[str, torch.Tensor]
    present: torch.Tensor
    brain: torch.Tensor
    origin: torch.Tensor

    def split(self, index: slice) -> View:
        """The view of a slice of the batch."""
        return View({m: v[index] for m, v in self.images.items()}, self.present[index],
                    self.brain[index], self.origin[index])


def _crop(volume: torch.Tensor, origin: torch.Tensor, size: Sequence[int],
          patch_size: int) -> torch.Tensor:
    starts = [int(o) * patch_size for o in origin]
    return volume[:, starts[0]:starts[0] + size[0], starts[1]:starts[1] + size[1],
                  starts[2]:starts[2] + size[2]]


def crop_size(grid_shape: Sequence[int], wanted: Sequence[int], patch_size: int) -> list[int]:
    """The crop edge per axis: the wanted one, clipped to the padded grid (voxels)."""
    padded = [-(-n // patch_size) * patch_size for n in grid_shape]
    return [min(w, p) for w, p in zip(wanted, padded, strict=True)]


def make_view(batch: dict, size: Sequence[int], patch_size: int, augment: AugmentConfig,
              generator: torch.Generator, near: torch.Tensor | None = None,
              shift: int = 0) -> View:
    """Draw one view of a collated batch (``images``, ``present``, ``brain_mask``): its crop
    anywhere on the grid, or (`near`: another view's origins) at most `shift` patches per axis
    from `near`, inside the grid."""
    brain = pad_to_patches(batch["brain_mask"].float(), patch_size)
    b = brain.shape[0]
    grid = [n // patch_size for n in brain.shape[-3:]]
    free = [g - s // patch_size for g, s in zip(grid, size, strict=True)]
    if near is None:
        origin = torch.stack([torch.randint(f + 1, (b,), generator=generator) for f in free], 1)
    else:
        moved = near + torch.randint(-shift, shift + 1, near.shape, generator=generator)
        origin = torch.minimum(moved.clamp(min=0), torch.tensor(free))
    crops: dict[str, torch.Tensor] = {}
    for name, volume in batch["images"].items():
        padded = pad_to_patches(volume.float(), patch_size)
        channels = padded.shape[1]
        scale = 1 + augment.intensity_scale * (2 * torch.rand((b, channels), generator=generator)
                                               - 1)
        shift = augment.intensity_shift * (2 * torch.rand((b, channels), generator=generator) - 1)
        scale, shift, out = scale.to(padded.device), shift.to(padded.device), []
        for s in range(b):
            crop = _crop(padded[s], origin[s], size, patch_size)
            noise = torch.randn(crop.shape, generator=generator).to(crop.device)
            noise = noise * augment.noise_std
            out.append(crop * scale[s, :, None, None, None] + shift[s, :, None, None, None]
                       + noise)
        crops[name] = torch.stack(out)
    mask = torch.stack([_crop(brain[s], origin[s], size, patch_size) for s in range(b)])
    return View(crops, batch["present"].bool(), mask, origin)


def whole_view(batch: dict, patch_size: int) -> View:
    """The whole padded grid, unaugmented (inference)."""
    brain = pad_to_patches(batch["brain_mask"].float(), patch_size)
    images = {m: pad_to_patches(v.float(), patch_size) for m, v in batch["images"].items()}
    origin = torch.zeros((brain.shape[0], 3), dtype=torch.long)
    return View(images, batch["present"].bool(), brain, origin)
