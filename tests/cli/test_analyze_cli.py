"""`gliopet analyze --dicom`: one tiny phantom patient exported as DICOM, imported, preprocessed,
quantified and reported; the step times are printed, recorded and shown in the report."""

from __future__ import annotations

import json

import pytest

from support.html_check import check_page, pdf_pages

pytestmark = pytest.mark.slow


def test_analyze_dicom_patient_to_report(run_cli, tmp_path):
    phantom = tmp_path / "phantom"
    code, _, err = run_cli("simulate", phantom, "--subjects", 1, "--seed", 4, "--profile",
                           "tiny", "--scenario", "diagnosis", "--dicom")
    assert code == 0, err
    out = tmp_path / "analysis"
    code, stdout, err = run_cli("analyze", "--dicom", phantom / "sourcedata" / "dicom",
                                "--id-map", tmp_path / "id-map.json", "--out", out)
    assert code == 0, stdout + err
    steps = json.loads((out / "analyze-steps.json").read_text())
    assert {"import-dicom", "preprocess", "quantify", "report"} <= set(steps["seconds"])
    assert all(seconds > 0 for seconds in steps["seconds"].values())
    assert "] quantify done in " in stdout
    reports = sorted(out.glob("*_report.html"))
    assert len(reports) == 1
    page = check_page(reports[0])
    assert "import-dicom" in page.text  # the step's seconds in the provenance
    assert pdf_pages(reports[0].with_suffix(".pdf")) == 4
