"""`import-dicom` on a PET series with a duplicated slice (issue 10, defect 6): the error says
that two slices share one position (it said "a slice or frame is missing"), exit 2, nothing
written."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np

from gliopet.io.dicom import write_pet_series
from gliopet.io.timing import FrameTiming
from support.cli import run_cli


def _pet(folder: Path, n_frames: int) -> list[Path]:
    timing = FrameTiming.from_durations([300.0] * n_frames, first_start_s=600.0)
    data = np.random.default_rng(0).uniform(100.0, 5000.0, size=(5, 4, 4, n_frames))
    return write_pet_series(folder, data, np.diag([2.0, 2.0, 3.0, 1.0]), timing, weight_kg=70.0,
                            dose_bq=2.0e8, injection_datetime=dt.datetime(2026, 3, 2, 9, 30, 0),
                            patient_id="PAT-1", patient_name="Doe^John")


def _refused(tmp_path: Path, expected: str) -> None:
    bids, id_map = tmp_path / "bids", tmp_path / "ids.json"
    code, out, err = run_cli("import-dicom", tmp_path / "src", bids, "--id-map", id_map)
    assert code == 2, out + err
    assert err.strip() == f"error: {expected}"
    assert not bids.exists() and not id_map.exists()


def test_duplicated_slice_in_a_static_series(tmp_path):
    files = _pet(tmp_path / "src", 1)
    copy = files[1].with_name("zz_copy.dcm")  # sorts after every original file
    shutil.copyfile(files[1], copy)
    _refused(tmp_path, f"{copy}: two slices share one position: this file and {files[1].name} "
                       "(frame 1 has 5 slices where NumberOfSlices = 4) "
                       "(fix: remove the duplicate file or export the series again)")


def test_duplicated_slice_in_a_dynamic_series(tmp_path):
    files = _pet(tmp_path / "src", 3)
    copy = files[6].with_name("zz_copy.dcm")  # frame 2, slice 3
    shutil.copyfile(files[6], copy)
    _refused(tmp_path, f"{copy}: two slices share one position: this file and {files[6].name} "
                       "(frame 2 has 5 slices where NumberOfSlices = 4) "
                       "(fix: remove the duplicate file or export the series again)")
