"""Saliency maps of the image families and their sanity checks.

Methods (each returns one map per case on the crop's voxels, float32 (n, s, s, s)):

- ``gradcam``: Grad-CAM (Selvaraju et al. 2017) of the CNN's last convolutional block, by
  `monai.visualize.GradCAM` (upsampled to the crop, scaled to [0, 1] per case); for the
  foundation model's ViT, `token_grad_cam`: the same weighting applied to the encoder's output
  tokens (gradient of the logit averaged over the tokens, per feature), one value per patch,
  mapped back to the patch's voxels (hand-written: MONAI's GradCAM needs a convolutional
  feature map);
- ``occlusion``: the drop of the logit when a cube of the crop is set to 0
  (`captum.attr.Occlusion`, window a quarter of the crop, stride half the window), summed
  over channels;
- ``ig``: integrated gradients (Sundararajan et al. 2017) from an all-zero baseline
  (`captum.attr.IntegratedGradients`, 24 steps), summed over channels.

Sanity check (Adebayo et al. 2018, model-parameter randomisation): the map of a model whose
parameters are re-initialised must differ from the trained model's. `randomisation_check`
gives the Spearman rank correlation of the absolute maps per case; the check passes when the
median is below `RANDOMISATION_BOUND`. `mass_inside` is the fraction of positive saliency inside
a mask, to compare with the mask's volume fraction (the expected fraction of a random map).

Maps are written on the learning grid (the crop placed back at its origin, 0 elsewhere) as
NIfTI, with a PNG overlay of the axial slice through the map's maximum.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.stats import spearmanr
from torch import nn

from gliopet.errors import ParameterError

METHODS = ("gradcam", "occlusion", "ig")
#: The randomisation check passes when the median Spearman correlation is below this.
RANDOMISATION_BOUND = 0.5
IG_STEPS = 24

Forward = Callable[[torch.Tensor], torch.Tensor]


def check_method(method: str) -> None:
    """Refuse an unknown saliency method."""
    if method not in METHODS:
        raise ParameterError("method", method, f"one of {', '.join(METHODS)}")


def scale_to_max(cam: torch.Tensor) -> torch.Tensor:
    """Each case divided by its maximum (MONAI's default normaliser inverts the map)."""
    top = cam.flatten(1).amax(1).clamp(min=1e-12)
    return cam / top.reshape(-1, *[1] * (cam.ndim - 1))


def grad_cam(net: nn.Module, layer: str, x: torch.Tensor) -> NDArray[np.float32]:
    """MONAI Grad-CAM of `net`'s single logit at `layer`, (n, s, s, s) in [0, 1]."""
    from monai.visualize import GradCAM

    # on a copy: MONAI leaves its hooks on the module, which then no longer pickles
    cam = GradCAM(nn_module=copy.deepcopy(net), target_layers=layer, postprocessing=scale_to_max)
    with torch.enable_grad():
        out = cam(x.clone().requires_grad_(True), class_idx=0)
    return out[:, 0].detach().numpy().astype(np.float32)


def occlusion(forward: Forward, x: torch.Tensor) -> NDArray[np.float32]:
    """captum Occlusion of the logit, summed over channels, (n, s, s, s)."""
    from captum.attr import Occlusion

    size = x.shape[-1]
    window = max(2, size // 4)
    stride = max(1, window // 2)
    c = x.shape[1]
    attr = Occlusion(forward).attribute(x, sliding_window_shapes=(c, window, window, window),
                                        strides=(c, stride, stride, stride), baselines=0.0,
                                        target=0, perturbations_per_eval=32)
    return attr.sum(1).detach().numpy().astype(np.float32)


def integrated_gradients(forward: Forward, x: torch.Tensor) -> NDArray[np.float32]:
    """captum integrated gradients of the logit from a zero baseline, summed over channels."""
    from captum.attr import IntegratedGradients

    with torch.enable_grad():
        attr = IntegratedGradients(forward).attribute(x, baselines=torch.zeros_like(x),
                                                      target=0, n_steps=IG_STEPS,
                                                      internal_batch_size=32)
    return attr.sum(1).detach().numpy().astype(np.float32)


def token_grad_cam(tokens: torch.Tensor, logit: torch.Tensor, patches: tuple[int, int, int],
                   patch_size: int, reference: torch.Tensor | None = None) -> NDArray[np.float32]:
    """Grad-CAM on ViT tokens mapped to voxels (module docstring), (n, s, s, s) in [0, 1].

    `tokens` (B, N, D) must be part of the graph of `logit` (B,); N = prod(`patches`). The
    activations are taken relative to `reference` (D,), e.g. the training rows' mean pooled
    vector: with a linear head on mean-pooled tokens, plain Grad-CAM is the token's share of
    the logit including the head's bias, so a token counts by how much it moves the logit
    above the training average.
    """
    grads = torch.autograd.grad(logit.sum(), tokens, retain_graph=False)[0]
    weights = grads.mean(1, keepdim=True)
    centred = tokens if reference is None else tokens - reference
    cam = torch.relu((centred * weights).sum(-1)).detach()
    cam = cam.reshape(-1, 1, *patches)
    up = nn.functional.interpolate(cam, scale_factor=patch_size, mode="nearest")[:, 0]
    top = up.flatten(1).amax(1).clamp(min=1e-12)
    return (up / top[:, None, None, None]).numpy().astype(np.float32)


def mass_inside(maps: NDArray, masks: NDArray) -> NDArray[np.float64]:
    """Per case, the fraction of the positive saliency inside the mask (NaN: no positive map)."""
    pos = np.clip(np.asarray(maps, dtype=float), 0, None).reshape(len(maps), -1)
    inside = (pos * np.asarray(masks, bool).reshape(len(maps), -1)).sum(1)
    total = pos.sum(1)
    return np.where(total > 0, inside / np.where(total > 0, total, 1), np.nan)


def randomise_parameters(net: nn.Module, seed: int) -> nn.Module:
    """A copy of `net` with every layer re-initialised (its `reset_parameters`), seeded."""
    torch.manual_seed(seed)
    clone = copy.deepcopy(net)
    for module in clone.modules():
        if hasattr(module, "reset_parameters") and module is not clone:
            module.reset_parameters()
    for name, param in clone.named_parameters(recurse=True):  # free parameters (embeddings)
        if "embedding" in name:
            nn.init.trunc_normal_(param, std=0.02)
    return clone


@dataclass(frozen=True)
class RandomisationCheck:
    """Spearman correlation per case of the trained and randomised models' absolute maps."""

    method: str
    spearman: NDArray[np.float64]
    bound: float

    @property
    def median(self) -> float:
        """Median correlation over the cases."""
        return float(np.nanmedian(self.spearman))

    @property
    def passed(self) -> bool:
        """The maps changed: median correlation below the bound."""
        return bool(self.median < self.bound)


def spearman_per_case(a: NDArray, b: NDArray) -> NDArray[np.float64]:
    """Spearman rank correlation of |a| and |b| per case (flattened)."""
    out = []
    for u, v in zip(np.abs(a).reshape(len(a), -1), np.abs(b).reshape(len(b), -1), strict=True):
        out.append(np.nan if np.ptp(u) == 0 or np.ptp(v) == 0 else spearmanr(u, v).statistic)
    return np.asarray(out, dtype=float)


def randomisation_check(model: Any, X: Any, method: str = "gradcam", *, seed: int = 0,
                        bound: float = RANDOMISATION_BOUND) -> RandomisationCheck:
    """Adebayo's model-parameter randomisation test of a fitted image model on the rows `X`.

    `model` has ``explain(X, method=)`` and ``randomised(seed)`` (a copy with re-initialised
    parameters): `CNNModel` and `FoundationModel`.
    """
    check_method(method)
    trained = model.explain(X, method=method)
    shuffled = model.randomised(seed).explain(X, method=method)
    return RandomisationCheck(method, spearman_per_case(trained, shuffled), bound)


def write_saliency(path: Path, crop_map: NDArray, origin: tuple[int, int, int],
                   grid_shape: tuple[int, int, int], affine: NDArray,
                   sidecar: dict[str, Any] | None = None) -> Path:
    """The map placed back on the learning grid, written as NIfTI (+ JSON sidecar)."""
    from gliopet.classify.images import paste
    from gliopet.io.bids_write import write_image

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_image(path, paste(crop_map, origin, grid_shape), affine, np.float32, sidecar)


def write_overlay(path: Path, background: NDArray, crop_map: NDArray, title: str) -> Path:
    """PNG: the axial slice through the map's maximum, map over the background crop."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gliopet.atomic import atomic_path

    k = int(np.unravel_index(int(np.argmax(np.abs(crop_map))), crop_map.shape)[2])
    fig, ax = plt.subplots(figsize=(3.2, 3.4), dpi=100)
    ax.imshow(background[:, :, k].T, cmap="gray", origin="lower")
    ax.imshow(np.abs(crop_map[:, :, k]).T, cmap="hot", alpha=0.45, origin="lower")
    ax.set_title(title, fontsize=7)
    ax.axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)
    return path
