"""IBSI-1 digital phantom: every feature of every family gliopet offers, against the published
reference values (``../shared/data/real/ibsi-digital-phantom``, skipped when absent).

The comparison rule is IBSI's (3 significant digits, then the tolerance of the table); the
families and aggregations the radiomics stage reports by default are a subset of those checked.
"""

from __future__ import annotations

import pandas as pd
import pytest

from gliopet.config import load_config
from gliopet.radiomics.features import FAMILIES
from gliopet.radiomics.ibsi import aggregation, compare_phantom, mirp_name, round3
from support.real_data import REAL_DATA

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def comparison():
    folder = REAL_DATA / "ibsi-digital-phantom"
    if not folder.is_dir():
        pytest.skip("the IBSI digital phantom is not in ../shared/data/real")
    return compare_phantom(folder)


def test_every_reference_feature_is_within_tolerance(comparison):
    table = comparison.table
    failed = table[~table["passed"]]
    assert failed.empty, failed[["tag", "value", "reference", "tolerance"]].to_string()
    # every family and every aggregation of the reference table was compared
    assert set(table["family"]) == set(FAMILIES)
    references = pd.read_csv(REAL_DATA / "ibsi-digital-phantom" / "reference_values.csv",
                             encoding="utf-8-sig")
    standardised = references[references["consensus"] != "not standardized"]
    assert len(standardised) == 482 and len(references) == 487
    assert sorted(table["tag"]) == sorted(standardised["tag"].str.strip())


def test_the_stage_defaults_are_covered(comparison):
    """The families and aggregations of the stage's default configuration were all checked."""
    settings = load_config().radiomics
    checked = comparison.by_family()
    for family in settings.families:
        rows = checked[checked["family"] == family]
        assert not rows.empty, family
        assert (rows["passed"] == rows["compared"]).all(), family
    assert {"3D_comb", "3D"} <= set(checked["aggregation"])


def test_tag_names_and_rounding():
    assert mirp_name("cm_joint_max_3D_comb") == "cm_joint_max_d1_3d_v_mrg"
    assert mirp_name("cm_joint_max_2_5D_avg") == "cm_joint_max_d1_2.5d_d_mrg"
    assert mirp_name("rlm_sre_2D_comb") == "rlm_sre_2d_s_mrg"
    assert mirp_name("ngl_lde_3D") == "ngl_lde_d1_a0.0_3d"
    assert mirp_name("szm_sze_2_5D") == "szm_sze_2.5d"
    assert mirp_name("stat_p10") == "stat_p10"
    assert aggregation("cm_joint_max_2_5D_comb") == "2.5D_comb"
    assert aggregation("stat_p10") == "-"
    assert round3(0.012149) == 0.0121 and round3(-0.35549) == -0.355 and round3(556.4) == 556


def test_every_feature_the_stage_reports_has_a_reference(comparison):
    """The stage's default settings, on the phantom: each feature name (without MIRP's
    discretisation tail) is one of the referenced features that passed above."""
    import re

    from gliopet.radiomics.features import extract
    from gliopet.radiomics.ibsi import IMAGE, MASK
    from gliopet.radiomics.pipeline import image_settings

    cfg = load_config().radiomics
    folder = REAL_DATA / "ibsi-digital-phantom"
    checked = set(comparison.table.loc[comparison.table["passed"], "mirp_name"])
    for kind, modality in (("SUV", "pet"), ("MRI", "mr")):
        values = extract(folder / IMAGE, folder / MASK, image_settings(kind, cfg, cfg.families),
                         modality)
        names = {re.sub(r"_(fbs_w[0-9.]+|fbn_n[0-9]+)$", "", name) for name in values}
        assert names <= checked, sorted(names - checked)
        assert len(names) == len(values) > 150
