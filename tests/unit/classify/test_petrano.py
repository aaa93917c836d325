"""PET RANO 1.0 comparator (`gliopet.classify.petrano`) on small tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gliopet.classify import petrano
from gliopet.classify.cohort import session_kind
from gliopet.classify.rules import ThresholdRule, available_rules


def test_score_cases():
    # follow-up BTV, baseline BTV -> expected ordinal score
    cases = [(0.4, 3.0, 0),    # not measurable at follow-up (<= 0.5 mL)
             (0.5, 0.1, 0),    # exactly 0.5 mL is not measurable
             (0.6, 0.5, 2),    # new measurable disease (baseline not measurable)
             (4.0, 0.0, 2),    # new measurable disease
             (2.0, 2.0, 1),    # stable
             (2.79, 2.0, 1),   # +39.5 % in volume: below the 40 % (1.25 ** 1.5) growth
             (2.80, 2.0, 2),   # +40 %: progressive
             (1.0, 5.0, 1),    # shrinking, still measurable
             (3.0, np.nan, np.nan),   # no baseline: not assessable
             (np.nan, 2.0, np.nan)]   # no BTV: not assessable
    btv, base, expected = (np.array(c, dtype=float) for c in zip(*cases, strict=True))
    np.testing.assert_array_equal(petrano.score(btv, base), expected)
    assert petrano.GROWTH_FACTOR == pytest.approx(1.3975, abs=1e-4)


def _cohort() -> pd.DataFrame:
    return pd.DataFrame({
        "participant_id": ["sub-1", "sub-1", "sub-2", "sub-2", "sub-3", "sub-4", "sub-4",
                           "sub-4"],
        "session_id": ["ses-diagnosis", "ses-recurrence", "ses-diagnosis", "ses-recurrence",
                       "ses-recurrence", "ses-diagnosis2", "ses-diagnosis", "ses-recurrence"],
        "BTV_mL": [2.0, 3.0, 0.2, 1.5, 4.0, 9.0, 1.0, 1.2]})


def test_add_baseline_and_not_assessable():
    cohort = _cohort()
    rec = cohort[cohort["session_id"] == "ses-recurrence"].copy()
    rec["id"] = rec["participant_id"] + "_" + rec["session_id"]
    out = petrano.add_baseline(rec, cohort, session_kind)
    # sub-1: 3.0 vs 2.0 (+50 %) progressive; sub-2: new measurable; sub-3: no baseline;
    # sub-4: the first diagnosis session in label order (ses-diagnosis, 1.0 mL): +20 % stable
    np.testing.assert_array_equal(out[petrano.BASELINE], [2.0, 0.2, np.nan, 1.0])
    np.testing.assert_array_equal(out[petrano.SCORE], [2.0, 2.0, np.nan, 1.0])
    assert petrano.not_assessable(out) == [
        "sub-3_ses-recurrence: no baseline (diagnosis) session of the subject in cohort.tsv"]


def test_rule_calls_progressive_exactly_at_score_two():
    columns = ["TBRmax", petrano.SCORE]
    rules = available_rules(columns, "FDOPA", "progression")
    rule = rules[petrano.RULE_NAME]
    assert isinstance(rule, ThresholdRule) and rule.cutoff == petrano.CUTOFF
    assert petrano.RULE_NAME not in available_rules(columns, "FDOPA", "other")
    X = pd.DataFrame({petrano.SCORE: [0, 1, 2, 2, 1, 0, 2, 1], "TBRmax": 1.0})
    y = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    rule.fit(X, y)
    np.testing.assert_array_equal(rule.predict(X), (X[petrano.SCORE] == 2).astype(int))
    # a not-assessable session gets the training median score (1): not progressive
    assert rule.predict(pd.DataFrame({petrano.SCORE: [np.nan], "TBRmax": 1.0}))[0] == 0
    assert petrano.explain(2.0).startswith("PET RANO 1.0 score 2: progressive")
    assert petrano.explain(np.nan).startswith("PET RANO 1.0 not assessable")
