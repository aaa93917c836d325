"""The foundation model's data: each session's learning-grid images, any subset of modalities.

`LearningGridDataset` lists the sessions of a BIDS dataset (`gliopet.io.bids_read`) and finds
their learning-grid files through the derivatives contract (preprocessing: MRI, static PET,
brain mask; quantification: the dynamic PET channels). A session joins with whatever modalities
it has (MRI-only sessions included); `presence` tables them. An item is a dict: ``images``
(modality -> float32 tensor (C_m, X, Y, Z), present modalities only), ``brain_mask`` (bool
(1, X, Y, Z)), ``present`` (modalities in `MODALITY_CHANNELS` order), ``subject``, ``session``,
``site`` and ``affine`` (4 x 4 RAS of the learning grid); `collate_sessions` batches items with
different subsets.

Normalisation of each channel (docs/foundation.md, "Inputs on the learning grid"):

* MRI (``t1w``, ``t1ce``, ``t2w``, ``flair``): as preprocessing wrote them, z-scored over the
  template brain mask (0 outside it);
* ``pet``: the static SUV (or Bq/mL) divided by its median inside the session's brain mask
  (a ratio to the whole-brain median, free of the SUV scale and of the unit);
* ``pet_dynamic``: the channels of ``LEARNING_DYNAMIC_STATS`` as quantification wrote them
  (TBRs, relative TTP, TBR slope per hour; 0 outside the brain).

Non-finite voxels become 0. Every image is checked against the learning grid (shape and affine
of `gliopet.preprocess.grids.learning_reference` for the configuration's margin).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from gliopet.config import Config, load_config
from gliopet.errors import InputError, ParameterError
from gliopet.io import derivatives as d

logger = logging.getLogger("gliopet")

#: Channels of each modality, in the model's modality order (read channel counts from here).
MODALITY_CHANNELS: dict[str, int] = {"t1w": 1, "t1ce": 1, "t2w": 1, "flair": 1, "pet": 1,
                                     "pet_dynamic": len(d.LEARNING_DYNAMIC_STATS)}
#: The BIDS anatomical key of each MRI modality (`gliopet.io.session.ANAT_SUFFIXES`).
MRI_KEYS: dict[str, str] = {"t1w": "T1w", "t1ce": "ce-gadolinium_T1w", "t2w": "T2w",
                            "flair": "FLAIR"}
#: The dynamic channel of each index of ``pet_dynamic`` (the files' ``stat``).
DYNAMIC_CHANNELS: tuple[str, ...] = d.LEARNING_DYNAMIC_STATS


@dataclass(frozen=True)
class SessionFiles:
    """One session's learning-grid files: modality -> paths (one per channel), brain mask."""

    subject: str
    session: str
    site: str
    files: dict[str, tuple[Path, ...]]
    brain_mask: Path

    @property
    def present(self) -> tuple[str, ...]:
        """Modalities with files, in `MODALITY_CHANNELS` order."""
        return tuple(m for m in MODALITY_CHANNELS if m in self.files)


def learning_grid_geometry(config: Config | None = None) -> tuple[tuple[int, int, int],
                                                                  np.ndarray]:
    """Shape and RAS affine of the learning grid (configuration ``preprocess.learning_margin_mm``).
    """
    from gliopet.preprocess.grids import learning_reference
    from gliopet.preprocess.registration import from_sitk

    config = config or load_config()
    reference = learning_reference(config.preprocess.learning_margin_mm,
                                   config.preprocess.template_resolution_mm)
    data, affine = from_sitk(reference)
    return tuple(int(n) for n in data.shape), affine


def session_files(root: str | Path, ids: d.IdsLike, site: str = "") -> SessionFiles | None:
    """The learning-grid files of one session; None when it has no learning-grid brain mask and
    no learning-grid image (not preprocessed).

    Raises
    ------
    InputError
        Images without the brain mask (an older preprocessing), or some but not all dynamic
        channels.
    """
    subject, session = d.session_ids(ids)
    files: dict[str, tuple[Path, ...]] = {}
    for modality, key in MRI_KEYS.items():
        found = d.find_or_none(root, (subject, session), d.LEARNING_MRI, **d.anat_fill(key))
        if found is not None:
            files[modality] = (found,)
    pet = d.find_or_none(root, (subject, session), d.LEARNING_PET)
    if pet is not None:
        files["pet"] = (pet,)
    dynamic = {stat: d.find_or_none(root, (subject, session), d.LEARNING_DYNAMIC, stat=stat)
               for stat in DYNAMIC_CHANNELS}
    found_dynamic = [path for path in dynamic.values() if path is not None]
    if found_dynamic and len(found_dynamic) < len(dynamic):
        missing = [stat for stat, path in dynamic.items() if path is None]
        raise InputError(f"dynamic PET channels {', '.join(missing)} are missing on the learning "
                         "grid while the others exist", path=found_dynamic[0].parent,
                         fix="rerun `gliopet quantify --force` for this session")
    if found_dynamic:
        files["pet_dynamic"] = tuple(found_dynamic)
    mask = d.find_or_none(root, (subject, session), d.LEARNING_MASK)
    if mask is None:
        if files:
            raise InputError("learning-grid images without the learning-grid brain mask "
                             f"({d.LEARNING_MASK.pattern()})",
                             path=d.PREPROCESS.session_dir(root, (subject, session)),
                             fix="rerun `gliopet preprocess --force` for this session")
        return None
    return SessionFiles(subject, session or "", site, files, mask)


class LearningGridDataset(Dataset):
    """Every preprocessed session of a BIDS dataset on the learning grid (torch Dataset).

    Parameters
    ----------
    bids_dir : str or Path
        The BIDS dataset (its ``derivatives/gliopet``).
    modalities : sequence of str, optional
        Modalities to read (keys of `MODALITY_CHANNELS`); all when None. A session joins when
        it has at least one of them.
    participant_labels : sequence of str, optional
        Subjects to read (with or without ``sub-``); all when None.
    config : Config, optional
        Resolved configuration (defaults when None): the learning grid's margin.

    Raises
    ------
    InputError
        No session with learning-grid files (names the command to run), a file not on the
        learning grid, or an unknown modality.
    """

    def __init__(self, bids_dir: str | Path, modalities: Sequence[str] | None = None,
                 participant_labels: Sequence[str] | None = None,
                 config: Config | None = None) -> None:
        from gliopet.io.bids_read import read_dataset

        self.root = Path(bids_dir)
        self.modalities = _checked_modalities(modalities)
        self.config = config or load_config()
        self.shape, self.affine = learning_grid_geometry(self.config)
        labels = list(participant_labels) if participant_labels else None
        self.sessions: list[SessionFiles] = []
        skipped = []
        for session in read_dataset(self.root, labels, self.config):
            found = session_files(self.root, session, session.site)
            if found is None or not set(found.files) & set(self.modalities):
                skipped.append(session.key)
                continue
            kept = {m: p for m, p in found.files.items() if m in self.modalities}
            self.sessions.append(SessionFiles(found.subject, found.session, found.site, kept,
                                              found.brain_mask))
        if not self.sessions:
            raise InputError(f"no session has learning-grid images of {', '.join(self.modalities)}",
                             path=d.PREPROCESS.root(self.root),
                             fix="run `gliopet preprocess` on the dataset (and `gliopet quantify` "
                                 "for the dynamic PET channels) first")
        if skipped:
            logger.warning("%d session(s) without learning-grid images left out: %s",
                           len(skipped), ", ".join(skipped))
        for item in self.sessions:
            for path in (item.brain_mask, *[p for ps in item.files.values() for p in ps]):
                self._check_grid(path)

    def __len__(self) -> int:
        return len(self.sessions)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.sessions[index]
        brain = _read(item.brain_mask) > 0
        images = {}
        for modality in item.present:
            stack = np.stack([_read(path) for path in item.files[modality]])
            if modality == "pet":
                stack = stack / _brain_median(stack[0], brain, item.files[modality][0])
            images[modality] = torch.from_numpy(np.nan_to_num(stack, nan=0.0, posinf=0.0,
                                                              neginf=0.0).astype(np.float32))
        return {"images": images, "brain_mask": torch.from_numpy(brain[np.newaxis]),
                "present": item.present, "subject": item.subject, "session": item.session,
                "site": item.site, "affine": self.affine.copy()}

    def presence(self) -> pd.DataFrame:
        """One row per session (subject, session, site) and one bool column per modality read."""
        rows = [{"subject": s.subject, "session": s.session, "site": s.site,
                 **{m: m in s.files for m in self.modalities}} for s in self.sessions]
        return pd.DataFrame(rows, columns=["subject", "session", "site", *self.modalities])

    def _check_grid(self, path: Path) -> None:
        from gliopet.io.nifti import load_nifti

        img = load_nifti(path)
        shape = tuple(int(n) for n in img.shape[:3])
        if shape != self.shape or not np.allclose(img.affine, self.affine, atol=1e-3):
            raise InputError(f"the image is not on the learning grid (shape {shape}, expected "
                             f"{self.shape} at 2 mm in {d.TEMPLATE_SPACE})", path=path,
                             fix="rerun `gliopet preprocess --force` (and `gliopet quantify "
                                 "--force`) with the configuration used for the others")


def collate_sessions(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Batch samples with different modality subsets (zeros where a modality is absent).

    Returns ``images`` (modality -> (B, C_m, X, Y, Z) for every modality present in at least
    one sample), ``present`` (bool (B, n_modalities) in `MODALITY_CHANNELS` order),
    ``brain_mask`` (B, 1, X, Y, Z), ``affine`` (B, 4, 4) and the lists ``subject``,
    ``session``, ``site``.
    """
    if not samples:
        raise InputError("no sample to collate", fix="give at least one session")
    order = list(MODALITY_CHANNELS)
    present = torch.tensor([[m in s["images"] for m in order] for s in samples], dtype=torch.bool)
    spatial = tuple(samples[0]["brain_mask"].shape[1:])
    images = {}
    for j, modality in enumerate(order):
        if not present[:, j].any():
            continue
        batch = torch.zeros((len(samples), MODALITY_CHANNELS[modality], *spatial),
                            dtype=torch.float32)
        for i, sample in enumerate(samples):
            if modality in sample["images"]:
                batch[i] = sample["images"][modality]
        images[modality] = batch
    return {"images": images, "present": present,
            "brain_mask": torch.stack([s["brain_mask"] for s in samples]),
            "affine": torch.as_tensor(np.stack([s["affine"] for s in samples])),
            "subject": [s["subject"] for s in samples],
            "session": [s["session"] for s in samples], "site": [s["site"] for s in samples]}


def _checked_modalities(modalities: Sequence[str] | None) -> tuple[str, ...]:
    if modalities is None:
        return tuple(MODALITY_CHANNELS)
    unknown = [m for m in modalities if m not in MODALITY_CHANNELS]
    if unknown or not modalities:
        raise ParameterError("modalities", list(modalities),
                             f"a non-empty list of {', '.join(MODALITY_CHANNELS)}")
    return tuple(m for m in MODALITY_CHANNELS if m in modalities)


def _read(path: Path) -> np.ndarray:
    from gliopet.io.nifti import load_nifti, read_voxels

    return np.asarray(read_voxels(load_nifti(path), path), dtype=np.float32)


def _brain_median(static: np.ndarray, brain: np.ndarray, path: Path) -> float:
    values = static[brain & np.isfinite(static)]
    median = float(np.median(values)) if values.size else float("nan")
    if not np.isfinite(median) or median <= 0:
        raise InputError("the learning-grid PET has no positive median inside the brain mask",
                         path=path, fix="check the PET and rerun `gliopet preprocess --force`")
    return median
