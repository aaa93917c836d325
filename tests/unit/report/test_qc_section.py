"""The cohort report's QC table: one precision per numeric column, flagged sessions first,
"n/a" for a missing value."""

from __future__ import annotations

import re

import pandas as pd

from gliopet.report.cohort import qc_section
from gliopet.report.numbers import fixed


def test_fixed_pads_to_the_decimals_and_says_n_a():
    assert fixed(0.38, 2) == "0.38" and fixed(0.628, 2) == "0.63" and fixed(1.0, 2) == "1.00"
    assert fixed(1866.4, 0) == "1866"
    assert fixed(float("nan"), 2) == "n/a" and fixed(None, 2) == "n/a" and fixed("", 2) == "n/a"


def test_qc_columns_line_up_and_flagged_rows_come_first():
    qc = pd.DataFrame({
        "subject": ["001", "002"], "session": ["diagnosis", "diagnosis"],
        "site": ["siteA", "siteB"], "status": ["ok", "ok"],
        "pet_mri_nmi": [1.3, 1.2345], "template_nmi": [1.18, float("nan")],
        "max_motion_mm": [0.38, 3.84], "brain_ml": [1866.4, 1760.0],
        "flags": [float("nan"), "motion_high;cohort_outlier:max_motion_mm"],
    })
    html = qc_section(qc)
    cells = re.findall(r"<td>(.*?)</td>", html)
    first, second = cells[:9], cells[9:18]
    assert first[:4] == ["002", "diagnosis", "siteB", "ok"]
    assert first[4:8] == ["1.23", "n/a", "3.84", "1760"]
    assert "motion_high; cohort_outlier:max_motion_mm" in first[8]
    assert second[4:9] == ["1.30", "1.18", "0.38", "1866", "none"]
    assert "1 of 2 sessions carry a QC flag." in html
