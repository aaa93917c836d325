"""Probes trained on one cohort and scored on another (`gliopet evaluate-representation
--test-dataset`, gliopet.foundation.transfer and probes.transfer_probabilities) on constructed
vectors: known AUCs under a cohort shift, refusals in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gliopet.errors import InputError
from gliopet.foundation import transfer
from gliopet.foundation.probes import auc_with_ci, transfer_probabilities


def _cohort(n: int, seed: int, shift: float = 0.0):
    """Labels 0/1 alternating; feature 0 = label + noise (SD 0.05) + `shift` (a generator that
    moves every value), feature 1 pure noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = np.column_stack([y + 0.05 * rng.standard_normal(n) + shift, rng.standard_normal(n)])
    return x, y


def test_a_probe_trained_on_one_cohort_separates_a_shifted_cohort():
    x_a, y_a = _cohort(40, 0)
    x_b, y_b = _cohort(30, 1, shift=0.2)
    for kind in ("linear", "knn"):
        proba = transfer_probabilities(x_a, y_a, x_b, kind=kind, what="IDH")
        assert proba.shape == (1, 30)
        score = auc_with_ci(y_b, proba, seed=0, n_boot=200)
        assert score.estimate == pytest.approx(1.0), kind
        assert score.n == 30 and np.isnan(score.seed_sd)


def test_a_probe_on_noise_is_near_chance_on_the_other_cohort():
    rng = np.random.default_rng(3)
    y_a, y_b = np.arange(80) % 2, np.arange(80) % 2
    proba = transfer_probabilities(rng.standard_normal((80, 3)), y_a,
                                   rng.standard_normal((80, 3)), kind="linear", what="IDH")
    score = auc_with_ci(y_b, proba, seed=0, n_boot=300)
    assert abs(score.estimate - 0.5) < 0.15 and score.ci_low < 0.5 < score.ci_high


def test_transfer_refusals_are_one_line():
    x, y = _cohort(10, 0)
    with pytest.raises(InputError, match=r"^IDH at diagnosis: one class only in the training "
                                         r"cohort \(10 session\(s\)\)"):
        transfer_probabilities(x, np.zeros_like(y), x, kind="linear", what="IDH at diagnosis")
    bad = x.copy()
    bad[0, 1] = np.nan
    with pytest.raises(InputError, match="IDH: the feature vectors hold missing values"):
        transfer_probabilities(x, y, bad, kind="knn", what="IDH")
    with pytest.raises(ValueError, match="test features"):
        transfer_probabilities(x, y, x[:, :1], kind="linear", what="IDH")
    # a test session without a tumour (radiomics row of NaN) is imputed from the training rows
    imputed = transfer_probabilities(x, y, bad, kind="knn", what="IDH", missing=True)
    assert imputed.shape == (1, len(y)) and np.isfinite(imputed).all()


def _side(modalities: tuple[str, ...], n: int = 2) -> transfer.Side:
    brain = torch.ones((1, 4, 4, 4), dtype=torch.bool)
    samples = [{"images": {m: torch.full((1, 4, 4, 4), float(i + 1)) for m in modalities},
                "brain_mask": brain} for i in range(n)]
    return transfer.Side([(f"{i:02d}", "diagnosis") for i in range(n)], np.arange(n) % 2,
                         samples, np.zeros((n, 3)))


def test_raw_features_take_the_training_columns_and_refuse_a_missing_channel():
    train, test = _side(("t1w", "pet")), _side(("pet", "t1w", "flair"), n=3)
    x_a, x_b = transfer.raw_features(train, test, "IDH")
    assert x_a.shape == (2, 8) and x_b.shape == (3, 8)
    assert x_b[2].tolist() == [3.0] * 8  # t1w0 then pet0 (mean, p10, p50, p90): all 3
    with pytest.raises(InputError, match=r"^IDH: the test cohort lacks raw-intensity "
                                         r"channel\(s\) pet0 \(fix: test on sessions"):
        transfer.raw_features(train, _side(("t1w",)), "IDH")
