"""The aggressiveness map exported by `gliopet biopsy` as a DICOM Parametric Map and as a derived
MR series: re-read with highdicom, every voxel at its DICOM world position carries the value of
the PET map at that position (nearest PET voxel through preprocessing's transform) within the
quantisation step; shared Study and Frame of Reference with the SEG; dciodvfy (when installed)
finds no error; a map outside 0-1 is refused with nothing written."""

from __future__ import annotations

import json
import shutil
import subprocess

import highdicom as hd
import numpy as np
import pydicom
import pytest

from gliopet.errors import InputError
from gliopet.export.biopsy_stage import run_biopsy
from gliopet.export.pmap import STEP, read_parametric_map
from gliopet.export.series import read_series
from gliopet.io import derivatives as d
from gliopet.io.bids_write import write_image
from gliopet.io.nifti import load_nifti
from gliopet.signature.biopsy import mask_to_mri, pet_to_mri_matrix
from gliopet.spatial import apply_affine, lps_to_ras_points
from support.biopsy import synthetic_dataset

DCIODVFY = shutil.which("dciodvfy")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The synthetic session (MRI rotated against the PET, 4 mm voxels) targeted with the DICOM
    export against gliopet's MRI copy."""
    root = tmp_path_factory.mktemp("pmap") / "bids"
    truth = synthetic_dataset(root)
    run_biopsy(root, force=True)
    ids = truth["ids"]
    folder = d.BIOPSY.session_dir(root, ids)
    pet = load_nifti(d.find(root, ids, d.AGGRESSIVENESS_MAP))
    xfm = d.find(root, ids, d.XFM, from_="pet", to=d.REFERENCE_SPACE)
    return {"root": root, "ids": ids, "folder": folder,
            "series": read_series(d.BIOPSY_MRI_DICOM.in_dir(folder, ids), "copy"),
            "pmap": d.BIOPSY_PMAP.in_dir(folder, ids),
            "map_series": d.BIOPSY_MAP_DICOM.in_dir(folder, ids),
            "pet_map": np.asarray(pet.dataobj, float), "pet_affine": pet.affine,
            "pet_to_mri": pet_to_mri_matrix(xfm)}


def expected_at(exported: dict, points_lps: np.ndarray) -> np.ndarray:
    """The PET map at DICOM patient points: the PET voxel nearest to each point carried to the
    PET grid by the inverse PET-to-MRI map (0 outside the PET grid)."""
    ras = lps_to_ras_points(points_lps)
    to_pet = np.linalg.inv(exported["pet_affine"]) @ np.linalg.inv(exported["pet_to_mri"])
    idx = np.rint(apply_affine(to_pet, ras)).astype(int)
    inside = np.all((idx >= 0) & (idx < exported["pet_map"].shape), axis=-1)
    out = np.zeros(len(idx))
    out[inside] = exported["pet_map"][tuple(idx[inside].T)]
    return out


def _compare(exported: dict, volume: hd.Volume, tolerance: float) -> int:
    """Check every voxel of a read-back volume against the PET map at its world position;
    return the number of non-zero voxels."""
    array = volume.array
    indices = np.argwhere(np.ones(array.shape, bool))
    points = volume.map_indices_to_reference(indices)  # LPS mm from the DICOM geometry
    expected = expected_at(exported, points)
    np.testing.assert_allclose(array.reshape(-1), expected, rtol=0, atol=tolerance)
    return int((array > 0).sum())


def test_parametric_map_values_at_their_world_positions(exported):
    pm = hd.pm.ParametricMap.from_dataset(pydicom.dcmread(exported["pmap"]))
    volume = pm.get_volume(apply_real_world_transform=True)
    assert _compare(exported, volume, tolerance=1e-6) > 50  # float32: no quantisation
    # Voxels on the slices it leaves out are 0 (the map is 0 there).
    full = read_parametric_map(exported["pmap"], exported["series"])
    assert full.shape == exported["series"].shape
    assert full.max() == pytest.approx(exported["pet_map"].max(), abs=0.05)


def test_map_series_values_at_their_world_positions(exported):
    files = sorted(exported["map_series"].iterdir())
    datasets = [pydicom.dcmread(f) for f in files]
    assert len(datasets) == len(exported["series"].slices)
    volume = hd.get_volume_from_series(datasets)  # applies RescaleSlope / Intercept
    assert _compare(exported, volume, tolerance=STEP / 2 + 1e-9) > 50
    first = datasets[0]
    assert list(first.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert "research" in first.SeriesDescription
    assert (first.BitsAllocated, first.PixelRepresentation, float(first.RescaleSlope)) == (16, 0,
                                                                                          STEP)
    assert int(max(ds.pixel_array.max() for ds in datasets)) <= round(1 / STEP)


def test_map_series_slices_derive_from_the_mr_slice_at_the_same_place(exported):
    by_uid = {s.SOPInstanceUID: s for s in exported["series"].slices}
    for file in sorted(exported["map_series"].iterdir()):
        ds = pydicom.dcmread(file, stop_before_pixels=True)
        source = by_uid[ds.SourceImageSequence[0].ReferencedSOPInstanceUID]
        np.testing.assert_allclose(np.array(ds.ImagePositionPatient, float),
                                   np.array(source.ImagePositionPatient, float), atol=1e-6)
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID


def test_same_voxels_as_the_seg_masks(exported):
    """The map is carried onto the series exactly as the SEG's masks are: its non-zero voxels
    are those of the non-zero PET voxels carried by the masks' resampling."""
    series, root, ids = exported["series"], exported["root"], exported["ids"]
    mri = load_nifti(d.find(root, ids, d.BIOPSY_SUBREGION))
    on_mri = mask_to_mri(exported["pet_map"] > 0, exported["pet_affine"], exported["pet_to_mri"],
                         mri.affine, mri.shape)
    on_series = mask_to_mri(on_mri, mri.affine, np.eye(4), series.affine, series.shape)
    values = read_parametric_map(exported["pmap"], series)
    np.testing.assert_array_equal(values > 0, on_series)


def test_shared_study_frame_of_reference_and_meaning(exported):
    ids, folder = exported["ids"], exported["folder"]
    seg = pydicom.dcmread(d.BIOPSY_SEG.in_dir(folder, ids))
    pm = pydicom.dcmread(exported["pmap"])
    mr = pydicom.dcmread(sorted(exported["map_series"].iterdir())[0], stop_before_pixels=True)
    for ds in (pm, mr):
        assert ds.StudyInstanceUID == seg.StudyInstanceUID
        assert ds.FrameOfReferenceUID == seg.FrameOfReferenceUID
        assert ds.PatientID == seg.PatientID
    assert pm.ReferencedSeriesSequence[0].SeriesInstanceUID == (
        seg.ReferencedSeriesSequence[0].SeriesInstanceUID)
    mapping = pm.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    assert mapping.MeasurementUnitsCodeSequence[0].CodeValue == "1"  # UCUM: no units
    assert (mapping.LUTLabel, mapping.DoubleFloatRealWorldValueFirstValueMapped,
            mapping.DoubleFloatRealWorldValueLastValueMapped) == ("aggressiveness", 0.0, 1.0)
    assert (mapping.RealWorldValueSlope, mapping.RealWorldValueIntercept) == (1.0, 0.0)
    assert pm.ContentQualification == "RESEARCH"
    record = json.loads(d.find(exported["root"], ids, d.BIOPSY_TARGET).read_text())
    assert record["dicom"]["parametric_map"] == exported["pmap"].name
    assert record["dicom"]["map_series_files"] == len(exported["series"].slices)


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (dicom3tools) is not installed")
def test_dciodvfy_finds_no_error(exported):
    for path in (exported["pmap"], sorted(exported["map_series"].iterdir())[0]):
        run = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, check=False)
        errors = [line for line in (run.stdout + run.stderr).splitlines() if "Error" in line]
        assert errors == [], path.name


def test_map_outside_0_1_is_refused_and_nothing_written(tmp_path):
    root = tmp_path / "bids"
    truth = synthetic_dataset(root)
    ids = truth["ids"]
    path = d.find(root, ids, d.AGGRESSIVENESS_MAP)
    img = load_nifti(path)
    write_image(path, np.asarray(img.dataobj) * 1.5, img.affine)
    with pytest.raises(InputError, match=r"the aggressiveness map holds values outside 0-1 "
                                         r"\(0 to 1\.\d+\)"):
        run_biopsy(root, force=True)
    assert not list(d.BIOPSY.root(root).rglob("*.dcm"))
    run_biopsy(root, dicom=False, force=True)  # the target alone does not need the export
    assert d.find_or_none(root, ids, d.BIOPSY_TARGET) is not None

