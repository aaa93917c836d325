"""Do dynamic features add to TBRmax? (`gliopet.classify.dynamic`): power and type-I error.

Synthetic tables with known truth: TBRmax carries a moderate signal in both; the dynamic columns
(TTP, slope) carry an independent extra signal (the test must find it, p < 0.05) or none
(the test must not conclude that they add: over `N_NULL` seeds the number of p < 0.05 with a
positive difference must stay within the binomial bound of a 5 % test). Without extra signal the
dynamic model is, out of fold, truly a little worse (two noise columns cost some AUC: about 15 %
of such tables reach p < 0.05 with a *negative* difference, measured over 200 seeds, and none
with a positive one); that is the price of useless features, not a false "they add".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from gliopet.classify.dynamic import DYNAMIC_NAME, STATIC_NAME, dynamic_models, dynamic_vs_static
from gliopet.classify.evaluate import nested_cv
from gliopet.classify.tables import TabularData

N_NULL = 30


def _data(seed: int, n: int, extra: float) -> TabularData:
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 2)
    X = pd.DataFrame({"TBRmax": 1.8 + 0.35 * y + rng.normal(0, 0.35, n),
                      "TTP_min": 12 - 4 * extra * y + rng.normal(0, 4, n),
                      "slope_SUV_per_h": -extra * y + rng.normal(0, 1, n)})
    ids = np.array([f"s{i}" for i in range(n)])
    return TabularData(X, y, ids, ids.copy(), np.where(np.arange(n) < n // 2, "A", "B"))


def _test(seed: int, n: int, extra: float) -> pd.Series:
    data = _data(seed, n, extra)
    models = dynamic_models(list(data.X.columns))
    evaluation = nested_cv(models, data, n_splits=5, n_repeats=1, seed=seed)
    return dynamic_vs_static(evaluation.predictions).iloc[0]


def test_models_need_the_dynamic_columns():
    assert set(dynamic_models(["TBRmax", "TTP_min", "slope_SUV_per_h"])) == {STATIC_NAME,
                                                                              DYNAMIC_NAME}
    assert dynamic_models(["TBRmax", "TTP_min"]) == {}


def test_finds_an_extra_dynamic_signal():
    row = _test(1, 120, 0.8)
    assert row["auc_dynamic"] > row["auc_static"] + 0.05
    assert row["p_value"] < 0.05 and row["ci_low"] > 0


@pytest.mark.slow
def test_false_positive_rate_without_extra_signal():
    rows = pd.DataFrame([_test(100 + s, 80, 0.0) for s in range(N_NULL)])
    adds = (rows["p_value"] < 0.05) & (rows["difference"] > 0)
    # a 5 % test: the count of false "they add" is at most Binomial(N_NULL, 0.05); the bound is
    # its 99th percentile (5 of 30): a correct test fails this with probability < 1 %, one
    # whose rate is inflated to 30 % (mean 9) with probability 0.92.
    bound = int(binom.ppf(0.99, N_NULL, 0.05))
    assert bound == 5
    assert adds.sum() <= bound, adds.sum()


def test_an_undefined_test_is_said_in_words_in_the_summaries():
    # an external site of 4 sessions with one negative: DeLong is undefined (NaN), and neither
    # the dynamic-test lines nor the DeLong table of summary.md may show "nan"
    from gliopet.classify.dynamic import markdown
    from gliopet.classify.report import delong_markdown

    nan = float("nan")
    dynamic = pd.DataFrame([{"evaluation": "external:siteC", "n": 4, "n_positive": 3,
                             "auc_static": 1.0, "auc_dynamic": 1.0, "difference": 0.0,
                             "ci_low": nan, "ci_high": nan, "z": nan, "p_value": nan}])
    delong = pd.DataFrame([{"evaluation": "external:siteC", "model_a": "a", "model_b": "b",
                            "difference": 0.167, "ci_low": nan, "ci_high": nan,
                            "p_value": nan}])
    text = "\n".join(markdown(dynamic) + delong_markdown(delong))
    assert "nan" not in text.lower()
    assert "not testable (DeLong's variance needs at least two cases of each class)" in text
    assert "| +0.167 (n/a) | n/a |" in text
