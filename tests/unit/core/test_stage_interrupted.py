"""The stage runner after an interrupted run (issue 10, defects 3 and 8), on the toy stage:
stale staging removed at the start, only gliopet's, a failed session leaves no empty folder,
outputs readable as the umask allows."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from gliopet.errors import InputError
from gliopet.io import derivatives as d
from gliopet.stage import run_stage
from support.bids_factory import make_bids_dataset
from support.stages import TOY, TOY_TABLE, FrameCountStage

TOKEN = "k3j9x0a2"  # the random part tempfile gives a name


@pytest.fixture
def dataset(tmp_path):
    make_bids_dataset(tmp_path / "bids", n_subjects=2, n_frames=4, shape=(4, 4, 3))
    return tmp_path / "bids"


def test_stale_staging_of_an_interrupted_run_is_removed_at_the_start(dataset):
    run_stage(FrameCountStage(), dataset)
    stage, session = TOY.root(dataset), TOY.session_dir(dataset, ("01", "diagnosis"))
    stale = [session.with_name(f".ses-diagnosis.{TOKEN}.partial"),      # a killed session
             stage / f".toy.tsv.{TOKEN}.tmp.tsv",                       # a killed table write
             d.pipeline_root(dataset) / f".dataset_description.json.{TOKEN}.tmp.json"]
    kept = [session.with_name(".ses-diagnosis.abc.partial"), stage / ".notes", stage / ".git"]
    for path in stale[:1] + kept[:1] + kept[2:]:
        path.mkdir()
    for path in stale[1:] + kept[1:2]:
        path.write_text("x")
    run_stage(FrameCountStage(), dataset)  # every session done: only the cleaning happens
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)
    assert pd.read_csv(TOY_TABLE.path(dataset), sep="\t")["session"].tolist() == [
        "sub-01_ses-diagnosis", "sub-02_ses-diagnosis"]


def test_a_failed_session_leaves_no_empty_subject_folder(dataset):
    with pytest.raises(InputError, match="meant to fail"):
        run_stage(FrameCountStage(fail=("01",)), dataset)
    assert not (TOY.root(dataset) / "sub-01").exists()
    assert TOY.session_dir(dataset, ("02", "diagnosis")).is_dir()


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_stage_outputs_follow_the_umask(dataset, umask):
    previous = os.umask(umask)
    try:
        run_stage(FrameCountStage(), dataset)
    finally:
        os.umask(previous)
    paths = [p for p in d.pipeline_root(dataset).rglob("*")]
    assert len(paths) > 8
    for path in paths:
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
