"""DeLong against pROC's published values on its aSAH data.

Data: ``aSAH`` of the R package pROC (Robin et al., BMC Bioinformatics 2011;12:77; Turck et
al., Intensive Care Med 2010;36:107): 113 patients, outcome Good/Poor, markers wfns, s100b and
ndka (``asah.csv``, pROC's row order). Reference numbers: pROC's own test suite,
tests/testthat/test-var.R (``var(r.wfns)`` ...) and tests/testthat/test-roc.test.R
(``roc.test(r.wfns, r.s100b)``, ``roc.test(r.wfns, r.ndka)``), DeLong method, two-sided, 95 %.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from gliopet.errors import InputError
from gliopet.metrics import delong_test, delong_variance

ASAH = Path(__file__).with_name("asah.csv")


@pytest.fixture(scope="module")
def asah():
    data = pd.read_csv(ASAH)
    return (data["outcome"] == "Poor").to_numpy().astype(int), data


@pytest.mark.parametrize("marker, variance", [("wfns", 0.00146991470882363),
                                              ("ndka", 0.0031908105493913),
                                              ("s100b", 0.00266868245717244)])
def test_variance_equals_proc(asah, marker, variance):
    y, data = asah
    auc, var = delong_variance(y, data[marker].to_numpy(float))
    assert auc == pytest.approx(roc_auc_score(y, data[marker]), abs=1e-12)
    assert var == pytest.approx(variance, rel=1e-9)


@pytest.mark.parametrize("other, z, p, low, high", [
    ("s100b", 2.20898359144091, 0.0271757822291882, 0.0104061769564846, 0.174214419249478),
    ("ndka", 2.79777591868904, 0.00514557970691098, 0.0634011709339876, 0.3600405634833566),
])
def test_paired_test_equals_proc(asah, other, z, p, low, high):
    y, data = asah
    result = delong_test(y, data["wfns"].to_numpy(float), data[other].to_numpy(float))
    assert result.z == pytest.approx(z, rel=1e-9)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-9)
    assert result.auc_a == pytest.approx(0.8236788617886179, abs=1e-12)


def test_identical_scores_give_no_difference(asah):
    y, data = asah
    result = delong_test(y, data["wfns"], data["wfns"])
    assert (result.z, result.p_value, result.difference) == (0.0, 1.0, 0.0)


def test_one_class_is_refused():
    with pytest.raises(InputError, match="one class only"):
        delong_variance(np.ones(5, int), np.arange(5.0))


def test_one_case_of_a_class_gives_an_undefined_test_without_warnings():
    # DeLong's variance is a sample covariance over the cases of each class: with a single
    # negative it is undefined, reported as NaN (an external site of 4 sessions, 1 negative)
    import warnings

    y = np.array([1, 1, 1, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        test = delong_test(y, np.array([0.9, 0.8, 0.4, 0.5]), np.array([0.7, 0.6, 0.9, 0.1]))
    assert test.auc_a == pytest.approx(2 / 3) and test.auc_b == 1.0
    assert np.isnan(test.se) and np.isnan(test.p_value) and np.isnan(test.ci_low)
