"""`import-dicom` never destroys data: nested SRC/BIDS_DIR, `--overwrite` of a folder gliopet did
not write, and a BIDS_DIR filled by another program during the import (issue 10, defects 1, 4).

Each refusal is the exact one-line message with exit status 2, and afterwards every file that
was there is still there, byte for byte, and the id-map is unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pytest

from gliopet import atomic
from gliopet.io.dicom import importer, write_mr_series

OVERWRITE_FIX = ("give a new folder; gliopet never deletes a folder it did not write (remove it "
                 "yourself if it must go)")
CHANGED = ("the BIDS folder was created or filled by another program during the import; the new "
           "dataset was not moved into place and the id-map is unchanged (fix: give a new folder, "
           "or rerun when nothing else writes there)")


def _series(folder: Path) -> None:
    write_mr_series(folder, np.ones((4, 4, 2)), np.diag([1.0, 1.0, 2.0, 1.0]), sequence="T1w",
                    patient_id="P1", patient_name="X^Y",
                    study_datetime=dt.datetime(2026, 1, 5, 9, 0))


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes), hidden files included."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(run_cli, expected: str, *args: object) -> None:
    code, out, err = run_cli("import-dicom", *args)
    assert code == 2, out + err
    assert err.strip() == f"error: {expected}"


# --------------------------------------------------------------------------------------------
# Defect 1: nested folders and --overwrite


def test_overwrite_refuses_a_bids_dir_that_holds_the_source(run_cli, tmp_path):
    """The audit's reproduction: SRC inside BIDS_DIR with --overwrite deleted the DICOM files."""
    root = tmp_path / "ow"
    _series(root / "data" / "src")
    (root / "data" / "notes.txt").write_text("x\n")
    before = _snapshot(root)
    src = root / "data" / "src"
    _refused(run_cli, f"{src}: the DICOM source folder lies inside the BIDS folder, so writing or "
             "replacing the dataset would touch the source files (fix: give a BIDS_DIR that "
             "does not hold SRC)", src, root, "--id-map", tmp_path / "m.json", "--overwrite")
    assert _snapshot(root) == before
    assert not (tmp_path / "m.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ow"]  # no staging, no id-map


def test_source_inside_bids_dir_through_a_symbolic_link(run_cli, tmp_path):
    """Symbolic links are resolved: SRC given through a link that points inside BIDS_DIR."""
    _series(tmp_path / "ds" / "incoming")
    link = tmp_path / "export"
    link.symlink_to(tmp_path / "ds" / "incoming")
    before = _snapshot(tmp_path / "ds")
    _refused(run_cli, f"{link}: the DICOM source folder lies inside the BIDS folder, so writing "
             "or replacing the dataset would touch the source files (fix: give a BIDS_DIR that "
             "does not hold SRC)", link, tmp_path / "ds", "--id-map", tmp_path / "m.json",
             "--overwrite")
    assert _snapshot(tmp_path / "ds") == before


def test_bids_dir_inside_the_source(run_cli, tmp_path):
    _series(tmp_path / "src")
    before = _snapshot(tmp_path / "src")
    bids = tmp_path / "src" / "bids"
    _refused(run_cli, f"{bids}: the BIDS folder lies inside the DICOM source folder (fix: write "
             "the dataset outside SRC)", tmp_path / "src", bids, "--id-map", tmp_path / "m.json")
    assert _snapshot(tmp_path / "src") == before


def test_bids_dir_equal_to_the_source(run_cli, tmp_path):
    _series(tmp_path / "src")
    before = _snapshot(tmp_path / "src")
    src = tmp_path / "src"
    _refused(run_cli, f"{src}: the BIDS folder lies inside the DICOM source folder (fix: write "
             "the dataset outside SRC)", src, src, "--id-map", tmp_path / "m.json", "--overwrite")
    assert _snapshot(src) == before


def test_overwrite_refuses_an_unrelated_folder(run_cli, tmp_path):
    """The audit's second case: --overwrite wiped a folder holding a .docx."""
    _series(tmp_path / "src")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "thesis.docx").write_bytes(b"PK\x03\x04 not really a docx")
    _refused(run_cli, f"{docs}: --overwrite replaces only a dataset written by gliopet, and this "
             f"folder has no dataset_description.json (fix: {OVERWRITE_FIX})",
             tmp_path / "src", docs, "--id-map", tmp_path / "m.json", "--overwrite")
    assert _snapshot(docs) == {"thesis.docx": b"PK\x03\x04 not really a docx"}
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize(("content", "problem"), [
    (json.dumps({"Name": "other", "BIDSVersion": "1.9.0",
                 "GeneratedBy": [{"Name": "dcm2bids", "Version": "3.1"}]}),
     "its dataset_description.json does not name gliopet in GeneratedBy"),
    (json.dumps({"Name": "hand-made", "BIDSVersion": "1.9.0"}),
     "its dataset_description.json does not name gliopet in GeneratedBy"),
    ("{not json", "its dataset_description.json is not readable JSON"),
])
def test_overwrite_refuses_a_dataset_gliopet_did_not_write(run_cli, tmp_path, content, problem):
    _series(tmp_path / "src")
    other = tmp_path / "other"
    other.mkdir()
    (other / "dataset_description.json").write_text(content)
    (other / "sub-01").mkdir()
    (other / "sub-01" / "keep.txt").write_text("precious")
    before = _snapshot(other)
    _refused(run_cli, f"{other}: --overwrite replaces only a dataset written by gliopet, and "
             f"{problem} (fix: {OVERWRITE_FIX})",
             tmp_path / "src", other, "--id-map", tmp_path / "m.json", "--overwrite")
    assert _snapshot(other) == before


def test_overwrite_replaces_a_dataset_gliopet_wrote(run_cli, tmp_path):
    _series(tmp_path / "src")
    bids = tmp_path / "bids"
    code, _, err = run_cli("import-dicom", tmp_path / "src", bids, "--id-map", tmp_path / "m.json")
    assert code == 0, err
    (bids / "stale.txt").write_text("from an earlier run")
    code, _, err = run_cli("import-dicom", tmp_path / "src", bids, "--id-map", tmp_path / "m.json",
                           "--overwrite")
    assert code == 0, err
    assert not (bids / "stale.txt").exists()
    assert (bids / "sub-001/ses-01/anat/sub-001_ses-01_T1w.nii.gz").is_file()


def test_bids_dir_that_is_a_file(run_cli, tmp_path):
    _series(tmp_path / "src")
    target = tmp_path / "bids"
    target.write_text("a file")
    _refused(run_cli, f"{target}: the BIDS folder exists and is a file, not a folder (fix: give "
             "a new folder name)", tmp_path / "src", target, "--id-map", tmp_path / "m.json",
             "--overwrite")
    assert target.read_text() == "a file"


def test_bids_dir_that_is_a_symbolic_link(run_cli, tmp_path):
    _series(tmp_path / "src")
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "bids"
    link.symlink_to(real)
    _refused(run_cli, f"{link}: the BIDS folder is a symbolic link (fix: give the folder it "
             f"points to ({real}))", tmp_path / "src", link, "--id-map", tmp_path / "m.json")
    assert link.is_symlink() and not any(real.iterdir())


# --------------------------------------------------------------------------------------------
# Defect 4: the id-map changes only with the dataset


@pytest.fixture
def earlier_import(run_cli, tmp_path):
    """An id-map written by an earlier import, and a second source to import with it."""
    _series(tmp_path / "first")
    id_map = tmp_path / "ids.json"
    code, _, err = run_cli("import-dicom", tmp_path / "first", tmp_path / "bids1", "--id-map",
                           id_map)
    assert code == 0, err
    write_mr_series(tmp_path / "second", np.ones((4, 4, 2)), np.diag([1.0, 1.0, 2.0, 1.0]),
                    sequence="T2w", patient_id="P2", patient_name="Z^W")
    return id_map


def _intruder(bids: Path) -> None:
    bids.mkdir(exist_ok=True)
    (bids / "intruder.txt").write_text("written by another program")


def _nothing_changed(tmp_path: Path, bids: Path, id_map: Path, id_map_bytes: bytes) -> None:
    assert id_map.read_bytes() == id_map_bytes
    assert _snapshot(bids) == {"intruder.txt": b"written by another program"}
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no staging folder, no temporary id-map


def test_bids_dir_filled_during_the_import(run_cli, tmp_path, monkeypatch, earlier_import):
    """Another program writes to BIDS_DIR while the series are converted: exit 2, id-map kept."""
    id_map, bids = earlier_import, tmp_path / "bids2"
    before = id_map.read_bytes()
    convert = importer._convert

    def convert_and_intrude(*args, **kwargs):
        result = convert(*args, **kwargs)
        _intruder(bids)
        return result

    monkeypatch.setattr(importer, "_convert", convert_and_intrude)
    _refused(run_cli, f"{bids}: {CHANGED}", tmp_path / "second", bids, "--id-map", id_map)
    _nothing_changed(tmp_path, bids, id_map, before)


def test_bids_dir_filled_just_before_the_move(run_cli, tmp_path, monkeypatch, earlier_import):
    """The folder fills after the last check, inside the move itself (the FileExistsError of
    the staged move): the same message, the id-map unchanged."""
    id_map, bids = earlier_import, tmp_path / "bids2"
    before = id_map.read_bytes()
    monkeypatch.setattr(importer, "_check_target_unchanged",
                        lambda bids_dir, overwrite: _intruder(bids_dir))
    _refused(run_cli, f"{bids}: {CHANGED}", tmp_path / "second", bids, "--id-map", id_map)
    _nothing_changed(tmp_path, bids, id_map, before)


def test_new_id_map_not_created_when_the_import_fails(run_cli, tmp_path, monkeypatch):
    _series(tmp_path / "src")
    bids, id_map = tmp_path / "bids", tmp_path / "maps" / "ids.json"
    monkeypatch.setattr(importer, "_check_target_unchanged",
                        lambda bids_dir, overwrite: _intruder(bids_dir))
    _refused(run_cli, f"{bids}: {CHANGED}", tmp_path / "src", bids, "--id-map", id_map)
    assert not id_map.exists() and not any(id_map.parent.iterdir())


def test_id_map_written_after_the_dataset_and_owner_only(run_cli, tmp_path, monkeypatch):
    """The id-map appears only once the dataset is in place, with mode 0600 from its creation."""
    _series(tmp_path / "src")
    bids, id_map = tmp_path / "bids", tmp_path / "ids.json"
    seen = []
    real_replace = os.replace

    def watching_replace(source, target):
        if Path(target) == id_map:
            seen.append((bids.is_dir(), os.stat(source).st_mode & 0o777))
        return real_replace(source, target)

    monkeypatch.setattr(atomic.os, "replace", watching_replace)
    code, _, err = run_cli("import-dicom", tmp_path / "src", bids, "--id-map", id_map)
    assert code == 0, err
    assert seen == [(True, 0o600)]
    assert json.loads(id_map.read_text())["subjects"] == {"P1": "001"}


def test_a_killed_imports_pending_id_map_is_removed_by_the_next_import(run_cli, tmp_path):
    """A kill -9 between writing the pending id-map and moving it leaves a temporary file with
    identifiers beside the id-map; no writer holds its lock, so the next import removes it."""
    _series(tmp_path / "src")
    id_map = tmp_path / "ids.json"
    stale = tmp_path / ".ids.json.k1ll3dxx.tmp.json"  # named as gliopet.atomic names it
    stale.write_text('{"subjects": {"P1": "001"}}')
    other = tmp_path / ".ids.json.notes"  # not gliopet's naming: left alone
    other.write_text("kept")
    code, _, err = run_cli("import-dicom", tmp_path / "src", tmp_path / "bids", "--id-map",
                           id_map)
    assert code == 0, err
    assert not stale.exists() and other.read_text() == "kept"
    assert id_map.stat().st_mode & 0o777 == 0o600
