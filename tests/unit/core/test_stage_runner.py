"""The stage runner (`gliopet.stage`) on a toy stage: discovery, done markers, failures, tables,
provenance, joblib and Dask."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from gliopet.errors import InputError
from gliopet.stage import run_stage
from support.bids_factory import make_bids_dataset
from support.stages import TOY, TOY_FRAMES, TOY_ROW, TOY_TABLE, FrameCountStage

KEYS = ["sub-01_ses-diagnosis", "sub-02_ses-diagnosis", "sub-03_ses-diagnosis"]


@pytest.fixture
def dataset(tmp_path):
    make_bids_dataset(tmp_path / "bids", n_subjects=3, n_frames=4, shape=(4, 4, 3))
    return tmp_path / "bids"


@pytest.fixture
def errors():
    """ERROR records of the gliopet logger (it does not propagate once the CLI set it up)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append
    logger = logging.getLogger("gliopet")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_every_session_runs_and_the_table_and_provenance_are_written(dataset):
    run = run_stage(FrameCountStage(), dataset, threads=3)
    assert [o.key for o in run.outcomes] == KEYS and all(o.ok for o in run.outcomes)
    assert run.table["n_frames"].tolist() == [4, 4, 4]
    assert pd.read_csv(TOY_TABLE.path(dataset), sep="\t")["session"].tolist() == KEYS
    for key in KEYS:
        ids = tuple(key.split("_"))
        assert TOY_FRAMES.path(dataset, ids, tracer="FDOPA").is_file()
        row = json.loads(TOY_ROW.path(dataset, ids).read_text())
        assert row == {"session": key, "n_frames": 4}
        provenance = json.loads(TOY.session_provenance(dataset, ids).read_text())
        assert provenance["command"] == "toy-stage" and provenance["session"] == key
        assert provenance["threads"] == 3
        assert list(provenance["inputs_sha256"]) == [str(dataset / ids[0] / ids[1] / "pet" /
                                                          f"{key}_trc-FDOPA_pet.nii.gz")]
    stage_level = json.loads(TOY.provenance(dataset).read_text())
    assert stage_level["sessions"] == KEYS and stage_level["tables"] == ["toy.tsv"]
    assert stage_level["fail"] == []
    assert (dataset / "derivatives" / "gliopet" / "dataset_description.json").is_file()
    assert not list(TOY.root(dataset).glob("sub-*/.*"))  # no staging folder left


def test_participant_label_selects_subjects(dataset):
    run = run_stage(FrameCountStage(), dataset, participant_label=["sub-02"])
    assert [o.key for o in run.outcomes] == ["sub-02_ses-diagnosis"]
    assert sorted(p.name for p in TOY.root(dataset).glob("sub-*")) == ["sub-02"]
    with pytest.raises(InputError, match="99"):
        run_stage(FrameCountStage(), dataset, participant_label=["99"])


def test_done_sessions_are_skipped_unless_forced(dataset):
    run_stage(FrameCountStage(), dataset)
    row = TOY_ROW.path(dataset, ("01", "diagnosis"))
    stamp = row.stat().st_mtime_ns
    again = run_stage(FrameCountStage(), dataset)
    assert row.stat().st_mtime_ns == stamp
    assert [o.row for o in again.outcomes] == [{"session": k, "n_frames": 4} for k in KEYS]
    run_stage(FrameCountStage(), dataset, force=True)
    assert row.stat().st_mtime_ns != stamp


def test_a_session_without_its_row_file_is_redone(dataset):
    run_stage(FrameCountStage(), dataset)
    row = TOY_ROW.path(dataset, ("01", "diagnosis"))
    row.unlink()  # provenance alone does not mark the session done
    run_stage(FrameCountStage(), dataset)
    assert row.is_file()


def test_failed_session_gives_one_line_and_the_others_go_on(dataset, errors):
    with pytest.raises(InputError) as info:
        run_stage(FrameCountStage(fail=("02",)), dataset)
    pet = dataset / "sub-02" / "ses-diagnosis" / "pet" / "sub-02_ses-diagnosis_trc-FDOPA_pet.nii.gz"
    own = f"{pet}: this subject is meant to fail (fix: remove it from FrameCountStage.fail)"
    assert info.value.one_line() == (f"{TOY.root(dataset)}: 1 of 3 sessions failed; first: {own} "
                                     "(fix: fix the inputs of the failed sessions and rerun "
                                     "(finished sessions are skipped))")
    assert [r.getMessage() for r in errors] == [f"sub-02_ses-diagnosis: toy failed: {own}"]
    assert not TOY.session_dir(dataset, ("02", "diagnosis")).exists()  # nothing of it written
    assert TOY_ROW.path(dataset, ("03", "diagnosis")).is_file()        # the next one ran
    table = pd.read_csv(TOY_TABLE.path(dataset), sep="\t")
    assert table["error"].fillna("").tolist() == ["", own, ""]
    assert json.loads(TOY.provenance(dataset).read_text())["sessions"] == [KEYS[0], KEYS[2]]


def test_a_single_failed_session_raises_its_own_message(dataset, errors):
    with pytest.raises(InputError) as info:
        run_stage(FrameCountStage(fail=("01",)), dataset, participant_label=["01"])
    assert info.value.one_line().endswith("this subject is meant to fail (fix: remove it from "
                                          "FrameCountStage.fail)")
    assert errors == []  # the error itself is the one line
    assert not TOY.provenance(dataset).exists()  # no session finished: no stage-level record


def test_jobs_must_be_positive(dataset):
    with pytest.raises(InputError, match="--jobs must be at least 1"):
        run_stage(FrameCountStage(), dataset, jobs=0)


@pytest.mark.slow
def test_joblib_processes_give_the_serial_outcomes(dataset):
    serial = run_stage(FrameCountStage(), dataset, threads=1).table
    parallel = run_stage(FrameCountStage(), dataset, jobs=2, threads=1, force=True)
    assert [o.key for o in parallel.outcomes] == KEYS
    pd.testing.assert_frame_equal(parallel.table, serial)
    with pytest.raises(InputError, match="1 of 3 sessions failed"):
        run_stage(FrameCountStage(fail=("01",)), dataset, jobs=2, force=True)
    assert pd.read_csv(TOY_TABLE.path(dataset), sep="\t")["n_frames"].tolist()[1:] == [4, 4]


@pytest.mark.slow
def test_dask_scheduler_runs_the_sessions(dataset):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        run = run_stage(FrameCountStage(), dataset, dask_scheduler=cluster.scheduler_address)
    assert [o.key for o in run.outcomes] == KEYS and all(o.ok for o in run.outcomes)
    assert TOY.provenance(dataset).is_file()


@pytest.mark.slow
def test_unreachable_dask_scheduler_is_an_input_error(dataset):
    pytest.importorskip("distributed")
    with pytest.raises(InputError, match="cannot connect to the Dask scheduler"):
        run_stage(FrameCountStage(), dataset, dask_scheduler="tcp://127.0.0.1:9")
