"""gliopet.atomic: output permissions follow the umask (issue 10, defect 8) and the staging left by
interrupted runs is removed, only it, and never while its writer runs (defect 3)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from gliopet.atomic import (
    atomic_path,
    current_umask,
    is_stale,
    remove_stale,
    staged_directory,
    write_bytes,
    write_json,
    write_nifti,
    write_text,
    write_tsv,
)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def test_current_umask_is_the_process_umask(umask):
    assert current_umask() == umask


def test_files_and_folders_get_the_modes_of_the_umask(tmp_path, umask):
    files = [write_text(tmp_path / "a.txt", "a"), write_bytes(tmp_path / "b.bin", b"b"),
             write_json(tmp_path / "c.json", {"c": 1}),
             write_tsv(tmp_path / "d.tsv", pd.DataFrame({"d": [1]})),
             write_nifti(tmp_path / "e.nii.gz", nib.Nifti1Image(np.zeros((2, 2, 2)), np.eye(4)))]
    with staged_directory(tmp_path / "out") as staging:
        files.append(write_text(staging / "inner.txt", "x"))
        (staging / "sub").mkdir()
    for path in files:
        path = tmp_path / "out" / path.name if path.name == "inner.txt" else path
        assert mode(path) == 0o666 & ~umask, path
    assert mode(tmp_path / "out") == 0o777 & ~umask
    assert mode(tmp_path / "out" / "sub") == 0o777 & ~umask


def test_private_files_are_for_the_owner_only(tmp_path, umask):
    assert mode(write_json(tmp_path / "id-map.json", {"PatientID": "x"}, private=True)) == 0o600
    assert mode(write_text(tmp_path / "t.txt", "x", private=True)) == 0o600
    with atomic_path(tmp_path / "p.json", private=True) as tmp:
        tmp.write_text("{}")
    assert mode(tmp_path / "p.json") == 0o600


# ---------------------------------------------------------------------------- stale staging
TOKEN = "k3j9x0a2"  # 8 characters of [a-z0-9_], as tempfile makes them


def test_remove_stale_removes_exactly_what_gliopet_names(tmp_path):
    folder = tmp_path / "quant"
    stale_dirs = [folder / f".sub-001.{TOKEN}.partial", folder / f".sub-002.{TOKEN}.old",
                  folder / "sub-003" / f".ses-diagnosis.{TOKEN}.partial"]
    stale_files = [folder / f".quant.tsv.{TOKEN}.tmp.tsv", folder / f".x.json.{TOKEN}.tmp"]
    kept_dirs = [folder / ".git", folder / ".notes.partial", folder / ".ses-diagnosis.abc.partial",
                 folder / f".ses-a.{TOKEN}X.partial", folder / "sub-003" / "ses-diagnosis"]
    kept_files = [folder / ".hidden.txt", folder / f".sub-009.{TOKEN}.partial",  # a file
                  folder / "quant.tsv", folder / f"sub-001.{TOKEN}.partial.txt"]
    for path in stale_dirs + kept_dirs:
        path.mkdir(parents=True)
        (path / "data.txt").write_text("x")
    for path in stale_files + kept_files:
        path.write_text("x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (folder / f".sub-004.{TOKEN}.partial").symlink_to(elsewhere)
    removed = remove_stale(folder, depth=1)
    assert sorted(removed) == sorted(stale_dirs + stale_files)
    assert not any(p.exists() for p in stale_dirs + stale_files)
    assert all(p.exists() for p in kept_dirs + kept_files)
    assert elsewhere.is_dir() and (folder / f".sub-004.{TOKEN}.partial").is_symlink()


def test_remove_stale_by_name_and_depth(tmp_path):
    mine, other = tmp_path / f".out.{TOKEN}.partial", tmp_path / f".other.{TOKEN}.partial"
    deep = tmp_path / "sub-01" / "ses-a" / f".x.{TOKEN}.partial"
    for path in (mine, other, deep):
        path.mkdir(parents=True)
    assert remove_stale(tmp_path, names=["out"]) == [mine]
    assert other.exists() and remove_stale(tmp_path, depth=1) == [other]
    assert deep.exists() and remove_stale(tmp_path, depth=2) == [deep]


def test_staging_in_use_in_this_process_is_kept(tmp_path):
    with staged_directory(tmp_path / "out") as staging, atomic_path(tmp_path / "t.tsv") as tmp:
        tmp.write_text("x")
        assert not is_stale(staging) and not is_stale(tmp)
        assert remove_stale(tmp_path) == []
    assert (tmp_path / "out").is_dir() and (tmp_path / "t.tsv").is_file()


WRITER = textwrap.dedent("""
    import sys, time
    from gliopet.atomic import atomic_path, staged_directory
    with staged_directory(sys.argv[1]) as staging, atomic_path(sys.argv[2]) as tmp:
        (staging / "half.txt").write_text("x")
        tmp.write_text("x")
        print("ready", flush=True)
        time.sleep(60)
""")


def test_staging_of_a_killed_writer_is_removed_and_of_a_running_one_kept(tmp_path):
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "out"),
                               str(tmp_path / "table.tsv")], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        leftovers = sorted(p.name for p in tmp_path.iterdir())
        assert len(leftovers) == 2 and leftovers[0].startswith(".out.")
        assert remove_stale(tmp_path) == []  # the writer runs: its staging is in use
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert len(remove_stale(tmp_path)) == 2
    assert list(tmp_path.iterdir()) == []


def test_staged_directory_first_removes_stale_staging_of_its_target(tmp_path):
    stale, other = tmp_path / f".out.{TOKEN}.partial", tmp_path / f".other.{TOKEN}.partial"
    stale.mkdir()
    other.mkdir()
    with staged_directory(tmp_path / "out") as staging:
        (staging / "a.txt").write_text("a")
    assert not stale.exists() and other.exists()
    assert (tmp_path / "out" / "a.txt").is_file()


def test_failure_removes_the_parent_folders_made_for_the_staging(tmp_path):
    (tmp_path / "quant").mkdir()
    with pytest.raises(RuntimeError), staged_directory(tmp_path / "quant" / "sub-001" / "ses-a"):
        raise RuntimeError("the session failed")
    assert [p.name for p in tmp_path.iterdir()] == ["quant"]
    assert list((tmp_path / "quant").iterdir()) == []


def test_replacing_an_older_folder_leaves_no_old_copy(tmp_path):
    for text in ("first", "second"):
        with staged_directory(tmp_path / "out", overwrite=True) as staging:
            (staging / "a.txt").write_text(text)
    assert (tmp_path / "out" / "a.txt").read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
