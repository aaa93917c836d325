"""Shared mechanics: configuration, atomic writes, provenance, frame timing, BIDS names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gliopet import __version__
from gliopet.atomic import staged_directory, write_json, write_text
from gliopet.config import load_config
from gliopet.errors import InputError
from gliopet.io.bids_names import bids_name, parse_entities
from gliopet.io.timing import FrameTiming
from gliopet.provenance import sha256_file, write_provenance


def test_config_defaults_and_override(tmp_path):
    cfg = load_config()
    assert cfg.quant.static_window_min == (10.0, 30.0)
    user = tmp_path / "user.yaml"
    user.write_text("quant:\n  static_window_min: [20, 40]\n")
    assert load_config(user).quant.static_window_min == (20.0, 40.0)
    assert load_config(user).io == cfg.io


def test_config_unknown_key_is_refused_with_its_name(tmp_path):
    user = tmp_path / "user.yaml"
    user.write_text("quant:\n  static_windw_min: [20, 40]\n")
    with pytest.raises(InputError, match=r"configuration key 'quant.static_windw_min'"):
        load_config(user)


def test_config_decreasing_window_refused(tmp_path):
    user = tmp_path / "user.yaml"
    user.write_text("quant:\n  static_window_min: [40, 20]\n")
    with pytest.raises(InputError, match="range must be increasing"):
        load_config(user)


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    target = write_text(tmp_path / "a.txt", "hello")
    assert target.read_text() == "hello"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_staged_directory_keeps_old_output_on_failure(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    with pytest.raises(RuntimeError), staged_directory(out, overwrite=True) as staging:
        (staging / "new.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_provenance_records_hashes_versions_and_config(tmp_path):
    data = tmp_path / "input.bin"
    data.write_bytes(b"abc")
    path = write_provenance(tmp_path, command="test", config={"seed": 1}, inputs=[data])
    record = json.loads(path.read_text())
    assert record["inputs_sha256"][str(data)] == sha256_file(data)
    assert record["inputs_sha256"][str(data)].startswith("ba7816bf")  # SHA-256 of b"abc"
    assert record["versions"]["gliopet"] == __version__
    assert record["config"] == {"seed": 1}
    assert "not a medical device" in record["disclaimer"]


def test_write_json_converts_numpy(tmp_path):
    path = write_json(tmp_path / "x.json", {"a": np.float32(1.5), "b": np.arange(3)})
    assert json.loads(path.read_text()) == {"a": 1.5, "b": [0, 1, 2]}


def test_frame_timing_mid_times_from_injection():
    timing = FrameTiming.from_bids([30, 60, 120], [30, 60, 60], injection_start_s=30)
    np.testing.assert_allclose(timing.start_s, [0, 30, 90])
    np.testing.assert_allclose(timing.mid_min, [0.25, 1.0, 2.0])
    assert timing.problems() == []


def test_frame_timing_overlap_that_looks_like_end_times():
    timing = FrameTiming.from_bids([0, 10, 20, 30], [10, 20, 30, 40])
    (problem,) = timing.problems()
    assert "overlap the next frame" in problem
    assert "look like frame end times" in problem


def test_frame_timing_zero_duration_and_not_increasing():
    problems = FrameTiming.from_bids([0, 10, 5], [10, 0, 5]).problems()
    assert any("zero or negative for frame(s) 1" in p for p in problems)
    assert any("not increasing at frame(s) 2" in p for p in problems)


def test_frame_timing_window_weights_are_duration_weighted():
    timing = FrameTiming.from_durations([300] * 2 + [600] * 2)  # mid-times 2.5, 7.5, 15, 25 min
    weights = timing.window_weights(600, 1800)
    np.testing.assert_allclose(weights, [0, 0, 0.5, 0.5])
    with pytest.raises(ValueError, match="no frame has its mid-time inside"):
        timing.window_weights(5000, 6000)


def test_bids_names_follow_entity_order():
    assert (
        bids_name("01", "diagnosis", "pet", trc="FDOPA")
        == "sub-01_ses-diagnosis_trc-FDOPA_pet.nii.gz"
    )
    name = bids_name("01", "a", "mask", desc="brain", space="pet")
    assert name == "sub-01_ses-a_space-pet_desc-brain_mask.nii.gz"
    assert parse_entities(name) == {
        "sub": "01",
        "ses": "a",
        "space": "pet",
        "desc": "brain",
        "suffix": "mask",
    }
    with pytest.raises(ValueError, match="alphanumeric"):
        bids_name("0_1", None, "pet")


def test_cli_version_and_usage_errors(run_cli):
    code, out, _ = run_cli("--version")
    assert code == 0 and out.strip() == f"gliopet {__version__}"
    code, _, _ = run_cli("no-such-verb")
    assert code == 2


def test_cli_internal_error_exits_1_with_one_line(run_cli, monkeypatch, tmp_path):
    import gliopet.io.bids_read as bids_read

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(bids_read, "read_dataset", broken)
    code, _, err = run_cli("info", tmp_path)
    assert code == 1
    assert err.strip() == (
        "internal error: RuntimeError: simulated bug (this is a bug in gliopet: rerun with "
        "--debug and report the traceback)"
    )
    with pytest.raises(RuntimeError, match="simulated bug"):
        run_cli("--debug", "info", tmp_path)


def test_cli_input_error_is_one_line_with_fix(run_cli, tmp_path):
    code, out, err = run_cli("validate", tmp_path / "missing")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
