"""`gliopet signature`: the association study on any feature table (--features), bad input with
exact messages, and (slow) the whole chain on a tiny phantom: simulate, preprocess, quantify,
signature with the study and a saved model, then the saved model applied again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from gliopet import DISCLAIMER
from gliopet.io import derivatives as d
from support.cli import quantified_copy
from support.signature_synth import marker_table


def test_features_mode_writes_the_study(run_cli, tmp_path):
    table = marker_table(60, seed=4, effect=1.3)
    features = tmp_path / "features.tsv"
    table.drop(columns=["IDH", "grade"]).to_csv(features, sep="\t", index=False)
    labels = tmp_path / "labels.tsv"
    table[["participant_id", "IDH", "grade"]].to_csv(labels, sep="\t", index=False)
    out = tmp_path / "study"
    code, stdout, err = run_cli("signature", "--features", features, "--labels", labels,
                                "--markers", "IDH,grade", "--out", out, "--n-boot", 200)
    assert code == 0, err
    assert f"association study: {out}" in stdout
    uni = pd.read_csv(out / "association.tsv", sep="\t")
    assert set(uni["marker"]) == {"IDH", "grade"} and len(uni) == 20
    hit = uni[(uni["feature"] == "planted") & (uni["marker"] == "IDH")].iloc[0]
    assert hit["discovery"] and hit["q"] < 0.05
    text = (out / "association.md").read_text()
    assert DISCLAIMER in text and "nan" not in text.lower().replace("mann", "")
    assert "| planted | IDH |" in text
    for name in ("volcano.png", "heatmap.png", "multivariable.tsv", "provenance.json"):
        assert (out / name).is_file(), name


def test_features_mode_bad_input(run_cli, tmp_path):
    table = marker_table(12, seed=4)
    features = tmp_path / "features.tsv"
    table.to_csv(features, sep="\t", index=False)
    code, _, err = run_cli("signature", "--features", features, "--markers", "EGFR",
                           "--out", tmp_path / "study")
    assert code == 2
    assert f"error: {features}: marker column 'EGFR' is absent (fix: choose --markers among " \
           "the columns: participant_id, IDH, planted" in err
    assert not (tmp_path / "study").exists()
    code, _, err = run_cli("signature", "--features", features)
    assert code == 2 and "--features runs the association alone: give --out and no BIDS_DIR" \
        in err
    code, _, err = run_cli("signature")
    assert code == 2 and "give BIDS_DIR (or --features TABLE --out DIR)" in err


# ---------------------------------------------------------------------------- the phantom
@pytest.fixture(scope="module")
def simulated(run_cli, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("signature") / "bids"
    code, _, err = run_cli("simulate", root, "--subjects", 4, "--seed", 4, "--profile", "tiny",
                           "--scenario", "diagnosis", "--aggressive-fraction", 1,
                           "--healthy-fraction", 0.3)
    assert code == 0, err
    return root


@pytest.fixture(scope="module")
def quantified(simulated, tmp_path_factory) -> Path:
    return quantified_copy(simulated, tmp_path_factory.mktemp("quantified") / "bids")


@pytest.mark.slow
def test_session_without_quantification_is_refused(run_cli, simulated, tmp_path):
    root = tmp_path / "bids"
    shutil.copytree(simulated, root)
    code, _, err = run_cli("signature", root)
    assert code == 2
    assert "quantification output *_space-pet_desc-tumour_mask.nii.gz is missing (tumour VOI)" \
        in err and "run `gliopet quantify` on the dataset first" in err
    assert not d.SIGNATURE.root(root).exists()


@pytest.mark.slow
def test_phantom_chain(run_cli, quantified, tmp_path):
    root = tmp_path / "bids"
    shutil.copytree(quantified, root)
    model_dir, study = tmp_path / "model", tmp_path / "study"
    code, out, err = run_cli("signature", root, "--session", "all", "--save-model", model_dir,
                             "--out", study, "--n-boot", 100, "--folds", 2)
    assert code == 0, err
    table = pd.read_csv(d.SIGNATURE_TABLE.path(root), sep="\t")
    assert len(table) == 4 and "hab1_fraction" in table.columns
    tumours = table[table["tumour_status"] == "ok"]
    assert 1 <= len(tumours) <= 3 and "(1 without a PET-avid tumour)" in out
    healthy = table[table["tumour_status"] != "ok"].iloc[0]
    assert healthy["tumour_status"].startswith("no PET-avid tumour")
    assert d.find_or_none(root, (healthy["participant_id"], healthy["session_id"]),
                          d.AGGRESSIVE_MASK) is None
    for _, row in tumours.iterrows():
        ids = (row["participant_id"], row["session_id"])
        tumour = np.asarray(nib.load(d.find(root, ids, d.TUMOUR_MASK)).dataobj) > 0
        amap = nib.load(d.find(root, ids, d.AGGRESSIVENESS_MAP))
        values = np.asarray(amap.dataobj)
        mask = np.asarray(nib.load(d.find(root, ids, d.AGGRESSIVE_MASK)).dataobj) > 0
        habitats = np.asarray(nib.load(d.find(root, ids, d.SIGNATURE_HABITATS)).dataobj)
        assert amap.get_data_dtype() == np.float32 and values.shape == tumour.shape
        assert (values[~tumour] == 0).all() and (values[tumour] > 0).all() and values.max() < 1
        assert mask.any() and (mask <= tumour).all()
        assert set(np.unique(habitats[tumour])) <= set(range(1, row["n_habitats"] + 1))
        assert (habitats[~tumour] == 0).all()
        assert row["subregion_volume_mL"] >= 0.5 or "whole tumour" in row["subregion_note"]
        legend = json.loads(d.find(root, ids, d.SIGNATURE_HABITATS.sidecar()).read_text())
        assert legend["Labels"]["0"] == "outside the tumour VOI"
    assert (study / "association.md").is_file() and (model_dir / "signature-model.joblib")
    # the saved model applied again (a new patient): same habitats, same rows
    code, _, err = run_cli("signature", root, "--session", "all", "--model", model_dir,
                           "--force")
    assert code == 0, err
    again = pd.read_csv(d.SIGNATURE_TABLE.path(root), sep="\t")
    pd.testing.assert_frame_equal(again, table)
