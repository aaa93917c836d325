"""`gliopet biopsy` and `gliopet biopsy evaluate` from the command line, and the whole DICOM
chain: simulate --dicom -> import-dicom -> preprocess -> quantify -> signature -> biopsy."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from gliopet.io import derivatives as d
from gliopet.spatial import apply_affine, lps_to_ras_points
from support.biopsy import phantom_samples, synthetic_dataset, to_mri, write_fixture_signature


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("biopsycli") / "bids"
    return root, synthetic_dataset(root)


def test_biopsy_writes_targets_and_says_where(dataset, run_cli):
    root, truth = dataset
    code, out, err = run_cli("biopsy", root, "--no-dicom", "--radius-mm", "2")
    assert code == 0, err
    assert f"biopsy targets of 1 session(s); table: {d.BIOPSY_TABLE.path(root)}" in out
    record = json.loads(d.find(root, truth["ids"], d.BIOPSY_TARGET).read_text())
    assert record["radius_mm"] == 2.0


def test_bad_options_are_one_line_errors(dataset, run_cli, tmp_path):
    root, _ = dataset
    code, _, err = run_cli("biopsy", root, "--id-map", tmp_path / "m.json")
    assert code == 2
    assert err.startswith(f"error: {tmp_path / 'm.json'}: --id-map needs --export-dir")
    code, _, err = run_cli("biopsy", root, "--radius-mm", "0")
    assert code == 2 and "--radius-mm must be > 0" in err


def test_only_sessions_with_a_signature_are_targeted(run_cli, tmp_path):
    # `gliopet signature` (default --session diagnosis) left the recurrence session out: the
    # biopsy targets the diagnosis session and leaves the other out instead of failing on it
    root = tmp_path / "bids"
    synthetic_dataset(root, session="diagnosis")
    synthetic_dataset(root, session="recurrence")
    shutil.rmtree(d.SIGNATURE.session_dir(root, ("01", "recurrence")))
    code, out, err = run_cli("biopsy", root, "--no-dicom")
    assert code == 0, err
    assert "biopsy targets of 1 session(s)" in out
    assert d.find_or_none(root, ("01", "recurrence"), d.BIOPSY_TARGET) is None
    # no signature at all: one clear line, nothing written
    shutil.rmtree(d.SIGNATURE.root(root))
    shutil.rmtree(d.BIOPSY.root(root))
    code, _, err = run_cli("biopsy", root, "--no-dicom")
    assert code == 2
    assert err.strip() == (f"error: {root}: no aggressiveness map: gliopet signature has not "
                           "been run on this dataset (fix: run gliopet signature BIDS_DIR first "
                           "(--session all to target recurrence sessions too))")
    assert not d.BIOPSY.root(root).exists()


def _samples(truth: dict) -> pd.DataFrame:
    """Grade 4 at the planted peak P and around it inside the region; grade 2 at the tumour
    centre (the SUV peak) and elsewhere outside the region."""
    centre, peak = truth["suvmax_pet"], truth["centre_pet"]
    points = [(peak, 4), (peak + [2, 0, 0], 4), (peak + [0, 0, -3], 4), (centre, 2),
              (centre + [0, -8, 0], 2), (centre + [8, 0, 0], 2)]
    rows = []
    for point, grade in points:
        x, y, z = to_mri(truth, np.asarray(point, float))
        rows.append({"subject": "sub-01", "session": "diagnosis", "x": x, "y": y, "z": z,
                     "grade": grade})
    return pd.DataFrame(rows)


def test_evaluate_scores_map_hits_and_upgrades(dataset, run_cli, tmp_path):
    root, truth = dataset
    assert run_cli("biopsy", root, "--no-dicom")[0] == 0
    samples = tmp_path / "samples.tsv"
    _samples(truth).to_csv(samples, sep="\t", index=False)
    code, out, err = run_cli("biopsy", "evaluate", root, "--samples", samples, "--out",
                             tmp_path / "eval")
    assert code == 0, err
    summary = pd.read_csv(tmp_path / "eval" / "summary.tsv", sep="\t").set_index("measure")
    assert summary.loc["AUC: map value vs high grade", "value"] == 1.0
    assert summary.loc["hit rate: target", "value"] == 1.0
    assert summary.loc["hit rate: suvmax", "value"] == 0.0
    assert summary.loc["upgrade rate vs TBRmax-only target", "value"] == 1.0
    text = (tmp_path / "eval" / "summary.md").read_text()
    assert "not a medical device" in text and "nan" not in text.lower().replace("n/a", "")


def test_evaluate_refuses_a_table_without_grades(dataset, run_cli, tmp_path):
    root, _ = dataset
    bad = tmp_path / "bad.tsv"
    pd.DataFrame({"subject": ["01"], "session": ["diagnosis"], "x": [0], "y": [0],
                  "z": [0]}).to_csv(bad, sep="\t", index=False)
    code, _, err = run_cli("biopsy", "evaluate", root, "--samples", bad, "--out",
                           tmp_path / "o")
    assert code == 2
    assert "the samples table lacks the column(s) grade or histology" in err
    assert not (tmp_path / "o").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    code, _, err = run_cli("biopsy", "evaluate", root, "--samples", bad, "--out", mine)
    assert code == 2 and "--out exists and is not an earlier evaluation" in err
    assert (mine / "notes.txt").read_text() == "keep"


# ---------------------------------------------------------------------------- the chain
def _signature(run_cli, root: Path, ids: tuple[str, str]) -> str:
    """`gliopet signature` when it exists and writes the subregion; else the FIXTURE RULE of
    tests/support/biopsy.py (the test says which)."""
    code, _, _ = run_cli("signature", root, "--session", "all")  # imported sessions: 01, 02
    if code == 0 and d.find_or_none(root, ids, d.AGGRESSIVE_MASK) is not None:
        return "gliopet signature"
    write_fixture_signature(root, ids)
    return "fixture rule (tests/support/biopsy.py)"


@pytest.mark.slow
def test_dicom_chain_lands_on_the_original_series_and_the_true_subregion(run_cli, tmp_path):
    """About 50 s on 2 shared cores (simulate, import, preprocess, quantify and signature take
    most of it; biopsy with the export about 3 s)."""
    from gliopet.io.nifti import load_nifti

    start = time.perf_counter()
    sim, bids, id_map = tmp_path / "sim", tmp_path / "bids", tmp_path / "idmap.json"
    assert run_cli("simulate", sim, "--profile", "tiny", "-n", "1", "--scenario", "diagnosis",
                   "--aggressive-fraction", "1", "--dicom", "--seed", "3")[0] == 0
    assert run_cli("import-dicom", sim / "sourcedata" / "dicom", bids, "--id-map", id_map)[0] == 0
    assert run_cli("preprocess", bids)[0] == 0
    assert run_cli("quantify", bids)[0] == 0
    ids = ("001", "01")
    how = _signature(run_cli, bids, ids)
    code, _, err = run_cli("biopsy", bids, "--id-map", id_map, "--export-dir", tmp_path / "or")
    assert code == 0, f"{err} (subregion by {how})"
    record = json.loads(d.find(bids, ids, d.BIOPSY_TARGET).read_text())
    files = json.loads(id_map.read_text())["imports"][-1]["files"]
    mr = next(f for f in files if f["bids_path"].endswith("ce-gadolinium_T1w.nii.gz"))
    folder = tmp_path / "or" / "sub-001" / "ses-01"
    seg = pydicom.dcmread(d.BIOPSY_SEG.in_dir(folder, ids))
    rt = pydicom.dcmread(d.BIOPSY_RTSTRUCT.in_dir(folder, ids))
    first = pydicom.dcmread(sim / "sourcedata" / "dicom" / mr["source_files"][0],
                            stop_before_pixels=True)
    for ds in (seg, rt):
        assert ds.StudyInstanceUID == mr["StudyInstanceUID"]
        assert ds.FrameOfReferenceUID == mr["FrameOfReferenceUID"]
        assert (ds.PatientID, ds.PatientName) == (first.PatientID, first.PatientName)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == mr["SeriesInstanceUID"]
    referenced = {c.ContourImageSequence[0].ReferencedSOPInstanceUID
                  for roi in rt.ROIContourSequence for c in roi.ContourSequence}
    assert referenced and referenced <= set(mr["SOPInstanceUIDs"])
    assert record["dicom"]["original_files_checked"] == len(mr["SOPInstanceUIDs"])
    if shutil.which("dciodvfy"):  # Debian's dicom3tools; skipped where absent
        for path in (d.BIOPSY_SEG.in_dir(folder, ids), d.BIOPSY_RTSTRUCT.in_dir(folder, ids),
                     d.BIOPSY_PMAP.in_dir(folder, ids),
                     sorted(d.BIOPSY_MAP_DICOM.in_dir(folder, ids).iterdir())[0]):
            run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True,
                                 check=False)
            assert "Error" not in run.stdout + run.stderr, path.name
    # Every SEG frame sits where its original MR instance sits (the simulated PACS export).
    originals = {}
    for name in mr["source_files"]:
        ds = pydicom.dcmread(sim / "sourcedata" / "dicom" / name, stop_before_pixels=True)
        originals[ds.SOPInstanceUID] = np.array(ds.ImagePositionPatient, float)
    for frame in seg.PerFrameFunctionalGroupsSequence:
        uid = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        position = np.array(frame.PlanePositionSequence[0].ImagePositionPatient, float)
        np.testing.assert_allclose(position, originals[uid], atol=1e-3)
    _map_on_the_original_series(folder, ids, mr, first, originals)
    # The target in the original DICOM patient coordinates (LPS) against the phantom's truth:
    # within one MRI voxel of the true aggressive subregion (MRI grid of the phantom).
    truth = load_nifti(d.find(sim, ("001", "diagnosis"), d.TRUTH_AGGRESSIVE_T1W))
    mask = np.asarray(truth.dataobj) > 0
    ras = lps_to_ras_points(np.asarray(record["target_lps_mm"]))
    voxel = apply_affine(np.linalg.inv(truth.affine), ras)
    distance = np.linalg.norm(np.argwhere(mask) - voxel, axis=1).min()
    assert distance <= 1.0, (distance, how)
    # The exported target ROI sits at that point, in the original patient coordinates: its
    # contour points lie within the radius plus half a voxel diagonal of target_lps_mm.
    target_roi = next(roi for roi, info in zip(rt.ROIContourSequence, rt.StructureSetROISequence,
                                               strict=True) if info.ROIName == "biopsy target")
    points = np.concatenate([np.asarray(c.ContourData, float).reshape(-1, 3)
                             for c in target_roi.ContourSequence])
    half_diagonal = 0.5 * np.linalg.norm(truth.header.get_zooms()[:3])
    reach = np.linalg.norm(points - np.asarray(record["target_lps_mm"]), axis=1).max()
    assert reach <= record["radius_mm"] + half_diagonal
    seconds = time.perf_counter() - start
    print(f"DICOM chain: {seconds:.0f} s; subregion by {how}")
    # The map scored against samples drawn from the phantom's truth.
    samples = tmp_path / "samples.tsv"
    phantom_samples(sim, ("001", "diagnosis"), ids).to_csv(samples, sep="\t", index=False)
    code, _, err = run_cli("biopsy", "evaluate", bids, "--samples", samples, "--out",
                           tmp_path / "eval")
    assert code == 0, err
    summary = pd.read_csv(tmp_path / "eval" / "summary.tsv", sep="\t").set_index("measure")
    assert summary.loc["AUC: map value vs high grade", "n"] == 12


def _map_on_the_original_series(folder: Path, ids: tuple[str, str], mr: dict,
                                first: pydicom.Dataset, originals: dict) -> None:
    """The aggressiveness map's Parametric Map and derived MR series refer to the original MR
    series of the id-map, and each frame / slice sits at the position of its original instance."""
    pm = pydicom.dcmread(d.BIOPSY_PMAP.in_dir(folder, ids))
    maps = [pydicom.dcmread(f, stop_before_pixels=True)
            for f in sorted(d.BIOPSY_MAP_DICOM.in_dir(folder, ids).iterdir())]
    assert len(maps) == len(mr["SOPInstanceUIDs"])
    for ds in (pm, *maps):
        assert ds.StudyInstanceUID == mr["StudyInstanceUID"]
        assert ds.FrameOfReferenceUID == mr["FrameOfReferenceUID"]
        assert (ds.PatientID, ds.PatientName) == (first.PatientID, first.PatientName)
    assert pm.ReferencedSeriesSequence[0].SeriesInstanceUID == mr["SeriesInstanceUID"]
    placed = [(f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID,
               f.PlanePositionSequence[0].ImagePositionPatient)
              for f in pm.PerFrameFunctionalGroupsSequence]
    placed += [(m.SourceImageSequence[0].ReferencedSOPInstanceUID, m.ImagePositionPatient)
               for m in maps]
    for uid, position in placed:
        np.testing.assert_allclose(np.array(position, float), originals[uid], atol=1e-3)
    assert {uid for uid, _ in placed[-len(maps):]} == set(mr["SOPInstanceUIDs"])
