"""Cohort table join, column documentation and mask patterns of `gliopet quantify` (no images)."""

from __future__ import annotations

import pandas as pd
import pytest

from gliopet.errors import InputError
from gliopet.io.session import Session
from gliopet.quant.outputs import QUANT_COLUMNS
from gliopet.quant.pipeline import resolve_pattern
from gliopet.quant.tables import join_labels


def test_session_labels_take_precedence_over_subject_labels():
    quant = pd.DataFrame(
        {
            "participant_id": ["sub-1", "sub-1", "sub-2"],
            "session_id": ["ses-a", "ses-b", "ses-a"],
            "SUVmax": [1.0, 2.0, 3.0],
        }
    )
    subjects = pd.DataFrame(
        {
            "participant_id": ["sub-1", "sub-2"],
            "weight": [70.0, 80.0],
            "IDH": ["mutant", "wildtype"],
        }
    )
    sessions = pd.DataFrame({"participant_id": ["sub-1"], "session_id": ["ses-b"], "weight": [72.0],
                             "outcome": ["progression"]})
    cohort = join_labels(quant, subjects, sessions)
    assert cohort["weight"].tolist() == [70.0, 72.0, 80.0]
    assert cohort["IDH"].tolist() == ["mutant", "mutant", "wildtype"]
    assert cohort["outcome"].isna().tolist() == [True, False, True]
    assert cohort["SUVmax"].tolist() == [1.0, 2.0, 3.0] and len(cohort) == 3


def test_every_quant_column_is_documented_with_units_where_numeric():
    required = {
        "participant_id",
        "session_id",
        "SUVmax",
        "SUVmean",
        "SUVpeak",
        "TBRmax",
        "TBRmean",
        "TBRpeak",
        "TSRmax",
        "TSRmean",
        "BTV_mL",
        "background_SUVmean",
        "striatum_SUVmean",
        "rano_measurable",
        "TTP_min",
        "slope_SUV_per_h",
        "TTP_ratio",
        "slope_ratio",
        "frac_early_peak",
        "frac_negative_slope",
        "frac_TBR_gt_2",
        "n_hotspots",
        "hotspot_volume_mL",
        "n_habitats",
        "voi_source",
        "note",
    }
    assert required <= set(QUANT_COLUMNS)
    for name, meta in QUANT_COLUMNS.items():
        assert meta["Description"], name
        if name.endswith(
            ("_mL", "_min", "_per_h", "SUVmean", "SUVmax", "SUVpeak")
        ) or name.startswith(("TBR", "TSR")):
            assert "Units" in meta, name


def test_mask_pattern_placeholders():
    session = Session(subject="007", session="diagnosis")
    assert (
        str(resolve_pattern("m/sub-{subject}_ses-{session}.nii.gz", session, "--tumour-mask"))
        == "m/sub-007_ses-diagnosis.nii.gz"
    )
    with pytest.raises(InputError) as err:
        resolve_pattern("m/{patient}.nii.gz", session, "--tumour-mask")
    assert err.value.one_line().startswith(
        "m/{patient}.nii.gz: the --tumour-mask pattern has an unknown placeholder"
    )
