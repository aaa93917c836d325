"""Label-efficiency curves: each model refitted on a fraction of its training labels.

For every outer fold of `gliopet.classify.evaluate.outer_splits` (the same folds as the main
evaluation) and every fraction, the training rows are cut to a seeded, class-stratified sample
of the training **subjects** (``ceil(fraction x subjects of the class)``, at least
`MIN_SUBJECTS_PER_CLASS`, all rows of a chosen subject kept); the model is fitted on them with
everything it learns (features, hyper-parameters, threshold) and predicts the untouched test
fold. The out-of-fold predictions of each fraction give its AUC with the stratified bootstrap CI
of `gliopet.classify.results.results_table`. The subsample is nested: the subjects drawn for a
fraction contain those drawn for every smaller one (one random order of the subjects per fold).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from gliopet.classify.evaluate import _fit_predict, outer_splits
from gliopet.classify.results import results_table
from gliopet.classify.tables import TabularData
from gliopet.errors import ParameterError

DEFAULT_FRACTIONS = (0.1, 0.25, 0.5, 1.0)
#: Fewest training subjects per class kept (the models' inner splits need two).
MIN_SUBJECTS_PER_CLASS = 2
COLUMNS = ["model", "fraction", "train_subjects", "n", "n_positive", "repeats", "auc",
           "auc_ci_low", "auc_ci_high"]


def check_fractions(fractions: tuple[float, ...]) -> None:
    """Fractions must lie in (0, 1]."""
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise ParameterError("--label-fractions", ",".join(map(str, fractions)),
                             "comma-separated fractions in (0, 1], e.g. 0.1,0.25,0.5,1")


def subsample_subjects(train: np.ndarray, y: np.ndarray, subjects: np.ndarray,
                       fractions: tuple[float, ...], seed: int) -> dict[float, np.ndarray]:
    """Fraction -> training rows of a nested, class-stratified sample of the subjects."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"row": train, "y": y[train], "subject": subjects[train]})
    label = frame.groupby("subject")["y"].max()  # a subject with a positive session is positive
    orders = {c: rng.permutation(label.index[label == c].to_numpy()) for c in (0, 1)}
    out = {}
    for fraction in fractions:
        keep = []
        for order in orders.values():
            k = min(len(order), max(MIN_SUBJECTS_PER_CLASS, math.ceil(fraction * len(order))))
            keep += list(order[:k])
        out[fraction] = np.sort(frame.loc[frame["subject"].isin(keep), "row"].to_numpy())
    return out


def label_efficiency(models: dict[str, BaseEstimator], data: TabularData,
                     fractions: tuple[float, ...] = DEFAULT_FRACTIONS, *, n_splits: int,
                     n_repeats: int, seed: int, n_boot: int) -> pd.DataFrame:
    """One row per model and fraction: training subjects (mean per fold), AUC and its CI."""
    check_fractions(fractions)
    preds, sizes = [], []
    for r, f, train, test in outer_splits(data, n_splits, n_repeats, seed):
        samples = subsample_subjects(train, data.y, data.subjects, fractions, seed + 104729 * r + f)
        for fraction, rows in samples.items():
            sizes.append({"fraction": fraction, "subjects": len(np.unique(data.subjects[rows]))})
            for name, model in models.items():
                p, _ = _fit_predict(name, model, data, rows, test, f"labels:{fraction:g}", r, f,
                                    seed + 7919 * r + f)
                preds.append(p.assign(fraction=fraction))
    predictions = pd.concat(preds, ignore_index=True)
    table = results_table(predictions, seed=seed, n_boot=n_boot)
    table["fraction"] = table["evaluation"].str.removeprefix("labels:").astype(float)
    mean_subjects = pd.DataFrame(sizes).groupby("fraction")["subjects"].mean()
    table["train_subjects"] = table["fraction"].map(mean_subjects)
    return table[COLUMNS].sort_values(["model", "fraction"], kind="stable").reset_index(drop=True)


def label_efficiency_figure(table: pd.DataFrame, path: Path, title: str) -> Path:
    """PNG: AUC (95 % CI bars) against the fraction of training labels, one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gliopet.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(5.5, 4.0), dpi=110)
    for model, group in table.groupby("model", sort=False):
        yerr = np.vstack([group["auc"] - group["auc_ci_low"], group["auc_ci_high"] - group["auc"]])
        ax.errorbar(group["fraction"], group["auc"], yerr=np.clip(yerr, 0, None), marker="o",
                    capsize=3, label=str(model))
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xticks(sorted(table["fraction"].unique()))
    ax.set_xticklabels([f"{f:g}" for f in sorted(table["fraction"].unique())])
    ax.set_xlabel("fraction of training labels (subjects)")
    ax.set_ylabel("AUC, out of fold (95 % CI)")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)
    return path
