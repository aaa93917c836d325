"""Validation section ``faults``: every stage killed with SIGKILL at random points, then rerun.

The larger version of ``tests/integration/test_fault_injection.py`` (issue 10, defect 3): a tiny
phantom of `SUBJECTS` subjects with a diagnosis and a recurrence session each, and `KILLS` kills
of each of ``gliopet simulate``, ``gliopet import-dicom`` (on the phantom's DICOM),
``gliopet preprocess`` and ``gliopet quantify`` (default configuration). Each kill lands after a
seeded uniform fraction (0.03-0.97) of the stage's uninterrupted duration, every attempt starting
from what the previous kill left; a last run then goes to completion and its output is compared
file by file with an uninterrupted run's (`support.faults`, `support.compare`: identical bytes
except provenance time stamps and the QC row's wall-clock durations).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from support import faults  # noqa: E402

SUBJECTS = 2
SEED = 21
KILLS = 15


def run(cohorts) -> str:
    """Inject the faults and return the section's Markdown."""
    work = Path(cohorts.work) / "faults"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.perf_counter()
    source = faults.make_source(work, subjects=SUBJECTS, seed=SEED, scenario="both")
    outcomes = []
    for i, case in enumerate(faults.phantom_cases(work, source, subjects=SUBJECTS, seed=SEED,
                                                  scenario="both")):
        outcome = faults.inject(case, work, kills=KILLS, seed=SEED + i)
        print(f"[validate] faults: {outcome}", flush=True)
        outcomes.append(outcome)
    return _markdown(outcomes, time.perf_counter() - started)


def _markdown(outcomes: list[faults.Outcome], seconds: float) -> str:
    rows = ["| stage | uninterrupted run (s) | kills | attempts | staging found just after "
            "the kills | files compared | rerun equals the uninterrupted run | leftovers after "
            "the rerun |",
            "|---|---|---|---|---|---|---|---|"]
    for o in outcomes:
        same = "yes" if o.final_code == 0 and not o.differences else (
            f"no ({len(o.differences)}: {'; '.join(o.differences[:3])})")
        rows.append(f"| {o.stage} | {o.reference_s:.1f} | {o.kills} | {o.attempts} | "
                    f"{o.leftovers_after_kills} | {o.n_files} | {same} | {o.leftovers_at_end} |")
    total = sum(o.kills for o in outcomes)
    ok = all(o.ok for o in outcomes)
    return "\n".join([
        "## Interrupted runs (fault injection)",
        "",
        f"Tiny phantom, {SUBJECTS} subjects x 2 sessions (seed {SEED}); {total} SIGKILLs in all, "
        "each after a seeded uniform fraction (0.03-0.97) of the stage's uninterrupted duration, "
        "every attempt resuming from what the previous kill left (an attempt that finished "
        "before its kill time is not counted and its output is removed); then one run to "
        "completion, compared file by file with an uninterrupted run (identical bytes except "
        "provenance time stamps and the QC row's durations). \"Staging found just after the "
        "kills\" sums the staging folders and temporary files present right after each kill "
        "(kills that landed inside a write); \"leftovers\" those still present after the final "
        "run. "
        f"Written by `make validate` (section `faults`, {seconds / 60:.0f} min); the CI test "
        "`tests/integration/test_fault_injection.py` does the same with 22 kills on one session.",
        "",
        *rows,
        "",
        "All reruns equal the uninterrupted runs and leave nothing behind: "
        f"{'yes' if ok else 'no'}.",
    ])
