"""Pretraining runs: ``gliopet pretrain`` (issue 12, item 6).

`pretrain` fits a `PretrainModule` with a Lightning `Trainer` on any dataset of learning-grid
samples; `pretrain_bids` is the command's path (the BIDS dataset's `LearningGridDataset`, minus
the excluded sites). Output folder::

    DIR/checkpoints/epoch-0001.ckpt + epoch-0001.json   one checkpoint and model card per epoch
    DIR/checkpoints/last.ckpt + last.json               the latest (what --resume continues)
    DIR/logs/version_<n>/metrics.csv                     every logged loss, one folder per run
    DIR/init-report.json                                 what --init loaded, skipped, re-initialised

Multi-GPU and multi-node: ``train.devices`` / ``train.num_nodes`` of the configuration; Lightning
runs DDP (launched by itself, torchrun or SLURM).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gliopet.errors import InputError
from gliopet.foundation.config import FoundationConfig

logger = logging.getLogger("gliopet")
CHECKPOINTS = "checkpoints"
LAST = "last.ckpt"
INIT_REPORT = "init-report.json"


@dataclass(frozen=True)
class PretrainResult:
    """What a run left: the last checkpoint, its card, the per-epoch losses."""

    checkpoint: Path
    card: Path
    history: list[dict[str, float]]
    step_losses: list[float]


@dataclass(frozen=True)
class GridInfo:
    """The learning grid the model is built for and the modalities it reads."""

    modality_channels: dict[str, int]
    shape: tuple[int, int, int]
    affine: np.ndarray


def _trainer(config: FoundationConfig, out: Path, max_epochs: int, callback: Any,
             progress: bool) -> Any:
    import warnings

    import lightning as L
    from lightning.pytorch.loggers import CSVLogger

    # Lightning's start-up chatter (hardware lines, an advert for a cloud logger) and a pytree
    # deprecation notice from its internals say nothing about this run; gliopet prints its own
    # summary. Warnings about the run itself still show.
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    train = config.train
    many = train.num_nodes > 1 or train.devices == "auto" or int(train.devices) > 1
    return L.Trainer(max_epochs=max_epochs, accelerator=train.accelerator,
                     devices=train.devices, num_nodes=train.num_nodes,
                     precision=train.precision,
                     strategy="ddp_find_unused_parameters_true" if many else "auto",
                     callbacks=[callback], logger=CSVLogger(out, name="logs"),
                     enable_progress_bar=progress, enable_model_summary=False,
                     log_every_n_steps=1, default_root_dir=out, num_sanity_val_steps=0)


def _resume_from(out: Path, resume: bool) -> Path | None:
    last = out / CHECKPOINTS / LAST
    if resume:
        if not last.is_file():
            raise InputError("nothing to resume: no last checkpoint", path=last,
                             fix="run without --resume to start, or give the --out of the run")
        return last
    if (out / CHECKPOINTS).is_dir() and any((out / CHECKPOINTS).glob("*.ckpt")):
        raise InputError("the output folder already holds checkpoints", path=out / CHECKPOINTS,
                         fix="add --resume to continue that run, or choose another --out")
    return None


def pretrain(dataset: torch.utils.data.Dataset, grid: GridInfo, config: FoundationConfig,
             out: str | Path, *, seed: int, collate: Callable[[list[dict]], dict],
             sessions: Sequence[dict[str, str]], max_epochs: int | None = None,
             init: str | Path | None = None, resume: bool = False,
             excluded_sites: Sequence[str] = (), bids_dir: str | None = None,
             progress: bool = False,
             announce: Callable[[str], None] = logger.info) -> PretrainResult:
    """Pretrain on `dataset` (learning-grid samples) and write checkpoints under `out`.

    Parameters
    ----------
    sessions : list of dict
        subject, session, site of every sample (recorded in the model cards).
    init : path, optional
        A general model's checkpoint to start the encoder from (`init_weights`); its report
        goes to `announce` line by line and to ``out/init-report.json``.
    resume : bool
        Continue from ``out/checkpoints/last.ckpt`` (same next loss as the uninterrupted run).
    """
    from gliopet.foundation.checkpoint import CardCheckpoint
    from gliopet.foundation.module import EpochSampler, PretrainModule

    out = Path(out)
    ckpt = _resume_from(out, resume)
    if config.train.accelerator == "cpu":
        torch.set_num_threads(config.train.threads)
    torch.manual_seed(seed)
    module = PretrainModule(config.as_dict(), grid.modality_channels, list(grid.shape),
                            np.asarray(grid.affine, dtype=float).tolist(), seed)
    report = None
    if init is not None and ckpt is None:
        report = _initialise(module, Path(init), out, announce)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=config.train.batch_size, sampler=EpochSampler(len(dataset), seed),
        collate_fn=collate, num_workers=config.train.num_workers)
    callback = CardCheckpoint(
        {"sessions": list(sessions), "excluded_sites": list(excluded_sites), "init": report,
         "bids_dir": bids_dir},
        dirpath=out / CHECKPOINTS, filename="epoch-{epoch:04d}", auto_insert_metric_name=False,
        save_top_k=-1, save_last=True, every_n_epochs=1)
    trainer = _trainer(config, out, max_epochs or config.train.max_epochs, callback, progress)
    trainer.fit(module, loader, ckpt_path=ckpt)
    last = out / CHECKPOINTS / LAST
    return PretrainResult(last, last.with_suffix(".json"), list(module.history),
                          list(module.step_losses))


def _initialise(module: Any, path: Path, out: Path,
                announce: Callable[[str], None]) -> dict[str, Any]:
    from gliopet.atomic import write_json
    from gliopet.foundation.init_weights import initialise_encoder

    report = initialise_encoder(module.model.encoder, path)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / INIT_REPORT, report.as_dict())
    for line in report.lines():
        announce(line)
    return report.as_dict()


def pretrain_bids(bids_dir: str | Path, config: FoundationConfig, out: str | Path, *,
                  seed: int, max_epochs: int | None = None, init: str | Path | None = None,
                  resume: bool = False, exclude_sites: Sequence[str] = (),
                  participant_labels: Sequence[str] | None = None, progress: bool = True,
                  announce: Callable[[str], None] = logger.info) -> PretrainResult:
    """`pretrain` on every learning-grid session of a BIDS dataset except `exclude_sites`.

    Raises
    ------
    InputError
        No session left (none preprocessed, or every one at an excluded site).
    """
    from gliopet.foundation.data import MODALITY_CHANNELS, LearningGridDataset, collate_sessions

    dataset = LearningGridDataset(bids_dir, participant_labels=participant_labels)
    keep = [i for i, s in enumerate(dataset.sessions) if s.site not in set(exclude_sites)]
    if not keep:
        raise InputError(f"no session left after excluding site(s) {', '.join(exclude_sites)}",
                         path=bids_dir, fix="exclude fewer sites")
    sessions = [{"subject": dataset.sessions[i].subject, "session": dataset.sessions[i].session,
                 "site": dataset.sessions[i].site} for i in keep]
    grid = GridInfo(dict(MODALITY_CHANNELS), dataset.shape, dataset.affine)
    return pretrain(torch.utils.data.Subset(dataset, keep), grid, config, out, seed=seed,
                    collate=collate_sessions, sessions=sessions, max_epochs=max_epochs,
                    init=init, resume=resume, excluded_sites=list(exclude_sites),
                    bids_dir=str(bids_dir), progress=progress, announce=announce)
