"""The 3D CNN family: a compact residual network trained from scratch on tumour crops.

`CNNModel` has the interface of the other families (fit / predict_proba / predict / explain).
Its rows are the image table of `gliopet.classify.images` (column ``crop``: (C, s, s, s)
learning-grid crops centred on the tumour) or an array of crops.

One configuration, fixed in advance (issue 13: deep models are not tuned in the folds):

- network: MONAI ``Convolution`` + two ``ResidualUnit`` blocks (stride 2, batch norm, PReLU;
  `init_features`, x2, x4 channels), global average pooling, one logit;
- inputs: each channel standardised with the mean and SD of the training crops;
- training: Adam (`lr`, weight decay 1e-4), class-balanced binary cross-entropy
  (``pos_weight`` = negatives / positives), light MONAI augmentation (random flips on the three
  axes, random intensity shifts of +-0.1 SD), at most `epochs` epochs;
- early stopping: an inner validation split by subject (the first fold of a stratified
  `StratifiedGroupKFold` with `inner_splits` folds) picks the epoch of lowest validation loss
  (patience `patience` epochs); that epoch's weights are kept;
- operating threshold: Youden's cut-off on the validation rows' probabilities (never on the
  rows being tested).

Everything is seeded (`seed`): the split, the initial weights, the batches, the augmentation.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import nn

from gliopet.classify.images import stack_crops
from gliopet.classify.models import inner_folds
from gliopet.classify.saliency import (
    check_method,
    grad_cam,
    integrated_gradients,
    occlusion,
    randomise_parameters,
)
from gliopet.metrics import youden_threshold

#: The layer Grad-CAM reads (the last residual block).
CAM_LAYER = "features.2"


class CompactResNet(nn.Module):
    """Convolution + two strided residual units + average pooling + one logit (MONAI blocks)."""

    def __init__(self, in_channels: int, init_features: int = 8):
        super().__init__()
        from monai.networks.blocks import Convolution, ResidualUnit

        f = init_features
        self.features = nn.Sequential(
            Convolution(3, in_channels, f, strides=1, norm="batch", act="prelu"),
            ResidualUnit(3, f, 2 * f, strides=2, subunits=2, norm="batch"),
            ResidualUnit(3, 2 * f, 4 * f, strides=2, subunits=2, norm="batch"))
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.head = nn.Linear(4 * f, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1) logits of crops (B, C, s, s, s)."""
        return self.head(self.pool(self.features(x)).flatten(1))


def augmenter(seed: int) -> Any:
    """MONAI random flips (3 axes) and intensity shifts, seeded."""
    from monai.transforms import Compose, RandFlip, RandShiftIntensity

    transform = Compose([RandFlip(prob=0.5, spatial_axis=0), RandFlip(prob=0.5, spatial_axis=1),
                         RandFlip(prob=0.5, spatial_axis=2),
                         RandShiftIntensity(offsets=0.1, prob=0.5)])
    transform.set_random_state(seed=seed)
    return transform


def validation_split(y: NDArray, groups: NDArray, n_splits: int,
                     seed: int) -> tuple[NDArray[np.int_], NDArray[np.int_]]:
    """(training rows, validation rows): the first stratified fold by subject."""
    return inner_folds(y, groups, n_splits, seed)[0]


class CNNModel(ClassifierMixin, BaseEstimator):
    """3D CNN from scratch (module docstring).

    Parameters
    ----------
    init_features : int
        Channels of the first block (then x2, x4).
    epochs, patience, batch_size : int
        Training length, early-stopping patience (epochs), batch size.
    lr : float
        Adam learning rate.
    inner_splits : int
        Folds of the stratified split whose first fold is the validation set.
    augment : bool
        Random flips and intensity shifts during training.
    seed : int
    device : str
        Torch device of the training (``auto``: CUDA when available); the fitted network is
        kept on the CPU.
    """

    def __init__(self, init_features: int = 8, epochs: int = 60, patience: int = 15,
                 batch_size: int = 8, lr: float = 1e-3, inner_splits: int = 4,
                 augment: bool = True, seed: int = 0, device: str = "auto"):
        self.init_features = init_features
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.lr = lr
        self.inner_splits = inner_splits
        self.augment = augment
        self.seed = seed
        self.device = device

    def _device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    # ----------------------------------------------------------------- training
    def _inputs(self, X: pd.DataFrame | NDArray) -> torch.Tensor:
        x = stack_crops(X)
        return torch.from_numpy((x - self.mean_[:, None, None, None])
                                / self.sd_[:, None, None, None])

    def _epoch(self, net: nn.Module, opt: torch.optim.Optimizer, loss_fn: nn.Module,
               x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, aug: Any) -> None:
        net.train()
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), self.batch_size):
            idx = order[start:start + self.batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            batch = x[idx]
            if aug is not None:
                batch = torch.stack([torch.as_tensor(aug(b)) for b in batch])
            opt.zero_grad()
            loss_fn(net(batch)[:, 0], y[idx]).backward()
            opt.step()

    @staticmethod
    def _loss(net: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        net.eval()
        with torch.no_grad():
            return float(loss_fn(net(x)[:, 0], y))

    def fit(self, X: pd.DataFrame | NDArray, y: NDArray, groups: NDArray | None = None,
            sites: NDArray | None = None) -> CNNModel:
        """Train with early stopping on a validation split by subject; threshold on it."""
        y = np.asarray(y, dtype=int)
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        raw = stack_crops(X)
        train, val = validation_split(y, groups, self.inner_splits, self.seed)
        self.mean_ = raw[train].mean(axis=(0, 2, 3, 4)).astype(np.float32)
        self.sd_ = np.maximum(raw[train].std(axis=(0, 2, 3, 4)), 1e-6).astype(np.float32)
        device = self._device()
        x = self._inputs(raw).to(device)
        yt = torch.as_tensor(y, dtype=torch.float32, device=device)
        torch.manual_seed(self.seed)
        net = CompactResNet(x.shape[1], self.init_features).to(device)
        n_pos = max(1, int(y[train].sum()))
        loss_fn = nn.BCEWithLogitsLoss(
            pos_weight=torch.tensor((len(train) - n_pos) / n_pos, dtype=torch.float32,
                                    device=device))
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=1e-4)
        gen = torch.Generator().manual_seed(self.seed)
        aug = augmenter(self.seed) if self.augment else None
        best, best_state, waited, history = np.inf, copy.deepcopy(net.state_dict()), 0, []
        for _ in range(self.epochs):
            self._epoch(net, opt, loss_fn, x[train], yt[train], gen, aug)
            loss = self._loss(net, loss_fn, x[val], yt[val])
            history.append(loss)
            if loss < best - 1e-6:
                best, best_state, waited = loss, copy.deepcopy(net.state_dict()), 0
            else:
                waited += 1
                if waited >= self.patience:
                    break
        net.load_state_dict(best_state)
        self.net_ = net.cpu().eval()
        self.history_ = history
        self.best_epoch_ = int(np.argmin(history)) + 1
        self.threshold_ = youden_threshold(y[val], self._proba(x[val].cpu()))
        self.classes_ = np.array([0, 1])
        return self

    # ---------------------------------------------------------------- prediction
    def _proba(self, x: torch.Tensor) -> NDArray[np.float64]:
        self.net_.eval()
        with torch.no_grad():
            return torch.sigmoid(self.net_(x)[:, 0]).double().numpy()

    def predict_proba(self, X: pd.DataFrame | NDArray, sites: NDArray | None = None) -> NDArray:
        """(n, 2) probabilities of the negative and positive class."""
        p = self._proba(self._inputs(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame | NDArray, sites: NDArray | None = None) -> NDArray:
        """1 where the positive probability is at or above the operating threshold."""
        return (self.predict_proba(X)[:, 1] >= self.threshold_).astype(int)

    @property
    def selected_features_(self) -> list[str]:
        """Image models select no tabular feature."""
        return []

    # --------------------------------------------------------------- explanation
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net_(x)

    def explain(self, X: pd.DataFrame | NDArray, sites: NDArray | None = None,
                method: str = "gradcam") -> NDArray[np.float32]:
        """Saliency maps (n, s, s, s) on the crop voxels (`gliopet.classify.saliency`)."""
        check_method(method)
        x = self._inputs(X)
        self.net_.eval()
        if method == "gradcam":
            return grad_cam(self.net_, CAM_LAYER, x)
        if method == "occlusion":
            with torch.no_grad():
                return occlusion(self._forward, x)
        return integrated_gradients(self._forward, x)

    def randomised(self, seed: int = 0) -> CNNModel:
        """A copy whose network parameters are re-initialised (randomisation check)."""
        out = copy.copy(self)
        out.net_ = randomise_parameters(self.net_, seed).eval()
        return out
