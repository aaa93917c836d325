"""The Lightning module of pretraining (issue 12, item 6).

Every random draw of a training step (crops, intensity changes, masks) comes from a generator
seeded with (seed, global step, process rank): a run resumed from a checkpoint takes exactly the
steps the uninterrupted run took (the data order is fixed per epoch by `EpochSampler`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import lightning as L
import torch

from gliopet.foundation.config import FoundationConfig
from gliopet.foundation.pretext import PretextModel, draw_views, step_generator


class EpochSampler(torch.utils.data.Sampler[int]):
    """A shuffled order of the dataset fixed by (seed, epoch); Lightning calls `set_epoch`."""

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(hash((self.seed, self.epoch)) & 0x7FFFFFFF)
        return iter(torch.randperm(self.size, generator=g).tolist())

    def __len__(self) -> int:
        return self.size


class PretrainModule(L.LightningModule):
    """Pretraining of `PretextModel` on collated learning-grid batches.

    Parameters
    ----------
    config : dict
        `FoundationConfig.as_dict()`.
    modality_channels : mapping of str to int
        Modalities and channel counts (`gliopet.foundation.data.MODALITY_CHANNELS`).
    grid_shape : 3 ints
        Learning-grid shape (voxels).
    grid_affine : 4 x 4 nested list
        Learning-grid RAS affine (recorded, checked by ``gliopet embed``).
    seed : int
        Seed of the step generators.
    """

    def __init__(self, config: dict, modality_channels: Mapping[str, int],
                 grid_shape: Sequence[int], grid_affine: Sequence[Sequence[float]], seed: int):
        super().__init__()
        self.save_hyperparameters()
        self.foundation_config = FoundationConfig.model_validate(config)
        self.model = PretextModel(dict(modality_channels), tuple(grid_shape),
                                  self.foundation_config)
        self.seed = seed
        self.history: list[dict[str, float]] = []
        self.step_losses: list[float] = []
        self.modalities_seen: set[str] = set()
        self._sums: dict[str, float] = {}
        self._count = 0

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        generator = step_generator(self.seed, self.global_step, self.global_rank)
        views, plans = draw_views(batch, self.model, generator)
        out = self.model(views, plans)
        size = len(batch["subject"])
        seen = batch["present"].any(0).tolist()
        self.modalities_seen |= {m for m, s in zip(self.model.encoder.modalities, seen,
                                                   strict=True) if s}
        for key, value in out.items():
            self.log(f"train/{key}", value.detach(), batch_size=size, prog_bar=key == "loss")
            self._sums[key] = self._sums.get(key, 0.0) + float(value.detach())
        self._count += 1
        self.step_losses.append(float(out["loss"].detach()))
        return out["loss"]

    def on_train_epoch_end(self) -> None:
        if self._count:
            self.history.append({"epoch": int(self.current_epoch),
                                 **{k: v / self._count for k, v in self._sums.items()}})
        self._sums, self._count = {}, 0

    def configure_optimizers(self) -> torch.optim.Optimizer:
        train = self.foundation_config.train
        return torch.optim.AdamW(self.parameters(), lr=train.learning_rate,
                                 weight_decay=train.weight_decay)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from gliopet.foundation.checkpoint import FORMAT

        checkpoint["gliopet_format"] = FORMAT
        checkpoint["gliopet_loss_history"] = list(self.history)
        checkpoint["gliopet_modalities_seen"] = self.seen_modalities()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.history = list(checkpoint.get("gliopet_loss_history", []))
        self.modalities_seen = set(checkpoint.get("gliopet_modalities_seen", []))

    def seen_modalities(self) -> list[str]:
        """Modalities present in at least one training batch, in the model's order."""
        return [m for m in self.model.encoder.modalities if m in self.modalities_seen]
