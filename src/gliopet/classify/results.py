"""From out-of-sample predictions to the tables of a paper: metrics with CIs, DeLong, stability.

- `results_table`: one row per model and evaluation with every metric of
  `gliopet.metrics.METRICS`, its stratified bootstrap 95 % interval over subjects (averaged over
  the repeats, `gliopet.metrics.bootstrap_metrics`), and the mean operating threshold. Each
  thresholded metric uses the threshold chosen on the training rows of the fold that predicted
  the patient.
- `delong_table`: DeLong's test between every pair of models of an evaluation, on each
  patient's probability averaged over the repeats (DeLong needs one score per patient; the
  bootstrap intervals of `results_table` are the ones that account for the repeats).
- `selection_stability`: how often each feature was selected over the outer fits, and
  Nogueira's stability index (Nogueira, Sechidis & Brown, JMLR 2018;18:1-54): 1 for identical
  selections, about 0 for selections drawn at random.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from gliopet.metrics import METRICS, bootstrap_metrics, delong_test


def prediction_matrix(predictions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                           np.ndarray]:
    """(ids, labels, probability (repeats, n), threshold (repeats, n)) of one model/evaluation."""
    proba = predictions.pivot(index="id", columns="repeat", values="probability")
    thr = predictions.pivot(index="id", columns="repeat", values="threshold").loc[proba.index]
    labels = predictions.groupby("id")["label"].first().loc[proba.index]
    return (proba.index.to_numpy(), labels.to_numpy(int), proba.to_numpy().T,
            thr.to_numpy().T)


def results_table(predictions: pd.DataFrame, *, seed: int, n_boot: int = 2000) -> pd.DataFrame:
    """One row per (model, evaluation): n, metrics and their 95 % CIs (module docstring)."""
    rows = []
    for (model, evaluation), group in predictions.groupby(["model", "evaluation"], sort=False):
        _, y, proba, thr = prediction_matrix(group)
        stats = bootstrap_metrics(y, proba, thr, seed=seed, n_boot=n_boot)
        row = {"model": model, "evaluation": evaluation, "n": len(y),
               "n_positive": int(y.sum()), "repeats": proba.shape[0]}
        for metric in METRICS:
            row[metric] = stats.loc[metric, "estimate"]
            row[f"{metric}_ci_low"] = stats.loc[metric, "ci_low"]
            row[f"{metric}_ci_high"] = stats.loc[metric, "ci_high"]
        row["threshold_mean"] = float(np.mean(thr))
        rows.append(row)
    return pd.DataFrame(rows)


def session_probabilities(group: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """(model x session probabilities averaged over the repeats, the sessions' labels) of one
    evaluation's out-of-sample predictions: the paired inputs of DeLong's test."""
    mean = group.groupby(["model", "id"], sort=False)["probability"].mean().unstack("id")
    labels = group.groupby("id")["label"].first().loc[mean.columns].to_numpy(int)
    return mean, labels


def delong_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """DeLong's test between each pair of models, per evaluation (module docstring)."""
    rows = []
    for evaluation, group in predictions.groupby("evaluation", sort=False):
        mean, labels = session_probabilities(group)
        for a, b in itertools.combinations(mean.index, 2):
            test = delong_test(labels, mean.loc[a].to_numpy(), mean.loc[b].to_numpy())
            rows.append({"evaluation": evaluation, "model_a": a, "model_b": b,
                         "auc_a": test.auc_a, "auc_b": test.auc_b,
                         "difference": test.difference, "ci_low": test.ci_low,
                         "ci_high": test.ci_high, "z": test.z, "p_value": test.p_value})
    return pd.DataFrame(rows, columns=["evaluation", "model_a", "model_b", "auc_a", "auc_b",
                                       "difference", "ci_low", "ci_high", "z", "p_value"])


def nogueira_stability(selected: list[set[str]], n_features: int) -> float:
    """Nogueira's stability of feature selections (sets) out of `n_features` candidates."""
    m = len(selected)
    if m < 2 or n_features < 2:
        return float("nan")
    names = sorted(set().union(*selected))
    z = np.array([[name in s for name in names] for s in selected], dtype=float)
    p = z.mean(axis=0)
    variance = np.sum(m / (m - 1) * p * (1 - p)) / n_features  # features never selected add 0
    k_bar = z.sum(axis=1).mean()
    expected = k_bar / n_features * (1 - k_bar / n_features)
    return float(1 - variance / expected) if expected > 0 else float("nan")


def selection_stability(selections: pd.DataFrame, n_features: int) -> tuple[pd.DataFrame,
                                                                            pd.DataFrame]:
    """(selection frequency per model and feature, stability index per model and evaluation)."""
    freq_rows, index_rows = [], []
    for (model, evaluation), group in selections.groupby(["model", "evaluation"], sort=False):
        fits = group.groupby(["repeat", "fold"])["feature"].apply(set).tolist()
        counts = group["feature"].value_counts()
        for feature, count in counts.items():
            freq_rows.append({"model": model, "evaluation": evaluation, "feature": feature,
                              "selected": int(count), "fits": len(fits),
                              "frequency": count / len(fits),
                              "mean_rank": float(group.loc[group["feature"] == feature,
                                                           "rank"].mean())})
        index_rows.append({"model": model, "evaluation": evaluation, "fits": len(fits),
                           "mean_selected": float(np.mean([len(s) for s in fits])),
                           "nogueira_stability": nogueira_stability(fits, n_features)})
    freq = pd.DataFrame(freq_rows, columns=["model", "evaluation", "feature", "selected", "fits",
                                            "frequency", "mean_rank"])
    freq = freq.sort_values(["model", "evaluation", "frequency", "mean_rank"],
                            ascending=[True, True, False, True], kind="stable")
    return freq.reset_index(drop=True), pd.DataFrame(index_rows)
