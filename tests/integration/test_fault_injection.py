"""Fault injection (issue 10, defect 3): simulate, import-dicom, preprocess and quantify are each
killed with SIGKILL at seeded random points (22 kills in all), rerun to completion, and their
outputs must equal an uninterrupted run's: the same files, identical bytes except the provenance
time stamps and the QC row's wall-clock durations (`support.compare`; preprocessing is
bit-identical run to run, defect 7), and nothing of the interrupted runs left behind.

One subject of the tiny phantom; preprocess and quantify with 15 registration iterations (the
result does not matter here, only that the rerun reproduces it). About a minute on 2 idle cores
(each run is forked from a process that has imported gliopet: `support.faults`). The larger
version (more kills, more sessions) is the ``faults`` section of ``make validate``.
"""

from __future__ import annotations

import pytest

from support import faults

pytestmark = pytest.mark.slow

KILLS = {"simulate": 6, "import-dicom": 6, "preprocess": 4, "quantify": 6}


def test_reruns_after_kills_equal_uninterrupted_runs(tmp_path):
    """One test (not one per stage), so that pytest-xdist runs the whole injection once."""
    config = tmp_path / "config.yaml"
    config.write_text("preprocess:\n  registration_iterations: 15\n")
    source = faults.make_source(tmp_path, subjects=1, seed=4)
    cases = faults.phantom_cases(tmp_path, source, subjects=1, seed=4, config=config)
    outcomes = [faults.inject(case, tmp_path, kills=KILLS[case.name], seed=10 + i)
                for i, case in enumerate(cases)]
    for outcome in outcomes:
        assert outcome.kills == KILLS[outcome.stage], outcome
        assert outcome.final_code == 0, outcome
        assert outcome.differences == [], outcome
        assert outcome.leftovers_at_end == 0, outcome  # stale staging removed by the rerun
        assert outcome.n_files > 10, outcome
    assert sum(o.kills for o in outcomes) >= 20
    assert sum(o.leftovers_after_kills for o in outcomes) > 0  # some kills landed in a write
