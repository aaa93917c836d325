"""Report figures and numbers on synthetic images with a known tumour (fast, no pipeline)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gliopet.report import figures
from gliopet.report.images import SessionImages
from gliopet.report.numbers import GUIDELINE, fmt, guideline_rows, reading

PNG = b"\x89PNG\r\n\x1a\n"


def _images() -> SessionImages:
    shape = (20, 24, 16)
    suv = np.full(shape, 1.0, dtype=np.float32)
    tumour = np.zeros(shape, bool)
    tumour[4:8, 10:14, 6:10] = True
    suv[tumour] = 3.0
    suv[5, 12, 8] = 4.5  # the tumour's maximum
    suv[15, 5, 3] = 9.0  # hotter than the tumour, outside it (striatum-like)
    background = np.zeros(shape, bool)
    background[12:16, 10:14, 6:10] = True
    return SessionImages(suv, (2.0, 2.0, 2.5), np.diag([2.0, 2.0, 2.5, 1.0]),
                         mri=np.random.default_rng(0).normal(100, 10, shape).astype(np.float32),
                         mri_name="T1w", masks={"tumour": tumour, "background": background})


def test_focus_is_the_tumour_maximum_not_the_hottest_voxel():
    assert _images().focus() == (5, 12, 8)


def test_focus_without_tumour_uses_the_hottest_voxel():
    images = _images()
    images.masks["tumour"][:] = False
    assert not images.has_tumour
    assert images.focus() == (15, 5, 3)


def test_pet_figure_has_orientation_labels_colour_bar_and_outlines():
    fig = figures.pet_figure(_images(), "sub-01 ses-diagnosis")
    axes = fig.get_axes()
    texts = [t.get_text() for ax in axes[:3] for t in ax.texts]
    assert texts == ["R", "L", "A", "P", "R", "L", "S", "I", "A", "P", "S", "I"]
    assert axes[3].get_ylabel() == "SUV (g/mL)"  # colour bar with units
    # radiological display: the first displayed axis runs right-to-left
    assert all(ax.xaxis_inverted() for ax in axes[:3])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["tumour VOI (BTV)", "background (reference)"]
    assert figures.png_bytes(fig).startswith(PNG)


def test_map_figure_absent_map_is_none_and_present_map_draws():
    images = _images()
    assert figures.map_figure(images, "aggressiveness", "x") is None
    images.maps["aggressiveness"] = np.where(images.masks["tumour"], 0.8, 0.0)
    images.target_voxel = np.array([5.0, 12.0, 8.0])
    fig = figures.map_figure(images, "aggressiveness", "x")
    assert fig.get_axes()[3].get_ylabel() == "aggressiveness (unitless)"
    assert "biopsy target" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_tac_figure_units_and_static_scan():
    tacs = pd.DataFrame({"mid_time_min": [1.0, 5.0, 20.0], "tumour": [1, 3, 2.5],
                         "background": [0.5, 1.0, 1.1], "striatum": [1, 2, 3]})
    fig = figures.tac_figure(tacs, "TACs")
    ax = fig.get_axes()[0]
    assert ax.get_ylabel() == "SUV (g/mL)" and "(min)" in ax.get_xlabel()
    assert len(ax.get_lines()) == 3
    assert figures.tac_figure(tacs.iloc[:1], "TACs") is None


@pytest.mark.parametrize(("value", "text"), [(float("nan"), "n/a"), (None, "n/a"), ("nan", "n/a"),
                                             (3.14159, "3.14"), (1663.8, "1664"), (True, "yes"),
                                             ("TBRmax = nan; cut 1.8", "TBRmax = n/a; cut 1.8")])
def test_fmt_never_prints_nan(value, text):
    assert fmt(value) == text


def test_readings_against_published_cutoffs():
    assert reading("TBRmax", 2.0) == "progression side"  # Herrmann 2014: 1.81
    assert reading("TBRmax", 1.5) == "treatment-change side"
    assert reading("TTP_min", 3.0) == "IDH-wildtype side"  # Ginet 2020: 5.4 min
    assert reading("TBRmax", float("nan")) == ""
    rows = guideline_rows({"TBRmax": float("nan")})
    assert [r["quantity"] for r in rows] == list(GUIDELINE)
    assert rows[1]["value"] == "n/a" and rows[1]["source"].startswith("Herrmann 2014")


def test_cutoff_read_only_for_the_session_kind_it_was_published_for():
    assert reading("TBRmax", 3.0, "ses-recurrence") == "progression side"
    assert reading("TBRmax", 3.0, "ses-diagnosis") == "not read (published for recurrence)"
    assert reading("TTP_min", 8.0, "ses-diagnosis") == "IDH-mutant side"
    rows = guideline_rows({"session_id": "ses-diagnosis", "TBRmax": 3.0, "BTV_mL": 2.0})
    assert rows[1]["reading"] == "not read (published for recurrence)"
    assert rows[5]["reading"] == "measurable"  # PET RANO: any session


def test_markdown_of_a_result_folder_never_shows_nan():
    from gliopet.report.html import markdown

    text = markdown("| metric | seed SD |\n|---|---|\n| ARI | nan |\n\nNaN here; nanometre stays.")
    assert "<table>" in text and "<td>n/a</td>" in text
    assert "n/a here; nanometre stays." in text
    assert "<script>" not in markdown("<script>alert(1)</script>")
