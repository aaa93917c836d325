"""The patient report on the quantified phantom: HTML parses with inline PNGs and no "nan",
the disclaimer, the numbers of quant.tsv, the PDF's 4 pages, a session without PET-avid tumour
said in words, a QC failure flagged, WP2 maps, target and model output when present, "not run"
sentences when absent."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from gliopet.io import derivatives as d
from gliopet.report.numbers import fmt
from gliopet.report.patient import PDF_PAGES, write_patient_report
from support.html_check import check_page, pdf_pages
from support.report_data import (
    NO_TUMOUR,
    RECURRENCE,
    TUMOUR,
    analysis_copy,
    write_predictions,
    write_wp2_outputs,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tumour_report(cohort_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("patient")
    return write_patient_report(cohort_root, TUMOUR, out)


def test_html_renders_with_inline_images_and_numbers(cohort_root, tumour_report):
    html, _ = tumour_report
    assert html.name == "sub-001_ses-diagnosis_report.html"
    page = check_page(html)
    assert len(page.images) == 2 and all(s.startswith("data:image/png") for s in page.images)
    assert page.headings[:7] == ["Patient and study", "Images",
                                 "Time-activity curves and guideline numbers", "Model output",
                                 "Aggressive subregion and biopsy target", "Quality control",
                                 "Provenance"]
    quant = json.loads(d.find(cohort_root, TUMOUR, d.QUANT_ROW).read_text())
    assert f"TBRmax {fmt(quant['TBRmax'])}" in page.text
    assert "Herrmann 2014 (FDOPA)" in page.text and "PET RANO 1.0, Albert 2024" in page.text
    # stages that did not run: one sentence each, with the command
    assert "run `gliopet biopsy BIDS_DIR` to add it" in page.text
    assert "run `gliopet predict BIDS_DIR --model MODEL_DIR` to add it" in page.text
    assert "gliopet preprocess" in page.text and "gliopet quantify" in page.text  # provenance
    assert "<img src=\"http" not in html.read_text()  # self-contained


def test_pdf_has_the_four_pages(tumour_report):
    _, pdf = tumour_report
    assert pdf.read_bytes().startswith(b"%PDF")
    assert pdf_pages(pdf) == len(PDF_PAGES) == 4


def test_session_without_pet_avid_tumour_says_so(cohort_root, tmp_path):
    quant = json.loads(d.find(cohort_root, NO_TUMOUR, d.QUANT_ROW).read_text())
    assert quant["voi_source"] == "none"  # the fixture's premise
    html, pdf = write_patient_report(cohort_root, NO_TUMOUR, tmp_path)
    page = check_page(html)
    assert "No PET-avid tumour was found: no tumour" in page.text
    assert pdf_pages(pdf) == 4


@pytest.fixture(scope="module")
def augmented(cohort_root, tmp_path_factory):
    """A copy of the analysis derivatives with a failed QC row, WP2 outputs of the tumour
    session and predictions (with a saliency map) of a recurrence session."""
    root = analysis_copy(cohort_root, tmp_path_factory.mktemp("augmented") / "bids")
    qc = pd.read_csv(d.QC_TABLE.path(root), sep="\t", dtype={"subject": str, "session": str})
    row = (qc["subject"] == TUMOUR[0]) & (qc["session"] == TUMOUR[1])
    qc.loc[row, "flags"] = "pet_mri_nmi_low"
    qc.to_csv(d.QC_TABLE.path(root), sep="\t", index=False, na_rep="n/a")
    target = write_wp2_outputs(root, TUMOUR)
    predictions = write_predictions(root, RECURRENCE, root.parent / "predict")
    return root, target, predictions


def test_qc_failure_is_flagged(augmented, tmp_path):
    root, _, _ = augmented
    html, _ = write_patient_report(root, TUMOUR, tmp_path, pdf=False)
    text = html.read_text()
    assert '<li class="flag">pet_mri_nmi_low</li>' in text
    assert "No QC flag" not in check_page(html).text


def test_wp2_maps_and_target_shown(augmented, tmp_path):
    root, target, _ = augmented
    html, pdf = write_patient_report(root, TUMOUR, tmp_path)
    page = check_page(html)
    assert len(page.images) == 3  # PET, aggressiveness map, TACs
    assert "The aggressiveness map and biopsy target" not in page.text
    assert "RAS (mm)" in page.text and fmt(target["target_ras_mm"][0], 4) in page.text
    assert "{'" not in page.text and "': " not in page.text  # no Python dict printed
    assert pdf_pages(pdf) == 4


def test_model_output_with_uncertainty_and_saliency(augmented, tmp_path):
    root, _, predictions = augmented
    html, _ = write_patient_report(root, RECURRENCE, tmp_path, predictions=predictions,
                                   pdf=False)
    page = check_page(html)
    assert "TBRmax rule" in page.text and "0.74" in page.text and "progression" in page.text
    assert "0.81 [0.66, 0.93]" in page.text  # the model's AUC with its CI
    assert len(page.images) == 3  # PET, saliency, TACs
    assert "A saliency map" not in page.text
