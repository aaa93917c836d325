"""DICOM export of the biopsy target: SEG (highdicom) and RTSTRUCT (rt-utils) re-read land on
the same voxels and world coordinates; dciodvfy (when installed) reports no error; bad input
leaves no DICOM behind."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from gliopet.errors import InputError
from gliopet.export.biopsy_stage import run_biopsy
from gliopet.export.rtstruct import ROIS, write_rtstruct
from gliopet.export.seg import read_seg, write_seg
from gliopet.export.series import read_series, write_copy
from gliopet.io import derivatives as d
from gliopet.signature.biopsy import mask_to_mri
from gliopet.spatial import apply_affine, lps_to_ras_points, world_coordinates
from support.biopsy import synthetic_dataset

DCIODVFY = shutil.which("dciodvfy")


def dciodvfy_errors(path: Path) -> list[str]:
    """The "Error" lines dciodvfy prints for a file."""
    run = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, check=False)
    return [line for line in (run.stdout + run.stderr).splitlines() if "Error" in line]


def _volume(voxel_mm=(1.0, 1.0, 2.0), shape=(32, 32, 20)):
    affine = np.diag([*voxel_mm, 1.0])
    affine[:3, 3] = [-16.0, -20.0, -18.0]
    xyz = world_coordinates(shape, affine, dtype=np.float64)
    centre = np.array([-2.0, -3.0, 1.0])
    region = np.sum(((xyz - centre) / [7.0, 5.0, 6.0]) ** 2, -1) <= 1.0
    target = np.linalg.norm(xyz - (centre + [1.0, 1.0, 0.0]), axis=-1) <= 2.5
    image = (100 + 50 * region + np.indices(shape)[0]).astype(np.float32)
    return image, affine, [region, target]


def _export(tmp_path, voxel_mm=(1.0, 1.0, 2.0), shape=(32, 32, 20)):
    image, affine, masks = _volume(voxel_mm, shape)
    folder = tmp_path / "mri"
    write_copy(folder, image, affine, "ce-gadolinium_T1w", ("01", "a"))
    series = read_series(folder, "copy")
    on_series = [mask_to_mri(m, affine, np.eye(4), series.affine, series.shape) for m in masks]
    seg = write_seg(tmp_path / "seg.dcm", series, on_series, "k")
    rt = write_rtstruct(tmp_path / "rt.dcm", series, on_series, "k")
    return affine, masks, series, on_series, seg, rt


def _centroid_ras(mask, affine):
    return apply_affine(affine, np.argwhere(mask).mean(axis=0))


def test_seg_round_trip_same_voxels_and_world_coordinates(tmp_path):
    affine, masks, series, on_series, seg, _ = _export(tmp_path)
    back = read_seg(seg, series)
    for original, on_grid, read in zip(masks, on_series, back, strict=True):
        np.testing.assert_array_equal(read, on_grid)  # exactly the same voxels
        assert on_grid.sum() == original.sum()
        shift = _centroid_ras(read, series.affine) - _centroid_ras(original, affine)
        assert np.all(np.abs(shift) <= 0.5 * np.array([1.0, 1.0, 2.0]))
    ds = pydicom.dcmread(seg)
    assert ds.SegmentationType == "BINARY"
    assert [s.SegmentNumber for s in ds.SegmentSequence] == [1, 2]
    assert ds.FrameOfReferenceUID == series.slices[0].FrameOfReferenceUID
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == series.slices[0].SeriesInstanceUID


def test_rtstruct_rerasterised_by_rt_utils_matches(tmp_path):
    from rt_utils import RTStructBuilder

    affine, masks, series, on_series, _, rt = _export(tmp_path)
    builder = RTStructBuilder.create_from(dicom_series_path=str(series.folder),
                                          rt_struct_path=str(rt))
    assert builder.ds.FrameOfReferenceUID == series.slices[0].FrameOfReferenceUID
    for (name, _), original, on_grid in zip(ROIS, masks, on_series, strict=True):
        # rt-utils returns (rows, columns, slices) for a square matrix; our grid is (c, r, k).
        read = np.transpose(builder.get_roi_mask_by_name(name), (1, 0, 2))
        dice = 2 * (read & on_grid).sum() / (read.sum() + on_grid.sum())
        assert dice >= 0.9, name
        shift = _centroid_ras(read, series.affine) - _centroid_ras(original, affine)
        assert np.all(np.abs(shift) <= 0.5 * np.array([1.0, 1.0, 2.0])), name


def test_rtstruct_points_are_right_with_non_square_pixels(tmp_path):
    """rt-utils scales the row direction by PixelSpacing[0]; the export recomputes the points.
    Each contour point, read as LPS and carried to the NIfTI grid, is a voxel of its mask."""
    affine, masks, series, _, _, rt = _export(tmp_path, voxel_mm=(0.8, 1.5, 2.0),
                                              shape=(40, 24, 20))
    ds = pydicom.dcmread(rt)
    inverse = np.linalg.inv(affine)
    for roi, mask in zip(ds.ROIContourSequence, masks, strict=True):
        points = np.concatenate([np.asarray(c.ContourData, float).reshape(-1, 3)
                                 for c in roi.ContourSequence])
        voxels = np.rint(apply_affine(inverse, lps_to_ras_points(points))).astype(int)
        assert mask[tuple(voxels.T)].all()
        assert set(voxels[:, 2]) == set(np.flatnonzero(mask.any(axis=(0, 1))))


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (dicom3tools) is not installed")
def test_dciodvfy_finds_no_error(tmp_path):
    _, _, series, _, seg, rt = _export(tmp_path)
    for path in (seg, rt, sorted(series.folder.iterdir())[0]):
        assert dciodvfy_errors(path) == [], path.name


def test_inconsistent_series_geometry_is_refused(tmp_path):
    image, affine, _ = _volume()
    folder = tmp_path / "mri"
    files = write_copy(folder, image, affine, "T1w", ("01", "a"))
    ds = pydicom.dcmread(files[5])
    ds.ImagePositionPatient = [float(v) + (0.7 if i == 2 else 0) for i, v in
                               enumerate(ds.ImagePositionPatient)]
    ds.save_as(files[5])
    with pytest.raises(InputError, match=r"the reference MRI series has inconsistent geometry: "
                                         r"the slices are not equally spaced or not aligned"):
        read_series(folder, "copy")


# ---------------------------------------------------------------------------- with an id-map
def _id_map(root: Path, path: Path, n_slices: int, ids, source: Path | None = None) -> dict:
    record = {"bids_path": f"sub-{ids[0]}/ses-{ids[1]}/anat/sub-{ids[0]}_ses-{ids[1]}_T1w.nii.gz",
              "subject": ids[0], "session": ids[1], "PatientID": "PAT-0042",
              "StudyDate": "20240131", "StudyInstanceUID": generate_uid(),
              "SeriesInstanceUID": generate_uid(), "FrameOfReferenceUID": generate_uid(),
              "SeriesDescription": "t1_mprage_post",
              "SOPInstanceUIDs": [generate_uid() for _ in range(n_slices)]}
    entry = {"files": [record]}
    if source is not None:  # original files: the imported image written back with the UIDs
        from gliopet.export.series import write_original
        from gliopet.io.nifti import load_nifti

        raw = load_nifti(root / record["bids_path"], canonical=False)
        files = write_original(source, np.asarray(raw.dataobj, np.float32), raw.affine, "T1w",
                               record, path)
        record["source_files"] = [f.name for f in files]
        entry["source"] = str(source)
    data = {"format": "gliopet-id-map/1", "subjects": {"PAT-0042": ids[0]}, "sessions": {},
            "imports": [entry]}
    path.write_text(json.dumps(data))
    return record


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("export") / "bids"
    return root, synthetic_dataset(root)


def test_id_map_export_refers_to_the_original_series(dataset, tmp_path):
    from gliopet.io.nifti import load_nifti

    root, truth = dataset
    raw = load_nifti(root / "sub-01/ses-diagnosis/anat/sub-01_ses-diagnosis_T1w.nii.gz",
                     canonical=False)
    record = _id_map(root, tmp_path / "map.json", raw.shape[2], truth["ids"])
    out = tmp_path / "export"
    run_biopsy(root, id_map=tmp_path / "map.json", export_dir=out, force=True)
    folder = out / "sub-01" / "ses-diagnosis"
    seg = pydicom.dcmread(d.BIOPSY_SEG.in_dir(folder, truth["ids"]))
    rt = pydicom.dcmread(d.BIOPSY_RTSTRUCT.in_dir(folder, truth["ids"]))
    for ds in (seg, rt):
        assert ds.StudyInstanceUID == record["StudyInstanceUID"]
        assert ds.FrameOfReferenceUID == record["FrameOfReferenceUID"]
        assert ds.PatientID == "PAT-0042"
        assert (d.BIOPSY_SEG.in_dir(folder, truth["ids"]).stat().st_mode & 0o077) == 0
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == record["SeriesInstanceUID"]
    referenced = {i.ReferencedSOPInstanceUID
                  for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced <= set(record["SOPInstanceUIDs"]) and referenced
    contour_refs = {c.ContourImageSequence[0].ReferencedSOPInstanceUID
                    for roi in rt.ROIContourSequence for c in roi.ContourSequence}
    assert contour_refs <= set(record["SOPInstanceUIDs"])
    # The aggressiveness map: Parametric Map and derived MR series on the original series.
    pm = pydicom.dcmread(d.BIOPSY_PMAP.in_dir(folder, truth["ids"]))
    map_folder = d.BIOPSY_MAP_DICOM.in_dir(folder, truth["ids"])
    maps = [pydicom.dcmread(f, stop_before_pixels=True) for f in sorted(map_folder.iterdir())]
    for ds in (pm, *maps):
        assert ds.StudyInstanceUID == record["StudyInstanceUID"]
        assert ds.FrameOfReferenceUID == record["FrameOfReferenceUID"]
        assert ds.PatientID == "PAT-0042"
    assert pm.ReferencedSeriesSequence[0].SeriesInstanceUID == record["SeriesInstanceUID"]
    assert ({m.SourceImageSequence[0].ReferencedSOPInstanceUID for m in maps}
            == set(record["SOPInstanceUIDs"]))
    assert (map_folder.stat().st_mode & 0o777) == 0o700
    assert all((f.stat().st_mode & 0o077) == 0 for f in map_folder.iterdir())
    # No original identifier in the de-identified dataset.
    assert not list(d.BIOPSY.root(root).rglob("*.dcm"))
    assert "PAT-0042" not in d.find(root, truth["ids"], d.BIOPSY_TARGET).read_text()


def test_id_map_with_the_wrong_series_writes_nothing(dataset, tmp_path):
    root, truth = dataset
    _id_map(root, tmp_path / "map.json", 3, truth["ids"])
    out = tmp_path / "export"
    with pytest.raises(InputError, match=r"inconsistent geometry: the id-map lists 3 instances"):
        run_biopsy(root, id_map=tmp_path / "map.json", export_dir=out, force=True)
    assert not out.exists() or not list(out.rglob("*.dcm"))
    assert not list(d.BIOPSY.root(root).rglob("*.dcm"))


def test_id_map_needs_an_export_dir_outside_the_dataset(dataset, tmp_path):
    root, _ = dataset
    with pytest.raises(InputError, match="--id-map needs --export-dir"):
        run_biopsy(root, id_map=tmp_path / "map.json")
    with pytest.raises(InputError, match="--export-dir lies inside the BIDS dataset"):
        run_biopsy(root, id_map=tmp_path / "map.json", export_dir=root / "out")


def test_id_map_checks_the_original_files_when_they_are_there(dataset, tmp_path):
    from gliopet.io.nifti import load_nifti

    root, truth = dataset
    raw = load_nifti(root / "sub-01/ses-diagnosis/anat/sub-01_ses-diagnosis_T1w.nii.gz",
                     canonical=False)
    source = tmp_path / "pacs"
    record = _id_map(root, tmp_path / "map.json", raw.shape[2], truth["ids"], source)
    run_biopsy(root, id_map=tmp_path / "map.json", export_dir=tmp_path / "ok", force=True)
    written = json.loads(d.find(root, truth["ids"], d.BIOPSY_TARGET).read_text())
    assert written["dicom"]["original_files_checked"] == raw.shape[2]
    moved = pydicom.dcmread(source / record["source_files"][4])
    moved.ImagePositionPatient = [float(v) + 1.0 for v in moved.ImagePositionPatient]
    moved.save_as(source / record["source_files"][4])
    with pytest.raises(InputError, match=r"inconsistent geometry: the original instance "
                                         r"\S+ is not where the imported image puts it"):
        run_biopsy(root, id_map=tmp_path / "map.json", export_dir=tmp_path / "bad", force=True)
    assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").rglob("*.dcm"))
