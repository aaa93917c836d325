"""`gliopet reader analyze`: orh.json from a ratings CSV (Van Dyke when present, a Roe-Metz
simulated study always), and one-line errors with exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gliopet.reader.mrmc import analyse
from gliopet.reader.roemetz import simulate

VANDYKE = (Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
           / "mrmc-vandyke" / "vandyke_ratings.csv")
KEYS = {"F", "ddf", "p_value", "ci_low", "ci_high", "auc_by_modality"}


@pytest.mark.realdata
def test_vandyke_orh_json(run_cli, tmp_path):
    if not VANDYKE.is_file():
        pytest.skip("the Van Dyke data is not in ../shared/data/real/mrmc-vandyke")
    out = tmp_path / "orh"
    code, stdout, stderr = run_cli("reader", "analyze", "--ratings", VANDYKE, "--out", out)
    assert code == 0, stderr
    orh = json.loads((out / "orh.json").read_text())
    assert KEYS <= set(orh)
    assert orh["F"] == pytest.approx(4.456319, rel=1e-6)
    assert orh["ddf"] == pytest.approx(15.25967, rel=1e-6)
    assert orh["p_value"] == pytest.approx(0.05166569, rel=1e-6)
    assert orh["ci_low"] == pytest.approx(-0.0879594986, rel=1e-6)
    assert orh["ci_high"] == pytest.approx(0.0003588544, rel=1e-6)
    assert orh["auc_by_modality"] == pytest.approx({"0": 0.89703704, "1": 0.94083736},
                                                   rel=1e-6)
    assert "F = 4.4563 on (1, 15.26)" in stdout


def test_simulated_study_with_ai(run_cli, tmp_path):
    frame = simulate(readers=4, normal=25, abnormal=25, mu=1.5, delta=0.6, rng=21)
    frame["rating"] = np.round(100 / (1 + np.exp(-frame["rating"])), 1)  # 0-100 confidence
    frame["modality"] = frame["modality"].map({0: "unaided", 1: "aided"})
    csv = tmp_path / "ratings.csv"
    frame.to_csv(csv, index=False)
    ai = frame[(frame["reader"] == 0) & (frame["modality"] == "aided")][["case", "rating"]]
    ai_csv = tmp_path / "ai.csv"
    ai.to_csv(ai_csv, index=False)
    out = tmp_path / "out"
    code, _, stderr = run_cli("reader", "analyze", "--ratings", csv, "--out", out,
                              "--ai-ratings", ai_csv, "--cov", "unbiased")
    assert code == 0, stderr
    orh = json.loads((out / "orh.json").read_text())
    expected = analyse(frame, cov="unbiased").analyses["random_readers_cases"]
    assert KEYS <= set(orh) and orh["difference"] == "aided - unaided"
    assert orh["F"] == pytest.approx(expected.test.value, rel=1e-12)
    assert orh["ci_low"] == pytest.approx(expected.differences[0].ci_low, rel=1e-12)
    assert set(orh["auc_by_modality"]) == {"aided", "unaided"}
    assert orh["standalone_ai"]["modality"] == "unaided"
    assert len(orh["operating_points"]) == 8  # 0-100 ratings: threshold 50
    report = (out / "report.md").read_text()
    assert "not a medical device" in report and "nan" not in report.lower()
    for name in ("reader_auc.png", "auc_difference.png", "provenance.json"):
        assert (out / name).stat().st_size > 0


def test_bad_csv_is_one_line_exit_2(run_cli, tmp_path):
    frame = simulate(readers=2, normal=5, abnormal=5, rng=1).drop(columns=["rating"])
    csv = tmp_path / "bad.csv"
    frame.to_csv(csv, index=False)
    out = tmp_path / "out"
    code, _, stderr = run_cli("reader", "analyze", "--ratings", csv, "--out", out)
    assert code == 2
    assert stderr == (f"error: {csv}: the ratings lack the column(s) rating (fix: give a "
                      "long-form table with columns reader, modality, case, truth, rating)\n")
    assert not out.exists()
    code, _, stderr = run_cli("reader", "analyze", "--out", out)
    assert code == 2 and stderr.count("\n") == 1
    assert "give either --ratings CSV or --study ID" in stderr


def test_study_branch_reads_the_database_export(run_cli, tmp_path, monkeypatch):
    """--study/--database go through gliopet.reader.export.ratings_long (replaced here by the
    simulated table: the export itself is tested with the study application)."""
    export = pytest.importorskip("gliopet.reader.export")
    frame = simulate(readers=3, normal=10, abnormal=10, rng=8)
    calls = []

    def fake(database_url: str, study: str):
        calls.append((database_url, study))
        return frame

    monkeypatch.setattr(export, "ratings_long", fake)
    out = tmp_path / "out"
    code, _, stderr = run_cli("reader", "analyze", "--study", "pilot", "--database",
                              "sqlite:///x.db", "--out", out)
    assert code == 0, stderr
    assert calls == [("sqlite:///x.db", "pilot")]
    orh = json.loads((out / "orh.json").read_text())
    assert orh["F"] == pytest.approx(
        analyse(frame).analyses["random_readers_cases"].test.value, rel=1e-12)
    code, _, stderr = run_cli("reader", "analyze", "--study", "pilot", "--out", tmp_path / "o2")
    assert code == 2 and "--study needs --database URL" in stderr
