"""Label-efficiency curves: nested, class-stratified subject samples; AUC per fraction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gliopet.classify.label_efficiency import (
    label_efficiency,
    label_efficiency_figure,
    subsample_subjects,
)
from gliopet.classify.models import TabularModel
from gliopet.classify.rules import ThresholdRule
from gliopet.classify.tables import TabularData
from gliopet.errors import ParameterError


def _data(n_subjects=40, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.tile([1, 0], n_subjects // 2), 2)  # two sessions per subject
    subjects = np.repeat([f"s{i:02d}" for i in range(n_subjects)], 2)
    X = pd.DataFrame({"TBRmax": 1.6 + 0.8 * y + rng.normal(0, 0.4, len(y)),
                      **{f"f{i}": rng.normal(size=len(y)) for i in range(4)}})
    return TabularData(X, y, np.array([f"{s}_{k}" for s, k in zip(subjects, np.tile([0, 1],
                                                                                 n_subjects),
                                                                    strict=True)]), subjects)


def test_subject_samples_are_nested_stratified_and_keep_whole_subjects():
    data = _data()
    train = np.arange(60)  # 30 subjects: 15 per class
    samples = subsample_subjects(train, data.y, data.subjects, (0.1, 0.5, 1.0), seed=4)
    chosen = {f: set(data.subjects[rows]) for f, rows in samples.items()}
    assert chosen[0.1] <= chosen[0.5] <= chosen[1.0] == set(data.subjects[train])
    for fraction, expected in ((0.1, 2), (0.5, 8)):  # ceil(0.1 x 15) = 2, ceil(0.5 x 15) = 8
        rows = samples[fraction]
        for c in (0, 1):
            assert len(set(data.subjects[rows][data.y[rows] == c])) == expected
        assert all((data.subjects[train] == s).sum() == (data.subjects[rows] == s).sum()
                   for s in chosen[fraction])  # every row of a chosen subject
    again = subsample_subjects(train, data.y, data.subjects, (0.1, 0.5, 1.0), seed=4)
    assert all(np.array_equal(samples[f], again[f]) for f in samples)


@pytest.mark.slow
def test_label_efficiency_table_and_figure(tmp_path):
    data = _data()
    models = {"rule": ThresholdRule("TBRmax", "greater"),
              "logistic": TabularModel("logistic", n_features=(2,), inner_splits=2)}
    table = label_efficiency(models, data, (0.1, 0.5, 1.0), n_splits=4, n_repeats=1, seed=2,
                             n_boot=200)
    assert list(table["model"]) == ["logistic"] * 3 + ["rule"] * 3
    assert (table["n"] == 80).all()  # every session tested once per fraction
    assert table["train_subjects"].tolist()[:3] == [4.0, 16.0, 30.0]  # 2 x ceil(f x 15)
    assert ((table["auc_ci_low"] <= table["auc"]) & (table["auc"] <= table["auc_ci_high"])).all()
    full = table[table["fraction"] == 1.0].set_index("model")["auc"]
    assert (full > 0.8).all()  # strong TBRmax signal with all labels
    png = label_efficiency_figure(table, tmp_path / "le.png", "title")
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ParameterError, match=r"fractions in \(0, 1\]"):
        label_efficiency(models, data, (0.0, 1.0), n_splits=4, n_repeats=1, seed=2, n_boot=10)
