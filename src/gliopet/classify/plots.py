"""ROC, calibration and decision curves of every model of one evaluation (PNG).

Each curve uses each patient's probability averaged over the repeats of the cross-validation
(for the ROC and calibration); the decision curve averages the net benefit over the repeats.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gliopet.atomic import atomic_path
from gliopet.classify.results import prediction_matrix
from gliopet.metrics import net_benefit, reliability_curve


def _figure():  # noqa: ANN202  (matplotlib objects)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=100)
    return plt, fig, ax


def _save(plt, fig, path: Path) -> Path:  # noqa: ANN001
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def _models(predictions: pd.DataFrame):  # noqa: ANN202
    for model, group in predictions.groupby("model", sort=False):
        yield model, *prediction_matrix(group)[1:3]


def roc_figure(predictions: pd.DataFrame, path: Path, title: str) -> Path:
    """ROC curve of each model (mean probability over repeats) with its AUC in the legend."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt, fig, ax = _figure()
    for model, y, proba in _models(predictions):
        mean = proba.mean(axis=0)
        fpr, tpr, _ = roc_curve(y, mean)
        ax.plot(fpr, tpr, label=f"{model} (AUC {roc_auc_score(y, mean):.2f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=7, loc="lower right")
    return _save(plt, fig, path)


def calibration_figure(predictions: pd.DataFrame, path: Path, title: str) -> Path:
    """Reliability curve of each model (10 equal-width bins, mean probability over repeats)."""
    plt, fig, ax = _figure()
    for model, y, proba in _models(predictions):
        curve = reliability_curve(y, proba.mean(axis=0), n_bins=10).dropna()
        ax.plot(curve["mean_predicted"], curve["observed"], marker="o", markersize=3,
                label=model)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect")
    ax.set(xlabel="predicted probability", ylabel="observed fraction positive", title=title,
           xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=7, loc="upper left")
    return _save(plt, fig, path)


def decision_figure(predictions: pd.DataFrame, path: Path, title: str) -> Path:
    """Net benefit of each model, of treating all and of treating none."""
    plt, fig, ax = _figure()
    curve = None
    for model, y, proba in _models(predictions):
        curve = net_benefit(y, proba)
        ax.plot(curve["threshold"], curve["model"], label=model)
    if curve is not None:
        ax.plot(curve["threshold"], curve["treat_all"], color="black", linewidth=1,
                label="treat all")
        ax.axhline(0.0, color="grey", linestyle=":", linewidth=1, label="treat none")
        top = float(np.nanmax(curve["treat_all"].clip(lower=0))) + 0.05
        ax.set_ylim(-0.05, max(top, 0.1))
    ax.set(xlabel="threshold probability", ylabel="net benefit", title=title, xlim=(0, 1))
    ax.legend(fontsize=7, loc="upper right")
    return _save(plt, fig, path)
