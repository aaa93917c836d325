"""The cohort report on the quantified phantom: every section filled or saying it did not run,
every image a PNG that exists beside the report, links to the patient reports, no "nan", the
disclaimer; a classify folder's results and curves; images load in Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from gliopet.report.cohort import CohortInputs, session_ids, write_cohort_report
from gliopet.report.patient import write_patient_report
from support.html_check import check_page
from support.report_data import NO_TUMOUR, TUMOUR

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _classify_folder(folder: Path, png: Path) -> Path:
    """A folder in the layout of `gliopet classify cohort`: results.tsv and its curves."""
    folder.mkdir(parents=True)
    pd.DataFrame({"model": ["TBRmax rule", "logistic"], "evaluation": ["cv", "external siteC"],
                  "n": [20, 8], "auc": [0.8, 0.7], "auc_ci_low": [0.6, 0.4],
                  "auc_ci_high": [0.95, 0.9], "sensitivity": [0.8, float("nan")],
                  "specificity": [0.7, 0.6], "brier": [0.2, 0.25]}).to_csv(
        folder / "results.tsv", sep="\t", index=False)
    for name in ("roc_cv.png", "calibration_cv.png", "decision_curve_cv.png"):
        shutil.copyfile(png, folder / name)
    return folder


@pytest.fixture(scope="module")
def cohort_report(cohort_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort")
    patients = out / "patients"
    for ids in (TUMOUR, NO_TUMOUR):
        write_patient_report(cohort_root, ids, patients, pdf=False)
    first = write_cohort_report(CohortInputs(cohort_root, out / "plain", patients=patients))
    curve = next((out / "plain" / "figures").glob("*.png"))
    classify = _classify_folder(out.parent / f"{out.name}-classify", curve)
    return write_cohort_report(CohortInputs(cohort_root, out, [classify], patients=patients)), \
        first


def test_session_ids_lists_every_quantified_session(cohort_root):
    assert len(session_ids(cohort_root)) == 6 and TUMOUR in session_ids(cohort_root)


def test_cohort_html_sections_images_and_links(cohort_report):
    path, _ = cohort_report
    page = check_page(path)
    assert page.headings[:3] == ["Dataset", "Quality control", "Quantification by group"]
    assert "diagnosis: IDH-wildtype vs IDH-mutant" in page.headings
    assert all(not src.startswith("data:") for src in page.images)  # files beside the report
    assert sum("figures/diagnosis_" in s for s in page.images) == 4
    assert sorted(page.links) == ["patients/sub-001_ses-diagnosis_report.html",
                                  "patients/sub-003_ses-recurrence_report.html"]
    assert all((path.parent / link).is_file() for link in page.links)
    assert "sessions carry a QC flag" in page.text
    assert "0.80 [0.60, 0.95]" in page.text  # AUC with its CI from results.tsv
    assert "0.250" in page.text and "n/a" in page.text  # Brier to 3 decimals, missing said
    assert any("roc_cv" in s for s in page.images) and any("calibration_cv" in s
                                                           for s in page.images)
    assert not any("decision_curve" in s for s in page.images)


def test_sections_without_results_say_which_command(cohort_report):
    _, first = cohort_report
    page = check_page(first)
    assert "The WP3 comparison was not run for this report: run `gliopet classify cohort" \
        in page.text
    assert "run `gliopet biopsy BIDS_DIR` to add it" in page.text
    assert "run `gliopet evaluate-representation" in page.text


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (Debian "
                    "package chromium; .ci/run installs it)")
def test_images_load_in_chromium(cohort_report):
    sync_api = pytest.importorskip("playwright.sync_api")
    path, _ = cohort_report
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
            links = page.eval_on_selector_all("a", "as => as.length")
        finally:
            browser.close()
    assert len(widths) >= 6 and all(w > 0 for w in widths), widths
    assert links == 2
