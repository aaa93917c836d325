"""`gliopet demo` resumes: finished stages (marker in OUT/.demo-state) are skipped, a failed
stage and the ones after it run again, changed settings rerun a stage and drop later markers;
bad --size; every stage verb of the demo exists in this version or is reported missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gliopet.cli import app
from gliopet.cli.demo_stages import (
    DemoStage,
    DemoState,
    demo_stages,
    registered_verbs,
    run_stages,
    summary_lines,
)
from support.bids_factory import make_bids_dataset


def _stages(tmp_path: Path) -> list[DemoStage]:
    return [DemoStage("a", ("simulate", "1"), "first"), DemoStage("b", ("preprocess", "2"), "2nd"),
            DemoStage("c", ("quantify", "3"), "third")]


class Runner:
    """Records the command lines it runs; fails those in ``fail``."""

    def __init__(self, fail: set[str] = frozenset()) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    def __call__(self, argv: list[str]) -> int:
        self.calls.append(argv)
        return 3 if argv[0] in self.fail else 0


def test_interrupted_run_resumes_without_redoing_finished_stages(tmp_path):
    stages, state, verbs = _stages(tmp_path), DemoState(tmp_path), {"simulate", "preprocess",
                                                                     "quantify"}
    first = run_stages(stages, state, verbs, Runner(fail={"quantify"}), lambda _: None)
    assert [o.status for o in first] == ["ran", "ran", "failed"] and first[-1].code == 3
    markers = {s.name: state.marker(s) for s in stages}
    assert markers["a"].is_file() and markers["b"].is_file() and not markers["c"].exists()
    stamp = markers["a"].stat().st_mtime_ns
    record = json.loads(markers["a"].read_text())
    assert record["argv"] == ["simulate", "1"] and record["seconds"] >= 0
    runner, lines = Runner(), []
    second = run_stages(stages, state, verbs, runner, lines.append)
    assert [o.status for o in second] == ["skipped", "skipped", "ran"]
    assert runner.calls == [["quantify", "3"]]  # only the unfinished stage ran
    assert markers["a"].stat().st_mtime_ns == stamp
    assert "[1/3] a: finished before, skipped" in "\n".join(lines)


def test_changed_settings_rerun_the_stage_and_drop_later_markers(tmp_path):
    stages, state = _stages(tmp_path), DemoState(tmp_path)
    verbs = {"simulate", "preprocess", "quantify"}
    run_stages(stages, state, verbs, Runner(), lambda _: None)
    changed = [stages[0], DemoStage("b", ("preprocess", "other"), "2nd"), stages[2]]
    runner = Runner(fail={"preprocess"})
    outcomes = run_stages(changed, state, verbs, runner, lambda _: None)
    assert [o.status for o in outcomes] == ["skipped", "failed"]
    assert not state.marker(stages[2]).exists()  # its input (b) is being replaced


def test_read_only_stage_keeps_later_markers(tmp_path):
    stages = [DemoStage("v", ("validate", "x"), "reads", changes=False),
              DemoStage("q", ("quantify", "y"), "writes")]
    state = DemoState(tmp_path)
    state.mark(stages[1], 1.0)
    runner = Runner()
    run_stages(stages, state, {"validate", "quantify"}, runner, lambda _: None)
    assert runner.calls == [["validate", "x"]]


def test_unregistered_verb_and_its_dependants_are_not_available(tmp_path):
    stages = [DemoStage("sig", ("signature", "x"), "wp2"),
              DemoStage("bio", ("biopsy", "x"), "wp2", needs=("sig",)),
              DemoStage("q", ("quantify", "y"), "q")]
    runner = Runner()
    outcomes = run_stages(stages, DemoState(tmp_path), {"quantify", "biopsy"}, runner,
                          lambda _: None)
    assert [o.status for o in outcomes] == ["not available", "not available", "ran"]
    text = "\n".join(summary_lines(outcomes, tmp_path))
    assert "sig" in text and "not available" in text and "nan" not in text.lower()


def test_demo_stage_verbs_exist_in_this_version(tmp_path):
    verbs = registered_verbs(app)
    stages = demo_stages(tmp_path, 6, 1, "small", verbs)
    names = [s.name for s in stages]
    assert names[:6] == ["simulate", "validate", "info", "preprocess", "quantify",
                         "phantom-report"] and names[-1] == "report"
    assert {"simulate", "preprocess", "quantify", "report", "radiomics", "classify"} <= verbs
    assert "--external-site" in stages[names.index("classify")].argv


@pytest.fixture
def tiny_bids(tmp_path) -> Path:
    root = tmp_path / "bids"
    make_bids_dataset(root, n_subjects=1)
    return root


def test_demo_cli_resumes_after_a_failed_stage(run_cli, tmp_path, tiny_bids, monkeypatch):
    import gliopet.cli.demo_cmd as demo_cmd

    good = [DemoStage("validate", ("validate", str(tiny_bids)), "checks"),
            DemoStage("info", ("info", str(tiny_bids)), "lists")]
    broken = [*good, DemoStage("quantify", ("quantify", str(tmp_path / "missing")), "fails")]
    monkeypatch.setattr(demo_cmd, "demo_stages", lambda *a: broken)
    out = tmp_path / "demo"
    code, stdout, stderr = run_cli("demo", out)
    assert code == 2, stdout + stderr
    assert "demo stopped: `gliopet quantify` exited with status 2; rerun the same command to " \
           "resume" in stderr
    marker = out / ".demo-state" / "validate.json"
    stamp = marker.stat().st_mtime_ns
    fixed = [*good, DemoStage("quantify", ("info", str(tiny_bids)), "fixed")]
    monkeypatch.setattr(demo_cmd, "demo_stages", lambda *a: fixed)
    code, stdout, stderr = run_cli("demo", out)
    assert code == 0, stdout + stderr
    assert "[1/3] validate: finished before, skipped" in stdout
    assert "[2/3] info: finished before, skipped" in stdout
    assert "[3/3] $ gliopet info" in stdout
    assert marker.stat().st_mtime_ns == stamp


def test_demo_bad_size(run_cli, tmp_path):
    code, _, stderr = run_cli("demo", tmp_path / "demo", "--size", "huge")
    assert code == 2
    assert "the '--size' parameter must be one of small, full; got 'huge' instead" in stderr


def test_failed_optional_stage_lets_the_demo_go_on(tmp_path):
    stages = [DemoStage("bio", ("biopsy", "x"), "wp2", optional=True, changes=False),
              DemoStage("q", ("quantify", "y"), "q")]
    state, lines = DemoState(tmp_path), []
    outcomes = run_stages(stages, state, {"biopsy", "quantify"}, Runner(fail={"biopsy"}),
                          lines.append)
    assert [o.status for o in outcomes] == ["failed", "ran"]
    assert "bio failed (exit status 3); it is optional: going on" in lines
    assert not state.marker(stages[0]).exists() and state.marker(stages[1]).is_file()
