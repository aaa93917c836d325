"""`validate_dataset`, `check_pet_sidecar` (synthetic and the six real BIDS-PET sidecars), and the
`validate` / `info` verbs."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from gliopet.io.bids_read import read_json, read_tsv_rows
from gliopet.io.suv import suv_scaling
from gliopet.io.timing import FrameTiming
from gliopet.io.validate import boxes_overlap, check_pet_sidecar, count_non_finite, validate_dataset
from support.bids_factory import make_bids_dataset, pet_affine

END_TIMES_HINT = "the FrameDuration values look like frame end times"


def test_valid_dataset_is_usable(tmp_path):
    make_bids_dataset(tmp_path, n_subjects=2)
    report = validate_dataset(tmp_path)
    assert report.problems == [] and report.usable
    assert len(report.sessions) == 2
    assert report.verdict() == "usable: 0 error(s), 0 warning(s), 2 session(s)"


def test_static_single_frame_pet_is_usable(tmp_path):
    make_bids_dataset(tmp_path, n_frames=1)
    assert validate_dataset(tmp_path).problems == []


def test_check_pet_sidecar_required_fields_and_counts(tmp_path):
    ds = make_bids_dataset(tmp_path, n_frames=4)
    sidecar = dict(ds.sidecars["sub-01_ses-diagnosis"])
    assert check_pet_sidecar(sidecar, 4) == []
    del sidecar["TracerName"]
    found = check_pet_sidecar(sidecar, 5)
    assert ("error", "required field TracerName is missing (fix: add TracerName to the sidecar: "
                     "e.g. FDOPA or FET)") in found
    assert ("error", "the sidecar lists 4 frames but the image has 5 (fix: FrameTimesStart and "
                     "FrameDuration need one value per image frame; check that the sidecar belongs "
                     "to the image)") in found


def test_boxes_overlap():
    a = pet_affine((10, 10, 10), 2.0)                     # -10 .. +10 mm (voxel edges)
    # an 8 mm box centred at x = 13 mm spans 9..17 mm: overlaps; centred at 14 mm it only touches
    assert boxes_overlap(a, (10, 10, 10), pet_affine((8, 8, 8), 1.0, (13.0, 0, 0)), (8, 8, 8))
    assert not boxes_overlap(a, (10, 10, 10), pet_affine((8, 8, 8), 1.0, (14.0, 0, 0)), (8, 8, 8))
    flipped = a.copy()
    flipped[0, 0] = -2.0  # LAS grid covering the same box
    flipped[0, 3] = 9.0
    assert boxes_overlap(a, (10, 10, 10, 3), flipped, (10, 10, 10))


def test_count_non_finite(tmp_path):
    data = np.zeros((4, 4, 3, 2), np.float32)
    data[0, 0, 0, 1] = np.nan
    data[1, 1, 1, 0] = np.inf
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "a.nii.gz")
    assert count_non_finite(nib.load(tmp_path / "a.nii.gz")) == (2, 96)
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 3), np.int16), np.eye(4)), tmp_path / "b.nii.gz")
    assert count_non_finite(nib.load(tmp_path / "b.nii.gz")) == (0, 48)


def test_cli_validate_json_and_table(run_cli, tmp_path):
    make_bids_dataset(tmp_path, weight_kg=None)
    code, out, err = run_cli("validate", tmp_path, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["usable"] is True and report["n_sessions"] == 1
    assert report["problems"] == [
        {
            "level": "warning",
            "file": "sub-01/sub-01_sessions.tsv",
            "message": "no body weight for sub-01 ses-diagnosis: SUV cannot be computed, kinetic "
            "analysis still can (fix: add the weight in kg to the weight column of "
            "sub-<id>_sessions.tsv or participants.tsv)",
        }
    ]
    code, out, _ = run_cli("validate", tmp_path)
    assert code == 0
    assert "no body weight for sub-01 ses-diagnosis" in out
    assert out.strip().splitlines()[-1] == "usable: 0 error(s), 1 warning(s), 1 session(s)"


def test_cli_validate_missing_folder_is_one_line_error(run_cli, tmp_path):
    code, out, err = run_cli("validate", tmp_path / "nope")
    assert code == 2 and out == ""
    assert (
        err.strip()
        == f"error: {tmp_path / 'nope'}: not a folder (fix: give the root folder of a BIDS dataset)"
    )


def test_cli_info_dataset_and_pet(run_cli, tmp_path):
    ds = make_bids_dataset(tmp_path, n_subjects=2, n_frames=3)
    code, out, err = run_cli("info", tmp_path, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["subject"] for r in rows] == ["01", "02"]
    row = rows[0]
    assert row["n_frames"] == 3 and row["dose_MBq"] == pytest.approx(185.0)
    assert row["duration_min"] == pytest.approx(4.0)  # 60 + 60 + 120 s
    assert row["suv_factor"] == pytest.approx(70_000 / 185e6)
    assert (
        row["suv_path"]
        == "image decay-corrected to injection (ImageDecayCorrectionTime = InjectionStart = 0 s)"
    )
    assert row["anat"] == "T1w,ce-gadolinium_T1w" and row["label:grade"] == 2
    code, out, _ = run_cli("info", tmp_path)
    assert code == 0 and "siteA" in out and "Siemens Biograph Vision" in out
    code, out, _ = run_cli("info", ds.first_pet(), "--json")
    frames = json.loads(out)["frames"]
    assert frames[2] == {"frame": 2, "start_s": 120.0, "duration_s": 120.0, "mid_min": 3.0}
    code, out, _ = run_cli("info", ds.first_pet())
    assert code == 0 and "mid-time (min)" in out and "3.000" in out


def test_cli_info_bad_path(run_cli, tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    code, _, err = run_cli("info", tmp_path / "x.txt")
    assert code == 2
    assert "not a folder, a NIfTI image or a JSON sidecar" in err


# Real BIDS-PET sidecars (bids-standard/bids-examples pet001-pet006, CC0)

REAL = {
    # dataset: (usable, overlap frames with the end-times hint, implausible long frame)
    "pet001": (False, 43, False),
    "pet002": (True, 0, False),
    "pet003": (False, 19, False),  # the issue calls it usable; its FrameDuration are end times
    "pet004": (False, 43, False),
    "pet005": (True, 0, False),
    "pet006": (False, 0, True),
}


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_sidecars(real_data, name):
    usable, n_overlaps, long_frame = REAL[name]
    root = real_data / "bids-pet-sidecars" / name
    sidecars = sorted(root.glob("sub-*/**/pet/*_pet.json"))
    assert sidecars
    weights = read_tsv_rows(root / "participants.tsv", "participant_id")
    for path in sidecars:
        sidecar = read_json(path)
        found = check_pet_sidecar(sidecar, None)
        errors = [m for level, m in found if level == "error"]
        assert (not errors) == usable, (path, errors)
        if n_overlaps:
            overlap = [m for m in errors if "overlap the next frame" in m]
            assert len(overlap) == 1 and f"({n_overlaps} in all)" in overlap[0]
            assert END_TIMES_HINT in overlap[0]
        if long_frame:
            assert (
                "frame(s) 0 last 98000 s, more than the plausible maximum of 7200 s (fix: check "
                "that FrameDuration is in s, or raise io.max_frame_duration_s in the configuration)"
                in errors
            )
        # SUV scaling with the participants.tsv weight
        subject = path.name.split("_")[0]
        weight = weights[subject].get("weight")
        timing = FrameTiming.from_bids(sidecar["FrameTimesStart"], sidecar["FrameDuration"],
                                       sidecar["InjectionStart"])
        scaling = suv_scaling(sidecar, weight, timing)
        assert scaling.method == "corrected-to-injection"
        if name == "pet003":
            assert weight is None and scaling.factor is None
            assert "no SUV: missing body weight" in scaling.note
        else:
            dose_bq = float(sidecar["InjectedRadioactivity"]) * 1e6  # all six give MBq
            assert scaling.factor == pytest.approx(weight * 1000 / dose_bq, rel=1e-12)


@pytest.mark.realdata
def test_real_pet002_decay_factor_cross_check(real_data):
    # pet005's DecayCorrectionFactor matches the C11 frame-integrated factor (1.00284 for
    # 0-10 s: lambda dt = ln2 x 10 / 1223.4 = 0.0056657, / (1 - exp(-0.0056657)) = 1.002835);
    # pet002 (sub-01 rescan) lists 1.01886 for the same frame: a warning, still usable.
    ok = read_json(
        next((real_data / "bids-pet-sidecars/pet005").glob("sub-01/ses-baseline/pet/*_pet.json"))
    )
    assert check_pet_sidecar(ok, None) == []
    off = read_json(
        real_data / "bids-pet-sidecars/pet002/sub-01/ses-rescan/pet/sub-01_ses-rescan_pet.json"
    )
    found = check_pet_sidecar(off, None)
    assert [level for level, _ in found] == ["warning"]
    assert "(frame 0: given 1.01886, computed 1.00284)" in found[0][1]


@pytest.mark.realdata
def test_validate_real_sidecar_folder_reports_missing_images(real_data, tmp_path):
    # the real folders hold sidecars without images: validate says so for each session
    report = validate_dataset(real_data / "bids-pet-sidecars" / "pet005")
    assert not report.usable
    messages = {(p.file, p.message.split(" (fix")[0]) for p in report.errors}
    assert (
        "sub-01/ses-baseline/pet/sub-01_ses-baseline_pet.json",
        "PET sidecar without its image",
    ) in messages
    assert ("sub-01/ses-baseline", "session without PET: no *_pet.nii.gz in pet/") in messages


@pytest.mark.realdata
def test_validate_cli_reports_sidecar_timing_even_without_image(run_cli, real_data):
    code, out, _ = run_cli("validate", real_data / "bids-pet-sidecars" / "pet001", "--json")
    assert code == 2
    messages = [p["message"] for p in json.loads(out)["problems"]]
    assert any("look like frame end times" in m for m in messages)
    assert any(m.startswith("PET sidecar without its image") for m in messages)
