"""`gliopet report patient` / `gliopet report cohort` on the shared quantified phantom, their
bad input (exit 2, one line, nothing written), `gliopet analyze` option checks, and
`gliopet phantom-report` still registered under its name."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.html_check import check_page, pdf_pages
from support.report_data import quantified_cohort


@pytest.fixture(scope="module")
def cohort_root(tmp_path_factory) -> Path:
    return quantified_cohort(tmp_path_factory.getbasetemp())


@pytest.mark.slow
def test_report_patient_writes_html_and_pdf_of_each_session(run_cli, cohort_root, tmp_path):
    code, out, err = run_cli("report", "patient", cohort_root, "--participant-label", "sub-003",
                             "--out", tmp_path)
    assert code == 0, err
    htmls = sorted(tmp_path.glob("*.html"))
    assert [p.name for p in htmls] == ["sub-003_ses-diagnosis_report.html",
                                       "sub-003_ses-recurrence_report.html"]
    for html in htmls:
        check_page(html)
        assert pdf_pages(html.with_suffix(".pdf")) == 4
    assert out.count("wrote ") == 2


@pytest.mark.slow
def test_report_cohort_with_patient_reports(run_cli, cohort_root, tmp_path):
    code, out, err = run_cli("report", "cohort", cohort_root, "--out", tmp_path)
    assert code == 0, err
    page = check_page(tmp_path / "cohort_report.html")
    assert len(page.links) == 6 and all((tmp_path / link).is_file() for link in page.links)
    assert out.strip() == f"wrote {tmp_path / 'cohort_report.html'}"


@pytest.mark.slow
def test_report_patient_unknown_subject(run_cli, cohort_root, tmp_path):
    code, _, err = run_cli("report", "patient", cohort_root, "--participant-label", "042",
                           "--out", tmp_path / "out")
    assert code == 2
    assert err.strip() == (
        f"error: {cohort_root / 'derivatives/gliopet/quant'}: no quantified session of sub-042 "
        "(fix: run `gliopet preprocess` and `gliopet quantify` on it first, or check "
        "--participant-label / --session)")
    assert not (tmp_path / "out").exists()


def test_report_cohort_missing_folder(run_cli, tmp_path):
    code, _, err = run_cli("report", "cohort", tmp_path, "--out", tmp_path / "out",
                           "--classify", tmp_path / "nowhere")
    assert code == 2
    assert err.strip() == (f"error: {tmp_path / 'nowhere'}: result folder not found (fix: give "
                           "the --out folder of the command that made it)")
    assert not (tmp_path / "out").exists()


def test_report_cohort_unquantified_dataset(run_cli, tmp_path):
    code, _, err = run_cli("report", "cohort", tmp_path, "--out", tmp_path / "out",
                           "--no-patients")
    assert code == 2
    assert err.strip() == (f"error: {tmp_path / 'derivatives/gliopet/quant/cohort.tsv'}: "
                           "quantification's cohort table is missing (fix: run `gliopet "
                           "quantify` on the dataset first)")


@pytest.mark.parametrize(("args", "message"), [
    ((), "give either --dicom DIR --id-map PATH or --bids DIR --participant-label X (fix: "
         "gliopet analyze --dicom DIR --id-map PATH --out DIR)"),
    (("--dicom", "d"), "--dicom needs --id-map (the protected identifier map) (fix: add "
                       "--id-map PATH outside OUT)"),
    (("--bids", "b"), "--bids needs --participant-label (fix: add --participant-label X)"),
])
def test_analyze_option_errors(run_cli, tmp_path, args, message):
    code, _, err = run_cli("analyze", *args, "--out", tmp_path / "out")
    assert code == 2
    assert err.strip() == f"error: {message}"


def test_phantom_report_verb_kept(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    assert "phantom-report" in out and "report" in out and "analyze" in out
    code, out, _ = run_cli("report", "--help")
    assert code == 0 and "patient" in out and "cohort" in out
