"""Association study on fast synthetic tables: a planted relation is discovered with FDR
control; over 200 null replicates the type-I error and the false-discovery rate stay at their
nominal level (binomial bounds); the multivariable AUC; bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gliopet.errors import InputError
from gliopet.signature import labels as lab
from gliopet.signature.association import AssociationOptions, associate, univariate
from support.signature_synth import marker_table

FEATURES = ["planted", *[f"noise{j}" for j in range(9)]]
NULL_REPLICATES = 200
ALPHA = 0.05


def _binomial_upper(p: float, n: int, z: float = 3.0) -> float:
    """Upper bound of an observed proportion with true value `p` over `n` trials (z SDs)."""
    return p + z * np.sqrt(p * (1 - p) / n)


def test_planted_relation_is_discovered():
    table = marker_table(80, seed=1, effect=1.2)
    markers = lab.coded_markers(table, ["IDH", "grade"])
    opts = AssociationOptions(seed=5, n_boot=500, folds=5)
    result = associate(table[FEATURES], markers, table["participant_id"].to_numpy(), opts)
    uni = result.univariate.set_index(["feature", "marker"])
    planted = uni.loc[("planted", "IDH")]
    assert planted["discovery"] and planted["q"] < 0.01
    assert planted["effect_name"] == "AUC" and planted["effect"] > 0.7  # mutant rows higher
    assert planted["ci_low"] > 0.5 and planted["ci_low"] < planted["effect"] < planted["ci_high"]
    assert planted["cliffs_delta"] == pytest.approx(2 * planted["effect"] - 1)
    assert uni.loc[("planted", "grade"), "test"] == "Spearman"
    assert uni["discovery"].sum() <= 2  # the planted one, at most one false discovery
    multi = result.multivariable.set_index("marker")
    assert list(multi.index) == ["IDH"]  # the grade is not a binary marker
    assert multi.loc["IDH", "auc"] > 0.7 and multi.loc["IDH", "ci_low"] > 0.5


def test_null_replicates_keep_type1_error_and_fdr():
    opts = AssociationOptions(seed=0, intervals=False)
    any_discovery, p_below = 0, 0
    for replicate in range(NULL_REPLICATES):
        table = marker_table(40, seed=1000 + replicate, effect=0.0)
        uni, _ = univariate(table[FEATURES], lab.coded_markers(table, ["IDH"]), opts)
        # under the complete null every discovery is false: FDR = P(at least one discovery)
        any_discovery += bool(uni["discovery"].any())
        p_below += int((uni["p"] <= ALPHA).sum())
    tests = NULL_REPLICATES * len(FEATURES)
    assert p_below / tests <= _binomial_upper(ALPHA, tests)
    assert p_below / tests >= ALPHA - 3 * np.sqrt(ALPHA * (1 - ALPHA) / tests) - 0.01
    assert any_discovery / NULL_REPLICATES <= _binomial_upper(ALPHA, NULL_REPLICATES)


def test_null_marker_of_a_planted_table_gives_no_discovery_beyond_chance():
    # permuted labels of a table with a real relation: the relation is gone
    table = marker_table(80, seed=2, effect=1.5)
    hits = 0
    for replicate in range(50):
        shuffled = table.assign(IDH=np.random.default_rng(replicate).permutation(table["IDH"]))
        uni, _ = univariate(shuffled[FEATURES], lab.coded_markers(shuffled, ["IDH"]),
                            AssociationOptions(seed=0, intervals=False))
        hits += bool(uni["discovery"].any())
    assert hits / 50 <= _binomial_upper(ALPHA, 50)


def test_marker_coding_and_aggressive_label():
    table = pd.DataFrame({"IDH": ["mutant", "wildtype", "n/a", None],
                          "MGMT": ["methylated", "unmethylated", "x", "methylated"],
                          "grade": [2, 4, 4, None]})
    coded = lab.coded_markers(table, ["IDH", "MGMT", "grade"])
    assert coded["IDH"].tolist()[:2] == [1.0, 0.0] and coded["IDH"].isna().tolist()[2:] == [True,
                                                                                             True]
    assert coded["MGMT"].tolist()[:2] == [1.0, 0.0] and np.isnan(coded["MGMT"][2])
    # aggressive: IDH-wildtype; IDH missing -> grade 4
    assert lab.aggressive_label(table).tolist()[:3] == [0.0, 1.0, 1.0]
    assert np.isnan(lab.aggressive_label(table)[3])


def test_marker_column_absent_exact_message():
    table = marker_table(10, seed=3)
    with pytest.raises(InputError) as err:
        lab.check_markers(table, ["IDH", "EGFR"], "labels.tsv")
    assert err.value.problem == "marker column 'EGFR' is absent"
    assert err.value.path == "labels.tsv"
    assert err.value.fix.startswith("choose --markers among the columns: participant_id, IDH")
    with pytest.raises(InputError, match="none of the marker columns IDH, codeletion_1p19q"):
        lab.check_markers(table[["participant_id", "planted"]], None, "f.tsv")
    assert lab.check_markers(table, None, "f.tsv") == ["IDH", "grade"]
