"""Roe-Metz simulation: the analysis keeps its type-I error near 5 % and has power."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from gliopet.reader.roemetz import STRUCTURES, expected_auc, rejections, simulate

REPLICATES = 200


def test_simulated_study_shape_and_auc():
    frame = simulate(readers=4, normal=30, abnormal=20, mu=1.5, rng=0)
    assert len(frame) == 2 * 4 * 50
    assert frame.groupby("case")["truth"].nunique().max() == 1
    assert expected_auc(1.5, STRUCTURES["HH"]) == pytest.approx(0.8556, abs=1e-4)
    five = simulate(readers=2, normal=5, abnormal=5, rng=1, scale=5)
    assert set(np.unique(five["rating"])) <= {1.0, 2.0, 3.0, 4.0, 5.0}


@pytest.mark.slow
def test_type_one_error_and_power():
    """200 null studies: the rejection count of the random readers and cases test lies within
    the central 99.9 % of Binomial(200, 0.05); the alternative (delta 0.5) rejects more."""
    design = dict(readers=5, normal=40, abnormal=40, mu=1.5, structure="HH")
    null = rejections(REPLICATES, seed=11, **design)["random_readers_cases"]
    low, high = binom.ppf([0.0005, 0.9995], REPLICATES, 0.05)
    assert low <= null <= high, null
    alt = rejections(REPLICATES, seed=12, delta=0.5, **design)["random_readers_cases"]
    assert alt > high, (null, alt)
