"""`gliopet biopsy` on a synthetic session with an exactly known PET-to-MRI map, target region,
SUV peak and hot spots (tests/support/biopsy.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gliopet.errors import InputError
from gliopet.export.biopsy_stage import run_biopsy
from gliopet.io import derivatives as d
from gliopet.io.bids_write import write_image
from gliopet.spatial import apply_affine, ras_to_lps_points
from support.biopsy import synthetic_dataset, to_mri


@pytest.fixture(scope="module")
def targeted(tmp_path_factory):
    root = tmp_path_factory.mktemp("biopsy") / "bids"
    truth = synthetic_dataset(root)
    table = run_biopsy(root, dicom=False)
    record = json.loads(d.find(root, truth["ids"], d.BIOPSY_TARGET).read_text())
    return root, truth, table, record


def test_target_is_the_planted_peak_in_mri_coordinates(targeted):
    _, truth, _, record = targeted
    # The peak P of the map is 7 mm deep in the region: the rule keeps it (PET voxel 4 mm, so
    # the chosen voxel centre is within half a voxel diagonal of P).
    target_pet = apply_affine(truth["pet_affine"], np.asarray(record["target_voxel_pet"], float))
    assert np.linalg.norm(target_pet - truth["centre_pet"]) <= 0.5 * 4.0 * np.sqrt(3) + 1e-6
    np.testing.assert_allclose(record["target_ras_mm"], to_mri(truth, target_pet), atol=2e-3)
    np.testing.assert_allclose(record["target_lps_mm"],
                               ras_to_lps_points(np.asarray(record["target_ras_mm"])), atol=1e-9)
    voxel = np.rint(apply_affine(np.linalg.inv(truth["mri_affine"]),
                                 np.asarray(record["target_ras_mm"]))).astype(int)
    assert record["target_voxel_mri"] == voxel.tolist()
    assert record["edge_rule_met"] and record["radius_mm"] == 2.5
    assert set(record) >= {"target_ras_mm", "target_lps_mm", "target_voxel_mri",
                           "alternatives", "rule", "radius_mm", "provenance"}


def test_alternatives_land_on_the_suv_peak_and_the_earliest_hot_spot(targeted):
    _, truth, _, record = targeted
    alt = record["alternatives"]
    np.testing.assert_allclose(alt["ttp_hotspot"]["target_ras_mm"],
                               to_mri(truth, truth["hotspot_pet"]), atol=2e-3)
    assert alt["ttp_hotspot"]["TTP_min"] == 3.0
    suvmax_pet = to_mri(truth, truth["suvmax_pet"])
    assert np.linalg.norm(np.subtract(alt["suvmax"]["target_ras_mm"], suvmax_pet)) <= 3.5
    for point in alt.values():
        assert set(point) >= {"target_ras_mm", "target_lps_mm", "target_voxel_mri"}


def test_masks_on_the_mri_grid_and_the_table(targeted):
    from gliopet.io.nifti import load_nifti

    root, truth, table, record = targeted
    sphere = load_nifti(d.find(root, truth["ids"], d.BIOPSY_SPHERE))
    region = load_nifti(d.find(root, truth["ids"], d.BIOPSY_SUBREGION))
    assert np.allclose(sphere.affine, truth["mri_affine"])
    data = np.asarray(sphere.dataobj) > 0
    assert data[tuple(record["target_voxel_mri"])]
    assert record["sphere_in_subregion_fraction"] == 1.0
    # The region (a 7 mm ball) carried onto the 4 mm MRI grid keeps its volume within 35 %.
    volume = (np.asarray(region.dataobj) > 0).sum() * 64 / 1000
    assert volume == pytest.approx(truth["region_pet"].sum() * 64 / 1000, rel=0.35)
    assert list(table["participant_id"]) == ["sub-01"]
    assert table.loc[0, "target_x_ras_mm"] == record["target_ras_mm"][0]
    written = pd.read_csv(d.BIOPSY_TABLE.path(root), sep="\t")
    assert "nan" not in written.to_csv(sep="\t")


def test_no_tumour_gets_a_row_in_words_and_no_target_or_dicom(tmp_path):
    from gliopet.export.biopsy_stage import NO_TUMOUR_STATUS

    root = tmp_path / "bids"
    truth = synthetic_dataset(root)
    empty = np.zeros(truth["tumour_pet"].shape, np.uint8)
    write_image(d.TUMOUR_MASK.path(root, truth["ids"]), empty, truth["pet_affine"], np.uint8)
    table = run_biopsy(root)
    assert list(table["target_status"]) == [NO_TUMOUR_STATUS]
    assert table.loc[0, "target_x_ras_mm"] == "n/a"
    record = json.loads(d.find(root, truth["ids"], d.BIOPSY_TARGET).read_text())
    assert record["target_ras_mm"] is None and record["alternatives"] == {}
    assert d.find_or_none(root, truth["ids"], d.BIOPSY_SPHERE) is None
    assert not list(d.BIOPSY.root(root).rglob("*.dcm"))
    folder = d.BIOPSY.session_dir(root, truth["ids"])
    assert not d.BIOPSY_MAP_DICOM.in_dir(folder, truth["ids"]).exists()
    assert record["dicom"] == {"written": False, "reason": "no tumour: no SEG, RTSTRUCT, "
                                                           "parametric map or map series"}
    assert "nan" not in d.BIOPSY_TABLE.path(root).read_text()


def test_region_check_refuses_an_empty_tumour(tmp_path):
    from gliopet.signature.biopsy import check_target_region

    empty = np.zeros((6, 6, 6), bool)
    with pytest.raises(InputError, match="the session has no tumour"):
        check_target_region(empty, empty, np.eye(4), 2.5, tmp_path)


def test_static_pet_has_no_hotspot_alternative():
    from gliopet.export.biopsy_stage import MriGrid, PetInputs, alternatives

    tumour = np.zeros((6, 6, 6), bool)
    tumour[2:4, 2:4, 2:4] = True
    suv = np.where(tumour, 2.0, 1.0)
    suv[3, 2, 2] = 4.0
    pet = PetInputs(tumour, tumour, tumour * 1.0, suv, np.eye(4), None, [])
    mri = MriGrid(np.zeros((6, 6, 6), np.float32), np.eye(4), "T1w", None, np.eye(4), None)
    out = alternatives(pet, mri)
    assert out["suvmax"]["target_ras_mm"] == [3.0, 2.0, 2.0] and out["suvmax"]["SUV"] == 4.0
    assert out["ttp_hotspot"] == {"reason": "no dynamic hot spot (static PET, or none found by "
                                            "gliopet quantify)"}
