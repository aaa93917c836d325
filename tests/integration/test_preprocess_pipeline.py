"""`gliopet preprocess` end to end on small synthetic BIDS datasets with known transforms."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from gliopet.preprocess import registration as reg
from gliopet.preprocess.grids import learning_reference
from gliopet.preprocess.qc import flag_cohort_outliers, qc_flags
from support.synthetic import (
    make_session,
    ras_matrix_to_sitk,
    rigid_matrix,
    write_bids_session,
)

pytestmark = pytest.mark.slow

DURATIONS = np.array([60.0, 60.0, 300.0, 600.0, 600.0])
STAGE = ("derivatives", "gliopet", "preprocess")


def _synth(seed: int):
    return make_session(mri_spacing_mm=4.0, pet_spacing_mm=4.0, durations_s=DURATIONS, seed=seed,
                        mri_position=rigid_matrix((3.0, -2.0, 6.0), (4.0, -3.0, 2.0)),
                        pet_position=rigid_matrix((-4.0, 3.0, -2.0), (-5.0, 6.0, 3.0)),
                        frame_motion={3: rigid_matrix((1.5, 0.0, -1.0), (1.0, 1.0, 0.0))})


@pytest.fixture(scope="module")
def dataset(run_cli, tmp_path_factory):
    """sub-01: T1w + FLAIR + PET; sub-02: no FLAIR and a PET of pure noise (failed registration)."""
    root = tmp_path_factory.mktemp("bids")
    good = _synth(1)
    write_bids_session(root, "01", "diagnosis", good)
    noisy = _synth(2)
    noisy.pet_frames[:] = np.random.default_rng(0).random(noisy.pet_frames.shape, dtype=np.float32)
    write_bids_session(root, "02", "diagnosis", noisy, flair=False)
    code, out, err = run_cli("preprocess", root, "--jobs", "2")
    return {"root": root, "truth": good, "code": code, "out": out, "err": err}


def session_dir(root, sub):
    return root.joinpath(*STAGE, f"sub-{sub}", "ses-diagnosis")


def test_outputs_and_accuracy(dataset):
    assert dataset["code"] == 0, dataset["err"]
    out = session_dir(dataset["root"], "01")
    prefix = "sub-01_ses-diagnosis_"
    for name in (
        "from-pet_to-T1w_mode-image_xfm.txt",
        "from-T1w_to-MNI152NLin2009aSym_mode-image_xfm.txt",
        "from-FLAIR_to-T1w_mode-image_xfm.txt",
        "space-pet_desc-brain_mask.nii.gz",
        "space-pet_desc-striatum_mask.nii.gz",
        "space-pet_desc-healthy_mask.nii.gz",
        "space-pet_desc-lefthemisphere_mask.nii.gz",
        "space-pet_desc-righthemisphere_mask.nii.gz",
        "space-pet_desc-preproc_T1w.nii.gz",
        "space-pet_desc-preproc_FLAIR.nii.gz",
        "trc-FDOPA_desc-motion_timeseries.tsv",
        "trc-FDOPA_desc-mc_pet.nii.gz",
        "trc-FDOPA_desc-static_pet.nii.gz",
        "desc-preproc_qc.png",
        "trc-FDOPA_space-MNI152NLin2009aSym_res-2_desc-learning_pet.nii.gz",
        "space-MNI152NLin2009aSym_res-2_desc-learning_T1w.nii.gz",
    ):
        assert (out / (prefix + name)).is_file(), name
    assert (out / "provenance.json").is_file()
    assert (out / (prefix + "desc-preproc_qc.png")).read_bytes()[:4] == b"\x89PNG"
    truth = dataset["truth"]
    points = reg.mask_points(truth.brain_mri, truth.mri_affine)
    est = reg.read_transform(out / (prefix + "from-pet_to-T1w_mode-image_xfm.txt"))
    assert reg.mean_displacement_mm(est, ras_matrix_to_sitk(truth.true_pet_to_t1_ras), points) < 1.5
    sidecar = json.loads((out / (prefix + "from-pet_to-T1w_mode-image_xfm.json")).read_text())
    assert sidecar["From"].startswith("pet") and sidecar["To"].startswith("T1w")
    brain = nib.load(out / (prefix + "space-pet_desc-brain_mask.nii.gz"))
    assert brain.shape == truth.pet_frames.shape[:3]
    np.testing.assert_allclose(brain.affine, truth.pet_affine, atol=1e-4)
    static = nib.load(out / (prefix + "trc-FDOPA_desc-static_pet.nii.gz"))
    expected_static = (truth.pet_frames[..., 3:] * DURATIONS[3:]).sum(-1) / DURATIONS[3:].sum()
    inside = np.asarray(brain.dataobj) > 0
    # SUV: the synthetic frames are SUV; the motion-corrected static matches within noise/blur.
    assert np.median(
        np.asarray(static.dataobj)[inside] / np.maximum(expected_static[inside], 1e-3)
    ) == pytest.approx(1.0, abs=0.05)
    learn = nib.load(out / (prefix + "space-MNI152NLin2009aSym_res-2_desc-learning_T1w.nii.gz"))
    assert learn.shape == learning_reference(4.0).GetSize()
    z = np.asarray(learn.dataobj)
    assert abs(z[z != 0].mean()) < 0.05 and z[z != 0].std() == pytest.approx(1.0, abs=0.05)


def test_qc_table_flags_failure_and_missing_sequence(dataset):
    table = pd.read_csv(
        dataset["root"].joinpath(*STAGE, "qc.tsv"),
        sep="\t",
        dtype={"subject": str},
        keep_default_na=False,
    )
    rows = table.set_index("subject")
    assert rows.loc["01", "status"] == "ok" and rows.loc["01", "flags"] == ""
    assert rows.loc["01", "pet_mri_nmi"] > rows.loc["01", "pet_mri_nmi_initial"]
    assert 1500 < float(rows.loc["01", "brain_ml"]) < 2200
    assert "pet_mri_nmi_low" in rows.loc["02", "flags"]
    assert "FLAIR" in rows.loc["02", "missing_sequences"]
    assert "flagged: sub-02 ses-diagnosis: pet_mri_nmi_low" in dataset["out"]


def test_rerun_is_skipped_unless_forced(run_cli, dataset):
    root = dataset["root"]
    xfm = session_dir(root, "01") / "sub-01_ses-diagnosis_from-pet_to-T1w_mode-image_xfm.txt"
    before, stamp = xfm.read_text(), xfm.stat().st_mtime_ns
    code, _, err = run_cli("preprocess", root, "--participant-label", "01")
    assert code == 0, err
    assert xfm.stat().st_mtime_ns == stamp  # nothing recomputed
    code, _, err = run_cli(
        "preprocess", root, "--participant-label", "01", "--force", "--jobs", "2"
    )
    assert code == 0, err
    assert xfm.stat().st_mtime_ns != stamp
    assert xfm.read_text() == before  # same seed and thread count: same transform


def test_pet_outside_the_mri_is_a_clear_error(run_cli, tmp_path):
    """1 m apart: the dataset checks (those of gliopet validate) refuse it before any work;
    170 mm apart (18% overlap): preprocessing's own overlap rule (20% needed)."""
    synth = _synth(3)
    synth.pet_affine = synth.pet_affine.copy()
    synth.pet_affine[:3, 3] += 1000.0
    write_bids_session(tmp_path, "03", "diagnosis", synth)
    code, _, err = run_cli("preprocess", tmp_path)
    assert code == 2
    flair = tmp_path / "sub-03" / "ses-diagnosis" / "anat" / "sub-03_ses-diagnosis_FLAIR.nii.gz"
    assert err.strip() == (
        f"error: {flair}: the FLAIR image and the PET image do not overlap in physical space "
        "(their world bounding boxes are disjoint) (fix: check the affines (qform/sform) of both "
        "images; re-convert them from DICOM; this is the first of 2 errors: gliopet validate "
        f"{tmp_path} lists them all)"
    )
    assert not (tmp_path / "derivatives").exists()  # refused before any work

    synth.pet_affine[:3, 3] -= 1000.0
    synth.pet_affine[0, 3] += 170.0
    write_bids_session(tmp_path, "03", "diagnosis", synth)
    code, _, err = run_cli("preprocess", tmp_path)
    assert code == 2
    pet = (
        tmp_path / "sub-03" / "ses-diagnosis" / "pet" / "sub-03_ses-diagnosis_trc-FDOPA_pet.nii.gz"
    )
    assert err.strip() == (
        f"error: {pet}: the PET field of view does not overlap the T1w MRI (18% of the smaller "
        "image, 20% needed) (fix: check the PET and MRI headers (origin, orientation): both must "
        "place the head in the same scanner coordinates)"
    )
    assert not session_dir(tmp_path, "03").exists()  # nothing half-written
    assert not list(tmp_path.joinpath(*STAGE).glob("sub-03*/.*partial"))


def test_unknown_participant_is_refused(run_cli, dataset):
    code, _, err = run_cli("preprocess", dataset["root"], "--participant-label", "99")
    assert code == 2 and "99" in err


def test_qc_flag_rules():
    ok = {
        "pet_mri_nmi_initial": 1.03,
        "pet_mri_nmi": 1.10,
        "template_nmi": 1.2,
        "max_motion_mm": 0.5,
        "brain_ml": 1500.0,
        "striatum_ml": 15.0,
        "healthy_ml": 1200.0,
    }
    assert qc_flags(ok) == []
    assert qc_flags({**ok, "pet_mri_nmi": 1.01}) == ["pet_mri_nmi_low"]
    assert qc_flags({**ok, "pet_mri_nmi": 1.029}) == ["pet_mri_nmi_low"]  # worse than before
    assert qc_flags({**ok, "max_motion_mm": 3.0, "brain_ml": 600.0}) == [
        "motion_high",
        "brain_volume",
    ]
    table = pd.DataFrame([{**ok, "flags": ""} for _ in range(6)])
    table.loc[:, "brain_ml"] = [1500, 1510, 1490, 1505, 1495, 3000]
    flagged = flag_cohort_outliers(table)
    assert flagged["flags"].tolist() == [""] * 5 + ["cohort_outlier:brain_ml"]


def test_dask_scheduler_runs_sessions(run_cli, tmp_path):
    distributed = pytest.importorskip("distributed")
    synth = _synth(4)
    write_bids_session(tmp_path, "04", "diagnosis", synth, flair=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
        code, _, err = run_cli(
            "preprocess", tmp_path, "--dask-scheduler", cluster.scheduler_address
        )
    assert code == 0, err
    assert (session_dir(tmp_path, "04") / "provenance.json").is_file()


def test_dask_scheduler_unreachable_or_missing(run_cli, tmp_path):
    synth = _synth(5)
    write_bids_session(tmp_path, "05", "diagnosis", synth, flair=False)
    code, _, err = run_cli("preprocess", tmp_path, "--dask-scheduler", "tcp://127.0.0.1:9")
    assert code == 2
    assert ("needs the Dask 'distributed' package" in err) or (
        "cannot connect to the Dask scheduler" in err
    )


def test_motion_correction_can_be_switched_off(run_cli, tmp_path):
    """preprocess.motion_correction: false (frames already corrected): no desc-mc image, the QC row
    says so, and the rest of preprocessing still runs."""
    synth = _synth(6)
    write_bids_session(tmp_path, "06", "diagnosis", synth, flair=False)
    config = tmp_path / "nomc.yaml"
    config.write_text("preprocess:\n  motion_correction: false\n")
    code, _, err = run_cli("preprocess", tmp_path, "--config", config)
    assert code == 0, err
    out = session_dir(tmp_path, "06")
    assert not list(out.glob("*_desc-mc_pet.nii.gz"))
    assert not list(out.glob("*_desc-motion_timeseries.tsv"))
    qc = json.loads(next(out.glob("*_desc-preproc_qc.json")).read_text())
    assert qc["motion_correction"] is False and qc["max_motion_mm"] is None
    assert list(out.glob("*_space-pet_desc-brain_mask.nii.gz"))
