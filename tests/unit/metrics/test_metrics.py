"""Metrics against scikit-learn on fixed inputs; bootstrap reproducible with the seed."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from gliopet.metrics import (
    binary_metrics,
    bootstrap_metrics,
    calibration_line,
    net_benefit,
    reliability_curve,
    youden_threshold,
)

Y = np.array([0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0])
P = np.array([.10, .40, .35, .80, .20, .90, .65, .55, .45, .05,
              .30, .70, .60, .15, .95, .50, .25, .85, .50, .35])


def test_binary_metrics_equal_scikit_learn():
    got = binary_metrics(Y, P, threshold=0.5)
    pred = (P >= 0.5).astype(int)
    tn, fp, fn, tp = confusion_matrix(Y, pred).ravel()
    assert got["auc"] == pytest.approx(roc_auc_score(Y, P), abs=1e-12)
    assert got["sensitivity"] == pytest.approx(recall_score(Y, pred))
    assert got["specificity"] == pytest.approx(tn / (tn + fp))
    assert got["precision"] == pytest.approx(precision_score(Y, pred))
    assert got["npv"] == pytest.approx(tn / (tn + fn))
    assert got["accuracy"] == pytest.approx(accuracy_score(Y, pred))
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(Y, pred))
    assert got["f1"] == pytest.approx(f1_score(Y, pred))
    assert got["brier"] == pytest.approx(brier_score_loss(Y, P))
    # hand count: 7 of 9 positives and 8 of 11 negatives on the right side of 0.5
    assert (tp, fn, tn, fp) == (7, 2, 8, 3)


def test_undefined_ratio_is_nan():
    got = binary_metrics(Y, P, threshold=0.99)  # nobody predicted positive
    assert np.isnan(got["precision"]) and got["sensitivity"] == 0.0 and got["specificity"] == 1


def test_youden_cut_off_maximises_j():
    cut = youden_threshold(Y, P)
    best = max(binary_metrics(Y, P, t)["sensitivity"] + binary_metrics(Y, P, t)["specificity"]
               for t in np.unique(P))
    got = binary_metrics(Y, P, cut)
    assert got["sensitivity"] + got["specificity"] == pytest.approx(best)
    assert cut in P


def test_bootstrap_reproducible_and_covers_the_estimate():
    a = bootstrap_metrics(Y, P, 0.5, seed=7, n_boot=400)
    b = bootstrap_metrics(Y, P, 0.5, seed=7, n_boot=400)
    c = bootstrap_metrics(Y, P, 0.5, seed=8, n_boot=400)
    assert a.equals(b) and not a.equals(c)
    assert a.loc["auc", "estimate"] == pytest.approx(roc_auc_score(Y, P))
    assert (a["ci_low"] <= a["estimate"]).all() and (a["estimate"] <= a["ci_high"]).all()
    assert 0.5 < a.loc["auc", "ci_low"] < a.loc["auc", "estimate"] < a.loc["auc", "ci_high"] <= 1


def test_bootstrap_averages_repeats():
    """With two repeats the estimate is the mean of the two AUCs; the chunking does not matter."""
    p2 = np.vstack([P, P[::-1]])
    got = bootstrap_metrics(Y, p2, 0.5, seed=1, n_boot=300, chunk=64)
    ref = bootstrap_metrics(Y, p2, 0.5, seed=1, n_boot=300, chunk=300)
    assert got.loc["auc", "estimate"] == pytest.approx(
        (roc_auc_score(Y, P) + roc_auc_score(Y, P[::-1])) / 2)
    assert np.allclose(got.to_numpy(), ref.to_numpy(), equal_nan=True)


def test_bootstrap_intervals_cover_a_null_auc():
    """40 null data sets (score independent of the label, true AUC 0.5): the 95 % interval
    contains 0.5 in at least 34 (expected 38; P(<= 33) < 1 % for a 95 % interval)."""
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(40):
        y = rng.permutation(np.repeat([0, 1], 40))
        ci = bootstrap_metrics(y, rng.random(80), seed=3, n_boot=300).loc["auc"]
        covered += ci["ci_low"] < 0.5 < ci["ci_high"]
    assert covered >= 34


def test_reliability_curve_equals_scikit_learn():
    curve = reliability_curve(Y, P, n_bins=5)
    observed, predicted = calibration_curve(Y, P, n_bins=5)
    filled = curve[curve["count"] > 0]
    assert np.allclose(filled["observed"], observed) and np.allclose(filled["mean_predicted"],
                                                                     predicted)
    assert curve["count"].sum() == len(Y)


def test_calibration_line_of_calibrated_probabilities():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, 4000)
    y = (rng.random(4000) < p).astype(int)
    a, b = calibration_line(y, p)
    assert abs(a) < 0.15 and abs(b - 1) < 0.15
    _, b_extreme = calibration_line(y, 1 / (1 + np.exp(-3 * np.log(p / (1 - p)))))
    assert b_extreme == pytest.approx(b / 3, rel=0.05)


def test_net_benefit_by_hand():
    curve = net_benefit(Y, P, thresholds=[0.5, 0.2])
    # at 0.5: TP 7, FP 3 of 20 -> 7/20 - 3/20 * 1; treat all: 9/20 - 11/20
    assert curve["model"].iloc[0] == pytest.approx(7 / 20 - 3 / 20)
    assert curve["treat_all"].iloc[0] == pytest.approx(9 / 20 - 11 / 20)
    tp, fp = np.sum((P >= 0.2) & (Y == 1)), np.sum((P >= 0.2) & (Y == 0))
    assert curve["model"].iloc[1] == pytest.approx(tp / 20 - fp / 20 * 0.25)
    assert (curve["treat_none"] == 0).all()
