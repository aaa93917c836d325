"""Tiny synthetic tumour crops for the image families: the class is a planted bright blob.

Every crop (2 channels, ``size``^3 voxels) holds smooth noise and, in both classes, a
"distractor" blob of the same brightness in channel 1 only; positives also hold a bright blob
in channel 0 at a random position. Only the channel-0 blob decides the class, so a model that
learned the task must look there (its mask is returned).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage


def _ball(size: int, centre: np.ndarray, radius: float) -> np.ndarray:
    axes = np.meshgrid(*[np.arange(size)] * 3, indexing="ij")
    return sum((a - c) ** 2 for a, c in zip(axes, centre, strict=True)) <= radius**2


def blob_crops(n: int, size: int = 16, seed: int = 0, radius: float = 3.0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crops float32 (n, 2, s, s, s), labels (n,) alternating 1/0, blob masks bool (n, s, s, s)).

    Negatives have an empty mask.
    """
    rng = np.random.default_rng(seed)
    y = np.tile([1, 0], n // 2 + 1)[:n]
    crops = np.zeros((n, 2, size, size, size), dtype=np.float32)
    masks = np.zeros((n, size, size, size), dtype=bool)
    lo, hi = radius + 1, size - radius - 2
    for i in range(n):
        noise = ndimage.gaussian_filter(rng.standard_normal((2, size, size, size)), (0, 1, 1, 1))
        crops[i] = 1.0 + 0.6 * noise / noise.std()
        crops[i, 1] += 2.0 * _ball(size, rng.uniform(lo, hi, 3), radius)
        if y[i] == 1:
            masks[i] = _ball(size, rng.uniform(lo, hi, 3), radius)
            crops[i, 0] += 2.0 * masks[i]
    return crops, y, masks


def crop_table(crops: np.ndarray) -> pd.DataFrame:
    """The image table of `gliopet.classify.images` for synthetic crops (origin 0, PET only)."""
    return pd.DataFrame({"crop": list(crops), "origin": [(0, 0, 0)] * len(crops),
                         "present": [("pet",)] * len(crops)})


def tiny_checkpoint(path, grid: tuple[int, int, int] = (16, 16, 16), seed: int = 0,
                    affine: np.ndarray | None = None):
    """A randomly initialised tiny foundation model saved as a gliopet checkpoint (the layout
    `gliopet.foundation.checkpoint.load_pretrained` reads); returns the path."""
    import torch

    from gliopet.foundation.checkpoint import FORMAT
    from gliopet.foundation.data import MODALITY_CHANNELS
    from gliopet.foundation.module import PretrainModule
    from support.foundation_samples import AFFINE, small_config

    torch.manual_seed(seed)
    module = PretrainModule(small_config().as_dict(), MODALITY_CHANNELS, grid,
                            (AFFINE if affine is None else affine).tolist(), seed=seed)
    torch.save({"gliopet_format": FORMAT, "hyper_parameters": dict(module.hparams),
                "state_dict": module.state_dict(), "gliopet_modalities_seen": ["pet", "t1w"]},
               path)
    return path
