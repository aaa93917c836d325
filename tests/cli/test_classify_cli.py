"""`gliopet classify tabular`: a tiny end-to-end run and bad input refused with one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gliopet import DISCLAIMER
from gliopet.metrics import METRICS


def _tables(tmp_path, n=36):
    rng = np.random.default_rng(5)
    y = np.tile([0, 1], n // 2)
    feats = pd.DataFrame({"participant_id": [f"sub-{i:02d}" for i in range(n)],
                          "site": np.repeat(["A", "B", "C"], n // 3),
                          "TBRmax": 1.6 + 0.7 * y + rng.normal(0, 0.3, n),
                          **{f"x{i}": rng.normal(size=n) for i in range(8)}})
    feats["constant"] = 1.0
    feats.loc[2, "x1"] = np.nan
    labels = pd.DataFrame({"participant_id": feats["participant_id"],
                           "outcome": np.where(y == 1, "progression", "treatment")})
    labels.loc[5, "outcome"] = np.nan
    feats.to_csv(tmp_path / "features.csv", index=False)
    labels.to_csv(tmp_path / "labels.tsv", sep="\t", index=False)
    return tmp_path / "features.csv", tmp_path / "labels.tsv"


BASE = ["--target", "outcome", "--positive", "progression", "--repeats", "1", "--folds", "3",
        "--n-boot", "100", "--models", "logistic,rules", "--tracer", "FDOPA"]


@pytest.mark.slow
def test_tabular_end_to_end(run_cli, tmp_path):
    features, labels = _tables(tmp_path)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("classify", "tabular", str(features), "--labels", str(labels),
                                   "--out", str(out), "--group-column", "site",
                                   "--external-site", "C", *BASE)
    assert code == 0, stderr
    assert "dropped row sub-05: no label in 'outcome'" in stderr
    assert "dropped column constant: constant over all patients" in stderr
    results = pd.read_csv(out / "results.tsv", sep="\t")
    for metric in METRICS:
        assert {metric, f"{metric}_ci_low", f"{metric}_ci_high"} <= set(results.columns)
    assert set(results["evaluation"]) == {"nested_cv", "external:C"}
    assert set(results["model"]) == {"logistic", "TBRmax>1.81 (Herrmann 2014, FDOPA)",
                                     "TBRmax (Youden, training folds)"}
    rule = results[(results["model"].str.startswith("TBRmax>1.81"))
                   & (results["evaluation"] == "nested_cv")].iloc[0]
    assert rule["auc"] > 0.8 and rule["n"] == 35
    preds = pd.read_csv(out / "predictions.tsv", sep="\t")
    ext = preds[preds["evaluation"] == "external:C"]
    assert set(ext["site"]) == {"C"} and ext.groupby("model")["threshold"].nunique().max() == 1
    for name in ("summary.md", "delong.tsv", "feature_stability.tsv", "shap_global.tsv",
                 "roc_nested-cv.png", "calibration_external-C.png",
                 "decision_curve_nested-cv.png", "models.joblib", "provenance.json"):
        assert (out / name).is_file(), name
    assert DISCLAIMER in (out / "summary.md").read_text()
    code, _, stderr = run_cli("classify", "tabular", str(features), "--labels", str(labels),
                              "--out", str(out), *BASE)
    assert code == 2 and "exists and is not empty" in stderr


@pytest.mark.parametrize("change, message", [
    (["--target", "nope"], "target column 'nope' not found"),
    (["--harmonize"], "--harmonize needs the site of every patient"),
    (["--models", "logistic,knn"], "the '--models' parameter must be a comma-separated subset"),
])
def test_bad_input_exits_2_with_one_line(run_cli, tmp_path, change, message):
    features, labels = _tables(tmp_path)
    args = [*BASE, *change]
    code, _, stderr = run_cli("classify", "tabular", str(features), "--labels", str(labels),
                              "--out", str(tmp_path / "out"), *args)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
