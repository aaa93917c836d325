"""Reading BIDS-PET datasets into Sessions: tables, timing, SUV, laziness, fatal errors."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from gliopet.errors import InputError
from gliopet.io.bids_read import read_dataset, read_session, read_tsv_rows
from gliopet.io.bids_write import write_participants, write_sessions
from support.bids_factory import DROP, make_bids_dataset


def test_reads_sessions_labels_weight_and_truth(tmp_path):
    ds = make_bids_dataset(tmp_path, n_subjects=2, n_frames=6)
    sessions = read_dataset(tmp_path)
    assert [s.key for s in sessions] == ["sub-01_ses-diagnosis", "sub-02_ses-diagnosis"]
    first = sessions[0]
    assert first.site == "siteA" and first.scanner == "Siemens Biograph Vision"
    assert first.weight_kg == 70.0
    assert first.labels == {"sex": "F", "weight": 70.0, "site": "siteA", "grade": 2}
    assert list(first.anat) == ["T1w", "ce-gadolinium_T1w"]
    assert first.mri_reference().suffix == "ce-gadolinium_T1w"
    pet = first.pet
    assert pet.tracer == "FDOPA" and pet.units == "Bq/mL" and pet.n_frames == 6
    np.testing.assert_allclose(pet.timing.start_s, ds.frame_start_s)
    np.testing.assert_allclose(pet.timing.duration_s, ds.frame_duration_s)
    assert pet.suv_factor == pytest.approx(ds.suv_factor["sub-01_ses-diagnosis"], rel=1e-12)
    # voxels to SUV: every voxel of frame f is activity[f] x factor (float32 tolerance)
    suv = pet.suv_frames()
    assert suv.shape == (12, 12, 10, 6)
    np.testing.assert_allclose(suv[3, 4, 5], ds.activity_bq_ml * 70_000 / 185e6, rtol=1e-6)


def test_session_weight_overrides_participants_weight(tmp_path):
    make_bids_dataset(tmp_path, weight_in="participants", weight_kg=80.0)
    assert read_dataset(tmp_path)[0].weight_kg == 80.0
    write_sessions(tmp_path, "01", pd.DataFrame([{"session_id": "ses-diagnosis", "weight": 65.5,
                                                  "sex": "X"}]))
    session = read_dataset(tmp_path)[0]
    assert session.weight_kg == 65.5
    assert session.labels["sex"] == "X"  # session labels take precedence
    assert session.pet.suv_factor == pytest.approx(65_500 / 185e6, rel=1e-12)


def test_missing_weight_gives_no_factor(tmp_path):
    make_bids_dataset(tmp_path, weight_kg=None)
    session = read_dataset(tmp_path)[0]
    assert session.weight_kg is None and session.pet.suv_factor is None
    assert "no SUV: missing body weight" in session.pet.suv_note
    with pytest.raises(InputError, match="SUV cannot be computed"):
        session.pet.suv_frames()


def test_injection_start_shifts_timing_to_injection(tmp_path):
    # TimeZero at scan start, injection 30 s before it: starts from injection are +30 s
    make_bids_dataset(tmp_path, n_frames=3, sidecar_overrides={"InjectionStart": -30,
                                                               "ImageDecayCorrectionTime": -30})
    timing = read_dataset(tmp_path)[0].pet.timing
    np.testing.assert_allclose(timing.start_s, [30.0, 90.0, 150.0])
    np.testing.assert_allclose(timing.mid_min, [1.0, 2.0, 3.5])


def test_dataset_without_sessions_and_participant_filter(tmp_path):
    make_bids_dataset(tmp_path, n_subjects=3, session=None)
    sessions = read_dataset(tmp_path, participant_label=["sub-02", "03"])
    assert [s.key for s in sessions] == ["sub-02", "sub-03"]
    assert (
        sessions[0].session == "" and sessions[0].weight_kg is None
    )  # weight was in sessions file
    assert read_session(tmp_path, "01", None).pet.path.name == "sub-01_trc-FDOPA_pet.nii.gz"
    with pytest.raises(InputError, match=r"participant\(s\) 09 not found in the dataset"):
        read_dataset(tmp_path, participant_label=["09"])


def test_read_session(tmp_path):
    make_bids_dataset(tmp_path, n_subjects=2)
    assert read_session(tmp_path, "sub-02", "ses-diagnosis").subject == "02"
    with pytest.raises(InputError, match="session recurrence of sub-02 not found"):
        read_session(tmp_path, "02", "recurrence")


def test_reading_is_lazy(tmp_path, monkeypatch):
    make_bids_dataset(tmp_path, n_subjects=3)

    def refuse(*args, **kwargs):
        raise AssertionError("read_dataset opened an image")

    monkeypatch.setattr(nib, "load", refuse)
    assert len(read_dataset(tmp_path)) == 3


def test_na_values_and_tsv_errors(tmp_path):
    table = tmp_path / "participants.tsv"
    table.write_text("participant_id\tweight\tgrade\nsub-01\tn/a\t3\nsub-02\t71.5\tn/a\n")
    assert read_tsv_rows(table, "participant_id") == {"sub-01": {"weight": None, "grade": 3},
                                                      "sub-02": {"weight": 71.5, "grade": None}}
    table.write_text("participant_id\tweight\nsub-01\t70\t3\n")
    with pytest.raises(InputError) as info:
        read_tsv_rows(table, "participant_id")
    assert info.value.problem == "line 2 has 3 cells, the header has 2"


def test_missing_description_is_fatal(tmp_path):
    make_bids_dataset(tmp_path, write_description=False)
    with pytest.raises(InputError) as info:
        read_dataset(tmp_path)
    assert info.value.one_line() == (
        f"{tmp_path / 'dataset_description.json'}: dataset_description.json is missing, so this is "
        "not a BIDS dataset (fix: add it with at least Name and BIDSVersion "
        "(see gliopet.io.bids_write.write_dataset_description))")


def test_invalid_sidecar_json_is_fatal(tmp_path):
    ds = make_bids_dataset(tmp_path)
    ds.sidecar_path().write_text('{"Units": "Bq/mL",}')
    with pytest.raises(InputError) as info:
        read_dataset(tmp_path)
    assert info.value.path == str(ds.sidecar_path())
    assert info.value.problem.startswith("not valid JSON (line 1, column 19")


def test_missing_timing_field_is_fatal(tmp_path):
    make_bids_dataset(tmp_path, sidecar_overrides={"FrameDuration": DROP})
    with pytest.raises(InputError, match="the frame timing cannot be built: FrameDuration missing"):
        read_dataset(tmp_path)


def test_participants_table_read(tmp_path):
    make_bids_dataset(tmp_path, n_subjects=2)
    write_participants(tmp_path, pd.DataFrame([{"participant_id": "sub-01", "idh": "mutant"},
                                               {"participant_id": "sub-02", "idh": "wildtype"}]))
    sessions = read_dataset(tmp_path)
    assert [s.labels["idh"] for s in sessions] == ["mutant", "wildtype"]
    assert json.loads((tmp_path / "dataset_description.json").read_text())["BIDSVersion"] == "1.9.0"
