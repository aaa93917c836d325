"""`gliopet import-brats` on BraTS-layout folders written here: names, bytes, tables, the tumour
labels through the contract, an MRI-only dataset that validates, and the safety rules of
import-dicom (exact one-line refusals, nothing written)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from gliopet.io import derivatives as d
from gliopet.io.bids_read import read_dataset

AFFINE = np.diag([1.0, 1.0, 1.0, 1.0])
AFFINE[:3, 3] = (-12.0, -12.0, -8.0)
SHAPE = (24, 24, 16)


def _image(value: float, dtype=np.float32) -> nib.Nifti1Image:
    data = np.full(SHAPE, value, dtype=dtype)
    data[8:16, 8:16, 4:12] *= 2
    return nib.Nifti1Image(data, AFFINE)


def _seg(labels=(1, 2, 4)) -> nib.Nifti1Image:
    data = np.zeros(SHAPE, np.uint8)
    for i, label in enumerate(labels):
        data[8 + 2 * i: 10 + 2 * i, 8:16, 4:12] = label
    return nib.Nifti1Image(data, AFFINE)


def _layout(src, *, seg_labels=(1, 2, 4)):
    """Case 001: every file (.nii.gz); case 002 (BraTS 2023 names, .nii): no seg, no t1c."""
    one = src / "BraTS20_Training_001"
    one.mkdir(parents=True)
    for tag, value in (("t1", 100.0), ("t1ce", 200.0), ("t2", 300.0), ("flair", 400.0)):
        nib.save(_image(value), one / f"{one.name}_{tag}.nii.gz")
    nib.save(_seg(seg_labels), one / f"{one.name}_seg.nii.gz")
    (one / "notes.txt").write_text("not an image")
    two = src / "BraTS-GLI-00002-000"
    two.mkdir()
    for tag, value in (("t1n", 10.0), ("t2w", 30.0), ("t2f", 40.0)):
        nib.save(_image(value), two / f"{two.name}-{tag}.nii")
    return one, two


def test_import(run_cli, tmp_path):
    one, two = _layout(tmp_path / "src")
    root = tmp_path / "bids"
    code, out, err = run_cli("import-brats", tmp_path / "src", root, "--site", "tcia")
    assert code == 0, err
    assert f"Imported 2 case(s), 8 files, into {root}" in out
    assert "Ignored 1 file(s) not in the BraTS layout: BraTS20_Training_001/notes.txt" in out
    anat = root / "sub-BraTS20Training001" / "ses-diagnosis" / "anat"
    for suffix, tag in (("T1w", "t1"), ("ce-gadolinium_T1w", "t1ce"), ("T2w", "t2"),
                        ("FLAIR", "flair")):
        written = anat / f"sub-BraTS20Training001_ses-diagnosis_{suffix}.nii.gz"
        assert written.read_bytes() == (one / f"{one.name}_{tag}.nii.gz").read_bytes()
    flair = (root / "sub-BraTSGLI00002000" / "ses-diagnosis" / "anat"
             / "sub-BraTSGLI00002000_ses-diagnosis_FLAIR.nii.gz")
    np.testing.assert_array_equal(np.asarray(nib.load(flair).dataobj),
                                  np.asarray(_image(40.0).dataobj))
    np.testing.assert_allclose(nib.load(flair).affine, AFFINE)
    seg = d.find(root, ("BraTS20Training001", "diagnosis"), d.BRATS_SEG)
    assert seg.relative_to(root).as_posix() == (
        "derivatives/brats/sub-BraTS20Training001/ses-diagnosis/anat/"
        "sub-BraTS20Training001_ses-diagnosis_desc-tumour_dseg.nii.gz")
    assert json.loads(seg.with_name(seg.name.replace(".nii.gz", ".json")).read_text())[
        "Labels"]["4"] == "enhancing tumour (BraTS 2018-2021)"
    assert d.find_or_none(root, ("BraTSGLI00002000", "diagnosis"), d.BRATS_SEG) is None
    participants = pd.read_csv(root / "participants.tsv", sep="\t")
    assert participants.to_dict("list") == {  # case folders in sorted order
        "participant_id": ["sub-BraTSGLI00002000", "sub-BraTS20Training001"],
        "brats_case": ["BraTS-GLI-00002-000", "BraTS20_Training_001"]}
    sessions = read_dataset(root)
    assert [(s.subject, s.site, s.pet, sorted(s.anat)) for s in sessions] == [
        ("BraTS20Training001", "tcia", None, ["FLAIR", "T1w", "T2w", "ce-gadolinium_T1w"]),
        ("BraTSGLI00002000", "tcia", None, ["FLAIR", "T1w", "T2w"])]
    code, out, _ = run_cli("validate", root)
    assert code == 0 and "usable: 0 error(s), 2 warning(s), 2 session(s)" in out
    code, _, err = run_cli("quantify", root)  # MRI-only sessions: nothing to quantify
    assert code == 2
    assert "2 session(s) left out (nothing to do)" in err
    assert err.strip().splitlines()[-1] == (
        f"error: {root}: no session the quantification applies to (fix: check the dataset "
        "(gliopet validate lists MRI-only sessions))")


def _refused(run_cli, expected: str, *args: object) -> None:
    code, _, err = run_cli("import-brats", *args)
    assert code == 2
    assert err.strip() == f"error: {expected}"


def test_unsafe_paths_are_refused(run_cli, tmp_path):
    src = tmp_path / "src"
    _layout(src)
    _refused(run_cli, f"{src / 'bids'}: the BIDS folder lies inside the BraTS source folder "
                      "(fix: write the dataset outside SRC)", src, src / "bids")
    _refused(run_cli, f"{src}: the BraTS source folder lies inside the BIDS folder, so writing "
                      "or replacing the dataset would touch the source files (fix: give a "
                      "BIDS_DIR that does not hold SRC)", src, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    _refused(run_cli, f"{other}: the BIDS folder exists and is not empty (fix: give a new "
                      "folder, or add --overwrite to replace it)", src, other)
    _refused(run_cli, f"{other}: --overwrite replaces only a dataset written by gliopet, and "
                      "this folder has no dataset_description.json (fix: give a new folder; "
                      "gliopet never deletes a folder it did not write (remove it yourself if "
                      "it must go))", src, other, "--overwrite")
    assert (other / "keep.txt").read_text() == "mine"
    root = tmp_path / "bids"
    assert run_cli("import-brats", src, root)[0] == 0
    assert run_cli("import-brats", src, root, "--overwrite", "--site", "again")[0] == 0
    assert read_dataset(root)[0].site == "again"


@pytest.mark.parametrize("case", ["4d", "grid", "labels", "empty", "seg_only"])
def test_bad_cases_write_nothing(run_cli, tmp_path, case):
    src = tmp_path / "src"
    one, _ = _layout(src)
    bad = one / f"{one.name}_t2.nii.gz"
    if case == "4d":
        nib.save(nib.Nifti1Image(np.ones((*SHAPE, 2), np.float32), AFFINE), bad)
        expected = f"{bad}: expected a 3-D image, got 4-D with shape (24, 24, 16, 2)"
    elif case == "grid":
        nib.save(nib.Nifti1Image(np.ones((24, 24, 15), np.float32), AFFINE), bad)
        expected = (f"{bad}: the T2w image of case {one.name} is not on the grid of its T1w "
                    "image (shape (24, 24, 15) vs (24, 24, 16)); BraTS images share one grid "
                    "(fix: check the case's files)")
    elif case == "labels":
        bad = one / f"{one.name}_seg.nii.gz"
        nib.save(_seg((1, 2, 7)), bad)
        expected = (f"{bad}: the segmentation of case {one.name} has labels [7.0] besides the "
                    "BraTS labels 0, 1, 2, 3, 4 (fix: give the BraTS label map (0, 1, 2, 4 or "
                    "0-3))")
    elif case == "empty":
        (src / "case3").mkdir()
        expected = (f"{src / 'case3'}: case folder case3 holds no BraTS image (fix: remove the "
                    "folder or add its images)")
    else:
        for path in one.glob("*_t*.nii.gz"):
            path.unlink()
        for path in one.glob("*_flair.nii.gz"):
            path.unlink()
        expected = (f"{one}: case {one.name} has a segmentation but no MRI (fix: add its images "
                    "or remove the case)")
    code, _, err = run_cli("import-brats", src, tmp_path / "bids")
    assert code == 2
    assert err.strip().startswith(f"error: {expected}")
    assert not (tmp_path / "bids").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_no_case(run_cli, tmp_path):
    (tmp_path / "src").mkdir()
    _refused(run_cli, f"{tmp_path / 'src'}: no BraTS case found (expected "
                      "<case>/<case>_t1.nii.gz, _t1ce, _t2, _flair, _seg or the BraTS 2023 -t1n, "
                      "-t1c, -t2w, -t2f, -seg) (fix: give the folder that holds one folder per "
                      "case)", tmp_path / "src", tmp_path / "bids")
