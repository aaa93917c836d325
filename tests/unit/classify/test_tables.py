"""Bad input of `gliopet classify tabular`: exact messages, dropped rows and columns listed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gliopet.classify.tables import load_tabular
from gliopet.errors import InputError


def _write(tmp_path, n=20, *, labels=None, extra=None):
    rng = np.random.default_rng(0)
    ids = [f"sub-{i:02d}" for i in range(n)]
    feats = pd.DataFrame({"participant_id": ids, "a": rng.normal(size=n),
                          "b": rng.normal(size=n), **(extra or {})})
    lab = pd.DataFrame({"participant_id": ids,
                        "outcome": labels if labels is not None else ["PD", "TRC"] * (n // 2)})
    feats.to_csv(tmp_path / "features.csv", index=False)
    lab.to_csv(tmp_path / "labels.tsv", sep="\t", index=False)
    return tmp_path / "features.csv", tmp_path / "labels.tsv"


def test_text_labels_and_dropped_rows_and_columns(tmp_path):
    n = 20
    labels = ["PD", "TRC"] * (n // 2)
    labels[3] = None
    const = np.ones(n)
    partial = np.arange(n, dtype=float)
    partial[5] = np.nan
    f, lab = _write(tmp_path, labels=labels,
                    extra={"const": const, "empty": np.full(n, np.nan), "partial": partial,
                           "text": ["x"] * n})
    data, report = load_tabular(f, lab, "outcome", positive="PD")
    assert list(data.X.columns) == ["a", "b", "partial"]
    assert len(data.y) == 19 and data.y.sum() == 10 and "sub-03" not in data.ids
    assert report.dropped_rows == [("sub-03", "no label in 'outcome'")]
    assert dict(report.dropped_columns) == {"const": "constant over all patients",
                                            "empty": "empty (every value missing)",
                                            "text": "not numeric ('x')"}
    assert report.imputed_columns == [("partial", 1)]


def test_ids_only_in_one_file_are_listed(tmp_path):
    f, lab = _write(tmp_path, n=24)
    frame = pd.read_csv(lab, sep="\t")
    frame.loc[0, "participant_id"] = "sub-XX"
    frame.to_csv(lab, sep="\t", index=False)
    data, report = load_tabular(f, lab, "outcome", positive="PD")
    assert len(data.y) == 23
    assert (("sub-00", f"no row in the labels file {lab}") in report.dropped_rows
            and ("sub-XX", f"no row in the features file {f}") in report.dropped_rows)


@pytest.mark.parametrize("case, message", [
    ("one_class", "the label column 'outcome' has one class only (PD)"),
    ("no_match", "no id of the features file is in the labels file"),
    ("no_target", "target column 'missing' not found (columns: participant_id, outcome)"),
    ("text_no_positive", "the labels of 'outcome' are ['PD', 'TRC'], not 0/1"),
    ("bad_positive", "--positive 'yes' is not a value of 'outcome' (PD, TRC)"),
    ("duplicate", "the id column 'participant_id' has duplicated values (sub-01)"),
    ("xlsx", "not a readable xlsx workbook"),
])
def test_bad_input_messages(tmp_path, case, message):
    f, lab = _write(tmp_path, labels=["PD"] * 20 if case == "one_class" else None)
    target, positive = ("missing" if case == "no_target" else "outcome"), "PD"
    if case == "no_match":
        frame = pd.read_csv(lab, sep="\t")
        frame["participant_id"] = "other-" + frame["participant_id"]
        frame.to_csv(lab, sep="\t", index=False)
    if case == "text_no_positive":
        positive = None
    if case == "bad_positive":
        positive = "yes"
    if case == "duplicate":
        frame = pd.read_csv(f)
        frame.loc[2, "participant_id"] = "sub-01"
        frame.to_csv(f, index=False)
    if case == "xlsx":  # a truncated workbook (zip header only)
        f = tmp_path / "features.xlsx"
        f.write_bytes(b"PK")
    with pytest.raises(InputError) as err:
        load_tabular(f, lab, target, positive=positive)
    assert message in str(err.value)


def test_numeric_labels_and_too_few_patients(tmp_path):
    f, lab = _write(tmp_path, n=8, labels=[0, 1] * 4)
    with pytest.raises(InputError, match="8 patients with a label in 'outcome' "
                                         r"\(4 positive, 4 negative\): too few"):
        load_tabular(f, lab, "outcome")
    f, lab = _write(tmp_path, n=20, labels=[0, 1] * 10)
    data, report = load_tabular(f, lab, "outcome")
    assert report.positive == "1" and data.y.tolist() == [0, 1] * 10


def test_xlsx_features_are_read_like_csv(tmp_path):
    f, lab = _write(tmp_path)
    pd.read_csv(f).to_excel(tmp_path / "features.xlsx", index=False)
    from_csv, _ = load_tabular(f, lab, "outcome", positive="PD")
    from_xlsx, _ = load_tabular(tmp_path / "features.xlsx", lab, "outcome", positive="PD")
    pd.testing.assert_frame_equal(from_csv.X, from_xlsx.X)
    assert list(from_xlsx.y) == list(from_csv.y)
