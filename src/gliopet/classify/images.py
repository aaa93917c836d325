"""Image inputs of the image families (CNN, foundation model): a crop centred on the tumour.

For each session, the learning-grid images of the derivatives contract (read by
`gliopet.foundation.data`, with its normalisation: static PET / whole-brain median, the dynamic
channels ``LEARNING_DYNAMIC_STATS`` as quantification wrote them, MRI z-scored) are cut to a
cube of `CROP_VOXELS` voxels (32 voxels = 64 mm on the 2 mm grid) around the tumour centre.

The tumour centre on the learning grid and the crop's origin are those of
`gliopet.foundation.tumour_region` (quantification's tumour VOI, else the largest PET-avid
component, else the brain; the crop's first voxel a multiple of 8 voxels, so that the
foundation model's tokens fall on its patches); voxels beyond the grid are 0. Channels are the
union of the modalities of the sessions (`channel_names`), zeros
where a session lacks one; ``present`` says which modalities each session has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gliopet.config import Config, load_config
from gliopet.errors import InputError
from gliopet.foundation.data import (
    DYNAMIC_CHANNELS,
    MODALITY_CHANNELS,
    LearningGridDataset,
    SessionFiles,
    learning_grid_geometry,
    session_files,
)
from gliopet.foundation.tumour_region import (  # noqa: F401  (ORIGIN_STEP: part of the API)
    CROP_VOXELS,
    ORIGIN_STEP,
    crop_origin,
    tumour_centre,
)
from gliopet.io import derivatives as d

#: Columns of the image table given to the image families.
IMAGE_COLUMNS = ("crop", "origin", "present")


@dataclass(frozen=True)
class SessionCrop:
    """One session's crop: (C, s, s, s) float32, origin (voxel of the learning grid), the
    modalities present, the centre found and how."""

    crop: np.ndarray
    origin: tuple[int, int, int]
    present: tuple[str, ...]
    centre: tuple[float, float, float]
    centre_method: str


def channel_names(modalities: Sequence[str]) -> list[str]:
    """Names of the crop channels of `modalities` (``pet_dynamic`` gives one per stat)."""
    names: list[str] = []
    for m in MODALITY_CHANNELS:
        if m in modalities:
            names += [f"pet_dynamic:{s}" for s in DYNAMIC_CHANNELS] if m == "pet_dynamic" else [m]
    return names


class _Sessions(LearningGridDataset):
    """`LearningGridDataset` over a given list of sessions (no BIDS listing needed)."""

    def __init__(self, root: Path, sessions: list[SessionFiles], config: Config) -> None:
        self.root, self.config = Path(root), config
        self.modalities = tuple(MODALITY_CHANNELS)
        self.shape, self.affine = learning_grid_geometry(config)
        self.sessions = sessions
        for item in sessions:
            for path in (item.brain_mask, *[p for ps in item.files.values() for p in ps]):
                self._check_grid(path)


def cut(volume: np.ndarray, origin: Sequence[int], size: int) -> np.ndarray:
    """The (C, size, size, size) block of a (C, X, Y, Z) volume at `origin`; 0 beyond it."""
    out = np.zeros((volume.shape[0], size, size, size), dtype=np.float32)
    src = tuple(slice(o, min(o + size, n)) for o, n in zip(origin, volume.shape[1:], strict=True))
    dst = tuple(slice(0, s.stop - s.start) for s in src)
    out[(slice(None), *dst)] = volume[(slice(None), *src)]
    return out


def paste(crop: np.ndarray, origin: Sequence[int], grid_shape: Sequence[int]) -> np.ndarray:
    """A (s, s, s) crop placed back at `origin` on a zero learning grid (inverse of `cut`)."""
    out = np.zeros(tuple(grid_shape), dtype=np.float32)
    dst = tuple(slice(o, min(o + crop.shape[i], n))
                for i, (o, n) in enumerate(zip(origin, grid_shape, strict=True)))
    src = tuple(slice(0, s.stop - s.start) for s in dst)
    out[dst] = crop[src]
    return out


def session_crop(dataset: LearningGridDataset, index: int, channels: Sequence[str],
                 size: int = CROP_VOXELS) -> SessionCrop:
    """The crop of session `index` of `dataset` with the crop channels `channels`."""
    sample = dataset[index]
    images = {m: t.numpy() for m, t in sample["images"].items()}
    brain = sample["brain_mask"][0].numpy()
    item = dataset.sessions[index]
    centre, method = tumour_centre(dataset.root, (item.subject, item.session or None), images,
                                   brain)
    origin = crop_origin(centre, dataset.shape, size)
    stack = np.zeros((len(channels), *dataset.shape), dtype=np.float32)
    names = {m: channel_names([m]) for m in images}
    for m, volume in images.items():
        for j, name in enumerate(names[m]):
            if name in channels:
                stack[list(channels).index(name)] = volume[j]
    return SessionCrop(cut(stack, origin, size), origin, tuple(sample["present"]),
                       tuple(float(c) for c in centre), method)


def read_crops(bids_dir: str | Path, sessions: Sequence[tuple[str, str]],
               size: int = CROP_VOXELS, config: Config | None = None,
               channels: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The image table of `sessions` ((participant_id, session_id) pairs, prefixes allowed).

    Returns a frame indexed like `sessions` with the columns `IMAGE_COLUMNS` plus
    ``centre_method``, and the crop channel names (`channels`, or the union of the sessions'
    modalities).

    Raises
    ------
    InputError
        A session without learning-grid images (names the command to run).
    """
    config = config or load_config()
    root = Path(bids_dir)
    listed = []
    for subject, session in sessions:
        files = session_files(root, (subject, session))
        if files is None:
            raise InputError(f"session {subject}_{session} has no learning-grid images",
                             path=d.PREPROCESS.session_dir(root, (subject, session)),
                             fix="run `gliopet preprocess` (and `gliopet quantify` for the "
                                 "dynamic PET channels) on the dataset first")
        listed.append(files)
    dataset = _Sessions(root, listed, config)
    if channels is None:
        channels = channel_names({m for s in listed for m in s.files})
    crops = [session_crop(dataset, i, channels, size) for i in range(len(listed))]
    frame = pd.DataFrame({"crop": [c.crop for c in crops], "origin": [c.origin for c in crops],
                          "present": [c.present for c in crops],
                          "centre_method": [c.centre_method for c in crops]})
    return frame, list(channels)


def stack_crops(X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """(n, C, s, s, s) float32 array of an image table's ``crop`` column (or an array)."""
    if isinstance(X, pd.DataFrame):
        return np.stack(list(X["crop"])).astype(np.float32)
    return np.asarray(X, dtype=np.float32)
