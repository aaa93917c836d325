"""The image families (``cnn``, ``foundation``) inside `gliopet classify cohort`.

Their rows are the same sessions, in the same order, as the tabular families'; their table is
the image table of `gliopet.classify.images` (tumour-centred crops of the learning grid). The
outer folds are `gliopet.classify.evaluate.outer_splits` with the run's seed, so repeat ``r``,
fold ``f`` holds the same test sessions for every family and DeLong's tests pair them. Deep
models are not tuned in the folds (one configuration fixed in advance) and run
``min(--repeats, --image-repeats)`` repeats (the first repeats of the same splits).

Every outer fit explains its test sessions (out of fold): the saliency maps of the first repeat
(and of the external validation) are kept and written per session by
`gliopet.classify.cohort_report` (NIfTI on the learning grid + PNG, `saliency.tsv`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from gliopet.classify.cnn import CNNModel
from gliopet.classify.evaluate import Evaluation, external_rows, outer_splits
from gliopet.classify.finetune import FoundationModel
from gliopet.classify.images import CROP_VOXELS, IMAGE_COLUMNS, read_crops
from gliopet.classify.tables import TabularData
from gliopet.errors import InputError

IMAGE_FAMILIES = ("cnn", "foundation")


@dataclass
class SaliencyCase:
    """One out-of-fold saliency map of one session (crop voxels) and where the crop lies."""

    model: str
    evaluation: str
    repeat: int
    fold: int
    id: str
    method: str
    values: np.ndarray
    origin: tuple[int, int, int]
    background: np.ndarray


def image_data(bids_dir: Path, sessions: pd.DataFrame, use_site: bool,
               size: int = CROP_VOXELS) -> tuple[TabularData, list[str], pd.Series]:
    """(image table of `sessions` as TabularData, crop channel names, centre method per id)."""
    pairs = list(zip(sessions["participant_id"], sessions["session_id"], strict=True))
    frame, channels = read_crops(bids_dir, pairs, size)
    data = TabularData(frame[list(IMAGE_COLUMNS)].reset_index(drop=True),
                       sessions["label"].to_numpy(int), sessions["id"].to_numpy(),
                       sessions["participant_id"].to_numpy(),
                       sessions["site"].astype(str).to_numpy() if use_site else None)
    return data, channels, pd.Series(frame["centre_method"].to_numpy(), index=sessions["id"])


def image_models(family: str, channels: list[str], *, foundation_model: Path | None,
                 foundation_mode: str, cnn_epochs: int, seed: int) -> dict[str, BaseEstimator]:
    """Name -> unfitted model of an image family."""
    if family == "cnn":
        return {"cnn": CNNModel(epochs=cnn_epochs, seed=seed)}
    if foundation_model is None:
        raise InputError("the foundation family needs a checkpoint",
                         fix="give --foundation-model PATH (a .ckpt of `gliopet pretrain`)")
    check_checkpoint_grid(foundation_model)
    return {f"foundation-{foundation_mode}": FoundationModel(
        str(foundation_model), tuple(channels), mode=foundation_mode, seed=seed)}


def check_checkpoint_grid(checkpoint: Path) -> None:
    """Refuse a checkpoint pretrained on another learning grid (its positions would not fit)."""
    from gliopet.classify.finetune import load_encoder
    from gliopet.foundation.data import learning_grid_geometry

    encoder, _ = load_encoder(checkpoint)
    shape, _ = learning_grid_geometry()
    if tuple(encoder.grid_shape) != tuple(shape):
        raise InputError(f"the checkpoint was pretrained on a learning grid of shape "
                         f"{tuple(encoder.grid_shape)}, the dataset's is {tuple(shape)}",
                         path=checkpoint, fix="preprocess the dataset with the learning-grid "
                                              "settings of the model's pretraining")


def sanity_rows(name: str, model: BaseEstimator, data: TabularData, seed: int,
                n_cases: int = 8) -> list[dict]:
    """Adebayo's randomisation check of a fitted image model on its first positive sessions
    (Grad-CAM): one row per session with the Spearman correlation, and the verdict."""
    from gliopet.classify.saliency import RANDOMISATION_BOUND, randomisation_check

    rows = np.flatnonzero(data.y == 1)[:n_cases]
    check = randomisation_check(model, data.X.iloc[rows], "gradcam", seed=seed)
    return [{"model": name, "id": data.ids[r], "method": "gradcam", "spearman": rho,
             "median": check.median, "bound": RANDOMISATION_BOUND,
             "passed": check.passed} for r, rho in zip(rows, check.spearman, strict=True)]


def background_channel(crop: np.ndarray, channels: list[str]) -> np.ndarray:
    """The channel shown under a map: the static PET, else the first channel."""
    return crop[channels.index("pet") if "pet" in channels else 0]


def _fit_predict_explain(name: str, prototype: BaseEstimator, data: TabularData,
                         train: np.ndarray, test: np.ndarray, evaluation: str, repeat: int,
                         fold: int, seed: int, methods: tuple[str, ...],
                         channels: list[str]) -> tuple[pd.DataFrame, list[SaliencyCase]]:
    """Fit on `train`, predict `test` (prediction rows of `evaluate`) and explain it."""
    model = clone(prototype).set_params(seed=seed)
    tr, te = data.subset(train), data.subset(test)
    model.fit(tr.X, tr.y, groups=tr.subjects, sites=tr.sites)
    proba = model.predict_proba(te.X)[:, 1]
    preds = pd.DataFrame({
        "model": name, "evaluation": evaluation, "repeat": repeat, "fold": fold, "id": te.ids,
        "subject": te.subjects, "site": te.sites if te.sites is not None else "n/a",
        "label": te.y, "probability": proba, "threshold": model.threshold_,
        "predicted": (proba >= model.threshold_).astype(int)})
    cases = []
    if repeat == 0:
        for method in methods:
            maps = model.explain(te.X, method=method)
            cases += [SaliencyCase(name, evaluation, repeat, fold, str(i), method, m,
                                   tuple(o), background_channel(c, channels))
                      for i, m, o, c in zip(te.ids, maps, te.X["origin"], te.X["crop"],
                                            strict=True)]
    return preds, cases


def evaluate_images(models: dict[str, BaseEstimator], data: TabularData, channels: list[str], *,
                    n_splits: int, n_repeats: int, seed: int, external_site: str | None,
                    methods: tuple[str, ...]) -> tuple[Evaluation, list[SaliencyCase]]:
    """Outer CV on the shared splits (+ external site): predictions and out-of-fold maps."""
    tasks = [(name, model, train, test, "nested_cv", r, f, seed + 7919 * r + f)
             for name, model in models.items()
             for r, f, train, test in outer_splits(data, n_splits, n_repeats, seed)]
    if external_site is not None:
        train, test = external_rows(data, external_site)
        tasks += [(name, model, train, test, f"external:{external_site}", 0, 0, seed)
                  for name, model in models.items()]
    preds, cases = [], []
    for name, model, train, test, evaluation, r, f, s in tasks:
        p, c = _fit_predict_explain(name, model, data, train, test, evaluation, r, f, s,
                                    methods, channels)
        preds.append(p)
        cases += c
    return Evaluation(pd.concat(preds, ignore_index=True),
                      pd.DataFrame(columns=["model", "evaluation", "repeat", "fold", "rank",
                                            "feature"])), cases
