"""`gliopet simulate`: a tiny run, refusal to overwrite, bad parameters caught before writing."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

BASE = [
    "--subjects",
    "1",
    "--seed",
    "3",
    "--profile",
    "tiny",
    "--sites",
    "siteC",
    "--scenario",
    "diagnosis",
]


def _nothing_written(out):
    return not out.exists() and not list(out.parent.glob(f".{out.name}*"))


def test_simulate_writes_a_bids_dataset_with_truth(run_cli, tmp_path):
    out = tmp_path / "cohort"
    code, stdout, stderr = run_cli("simulate", str(out), *BASE)
    assert code == 0, stderr
    assert f"wrote 1 session(s) of 1 subject(s) (siteC 1) to {out}" in stdout
    pet = out / "sub-001" / "ses-diagnosis" / "pet" / "sub-001_ses-diagnosis_trc-FDOPA_pet.nii.gz"
    assert pet.is_file()
    sessions = pd.read_csv(
        out / "sub-001" / "sub-001_sessions.tsv", sep="\t", keep_default_na=False
    )
    assert sessions.loc[0, "site"] == "siteC"
    provenance = json.loads((out / "derivatives" / "phantom-truth" / "provenance.json").read_text())
    assert provenance["command"] == "gliopet simulate" and provenance["config"]["seed"] == 3
    assert json.loads((out / "dataset_description.json").read_text())["BIDSVersion"]


def test_non_empty_out_dir_is_refused_without_overwrite(run_cli, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    code, _, stderr = run_cli("simulate", str(out), *BASE)
    assert code == 2
    assert stderr.strip() == (f"error: {out}: output folder exists and is not empty "
                              "(fix: give a new folder, or add --overwrite to replace it)")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert not list(tmp_path.glob(".taken*"))
    code, _, stderr = run_cli("simulate", str(out), *BASE, "--overwrite")
    assert code == 0, stderr
    assert not (out / "keep.txt").exists() and (out / "participants.tsv").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--subjects", "0"],
            "the 'subjects' parameter must be a whole number of subjects >= 1; got 0 instead "
            "(fix: give --subjects 1 or more)",
        ),
        (
            ["--subjects", "-3"],
            "the 'subjects' parameter must be a whole number of subjects >= 1; got -3 instead "
            "(fix: give --subjects 1 or more)",
        ),
        (
            ["--sites", "siteA,siteX"],
            "--sites: unknown site 'siteX'; valid sites are siteA, siteB, siteC, heldout "
            "(fix: use one or more of siteA, siteB, siteC, heldout)",
        ),
        (
            ["--psf-fwhm", "0"],
            "the 'psf-fwhm' parameter must be a PSF FWHM in mm, > 0 and <= 12; got 0.0 instead "
            "(fix: give the scanner resolution, e.g. --psf-fwhm 5)",
        ),
        (
            ["--pet-voxel", "-2"],
            "the 'pet-voxel' parameter must be a PET voxel size in mm between 0.5 and 6; "
            "got -2.0 instead (fix: give e.g. --pet-voxel 2)",
        ),
        (
            ["--aggressive-fraction", "1.5"],
            "the 'aggressive-fraction' parameter must be a fraction between 0 and 1; "
            "got 1.5 instead",
        ),
        (
            ["--scenario", "screening"],
            "the 'scenario' parameter must be one of diagnosis, recurrence, both, "
            "healthy; got 'screening' instead",
        ),
        (
            ["--profile", "huge"],
            "the 'profile' parameter must be one of tiny, standard; got 'huge' instead",
        ),
        (["--seed", "-1"], "the 'seed' parameter must be a whole number >= 0; got -1 instead"),
        (
            ["--jobs", "0"],
            "the 'jobs' parameter must be a whole number of parallel workers >= 1; got 0 instead",
        ),
        (
            ["--kinetics", "two-tissue"],
            "the 'kinetics' parameter must be one of fdopa, one-tissue; got 'two-tissue' instead",
        ),
    ],
)
def test_impossible_parameters_fail_before_anything_is_written(run_cli, tmp_path, args, message):
    out = tmp_path / "never"
    code, stdout, stderr = run_cli(
        "simulate", str(out), "--subjects", "2", "--profile", "tiny", *args
    )
    assert code == 2
    assert stderr.strip() == f"error: {message}"
    assert _nothing_written(out)


def test_dicom_option_writes_series_that_import_dicom_reads_back(run_cli, tmp_path):
    import pydicom

    out = tmp_path / "withdicom"
    code, _, stderr = run_cli("simulate", str(out), *BASE, "--dicom")
    assert code == 0, stderr
    base = out / "sourcedata" / "dicom" / "sub-001" / "ses-diagnosis"
    pet_files = sorted((base / "pet").glob("*.dcm"))
    sidecar = json.loads((out / "sub-001" / "ses-diagnosis" / "pet"
                          / "sub-001_ses-diagnosis_trc-FDOPA_pet.json").read_text())
    shape = nib.load(
        out / "sub-001" / "ses-diagnosis" / "pet" / "sub-001_ses-diagnosis_trc-FDOPA_pet.nii.gz"
    ).shape
    assert len(pet_files) == shape[2] * shape[3]
    ds = pydicom.dcmread(pet_files[0])
    sessions = pd.read_csv(
        out / "sub-001" / "sub-001_sessions.tsv", sep="\t", keep_default_na=False
    )
    assert float(ds.PatientWeight) == pytest.approx(float(sessions.loc[0, "weight"]), abs=0.01)
    dose = float(ds.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose)
    assert dose == pytest.approx(sidecar["InjectedRadioactivity"] * 1e6, rel=1e-4)
    assert ds.Units == "BQML" and int(ds.NumberOfTimeSlices) == shape[3]
    mr_series = sorted(p.name for p in base.iterdir() if p.name != "pet")
    assert len(mr_series) == 4
    # end to end: import-dicom reads the series back to the same PET (values, geometry, timing)
    imported = tmp_path / "imported"
    code, _, stderr = run_cli(
        "import-dicom", str(base), str(imported), "--id-map", str(tmp_path / "ids.json")
    )
    assert code == 0, stderr
    (pet_path,) = imported.glob("sub-*/ses-*/pet/*_pet.nii.gz")
    original = nib.load(
        out / "sub-001" / "ses-diagnosis" / "pet" / "sub-001_ses-diagnosis_trc-FDOPA_pet.nii.gz"
    )
    again = nib.load(pet_path)
    assert np.allclose(again.affine, original.affine, atol=1e-3)
    data, reference = again.get_fdata(), original.get_fdata()
    assert np.abs(data - reference).max() <= 1e-4 * np.abs(reference).max()
    imported_sidecar = json.loads(
        pet_path.with_name(pet_path.name.replace(".nii.gz", ".json")).read_text()
    )
    assert imported_sidecar["FrameDuration"] == pytest.approx(sidecar["FrameDuration"])
