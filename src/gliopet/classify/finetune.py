"""The foundation-model family: a pretrained ModalityViT with a small head on the tumour crop.

`FoundationModel(checkpoint=PATH)` reads a checkpoint of `gliopet pretrain`
(`gliopet.foundation.checkpoint.load_pretrained`) and keeps its encoder. Its rows are the image
table of `gliopet.classify.images` (tumour-centred crops of the learning grid; each crop's
origin is a multiple of 8 voxels, so its tokens are the model's own patches with their absolute
position embeddings). The crop's channels are split back into the model's modalities
(`channels` names them, `gliopet.classify.images.channel_names`); a modality the session lacks
is left out of the token sequence, as in pretraining.

Representation: every patch of the crop gets the mean of its modality tokens' encoder outputs
(`gliopet.foundation.encoder.fuse`); the crop vector is the mean over the patches covered
(the pooled tumour tokens: the crop is centred on the tumour).

Heads (one configuration fixed in advance):

- ``mode="probe"`` (linear probe): the encoder frozen; standardised crop vectors, L2 logistic
  regression whose C is chosen among `PROBE_C` by an inner cross-validation by subject (pooled
  out-of-fold AUC); the threshold is Youden's cut-off on the winning C's inner out-of-fold
  probabilities;
- ``mode="finetune"``: the probe's head as the start, then the last `finetune_blocks`
  transformer blocks, the final LayerNorm and the head trained with Adam, layer-wise learning
  rates (the head `lr`, each block below it `layer_decay` times the one above), class-balanced
  cross-entropy, early stopping on a validation split by subject (lowest validation loss,
  patience `patience` epochs); the threshold is Youden's cut-off on the validation rows.

`explain`: token Grad-CAM mapped to voxels, occlusion or integrated gradients
(`gliopet.classify.saliency`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from torch import nn

from gliopet.classify.cnn import validation_split
from gliopet.classify.images import channel_names, stack_crops
from gliopet.classify.models import inner_folds
from gliopet.classify.saliency import (
    check_method,
    integrated_gradients,
    occlusion,
    randomise_parameters,
    token_grad_cam,
)
from gliopet.errors import InputError
from gliopet.foundation.encoder import fuse
from gliopet.metrics import auc_score, youden_threshold

#: L2 strengths tried by the linear probe's inner cross-validation.
PROBE_C = (0.01, 0.1, 1.0, 10.0)
MODES = ("probe", "finetune")


def load_encoder(checkpoint: str | Path) -> tuple[nn.Module, str]:
    """(the ModalityViT of a gliopet foundation checkpoint, its SHA-256)."""
    from gliopet.foundation.checkpoint import load_pretrained
    from gliopet.provenance import sha256_file

    module = load_pretrained(checkpoint)
    return copy.deepcopy(module.model.encoder).eval(), sha256_file(checkpoint)


class FoundationModel(ClassifierMixin, BaseEstimator):
    """Linear probe or fine-tune of a pretrained encoder on tumour crops (module docstring).

    Parameters
    ----------
    checkpoint : str
        A ``.ckpt`` written by `gliopet pretrain`.
    channels : tuple of str
        Names of the crop channels (`gliopet.classify.images.channel_names`).
    mode : {'probe', 'finetune'}
    finetune_blocks : int
        Transformer blocks trained by the fine-tune (from the last).
    lr, layer_decay : float
        Head learning rate; factor per block going down.
    epochs, patience, batch_size, inner_splits : int
    seed : int
    """

    def __init__(self, checkpoint: str = "", channels: tuple[str, ...] = ("pet",),
                 mode: str = "probe", finetune_blocks: int = 1, lr: float = 1e-3,
                 layer_decay: float = 0.5, epochs: int = 30, patience: int = 8,
                 batch_size: int = 8, inner_splits: int = 3, seed: int = 0):
        self.checkpoint = checkpoint
        self.channels = channels
        self.mode = mode
        self.finetune_blocks = finetune_blocks
        self.lr = lr
        self.layer_decay = layer_decay
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.inner_splits = inner_splits
        self.seed = seed

    # ------------------------------------------------------------------ inputs
    def _modality_index(self) -> dict[str, list[int]]:
        """Modality -> its channels' positions in the crop (modalities the model knows)."""
        names = list(self.channels)
        out = {}
        for m in self.encoder_.modalities:
            wanted = channel_names([m])
            if wanted and all(w in names for w in wanted):
                if len(wanted) != self.encoder_.channels[m]:
                    raise InputError(f"the model's {m} tokeniser takes {self.encoder_.channels[m]}"
                                     f" channels, the crops hold {len(wanted)}",
                                     path=self.checkpoint, fix="use a checkpoint pretrained on "
                                     "these channels")
                out[m] = [names.index(w) for w in wanted]
        if not out:
            raise InputError(f"no crop channel ({', '.join(names)}) is a modality of the model "
                             f"({', '.join(self.encoder_.modalities)})", path=self.checkpoint,
                             fix="give images of a modality the model was pretrained on")
        return out

    def _batch(self, X: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(crops (B, C, s, s, s), present bool (B, M), origin in patches (B, 3))."""
        x = torch.from_numpy(stack_crops(X))
        p = self.encoder_.patch_size
        origin = np.asarray(list(X["origin"]), dtype=int).reshape(len(X), 3)
        if (origin % p).any() or x.shape[-1] % p:
            raise InputError(f"crops of {x.shape[-1]} voxels at {origin[0].tolist()} are not on "
                             f"the model's {p}-voxel patches", fix="use crops of "
                             "gliopet.classify.images (origins multiples of 8 voxels)")
        present = torch.tensor([[m in set(row) for m in self.encoder_.modalities]
                                for row in X["present"]], dtype=torch.bool)
        return x, present, torch.as_tensor(origin // p)

    def _fused(self, x: torch.Tensor, present: torch.Tensor,
               origin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(fused patch vectors (B, N, D), covered (B, N)) of crops."""
        images = {m: x[:, idx] for m, idx in self.index_.items()}
        given = torch.tensor([m in images for m in self.encoder_.modalities])
        present = present & given[None]
        none = ~present.any(1)
        if bool(none.any()):  # a session lacking every modality used: its crop is all zeros
            present = present.clone()
            present[none] = given
        out, visible = self.encoder_(images, present, origin)
        return fuse(out, visible)

    @staticmethod
    def _pool(fused: torch.Tensor, covered: torch.Tensor) -> torch.Tensor:
        w = covered.to(fused.dtype)[..., None]
        return (fused * w).sum(1) / w.sum(1).clamp(min=1)

    def _logit(self, x: torch.Tensor, present: torch.Tensor, origin: torch.Tensor
               ) -> torch.Tensor:
        return self.head_(self._pool(*self._fused(x, present, origin)))

    def vectors(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Crop vectors (n, D) of the frozen encoder."""
        self.encoder_.eval()
        with torch.no_grad():
            return self._pool(*self._fused(*self._batch(X))).double().numpy()

    # ---------------------------------------------------------------- training
    def _probe(self, V: NDArray, y: NDArray, groups: NDArray) -> None:
        """Fit the linear probe, its C and threshold by inner CV; set ``head_``."""
        folds = inner_folds(y, groups, self.inner_splits, self.seed)
        oof = np.full((len(PROBE_C), len(y)), np.nan)
        for train, val in folds:
            mean, sd = V[train].mean(0), V[train].std(0) + 1e-8
            for i, c in enumerate(PROBE_C):
                clf = LogisticRegression(C=c, max_iter=5000).fit((V[train] - mean) / sd, y[train])
                oof[i, val] = clf.predict_proba((V[val] - mean) / sd)[:, 1]
        aucs = [auc_score(y, row) for row in oof]
        best = int(np.argmax(aucs))
        self.C_, self.inner_auc_ = PROBE_C[best], float(aucs[best])
        self.threshold_ = youden_threshold(y, oof[best])
        mean, sd = V.mean(0), V.std(0) + 1e-8
        clf = LogisticRegression(C=self.C_, max_iter=5000).fit((V - mean) / sd, y)
        head = nn.Linear(V.shape[1], 1)
        with torch.no_grad():  # logit = ((v - mean) / sd) @ coef + intercept
            head.weight.copy_(torch.as_tensor(clf.coef_ / sd, dtype=torch.float32))
            head.bias.copy_(torch.as_tensor(clf.intercept_ - (clf.coef_[0] * mean / sd).sum(),
                                            dtype=torch.float32))
        self.head_ = head

    def _param_groups(self) -> list[dict[str, Any]]:
        blocks = list(self.encoder_.blocks)[::-1][:max(0, self.finetune_blocks)]
        groups = [{"params": [*self.head_.parameters(), *self.encoder_.norm.parameters()],
                   "lr": self.lr}]
        groups += [{"params": list(b.parameters()), "lr": self.lr * self.layer_decay ** (k + 1)}
                   for k, b in enumerate(blocks)]
        for p in self.encoder_.parameters():
            p.requires_grad_(False)
        for g in groups:
            for p in g["params"]:
                p.requires_grad_(True)
        return groups

    def _finetune(self, X: pd.DataFrame, y: NDArray, groups: NDArray) -> None:
        """Train the last blocks and the head; early stopping and threshold on a split."""
        train, val = validation_split(y, groups, self.inner_splits, self.seed)
        x, present, origin = self._batch(X)
        yt = torch.as_tensor(y, dtype=torch.float32)
        n_pos = max(1, int(y[train].sum()))
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(train) - n_pos) / n_pos))
        opt = torch.optim.Adam(self._param_groups())
        gen = torch.Generator().manual_seed(self.seed)
        state = copy.deepcopy((self.encoder_.state_dict(), self.head_.state_dict()))
        best, waited = self._val_loss(loss_fn, x, present, origin, yt, val), 0
        for _ in range(self.epochs):
            self.encoder_.train()
            order = torch.as_tensor(train)[torch.randperm(len(train), generator=gen)]
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                opt.zero_grad()
                loss_fn(self._logit(x[idx], present[idx], origin[idx])[:, 0], yt[idx]).backward()
                opt.step()
            loss = self._val_loss(loss_fn, x, present, origin, yt, val)
            if loss < best - 1e-6:
                best, waited = loss, 0
                state = copy.deepcopy((self.encoder_.state_dict(), self.head_.state_dict()))
            else:
                waited += 1
                if waited >= self.patience:
                    break
        self.encoder_.load_state_dict(state[0])
        self.head_.load_state_dict(state[1])
        self.encoder_.eval()
        self.threshold_ = youden_threshold(y[val], self.predict_proba(X.iloc[val])[:, 1])

    def _val_loss(self, loss_fn: nn.Module, x: torch.Tensor, present: torch.Tensor,
                  origin: torch.Tensor, yt: torch.Tensor, val: NDArray) -> float:
        self.encoder_.eval()
        with torch.no_grad():
            return float(loss_fn(self._logit(x[val], present[val], origin[val])[:, 0], yt[val]))

    def fit(self, X: pd.DataFrame, y: NDArray, groups: NDArray | None = None,
            sites: NDArray | None = None) -> FoundationModel:
        """Probe (and fine-tune when ``mode='finetune'``) on these rows (module docstring)."""
        if self.mode not in MODES:
            raise InputError(f"unknown foundation mode {self.mode!r}",
                             fix=f"use one of {', '.join(MODES)}")
        torch.manual_seed(self.seed)
        self.encoder_, self.checkpoint_sha256_ = load_encoder(self.checkpoint)
        self.index_ = self._modality_index()
        y = np.asarray(y, dtype=int)
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        vectors = self.vectors(X)
        self.reference_ = vectors.mean(0).astype(np.float32)  # token Grad-CAM's reference
        self._probe(vectors, y, groups)
        if self.mode == "finetune":
            self._finetune(X, y, groups)
        for p in [*self.encoder_.parameters(), *self.head_.parameters()]:
            p.requires_grad_(False)
        self.classes_ = np.array([0, 1])
        return self

    # -------------------------------------------------------------- prediction
    def predict_proba(self, X: pd.DataFrame, sites: NDArray | None = None) -> NDArray:
        """(n, 2) probabilities of the negative and positive class."""
        self.encoder_.eval()
        with torch.no_grad():
            p = torch.sigmoid(self._logit(*self._batch(X))[:, 0]).double().numpy()
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame, sites: NDArray | None = None) -> NDArray:
        """1 where the positive probability is at or above the operating threshold."""
        return (self.predict_proba(X)[:, 1] >= self.threshold_).astype(int)

    @property
    def selected_features_(self) -> list[str]:
        """Image models select no tabular feature."""
        return []

    # ------------------------------------------------------------- explanation
    def _one_map(self, x: torch.Tensor, present: torch.Tensor, origin: torch.Tensor,
                 method: str) -> NDArray[np.float32]:
        def forward(batch: torch.Tensor) -> torch.Tensor:
            n = batch.shape[0]
            return self._logit(batch, present.expand(n, -1), origin.expand(n, -1))

        if method == "occlusion":
            with torch.no_grad():
                return occlusion(forward, x)
        if method == "ig":
            return integrated_gradients(forward, x)
        with torch.no_grad():
            fused, covered = self._fused(x, present, origin)
        with torch.enable_grad():  # Grad-CAM: gradient of the logit at the last-layer tokens
            fused = fused.detach().requires_grad_(True)
            logit = self.head_(self._pool(fused, covered))[:, 0]
            p = self.encoder_.patch_size
            return token_grad_cam(fused, logit, tuple(n // p for n in x.shape[-3:]), p,
                                  torch.as_tensor(self.reference_, dtype=fused.dtype))

    def explain(self, X: pd.DataFrame, sites: NDArray | None = None,
                method: str = "gradcam") -> NDArray[np.float32]:
        """Saliency maps (n, s, s, s) on the crop voxels (`gliopet.classify.saliency`)."""
        check_method(method)
        self.encoder_.eval()
        x, present, origin = self._batch(X)
        return np.concatenate([self._one_map(x[i:i + 1], present[i:i + 1], origin[i:i + 1],
                                             method) for i in range(len(x))])

    def randomised(self, seed: int = 0) -> FoundationModel:
        """A copy whose encoder and head are re-initialised (randomisation check)."""
        out = copy.copy(self)
        out.encoder_ = randomise_parameters(self.encoder_, seed).eval()
        out.head_ = randomise_parameters(self.head_, seed + 1)
        return out
