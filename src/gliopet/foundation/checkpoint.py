"""Checkpoints of the foundation model and the model card JSON beside each one.

`CardCheckpoint` is Lightning's `ModelCheckpoint` that writes, beside every checkpoint it saves
(``epoch-0001.ckpt``, ``last.ckpt``), a model card with the same stem (``epoch-0001.json``):
configuration, modalities and learning grid, the sessions and sites trained on, the loss of
every epoch so far, versions, the SHA-256 of the checkpoint file. `load_pretrained` reads a
checkpoint back and refuses, in one line, a file that is not a gliopet foundation checkpoint.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from gliopet.atomic import write_json
from gliopet.errors import InputError
from gliopet.provenance import dependency_versions, sha256_file

#: Marks a gliopet foundation checkpoint (and the version of its layout).
FORMAT = "gliopet-foundation-1"
VERSIONED = ("numpy", "torch", "monai", "lightning", "einops", "pydantic")


def card_path(checkpoint: str | Path) -> Path:
    """The model card beside `checkpoint` (same stem, ``.json``)."""
    return Path(checkpoint).with_suffix(".json")


class CardCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` writing a model card beside every checkpoint.

    Parameters
    ----------
    training : dict
        What the card records about the run: ``sessions`` (list of subject/session/site),
        ``excluded_sites``, ``init`` (the --init report or None), ``bids_dir``.
    **kwargs
        `ModelCheckpoint` arguments.
    """

    def __init__(self, training: dict[str, Any], **kwargs: Any):
        super().__init__(**kwargs)
        self.training = training

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)
        if trainer.is_global_zero:
            write_json(card_path(filepath), self.card(trainer, Path(filepath)))

    def card(self, trainer: L.Trainer, checkpoint: Path) -> dict[str, Any]:
        """The model card of a checkpoint just written."""
        module = trainer.lightning_module
        hp = dict(module.hparams)
        sessions = self.training.get("sessions", [])
        return {
            "format": FORMAT,
            "checkpoint": checkpoint.name,
            "sha256": sha256_file(checkpoint),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "epoch": int(trainer.current_epoch), "global_step": int(trainer.global_step),
            "config": hp["config"], "modality_channels": dict(hp["modality_channels"]),
            "grid_shape": list(hp["grid_shape"]), "grid_affine": hp["grid_affine"],
            "seed": hp["seed"],
            "sessions_seen": sessions,
            "sites_seen": sorted({s["site"] for s in sessions}),
            "modalities_seen": module.seen_modalities(),
            "excluded_sites": self.training.get("excluded_sites", []),
            "bids_dir": self.training.get("bids_dir"),
            "init": self.training.get("init"),
            "losses": list(getattr(module, "history", [])),
            "world_size": int(trainer.world_size),
            "versions": dependency_versions(VERSIONED),
        }


def load_pretrained(path: str | Path) -> Any:
    """The `PretrainModule` of a gliopet foundation checkpoint, in eval mode on the CPU.

    Raises
    ------
    InputError
        Missing file, not a torch checkpoint, or a checkpoint of another architecture.
    """
    from gliopet.foundation.module import PretrainModule

    path = Path(path)
    if not path.is_file():
        raise InputError("model checkpoint not found", path=path,
                         fix="give a .ckpt written by `gliopet pretrain` (its checkpoints/ folder)")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # any unreadable file: pickle, zip or torch errors
        raise InputError(f"not a readable torch checkpoint ({exc.__class__.__name__})",
                         path=path, fix="give a .ckpt written by `gliopet pretrain`") from None
    hp = raw.get("hyper_parameters", {}) if isinstance(raw, dict) else {}
    if not isinstance(raw, dict) or raw.get("gliopet_format") != FORMAT or "config" not in hp:
        raise InputError("not a gliopet foundation checkpoint (another architecture or a bare "
                         "state dict)", path=path,
                         fix="give a .ckpt written by `gliopet pretrain`; to start from "
                             "another model's weights use `gliopet pretrain --init`")
    try:
        module = PretrainModule(**hp)
    except (TypeError, ValueError, KeyError) as exc:
        raise InputError(f"the checkpoint's hyper-parameters do not describe a gliopet model "
                         f"({exc.__class__.__name__}: {exc})", path=path,
                         fix="give a .ckpt written by this version of `gliopet pretrain`") from None
    try:
        module.load_state_dict(raw["state_dict"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise InputError(f"the checkpoint's weights do not fit its architecture ({first})",
                         path=path, fix="give an unmodified .ckpt written by "
                                        "`gliopet pretrain`") from None
    module.modalities_seen = set(raw.get("gliopet_modalities_seen", []))
    return module.eval()
