"""The encoder: a 3D vision transformer with one tokeniser per modality (issue 12, item 2).

Each modality ``m`` with ``C_m`` channels (`gliopet.foundation.data.MODALITY_CHANNELS`) has its
own tokeniser, a ``Conv3d(C_m, D, P, stride=P)`` that turns every ``P^3`` patch (``P <= 8``
voxels = 16 mm of the 2 mm learning grid) into one token. A token is its tokeniser's output
plus a learned modality embedding plus a learned 3D position embedding of its patch on the
(padded) learning grid: positions are absolute, so a crop's tokens carry the positions of the
patches they cover. The sequence holds the tokens of the modalities given (any subset, at
training or at inference, without retraining) and runs through MONAI `TransformerBlock`s whose
attention is ``torch.nn.functional.scaled_dot_product_attention`` (``use_flash_attention``);
tokens left out (masked patches, dropped or absent modalities) are not in the sequence (padded
batches use a key-padding mask).

Fusion: the vector of a patch is the mean of the encoder outputs of the modality tokens of that
patch that were given (after the last block and the final LayerNorm); the session vector is the
mean of the fused vectors of the patches that hold brain.

Patch ``p`` (per axis) covers learning-grid voxels ``p*P ... p*P+P-1``: the grid is padded at
its far end only, to a multiple of ``P``, so no origin shift comes from the padding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from monai.networks.blocks import TransformerBlock
from torch import nn

Shape3 = tuple[int, int, int]


def patch_grid(grid_shape: Sequence[int], patch_size: int) -> Shape3:
    """Number of patches per axis of a grid padded at its far end to a multiple of `patch_size`."""
    return tuple(math.ceil(n / patch_size) for n in grid_shape)  # type: ignore[return-value]


def pad_to_patches(volume: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Zero-pad the last three axes at their far end to a multiple of `patch_size`."""
    pads: list[int] = []
    for n in reversed(volume.shape[-3:]):
        pads += [0, (-n) % patch_size]
    return nn.functional.pad(volume, pads)


def patch_affine(affine: np.ndarray, patch_size: int) -> np.ndarray:
    """RAS affine of the patch-resolution map: voxel ``p`` is the centre of patch ``p``.

    Columns scaled by `patch_size`; origin moved to the centre of patch 0, i.e. learning-grid
    voxel ``(P - 1) / 2``.
    """
    affine = np.asarray(affine, dtype=float)
    out = affine.copy()
    out[:3, :3] = affine[:3, :3] * patch_size
    out[:3, 3] = affine[:3, :3] @ np.full(3, (patch_size - 1) / 2.0) + affine[:3, 3]
    return out


class ModalityViT(nn.Module):
    """3D ViT over per-modality patch tokens.

    Parameters
    ----------
    modality_channels : mapping of str to int
        Ordered modality names and their channel counts.
    grid_shape : 3 ints
        Learning-grid shape (voxels); the position embedding covers its padded patch grid.
    patch_size : int
        Patch edge (voxels, <= 8).
    hidden_size, depth, num_heads, mlp_dim : int
        Transformer width, blocks, heads, MLP width.
    qkv_bias : bool
        Bias of the attention's qkv projection.
    """

    def __init__(self, modality_channels: Mapping[str, int], grid_shape: Sequence[int],
                 patch_size: int = 8, hidden_size: int = 48, depth: int = 2, num_heads: int = 4,
                 mlp_dim: int = 96, qkv_bias: bool = True):
        super().__init__()
        if not 1 <= patch_size <= 8:
            raise ValueError(f"patch_size must be 1..8 voxels (<= 16 mm), got {patch_size}")
        self.modalities = tuple(modality_channels)
        self.channels = dict(modality_channels)
        self.grid_shape = tuple(int(n) for n in grid_shape)
        self.patch_size = patch_size
        self.hidden_size = hidden_size
        self.patches = patch_grid(self.grid_shape, patch_size)
        self.tokenisers = nn.ModuleDict({
            m: nn.Conv3d(c, hidden_size, patch_size, stride=patch_size)
            for m, c in self.channels.items()})
        self.modality_embedding = nn.Parameter(torch.zeros(len(self.modalities), hidden_size))
        self.position_embedding = nn.Parameter(torch.zeros(1, hidden_size, *self.patches))
        self.blocks = nn.ModuleList([
            TransformerBlock(hidden_size, mlp_dim, num_heads, qkv_bias=qkv_bias,
                             use_flash_attention=True) for _ in range(depth)])
        self.norm = nn.LayerNorm(hidden_size)
        nn.init.trunc_normal_(self.modality_embedding, std=0.02)
        nn.init.trunc_normal_(self.position_embedding, std=0.02)

    # ------------------------------------------------------------------ tokens
    def tokenise(self, images: Mapping[str, torch.Tensor],
                 origin: torch.Tensor | Sequence[int] = (0, 0, 0)) -> torch.Tensor:
        """Tokens of every modality, (B, M, N, D); zeros for modalities not in `images`.

        `images` hold (B, C_m, x, y, z) crops with edges multiples of the patch size whose first
        voxel is learning-grid voxel ``origin * patch_size``; `origin` (patches) is one triple
        for the batch or one per sample, (B, 3).
        """
        first = next(iter(images.values()))
        position = self.positions(first.shape, origin).to(first.dtype)
        b, n = first.shape[0], position.shape[1]
        zeros = first.new_zeros((b, n, self.hidden_size))
        tokens = [self.tokenisers[name](images[name]).flatten(2).transpose(1, 2) + position
                  + self.modality_embedding[i] if name in images else zeros
                  for i, name in enumerate(self.modalities)]
        return torch.stack(tokens, 1)

    def positions(self, shape: Sequence[int], origin: torch.Tensor | Sequence[int]
                  ) -> torch.Tensor:
        """Position embeddings (B, N, D) of the patches of crops of `shape` at `origin`."""
        return gather_positions(self.position_embedding, shape, origin, self.patch_size)

    def encode(self, tokens: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """Run the visible tokens through the transformer.

        Parameters
        ----------
        tokens : (B, M, N, D)
        visible : bool (B, M, N)
            Tokens given to the encoder; every sample needs at least one.

        Returns
        -------
        (B, M, N, D) encoder outputs at the visible tokens, zeros elsewhere.
        """
        b, m, n, d = tokens.shape
        out = run_sequence(self.blocks, self.norm, tokens.reshape(b, m * n, d),
                           visible.reshape(b, m * n))
        return out.reshape(b, m, n, d)

    def forward(self, images: Mapping[str, torch.Tensor], present: torch.Tensor,
                origin: torch.Tensor | Sequence[int] = (0, 0, 0)
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode every patch of the given modalities (no masking).

        Returns
        -------
        outputs : (B, M, N, D) per-modality encoder outputs;
        visible : bool (B, M, N) which of them were given.
        """
        tokens = self.tokenise(images, origin)
        visible = self.visible_modalities(images, present)[:, :, None].expand(
            -1, -1, tokens.shape[2])
        return self.encode(tokens, visible), visible

    def visible_modalities(self, images: Mapping[str, torch.Tensor],
                           present: torch.Tensor) -> torch.Tensor:
        """bool (B, M): modality given for the sample (in `images` and `present`)."""
        given = torch.tensor([m in images for m in self.modalities], device=present.device)
        return present.bool() & given[None]


def gather_positions(embedding: torch.Tensor, shape: Sequence[int],
                     origin: torch.Tensor | Sequence[int], patch_size: int) -> torch.Tensor:
    """Rows (B, N, D) of a (1, D, gx, gy, gz) position embedding for crops of `shape`.

    `shape` is the crop's (B, C, x, y, z); `origin` (patches) one triple or one per sample.
    """
    grid = embedding.shape[2:]
    crop = [n // patch_size for n in shape[-3:]]
    start = torch.as_tensor(origin, dtype=torch.long).cpu().reshape(-1, 3).expand(shape[0], 3)
    if bool(((start + torch.tensor(crop)) > torch.tensor(grid)).any()):
        raise ValueError(f"crop of {crop} patches at {start.tolist()} leaves the grid "
                         f"{list(grid)}")
    if bool((start == start[0]).all()):  # one origin for the batch: a slice
        o = start[0].tolist()
        block = embedding[0, :, o[0]:o[0] + crop[0], o[1]:o[1] + crop[1], o[2]:o[2] + crop[2]]
        return block.flatten(1).T[None].expand(shape[0], -1, -1)
    start = start.to(embedding.device)
    axes = torch.meshgrid(*[torch.arange(c, device=start.device) for c in crop], indexing="ij")
    local = torch.stack([a.reshape(-1) for a in axes], -1)  # (N, 3)
    index = start[:, None, :] + local[None]
    linear = (index[..., 0] * grid[1] + index[..., 1]) * grid[2] + index[..., 2]
    table = embedding.flatten(2)[0].transpose(0, 1)  # (G, D)
    return table[linear]


def run_sequence(blocks: nn.ModuleList, norm: nn.Module, tokens: torch.Tensor,
                 keep: torch.Tensor) -> torch.Tensor:
    """Run the kept tokens of (B, L, D) through `blocks` and `norm`; zeros at the others.

    Kept tokens are gathered to the front (stable order) and the batch padded to the longest
    sample, with a key-padding mask for scaled_dot_product_attention.
    """
    b, length_all, d = tokens.shape
    counts = keep.sum(1)
    if bool((counts == 0).any()):
        raise ValueError("every sample needs at least one visible token")
    if bool(keep.all()):  # nothing left out: no gathering
        x = tokens
        for block in blocks:
            x = block(x)
        return norm(x)
    length = int(counts.max())
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)[:, :length]
    valid = torch.arange(length, device=keep.device)[None] < counts[:, None]
    index = order[..., None].expand(-1, -1, d)
    x = torch.gather(tokens, 1, index)
    attn_mask = valid[:, None, None, :] if length * b > int(counts.sum()) else None
    for block in blocks:
        x = block(x, attn_mask=attn_mask)
    x = norm(x) * valid[..., None]
    return tokens.new_zeros((b, length_all, x.shape[-1])).scatter(1, index, x)


def fuse(outputs: torch.Tensor, visible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One vector per patch: the mean over the modality tokens given for that patch.

    Returns
    -------
    fused : (B, N, D); zeros where no token of the patch was given.
    covered : bool (B, N) patches with at least one token.
    """
    weights = visible.to(outputs.dtype)[..., None]
    count = weights.sum(1)
    fused = (outputs * weights).sum(1) / count.clamp(min=1)
    return fused, count[..., 0] > 0
