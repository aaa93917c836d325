"""Bad-input corpus: broken BIDS-PET datasets through `gliopet validate`.

Each case breaks a tiny valid dataset in one way and asserts the exit status, the exact problem
(level, file, message with its fix) in the JSON report and in the table, and that validate wrote
nothing into the dataset (listing, sizes and mtimes unchanged).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from support.bids_factory import DROP, make_affine_degenerate, make_bids_dataset, snapshot, truncate

PET = "sub-01/ses-diagnosis/pet/sub-01_ses-diagnosis_trc-FDOPA_pet.nii.gz"
SIDECAR = "sub-01/ses-diagnosis/pet/sub-01_ses-diagnosis_trc-FDOPA_pet.json"
T1W = "sub-01/ses-diagnosis/anat/sub-01_ses-diagnosis_T1w.nii.gz"
SESSIONS = "sub-01/sub-01_sessions.tsv"
STARTS = [0.0, 60.0, 120.0, 240.0, 360.0, 660.0]  # the factory's 6-frame schedule (s)


def _with(**overrides):
    return lambda root: make_bids_dataset(root, sidecar_overrides=overrides)


def _then(action, **kwargs):
    def build(root: Path) -> None:
        action(root, make_bids_dataset(root, **kwargs))
    return build


def _nan_voxels(data: np.ndarray) -> np.ndarray:
    data = data.copy()
    data[0, 0, 0, :] = np.nan  # 6 voxels
    data[1, 1, 1, 2] = np.inf  # 1 voxel
    return data


def _remove_pet(root: Path, ds) -> None:
    ds.first_pet().unlink()
    ds.sidecar_path().unlink()


CASES = {
    "truncated_nifti": (
        _then(lambda root, ds: truncate(ds.first_pet(), 0.5)),
        2,
        # 352-byte header + 12 x 12 x 10 x 6 float32 = 352 + 34560 = 34912; half = 17456
        (
            "error",
            PET,
            "truncated: 17456 bytes of image data where the header needs 34912 "
            "(fix: copy or export the file again)",
        ),
    ),
    "truncated_gzip_stream": (
        _then(lambda root, ds: truncate(ds.first_pet(), 0.5, cut_compressed=True)),
        2,
        (
            "error",
            PET,
            "truncated or corrupt compressed file (Compressed file ended before the "
            "end-of-stream marker was reached) (fix: copy or export the file again)",
        ),
    ),
    "truncated_mri": (
        _then(lambda root, ds: truncate(ds.anat["sub-01_ses-diagnosis"]["T1w"], 0.5)),
        2,
        # 352 + 16 x 16 x 12 x 4 = 12640 bytes; half = 6320
        (
            "error",
            T1W,
            "truncated: 6320 bytes of image data where the header needs 12640 "
            "(fix: copy or export the file again)",
        ),
    ),
    "missing_frame_duration": (
        _with(FrameDuration=DROP),
        2,
        (
            "error",
            SIDECAR,
            "required field FrameDuration is missing (fix: add FrameDuration to the "
            "sidecar: length of each frame in s)",
        ),
    ),
    "frame_count_mismatch": (
        _with(FrameTimesStart=STARTS[:5], FrameDuration=[60, 60, 120, 120, 300]),
        2,
        (
            "error",
            SIDECAR,
            "the sidecar lists 5 frames but the image has 6 (fix: FrameTimesStart and "
            "FrameDuration need one value per image frame; check that the sidecar "
            "belongs to the image)",
        ),
    ),
    "zero_dose": (
        _with(InjectedRadioactivity=0),
        2,
        (
            "error",
            SIDECAR,
            "InjectedRadioactivity is 0 MBq: the injected activity must be positive "
            "(fix: enter the activity measured at injection)",
        ),
    ),
    "implausible_dose": (
        _with(InjectedRadioactivity=5000),
        2,
        (
            "error",
            SIDECAR,
            "injected activity 5000 MBq is outside the plausible range 10-1000 MBq (fix: "
            "check InjectedRadioactivity and its units, or set "
            "io.injected_activity_MBq_range in the configuration)",
        ),
    ),
    "negative_duration": (
        _with(FrameDuration=[60, -60, 120, 120, 300, 300]),
        2,
        (
            "error",
            SIDECAR,
            "FrameDuration is zero or negative for frame(s) 1 (fix: each FrameDuration "
            "must be the frame's length in s, greater than 0)",
        ),
    ),
    "nan_voxels": (
        lambda root: make_bids_dataset(root, pet_data=_nan_voxels),
        2,
        # 12 x 12 x 10 x 6 = 8640 voxels, 6 NaN + 1 inf
        (
            "error",
            PET,
            "7 of 8640 voxels are not finite (NaN or inf) (fix: re-export the image; "
            "replace NaN outside the field of view by 0)",
        ),
    ),
    "degenerate_affine": (
        _then(lambda root, ds: make_affine_degenerate(ds.first_pet())),
        2,
        (
            "error",
            PET,
            "degenerate affine (voxel-to-world matrix not invertible: zero voxel size or "
            "missing orientation) (fix: fix the qform/sform of the image (e.g. re-convert "
            "from DICOM))",
        ),
    ),
    "missing_dataset_description": (
        lambda root: make_bids_dataset(root, write_description=False),
        2,
        (
            "error",
            "dataset_description.json",
            "dataset_description.json is missing, so this is not a "
            "BIDS dataset (fix: add it with at least Name and "
            "BIDSVersion (see gliopet.io.bids_write."
            "write_dataset_description))",
        ),
    ),
    "pet_without_units": (
        _with(Units=DROP),
        2,
        (
            "error",
            SIDECAR,
            "required field Units is missing (fix: add Units to the sidecar: unit of the "
            "voxel values, e.g. Bq/mL)",
        ),
    ),
    "units_counts": (
        _with(Units="counts"),
        2,
        (
            "error",
            SIDECAR,
            "Units 'counts' not convertible to SUV (fix: the image must hold activity "
            "concentration in Bq/mL, kBq/mL or MBq/mL; re-export it in Bq/mL)",
        ),
    ),
    "implausible_weight": (
        lambda root: make_bids_dataset(root, weight_kg=700.0),
        2,
        (
            "error",
            SESSIONS,
            "body weight 700 kg of sub-01 ses-diagnosis is outside the plausible range "
            "20-250 kg (fix: check the weight column is in kg, or set "
            "io.weight_kg_range in the configuration)",
        ),
    ),
    "overlapping_frames": (
        _with(FrameDuration=[90, 90, 150, 150, 330, 300]),
        2,
        (
            "error",
            SIDECAR,
            "frame(s) 0, 1, 2, 3, 4 overlap the next frame (start + FrameDuration > next "
            "FrameTimesStart) (fix: check FrameTimesStart and FrameDuration (s); frames "
            "must not overlap)",
        ),
    ),
    "frame_end_times_as_durations": (
        _with(FrameDuration=[60, 120, 240, 360, 660, 960]),
        2,
        (
            "error",
            SIDECAR,
            "frame(s) 1, 2, 3, 4 overlap the next frame (start + FrameDuration > next "
            "FrameTimesStart); the FrameDuration values look like frame end times: "
            "FrameDuration must be each frame's length (end - start) in s (fix: subtract "
            "FrameTimesStart from these end times to get the durations)",
        ),
    ),
    "non_increasing_starts": (
        _with(FrameTimesStart=[0, 120, 60, 240, 360, 660]),
        2,
        (
            "error",
            SIDECAR,
            "FrameTimesStart is not increasing at frame(s) 2 (fix: list the frames in "
            "acquisition order with increasing FrameTimesStart)",
        ),
    ),
    "implausible_long_frame": (
        _with(FrameTimesStart=[0], FrameDuration=[98000]),
        2,
        (
            "error",
            SIDECAR,
            "frame(s) 0 last 98000 s, more than the plausible maximum of 7200 s (fix: "
            "check that FrameDuration is in s, or raise io.max_frame_duration_s in the "
            "configuration)",
        ),
    ),
    "pet_and_mri_do_not_overlap": (
        lambda root: make_bids_dataset(root, anat_offset_mm=(500.0, 0.0, 0.0)),
        2,
        (
            "error",
            T1W,
            "the T1w image and the PET image do not overlap in physical space (their world "
            "bounding boxes are disjoint) (fix: check the affines (qform/sform) of both "
            "images; re-convert them from DICOM)",
        ),
    ),
    "sidecar_not_valid_json": (
        _then(lambda root, ds: ds.sidecar_path().write_text('{"Units": "Bq/mL",}')),
        2,
        (
            "error",
            SIDECAR,
            "not valid JSON (line 1, column 19: Expecting property name enclosed in "
            "double quotes) (fix: correct the JSON syntax (quotes, commas, brackets))",
        ),
    ),
    "missing_sidecar": (
        _then(lambda root, ds: ds.sidecar_path().unlink()),
        2,
        ("error", SIDECAR, "file not found (fix: add the JSON sidecar next to the image)"),
    ),
    "decay_corrected_as_string": (
        _with(ImageDecayCorrected="true"),
        2,
        (
            "error",
            SIDECAR,
            "ImageDecayCorrected is 'true', not true or false (fix: write a JSON "
            "boolean, true or false, without quotes)",
        ),
    ),
    "session_without_pet": (  # and without MRI: nothing to process
        _then(_remove_pet, anat=()),
        2,
        (
            "error",
            "sub-01/ses-diagnosis",
            "session without PET: no *_pet.nii.gz in pet/ (fix: add the "
            "PET image and its JSON sidecar, or remove the session)",
        ),
    ),
    # an MRI-only session (e.g. from import-brats) is usable: a warning
    "mri_only_session": (
        _then(_remove_pet),
        0,
        (
            "warning",
            "sub-01/ses-diagnosis",
            "MRI-only session: no *_pet.nii.gz in pet/ (preprocessing takes its MRI to the "
            "learning grid; quantification skips it) (fix: add the PET image and its JSON "
            "sidecar if one was acquired)",
        ),
    ),
    # warnings only: still usable
    "weight_missing": (
        lambda root: make_bids_dataset(root, weight_kg=None),
        0,
        (
            "warning",
            SESSIONS,
            "no body weight for sub-01 ses-diagnosis: SUV cannot be computed, kinetic "
            "analysis still can (fix: add the weight in kg to the weight column of "
            "sub-<id>_sessions.tsv or participants.tsv)",
        ),
    ),
    "participants_missing": (
        lambda root: make_bids_dataset(root, write_participants_table=False),
        0,
        (
            "warning",
            "participants.tsv",
            "participants.tsv is missing: no subject-level labels or body "
            "weight (fix: add participants.tsv with participant_id, weight "
            "(kg) and the label columns)",
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(run_cli, tmp_path, case):
    build, expected_code, expected = CASES[case]
    root = tmp_path / "bids"
    build(root)
    before = snapshot(root)

    code, out, err = run_cli("validate", root, "--json")
    assert code == expected_code, (out, err)
    problems = [(p["level"], p["file"], p["message"]) for p in json.loads(out)["problems"]]
    assert expected in problems, problems
    if expected_code == 0:
        assert all(level == "warning" for level, _, _ in problems)

    code, out, _ = run_cli("validate", root)
    assert code == expected_code
    assert expected[2] in out and expected[1] in out
    verdict = out.strip().splitlines()[-1]
    assert verdict.startswith("usable: 0 error(s)" if expected_code == 0 else "NOT usable: ")

    assert snapshot(root) == before  # validate wrote nothing


def test_corpus_size():
    assert len(CASES) >= 16


def test_bad_dataset_leaves_no_temporary_files(run_cli, tmp_path):
    root = tmp_path / "bids"
    ds = make_bids_dataset(root)
    truncate(ds.first_pet())
    run_cli("validate", root)
    run_cli("info", root)
    leftovers = [p for p in root.rglob("*") if p.name.startswith(".")]
    assert leftovers == []
    shutil.rmtree(root)
