"""Synthetic learning-grid samples in the layout of the foundation dataset (issue 12).

The layout is the one of /work/notes/foundation_interface.md: a sample is a dict with
``images`` (modality -> float32 tensor (C_m, X, Y, Z), present modalities only), ``brain_mask``
(bool (1, X, Y, Z)), ``present``, ``subject``, ``session``, ``site`` and ``affine`` (4 x 4 RAS).
The images share one latent anatomy (a smooth random field inside an ellipsoidal brain, plus a
spherical "tumour"), so that one modality predicts another and the pretext tasks can learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pytest
import torch
from scipy import ndimage

#: Modalities of the synthetic samples (the dynamic PET has 3 channels: early, late, slope).
CHANNELS = {"t1w": 1, "t1ce": 1, "t2w": 1, "flair": 1, "pet": 1, "pet_dynamic": 3}
#: A small learning grid (not a multiple of 8 voxels, so that padding is exercised).
GRID = (36, 44, 40)
#: Its RAS affine: 2 mm voxels, origin as the MNI 2 mm grid's corner would be.
AFFINE = np.array([[2.0, 0, 0, -76.0], [0, 2.0, 0, -112.0], [0, 0, 2.0, -50.0], [0, 0, 0, 1]])


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (two pytest workers share two cores: more threads spin
    against each other), restored after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@lru_cache(maxsize=32)
def _anatomy(index: int, grid: tuple[int, int, int]) -> tuple[np.ndarray, ...]:
    """Brain mask, smooth tissue field in [0, 1] and tumour mask (cached, read-only)."""
    rng = np.random.default_rng(index)
    axes = np.meshgrid(*[np.linspace(-1, 1, n) for n in grid], indexing="ij")
    brain = sum(a**2 for a in axes) < 0.8
    field = ndimage.gaussian_filter(rng.standard_normal(grid), 2.5)
    field = (field - field.min()) / (np.ptp(field) + 1e-6)
    centre = rng.uniform(-0.35, 0.35, size=3)
    tumour = sum((a - c) ** 2 for a, c in zip(axes, centre, strict=True)) < rng.uniform(0.03, 0.08)
    return brain, field, tumour & brain


def synthetic_sample(index: int, present: Sequence[str] = tuple(CHANNELS), *,
                     grid: tuple[int, int, int] = GRID, site: str = "siteA",
                     channels: dict[str, int] = CHANNELS) -> dict:
    """One session's sample; its content depends only on `index` (seeded)."""
    rng = np.random.default_rng(1000 + index)
    brain, field, tumour = _anatomy(index, tuple(grid))
    t = tumour.astype(float)
    base = {"t1w": field, "t1ce": field + 1.5 * t, "t2w": 1 - field + t, "flair": 0.5 * field + t,
            "pet": 1.0 + 0.5 * field + 2.0 * t}
    images = {}
    for name in present:
        if name == "pet_dynamic":
            curves = np.linspace(0.5, 1.5, channels[name])
            data = np.stack([(1.0 + 0.5 * field) * c + 2.0 * t * (1.6 - c) for c in curves])
        else:
            data = base[name][None]
        data = (data + 0.05 * rng.standard_normal(data.shape)) * brain
        images[name] = torch.as_tensor(data, dtype=torch.float32)
    return {"images": images, "brain_mask": torch.as_tensor(brain[None]),
            "present": tuple(present), "subject": f"{index:02d}", "session": "a", "site": site,
            "affine": AFFINE.copy()}


class SyntheticDataset(torch.utils.data.Dataset):
    """A list of synthetic samples, with every modality or the given subsets per session."""

    def __init__(self, n: int, subsets: Sequence[Sequence[str]] | None = None,
                 grid: tuple[int, int, int] = GRID, sites: Sequence[str] = ("siteA", "siteB")):
        self.samples = [synthetic_sample(i, subsets[i % len(subsets)] if subsets else
                                         tuple(CHANNELS), grid=grid, site=sites[i % len(sites)])
                        for i in range(n)]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        return self.samples[i]


def collate(samples: list[dict], channels: dict[str, int] = CHANNELS) -> dict:
    """`collate_sessions` of the interface: zeros where a modality is absent."""
    names = [m for m in channels if any(m in s["images"] for s in samples)]
    shape = samples[0]["brain_mask"].shape[1:]
    images = {m: torch.stack([s["images"].get(m, torch.zeros((channels[m], *shape)))
                              for s in samples]) for m in names}
    present = torch.tensor([[m in s["images"] for m in channels] for s in samples])
    return {"images": images, "present": present,
            "brain_mask": torch.stack([s["brain_mask"] for s in samples]),
            "subject": [s["subject"] for s in samples], "session": [s["session"] for s in samples],
            "site": [s["site"] for s in samples],
            "affine": torch.as_tensor(np.stack([s["affine"] for s in samples]))}


def small_config(**overrides: dict):
    """The tiny preset shrunk for tests: width 24, one block, patch 4, 16^3 crops."""
    from gliopet.foundation.config import load_foundation_config

    sizes = {"model": {"hidden_size": 24, "mlp_dim": 48, "depth": 1, "num_heads": 4,
                       "decoder_hidden_size": 16, "decoder_num_heads": 4, "projection_dim": 8,
                       "patch_size": 4},
             "train": {"crop_size": [16, 16, 16], "batch_size": 2, "threads": 1}}
    for key, value in overrides.items():
        sizes[key] = {**sizes.get(key, {}), **value}
    return load_foundation_config("tiny", **sizes)


#: BIDS anatomical key of each synthetic MRI modality.
MRI_KEYS = {"t1w": "T1w", "t1ce": "ce-gadolinium_T1w", "t2w": "T2w", "flair": "FLAIR"}


def write_learning_session(root, subject: str, session: str, present: Sequence[str],
                           index: int) -> dict:
    """Write a synthetic sample's images as the session's learning-grid derivatives (through
    the contract) on the real learning grid; return the sample."""
    from gliopet.foundation.data import MODALITY_CHANNELS, learning_grid_geometry
    from gliopet.io import derivatives as d
    from gliopet.io.bids_write import write_image

    shape, affine = learning_grid_geometry()
    sample = synthetic_sample(index, present, grid=shape, channels=MODALITY_CHANNELS)
    ids = (subject, session)
    brain = sample["brain_mask"][0].numpy()
    write_image(d.LEARNING_MASK.path(root, ids), brain, affine, np.uint8, None)
    for name, data in sample["images"].items():
        volume = data.numpy()
        if name in MRI_KEYS:
            write_image(d.LEARNING_MRI.path(root, ids, **d.anat_fill(MRI_KEYS[name])), volume[0],
                        affine, np.float32, None)
        elif name == "pet":
            write_image(d.LEARNING_PET.path(root, ids, tracer="FDOPA"), volume[0] + 0.1 * brain,
                        affine, np.float32, None)
        else:
            for j, stat in enumerate(d.LEARNING_DYNAMIC_STATS):
                write_image(d.LEARNING_DYNAMIC.path(root, ids, tracer="FDOPA", stat=stat),
                            volume[j], affine, np.float32, None)
    return sample
