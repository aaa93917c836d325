"""One name and one description per quantity in truth.tsv and quant.tsv (`gliopet.io.columns`)."""

from __future__ import annotations

import pytest

from gliopet.io.columns import SHARED_COLUMNS, describe
from gliopet.quant.outputs import QUANT_COLUMNS
from gliopet.simulate.truth import truth_columns


def test_describe_appends_the_table_detail_and_copies():
    entry = describe("BTV_mL", "Volume of the tumour VOI.")
    assert entry == {"Description": "Biological tumour volume. Volume of the tumour VOI.",
                     "Units": "mL"}
    entry["Units"] = "changed"
    assert SHARED_COLUMNS["BTV_mL"]["Units"] == "mL"
    assert describe("lesion_side") == SHARED_COLUMNS["lesion_side"]
    with pytest.raises(KeyError):
        describe("BTV_ml")


def test_both_tables_document_every_shared_column_with_its_description_and_unit():
    truth = truth_columns()
    for name, shared in SHARED_COLUMNS.items():
        truth_entries = ([truth[name]] if name in truth
                         else [truth[f"{name}_nopsf"], truth[f"{name}_psf"]])
        for entry in (QUANT_COLUMNS[name], *truth_entries):
            assert entry["Description"].startswith(shared["Description"]), name
            assert entry.get("Units") == shared.get("Units"), name


def test_no_quantity_is_spelled_two_ways():
    """Names equal but for case and underscores are one quantity spelled twice (BTV_ml / BTV_mL)."""
    stems = {name.removesuffix("_nopsf").removesuffix("_psf") for name in truth_columns()}
    quant = {name.lower().replace("_", ""): name for name in QUANT_COLUMNS}
    twice = [(name, quant[key]) for name in stems
             if (key := name.lower().replace("_", "")) in quant and quant[key] != name]
    assert twice == []
