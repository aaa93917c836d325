"""Clinical rules and the tabular models: decisions, thresholds from training rows only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gliopet.classify.models import TabularModel
from gliopet.classify.results import nogueira_stability
from gliopet.classify.rules import PUBLISHED, ThresholdRule, available_rules
from gliopet.classify.selection import FoldFeatures, redundancy_filter
from gliopet.metrics import youden_threshold


def _tbr(seed=0, n=80):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return pd.DataFrame({"TBRmax": 1.6 + 0.6 * y + rng.normal(0, 0.35, n),
                         "TTP_min": 40 - 15 * y + rng.normal(0, 8, n)}), y


def test_published_cut_off_is_carried_unchanged():
    X, y = _tbr()
    rule = ThresholdRule("TBRmax", "greater", 1.81).fit(X, y)
    assert rule.cutoff_ == 1.81
    assert (rule.predict(X) == (X["TBRmax"] >= 1.81)).all()
    ttp = ThresholdRule("TTP_min", "less", 45.0).fit(X, y)
    assert (ttp.predict(X) == (X["TTP_min"] <= 45.0)).all()
    # probabilities rank patients as the quantity does (AUC of the rule = AUC of TBRmax)
    p = rule.predict_proba(X)[:, 1]
    assert (np.argsort(p, kind="stable") == np.argsort(X["TBRmax"], kind="stable")).all()


def test_learned_cut_off_comes_from_the_training_rows():
    X, y = _tbr()
    train = np.arange(40)
    rule = ThresholdRule("TBRmax", "greater").fit(X.iloc[train], y[train])
    assert rule.cutoff_ == youden_threshold(y[train], X["TBRmax"].iloc[train])
    assert rule.cutoff_ != youden_threshold(y, X["TBRmax"])


def test_available_rules_follow_the_columns_and_tracer():
    names = set(available_rules(["TBRmax", "TTP_min"], tracer="FET"))
    assert names == {"TBRmax>2.3 (Galldiks 2015, FET)", "TTP<45min (Galldiks 2015, FET)",
                     "TBRmax (Youden, training folds)", "TTP_min (Youden, training folds)"}
    assert all(p.source for p in PUBLISHED.values())


def test_redundancy_filter_keeps_one_of_a_correlated_pair():
    rng = np.random.default_rng(1)
    a = rng.normal(size=50)
    X = np.column_stack([a, a + 0.01 * rng.normal(size=50), rng.normal(size=50)])
    assert redundancy_filter(X, np.array([1, 0, 2]), 0.9) == [1, 2]


def test_fold_features_use_training_rows_only():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 5))
    X[3, 1] = np.nan
    y = (X[:, 0] > 0).astype(int)
    ff = FoldFeatures([f"f{i}" for i in range(5)], []).fit(X[:20], y[:20])
    assert ff.imputer_.statistics_[1] == pytest.approx(np.nanmedian(X[:20, 1]))
    assert ff.selected(1) == ["f0"]
    Z = ff.transform(X[:20], 5)
    assert np.allclose(Z.mean(axis=0), 0, atol=1e-12)  # scaled on these rows


@pytest.mark.parametrize("kind", ["logistic", "svm", "rf", "gb"])
def test_models_learn_a_planted_signal_and_explain_it(kind):
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(60, 15)), columns=[f"f{i}" for i in range(15)])
    y = (X["f0"] + 0.3 * rng.normal(size=60) > 0).astype(int).to_numpy()
    model = TabularModel(kind, n_features=(3,), param_grid={"logistic": {"C": [1.0]},
                                                          "svm": {"C": [1.0]}}.get(kind))
    model.fit(X.iloc[:40], y[:40])
    p = model.predict_proba(X.iloc[40:])[:, 1]
    assert 0 <= model.threshold_ <= 1 and ((p >= 0) & (p <= 1)).all()
    assert model.selected_features_[0] == "f0"
    from gliopet.metrics import auc_score

    assert auc_score(y[40:], p) > 0.8
    shap = model.explain(X.iloc[40:])
    assert shap.shape == (20, 3) and shap.abs().mean().idxmax() == "f0"


def test_nogueira_stability_bounds():
    same = [{"a", "b"}] * 5
    assert nogueira_stability(same, 10) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    random = [set(rng.choice(100, 5, replace=False).astype(str)) for _ in range(200)]
    assert abs(nogueira_stability(random, 100)) < 0.05


def test_separated_training_rows_do_not_saturate_the_rule():
    y = np.repeat([0, 1], 20)
    X = pd.DataFrame({"TBRmax": np.r_[np.linspace(1.2, 1.7, 20), np.linspace(1.9, 4.0, 20)]})
    rule = ThresholdRule("TBRmax", "greater", 1.81).fit(X, y)
    p = rule.predict_proba(X)[:, 1]
    assert ((p > 0) & (p < 1)).all() and len(np.unique(p)) == 40
    assert (rule.predict(X) == y).all()


def test_rules_for_another_question_learn_their_direction_and_use_no_published_cutoff():
    """IDH at diagnosis: IDH-mutant tumours have the lower TBR and the longer TTP, the opposite
    of progression's directions; rules for such a question learn the side on the training rows,
    and the published (progression) cut-offs are not offered."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 30)
    X = pd.DataFrame({"TBRmax": np.where(y == 1, 2.5, 3.5) + rng.normal(0, 0.4, 60),
                      "TTP_min": np.where(y == 1, 20.0, 4.0) + rng.normal(0, 3.0, 60)})
    progression = available_rules(list(X.columns), "FDOPA")
    other = available_rules(list(X.columns), "FDOPA", task="other")
    assert any("Herrmann" in name for name in progression)
    assert set(other) == {"TBRmax (Youden, training folds)", "TTP_min (Youden, training folds)"}
    for name, rule in other.items():
        rule.fit(X, y)
        assert roc_auc_score(y, rule.predict_proba(X)[:, 1]) > 0.85, name
    assert other["TBRmax (Youden, training folds)"].direction_ == "less"
    assert other["TTP_min (Youden, training folds)"].direction_ == "greater"
    # with progression's fixed directions the same rows rank backwards
    fixed = progression["TBRmax (Youden, training folds)"].fit(X, y)
    assert roc_auc_score(y, fixed.predict_proba(X)[:, 1]) < 0.15


def test_predict_explains_a_missing_rule_value_in_words():
    from gliopet.classify.predict import _explain

    rule = ThresholdRule("TBRmax", "greater", 2.0)
    X = pd.DataFrame({"TBRmax": [2.5, np.nan]})
    rule.fit(pd.DataFrame({"TBRmax": [1.0, 3.0, 1.5, 2.8]}), np.array([0, 1, 0, 1]))
    text = _explain(rule, X, None, None, None)
    assert text[0] == "TBRmax = 2.5; positive when TBRmax >= 2"
    assert text[1].startswith("TBRmax not available for this session")
    assert "nan" not in " ".join(text)
