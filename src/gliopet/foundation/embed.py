"""``gliopet embed``: per-session patch embeddings of a pretrained model (issue 12, item 7).

For each session with learning-grid images, the encoder reads every modality the session has
over the whole (padded) learning grid, without masking. Per patch, the vectors of the modality
tokens are fused by their mean (`gliopet.foundation.encoder.fuse`); the map of fused vectors is
written as a 4-D NIfTI at patch resolution whose affine puts voxel ``p`` at the centre of patch
``p`` (`gliopet.foundation.encoder.patch_affine`), so it overlays the learning-grid images. The
session vector is the mean of the fused vectors of the patches holding brain. Optionally
(``--dense``) the patch vectors are interpolated (trilinear) onto the 2 mm learning grid.

Every refusal happens before anything is written: a checkpoint that is not a gliopet
foundation model, a dataset on another learning grid than the model's, a modality the model
never saw in pretraining, a dataset without learning-grid images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from gliopet.errors import InputError
from gliopet.foundation.encoder import fuse, patch_affine
from gliopet.foundation.pretext import patchify
from gliopet.foundation.views import whole_view
from gliopet.io import derivatives as d
from gliopet.io.session import Session
from gliopet.stage import Outcome, SessionContext, SessionWriter, Stage

FUSION = ("mean over the modality tokens given for the patch of the encoder outputs (after the "
          "last block and LayerNorm); session vector = mean over patches holding brain")
_MODELS: dict[str, Any] = {}


@dataclass(frozen=True)
class SessionEmbedding:
    """One session's embedding: patch map (gx, gy, gz, D), its affine, the session vector."""

    patch_map: np.ndarray
    affine: np.ndarray
    vector: np.ndarray
    brain_patches: int
    modalities: tuple[str, ...]


def embed_sample(module: Any, batch: dict) -> SessionEmbedding:
    """Embed one collated session (batch of 1) with a `PretrainModule`."""
    enc = module.model.encoder
    view = whole_view(batch, enc.patch_size)
    with torch.no_grad():
        out, visible = enc(view.images, view.present, view.origin)
    fused, covered = fuse(out, visible)
    brain = patchify(view.brain, enc.patch_size).amax(-1) > 0  # (1, N)
    keep = brain & covered
    fused = fused * keep[..., None]
    weights = keep.to(fused.dtype)[..., None]
    vector = (fused * weights).sum(1) / weights.sum(1).clamp(min=1)
    patch_map = fused[0].reshape(*enc.patches, -1).numpy().astype(np.float32)
    affine = np.asarray(batch["affine"][0], dtype=float)
    present = [m for m, p in zip(enc.modalities, view.present[0].tolist(), strict=True) if p]
    return SessionEmbedding(patch_map, patch_affine(affine, enc.patch_size),
                            vector[0].numpy().astype(np.float64), int(keep.sum()),
                            tuple(present))


def dense_map(patch_map: np.ndarray, grid_shape: tuple[int, int, int],
              patch_size: int) -> np.ndarray:
    """Patch vectors interpolated (trilinear) onto the learning grid, (X, Y, Z, D).

    With ``align_corners=False`` and scale `patch_size`, grid voxel ``p*P + (P-1)/2`` gets
    exactly the vector of patch ``p`` (the centres of `patch_affine`).
    """
    volume = torch.from_numpy(np.moveaxis(patch_map, -1, 0))[None]
    up = torch.nn.functional.interpolate(volume, scale_factor=patch_size, mode="trilinear",
                                         align_corners=False)[0]
    x, y, z = grid_shape
    return np.moveaxis(up[:, :x, :y, :z].numpy(), 0, -1).astype(np.float32)


def vector_columns(size: int) -> list[str]:
    """Names of the session-vector columns (``e000`` ...)."""
    return [f"e{i:03d}" for i in range(size)]


def check_compatible(module: Any, shape: tuple[int, ...], affine: np.ndarray,
                     presence: pd.DataFrame, model_path: str | Path,
                     channels: dict[str, int]) -> None:
    """Refuse a dataset the model cannot embed (one `InputError`, nothing written)."""
    enc = module.model.encoder
    if tuple(shape) != enc.grid_shape or not np.allclose(
            affine, np.asarray(module.hparams["grid_affine"]), atol=1e-3):
        raise InputError(f"the dataset's learning grid (shape {tuple(shape)}) is not the one the "
                         f"model was trained on (shape {enc.grid_shape}, its affine)",
                         path=model_path, fix="preprocess the dataset with the learning-grid "
                                              "settings of the model's pretraining")
    used = [m for m in presence.columns if m in channels and bool(presence[m].any())]
    seen = module.seen_modalities()
    for modality in used:
        if enc.channels.get(modality) != channels[modality] or modality not in seen:
            raise InputError(f"the model never saw modality {modality!r} in pretraining (seen: "
                             f"{', '.join(seen) or 'none'})", path=model_path,
                             fix="pretrain a model on sessions with this modality, or embed a "
                                 "dataset without it")


def _model(path: str) -> Any:
    """The model of a checkpoint, loaded once per process."""
    from gliopet.foundation.checkpoint import load_pretrained

    stat = Path(path).stat() if Path(path).is_file() else None
    key = f"{path}:{stat.st_mtime_ns}:{stat.st_size}" if stat else path
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = load_pretrained(path)
    return _MODELS[key]


@dataclass(frozen=True)
class EmbedResult:
    row: dict[str, Any]
    inputs: list[Path]


@dataclass
class EmbedStage(Stage[EmbedResult]):
    """The per-session embedding stage (run by `gliopet.stage.run_stage`)."""

    model_path: str
    root: str
    sha256: str
    dense: bool = False

    folder: ClassVar = d.FOUNDATION
    row_file: ClassVar = d.EMBEDDING_ROW
    command: ClassVar = "gliopet embed"
    done_verb: ClassVar = "embedded"
    tables: ClassVar = (d.EMBEDDING_TABLE.filename,)

    def applies(self, session: Session) -> bool:
        from gliopet.foundation.data import session_files

        return session_files(self.root, session, session.site) is not None

    def run_session(self, session: Session, context: SessionContext) -> EmbedResult:
        from gliopet.foundation.data import LearningGridDataset, collate_sessions

        torch.set_num_threads(max(1, context.threads))
        dataset = LearningGridDataset(context.root, participant_labels=[session.subject],
                                      config=context.config)
        index = [i for i, s in enumerate(dataset.sessions) if s.session == (session.session or "")]
        sample = dataset[index[0]]
        module = _model(self.model_path)
        result = embed_sample(module, collate_sessions([sample]))
        writer = SessionWriter(context.out, (session.subject, session.session))
        p = module.model.encoder.patch_size
        sidecar = {"PatchSize_voxels": p, "Fusion": FUSION, "Modalities": list(result.modalities),
                   "BrainPatches": result.brain_patches, "Model": Path(self.model_path).name,
                   "ModelSHA256": self.sha256}
        writer.image(d.EMBEDDING_MAP, result.patch_map, result.affine, sidecar=sidecar)
        if self.dense:
            writer.image(d.EMBEDDING_DENSE, dense_map(result.patch_map, dataset.shape, p),
                         dataset.affine, sidecar={**sidecar, "Interpolation": "trilinear"})
        files = dataset.sessions[index[0]]
        row = {"subject": session.subject, "session": session.session or "",
               "site": session.site, "modalities": "+".join(result.modalities),
               "n_brain_patches": result.brain_patches,
               **dict(zip(vector_columns(result.vector.size), result.vector.tolist(),
                          strict=True))}
        return EmbedResult(row, [files.brain_mask, *[q for v in files.files.values() for q in v]])

    def row(self, result: EmbedResult) -> dict[str, Any]:
        return result.row

    def inputs(self, session: Session, result: EmbedResult) -> list[Path]:
        return [Path(self.model_path), *result.inputs]

    def stage_provenance(self) -> dict[str, Any]:
        return {"model": self.model_path, "model_sha256": self.sha256}

    def write_tables(self, root: Path, outcomes: list[Outcome]) -> pd.DataFrame | None:
        from gliopet.atomic import write_json, write_tsv

        rows = [o.row for o in outcomes if o.ok and o.row is not None]
        if not rows:
            return None
        table = pd.DataFrame(rows)
        write_tsv(d.EMBEDDING_TABLE.path(root), table)
        write_json(d.EMBEDDING_TABLE.sidecar(root), {
            "Description": d.EMBEDDING_TABLE.description, "Fusion": FUSION,
            "Model": self.model_path, "ModelSHA256": self.sha256})
        return table


def run_embed(bids_dir: str | Path, model_path: str | Path, *,
              participant_label: list[str] | None = None, force: bool = False,
              dense: bool = False, config: Any = None) -> pd.DataFrame:
    """Embed every learning-grid session of a BIDS dataset; return the cohort table.

    Raises
    ------
    InputError
        Refusals of the module docstring (before anything is written), or failed sessions.
    """
    from gliopet.config import load_config
    from gliopet.foundation.data import MODALITY_CHANNELS, LearningGridDataset
    from gliopet.provenance import sha256_file
    from gliopet.stage import run_stage

    config = config or load_config()
    module = _model(str(model_path))
    dataset = LearningGridDataset(bids_dir, participant_labels=participant_label, config=config)
    check_compatible(module, dataset.shape, dataset.affine, dataset.presence(), model_path,
                     dict(MODALITY_CHANNELS))
    stage = EmbedStage(str(model_path), str(bids_dir), sha256_file(model_path), dense)
    run = run_stage(stage, bids_dir, participant_label=participant_label, force=force,
                    config=config, label="embed")
    return run.table
