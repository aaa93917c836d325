"""`import-dicom` on the one real PET DICOM series (IBSI STS_001: FDG, GML units, ADMIN decay
correction, 59 slices and an RTSTRUCT). Skips when ../shared/data/real is absent."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pydicom
import pytest


@pytest.fixture
def imported(run_cli, real_data, tmp_path):
    src = real_data / "ibsi-sts-001-pet-dicom"
    bids = tmp_path / "bids"
    code, out, err = run_cli("import-dicom", src, bids, "--id-map", tmp_path / "ids.json")
    assert code == 0, err
    return src, bids, out


def _slices(src):
    headers = []
    for path in sorted((src / "dicom").glob("*.dcm")):
        ds = pydicom.dcmread(path)
        if ds.Modality == "PT":
            headers.append(ds)
    return headers


def test_real_pet_imports_with_rtstruct_skipped(run_cli, imported):
    src, bids, out = imported
    lines = out.splitlines()
    assert "  #1      RTSTRUCT  1      RTSTRUCT: not an image" in lines
    assert "IBSI_1_STS_001" not in out  # descriptions only with --verbose
    assert (
        "  sub-001/ses-01/pet/sub-001_ses-01_trc-FDG_pet.nii.gz  (pet, 59 files, shape 41x43x59)"
        in lines
    )
    code, vout, verr = run_cli("validate", bids)
    assert code == 0, vout + verr


def test_real_pet_geometry_suv_and_weight(imported):
    src, bids, _ = imported
    headers = _slices(src)
    assert len(headers) == 59
    nifti = bids / "sub-001/ses-01/pet/sub-001_ses-01_trc-FDG_pet.nii.gz"
    img = nib.load(nifti)
    sidecar = json.loads(nifti.with_name("sub-001_ses-01_trc-FDG_pet.json").read_text())
    assert img.shape == (41, 43, 59)
    np.testing.assert_allclose(img.header.get_zooms()[:3], (4.6875, 4.6875, 3.27), atol=1e-3)

    # Geometry: every voxel centre of slice k maps to that slice's ImagePositionPatient
    # (LPS -> RAS).
    positions = np.array([[float(v) for v in h.ImagePositionPatient] for h in headers])
    order = np.argsort(positions[:, 2])
    first_voxel_ras = img.affine @ np.array([0.0, 0.0, np.arange(59)[0], 1.0])
    np.testing.assert_allclose(first_voxel_ras[:3], positions[order[0]] * [-1, -1, 1], atol=1e-3)
    last = img.affine @ np.array([0.0, 0.0, 58.0, 1.0])
    np.testing.assert_allclose(last[:3], positions[order[-1]] * [-1, -1, 1], atol=1e-3)

    # SUV of the output (decay-corrected to injection: ADMIN) equals the stored GML values.
    weight = float(headers[0].PatientWeight)
    dose = float(headers[0].RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose)
    assert sidecar["ImageDecayCorrected"] is True and sidecar["ImageDecayCorrectionTime"] == 0.0
    assert sidecar["InjectedRadioactivity"] == pytest.approx(dose / 1e6)
    assert sidecar["DICOMUnits"] == "GML" and sidecar["Units"] == "Bq/mL"
    suv = np.asarray(img.dataobj, dtype=float) * weight * 1000.0 / dose
    gml = np.stack([h.pixel_array * float(h.RescaleSlope) + float(h.RescaleIntercept)
                    for h in (headers[i] for i in order)])  # (z, rows, cols)
    gml = np.transpose(gml, (2, 1, 0))
    assert gml.max() > 1.0
    np.testing.assert_allclose(suv, gml, rtol=1e-3, atol=1e-6)

    header, row = (bids / "sub-001" / "sub-001_sessions.tsv").read_text().splitlines()
    assert header == "session_id\tweight" and row.split("\t")[0] == "ses-01"
    assert float(row.split("\t")[1]) == weight == 71.0
    # Scan 45 min 11 s after the 10:35 injection, one 240 s frame.
    assert sidecar["TimeZero"] == "10:35:00"
    assert sidecar["FrameTimesStart"] == pytest.approx([2711.0]) and sidecar[
        "FrameDuration"
    ] == pytest.approx([240.0])


def test_real_pet_suv_via_reader(imported):
    """The BIDS reader's SUV equals the stored GML values (1e-3 relative)."""
    from gliopet.io.bids_read import read_dataset

    src, bids, _ = imported
    (session,) = read_dataset(bids)
    headers = _slices(src)
    order = np.argsort([float(h.ImagePositionPatient[2]) for h in headers])
    gml = np.transpose(
        np.stack([headers[i].pixel_array * float(headers[i].RescaleSlope) for i in order]),
        (2, 1, 0),
    )
    canonical = nib.as_closest_canonical(nib.Nifti1Image(gml, nib.load(session.pet.path).affine))
    suv = session.pet.suv_frames()[..., 0]
    np.testing.assert_allclose(suv, np.asarray(canonical.dataobj), rtol=1e-3, atol=1e-6)
    assert session.weight_kg == pytest.approx(float(headers[0].PatientWeight))


def test_real_pet_with_a_start_datetime_one_day_late(run_cli, real_data, tmp_path):
    """Issue 10, defect 9: the same series with RadiopharmaceuticalStartDateTime on the day after
    SeriesDate (an anonymiser that shifted one date) imports with a warning, the injection at
    10:35 of the series day, and the stored GML values as SUV."""
    import shutil

    src = tmp_path / "src"
    shutil.copytree(real_data / "ibsi-sts-001-pet-dicom" / "dicom", src / "dicom")
    for path in sorted((src / "dicom").glob("*.dcm")):
        ds = pydicom.dcmread(path)
        if ds.Modality != "PT":
            continue
        radio = ds.RadiopharmaceuticalInformationSequence[0]
        assert ds.SeriesDate == "20000907" and radio.RadiopharmaceuticalStartTime == "103500.00"
        radio.RadiopharmaceuticalStartDateTime = "20000908103500.00"
        ds.save_as(path)
    bids = tmp_path / "bids"
    code, out, err = run_cli("import-dicom", src, bids, "--id-map", tmp_path / "ids.json")
    assert code == 0, out + err
    nifti = bids / "sub-001/ses-01/pet/sub-001_ses-01_trc-FDG_pet.nii.gz"
    assert (f"warning: {nifti.relative_to(bids)}: RadiopharmaceuticalStartDateTime is 1 day later "
            "than RadiopharmaceuticalStartTime on SeriesDate and would put the injection 23.2 h "
            "after the series start: the injection time is taken from "
            "RadiopharmaceuticalStartTime on SeriesDate") in out.splitlines()
    sidecar = json.loads(nifti.with_name("sub-001_ses-01_trc-FDG_pet.json").read_text())
    assert sidecar["TimeZero"] == "10:35:00" and sidecar["FrameTimesStart"] == pytest.approx(
        [2711.0])
    assert "not RadiopharmaceuticalStartDateTime" in sidecar["ImportNotes"]
    headers = _slices(src)
    weight = float(headers[0].PatientWeight)
    dose = float(headers[0].RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose)
    order = np.argsort([float(h.ImagePositionPatient[2]) for h in headers])
    gml = np.transpose(np.stack([headers[i].pixel_array * float(headers[i].RescaleSlope)
                                 + float(headers[i].RescaleIntercept) for i in order]), (2, 1, 0))
    suv = np.asarray(nib.load(nifti).dataobj, dtype=float) * weight * 1000.0 / dose
    np.testing.assert_allclose(suv, gml, rtol=1e-6, atol=1e-9)
