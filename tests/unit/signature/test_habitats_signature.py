"""Habitats and signature on synthetic tumours with a planted aggressive habitat: the habitat is
found and its volume fraction recovered; feature loading through the derivatives contract; a
saved model gives the same outputs; bad input."""

from __future__ import annotations

import numpy as np
import pytest

from gliopet.errors import InputError
from gliopet.signature.features import load_session
from gliopet.signature.model import SignatureModel, load_model
from support.signature_synth import planted_session, write_quant_session

FEATURES = ["SUV", "TTP", "slope", "earlylate", "TBR10to30min", "TBR1to10min"]
#: Tolerance of a recovered habitat fraction (absolute).
FRACTION_TOL = 0.04


@pytest.fixture(scope="module")
def fitted() -> SignatureModel:
    train = [planted_session(f"t{i}", fraction, seed=i)[0]
             for i, fraction in enumerate([0.15, 0.2, 0.25, 0.1, 0.3, 0.2])]
    return SignatureModel("kinetic", FEATURES, seed=1, k_range=(2, 3, 4)).fit(train)


def test_planted_habitat_fraction_recovered(fitted):
    assert fitted.k >= 2
    assert set(fitted.habitats_.bic_) <= {2, 3, 4} and len(fitted.habitats_.bic_) == 3
    for seed, fraction in [(50, 0.12), (51, 0.22), (52, 0.35)]:
        voxels, _ = planted_session("new", fraction, seed=seed)
        row = fitted.signature(voxels)
        # habitat 1 has the lowest mean TTP: the planted early-peak habitat
        assert row["hab1_fraction"] == pytest.approx(fraction, abs=FRACTION_TOL)
        assert row["hab1_mean_TTP"] == pytest.approx(4.0, abs=1.0)
        assert sum(row[f"hab{k}_fraction"] for k in range(1, fitted.k + 1)) == pytest.approx(1)
        assert row["tumour_volume_mL"] == pytest.approx(voxels.n_voxels * 0.008)


def test_habitat_labels_match_planted_voxels(fitted):
    voxels, planted = planted_session("new", 0.2, seed=60)
    maps = fitted.apply(voxels)
    found = maps.habitats == 1
    dice = 2 * (found & planted).sum() / (found.sum() + planted.sum())
    assert dice > 0.9
    assert (maps.habitats[~voxels.tumour] == 0).all()


def test_load_session_through_the_contract(tmp_path):
    voxels, _ = planted_session("07", 0.2, seed=7)
    write_quant_session(tmp_path, voxels)
    loaded = load_session(tmp_path, ("07", "diagnosis"), "kinetic")
    assert sorted(loaded.features) == sorted(FEATURES)
    for name in FEATURES:
        np.testing.assert_allclose(loaded.features[name], voxels.features[name], rtol=1e-6)
    assert loaded.n_voxels == voxels.n_voxels


def test_saved_model_gives_the_same_outputs(fitted, tmp_path):
    fitted.save(tmp_path / "model")
    again = load_model(tmp_path / "model")
    voxels, _ = planted_session("new", 0.2, seed=70)
    assert again.signature(voxels) == fitted.signature(voxels)
    np.testing.assert_array_equal(again.apply(voxels).aggressiveness,
                                  fitted.apply(voxels).aggressiveness)
    assert (tmp_path / "model" / "signature-model.json").is_file()


def test_missing_tumour_voi_message(tmp_path):
    with pytest.raises(InputError) as err:
        load_session(tmp_path, ("09", "diagnosis"), "kinetic")
    assert "quantification output *_space-pet_desc-tumour_mask.nii.gz is missing" in str(err.value)
    assert "gliopet quantify" in str(err.value)


def test_missing_embedding_names_gliopet_embed(tmp_path):
    voxels, _ = planted_session("08", 0.2, seed=8)
    write_quant_session(tmp_path, voxels)
    for space in ("embedding", "both"):
        with pytest.raises(InputError) as err:
            load_session(tmp_path, ("08", "diagnosis"), space)
        assert "no foundation-model embedding for this session" in err.value.problem
        assert "gliopet embed" in err.value.fix


def test_unknown_space_and_missing_model(tmp_path):
    with pytest.raises(InputError, match="unknown feature space 'pixels'"):
        load_session(tmp_path, ("08", "diagnosis"), "pixels")
    with pytest.raises(InputError, match=r"no saved signature model \(signature-model.joblib\)"):
        load_model(tmp_path)


def test_missing_feature_for_the_model(fitted):
    voxels, _ = planted_session("new", 0.2, seed=80)
    del voxels.features["TTP"]
    with pytest.raises(InputError, match="feature\\(s\\) TTP missing for this session"):
        fitted.signature(voxels)
