"""Fault injection: kill gliopet stages with SIGKILL at seeded random times, rerun them to
completion, and compare their outputs with an uninterrupted run's (issue 10, defect 3).

Each run of a stage is a separate process running the gliopet command line (`gliopet.cli.main`,
as the console script does), forked from a server process that has imported gliopet once (the
cheap trick that keeps twenty kills within a minute: a fresh interpreter spends seconds on
imports before any work; the configuration files are still read by each run). A kill is
``SIGKILL``: no handler, no cleanup, exactly ``kill -9``.

`inject` runs one stage: first uninterrupted (the reference, whose duration T is measured), then
on a fresh copy of its input attempt after attempt, each killed after ``f x T`` with ``f`` drawn
from a seeded uniform(0.03, 0.97); every attempt starts from what the previous one left. An
attempt that ends before its kill time is not a kill: its output is removed and the next attempt
starts afresh. After the kills a last run goes to completion, and its output is compared with
the reference's file by file (`support.compare`: identical bytes except provenance time stamps
and wall-clock durations).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from support.compare import files, tree_differences

#: Imported once by the server process, so that each forked run starts working at once (every
#: gliopet module: the runs use the code as it was at the start, even if the tree changes).
PRELOAD = ["support.preload", "SimpleITK", "pandas", "nibabel"]


def _context() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _child(args: Sequence[str], log: str) -> None:
    """A run: ``gliopet ARGS`` with stdout and stderr appended to `log`; exits with its status."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    from gliopet.cli import main

    code = main([str(a) for a in args])
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


@dataclass
class Run:
    """One process: its exit status (None when killed), seconds run, and whether it was killed."""

    code: int | None
    seconds: float
    killed: bool


def run(args: Sequence[str], log: Path, kill_after_s: float | None = None) -> Run:
    """``gliopet ARGS`` in a forked process, killed with SIGKILL after `kill_after_s` (when it
    is still running then)."""
    process = _context().Process(target=_child, args=(list(map(str, args)), str(log)))
    start = time.perf_counter()
    process.start()
    process.join(kill_after_s)
    killed = process.is_alive()
    if killed:
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    return Run(None if killed else process.exitcode, time.perf_counter() - start, killed)


@dataclass
class StageCase:
    """A stage to inject faults into.

    ``prepare(folder)`` builds a fresh input under `folder` and returns the command line
    (arguments of ``gliopet``) and the output folder to compare; ``dataset(folder)`` is the
    folder whose path the outputs may spell (replaced by ``<root>`` when comparing);
    ``reset(output)`` removes what a completed attempt wrote so that the next one starts again.
    """

    name: str
    prepare: Callable[[Path], tuple[list[str], Path]]
    dataset: Callable[[Path], Path]
    reset: Callable[[Path], None] = field(default=lambda out: shutil.rmtree(out, True))


@dataclass
class Outcome:
    """Result of `inject` for one stage."""

    stage: str
    reference_s: float
    kills: int
    attempts: int
    kill_times_s: list[float]
    final_code: int | None
    n_files: int
    differences: list[str]
    leftovers_after_kills: int
    leftovers_at_end: int
    seconds: float

    @property
    def ok(self) -> bool:
        """The last run succeeded, its output equals the reference's and nothing of the
        interrupted runs is left."""
        return self.final_code == 0 and not self.differences and not self.leftovers_at_end


def _leftovers(folder: Path) -> int:
    """Staging folders and temporary files (hidden, gliopet's naming) under `folder`."""
    from gliopet.atomic import STAGING_FOLDER, TEMPORARY_FILE

    return sum(1 for p in folder.rglob(".*")
               if STAGING_FOLDER.match(p.name) or TEMPORARY_FILE.match(p.name))


def inject(case: StageCase, work: Path, *, kills: int, seed: int,
           max_attempts: int | None = None) -> Outcome:
    """Kill `case` `kills` times at seeded random points, rerun, compare (module docstring)."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    reference_dir, trial_dir = work / f"{case.name}-reference", work / f"{case.name}-trial"
    args, reference_out = case.prepare(reference_dir)
    reference = run(args, work / f"{case.name}-reference.log")
    if reference.code != 0:
        raise RuntimeError(f"{case.name}: the reference run failed (see "
                           f"{work / f'{case.name}-reference.log'})")
    args, out = case.prepare(trial_dir)
    log = work / f"{case.name}-trial.log"
    done, attempts, times, leftovers = 0, 0, [], 0
    while done < kills and attempts < (max_attempts or 3 * kills):
        attempts += 1
        delay = float(rng.uniform(0.03, 0.97)) * reference.seconds
        attempt = run(args, log, kill_after_s=delay)
        if attempt.killed:
            done += 1
            times.append(round(delay, 2))
            leftovers += _leftovers(trial_dir)
        elif attempt.code == 0:
            case.reset(out)
        else:
            raise RuntimeError(f"{case.name}: a rerun after a kill failed (see {log})")
    final = run(args, log, kill_after_s=60 + 20 * reference.seconds)  # a hung run fails
    differences = tree_differences(reference_out, out, dataset_a=case.dataset(reference_dir),
                                   dataset_b=case.dataset(trial_dir))
    return Outcome(case.name, round(reference.seconds, 2), done, attempts, times, final.code,
                   len(files(reference_out)), differences, leftovers, _leftovers(trial_dir),
                   round(time.perf_counter() - started, 1))


# ---------------------------------------------------------------------------- the four stages
def phantom_cases(work: Path, source: Path, *, subjects: int, seed: int,
                  scenario: str = "diagnosis", config: Path | None = None) -> list[StageCase]:
    """The cases of simulate, import-dicom, preprocess and quantify on a tiny phantom, in the
    order to run them with `inject` under `work`.

    `source` is a finished ``gliopet simulate --dicom`` dataset of the same `subjects` and `seed`
    (`make_source`: the DICOM input of import-dicom and the BIDS input of preprocess); the
    preprocess case's reference output is quantify's input. The import-dicom case compares the
    dataset and the id-map beside it. `config` is given to preprocess and quantify.
    """
    options = [] if config is None else ["--config", str(config)]
    simulate = _simulate_args(subjects, seed, scenario)

    def simulate_case(folder: Path) -> tuple[list[str], Path]:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return ["simulate", str(folder / "bids"), *simulate], folder / "bids"

    def import_case(folder: Path) -> tuple[list[str], Path]:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return (["import-dicom", str(source / "sourcedata" / "dicom"), str(folder / "bids"),
                 "--id-map", str(folder / "id-map.json")], folder)

    def bids_copy(folder: Path) -> Path:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(source, folder / "bids",
                        ignore=shutil.ignore_patterns("sourcedata", "gliopet"))
        return folder / "bids"

    def preprocess_case(folder: Path) -> tuple[list[str], Path]:
        root = bids_copy(folder)
        return ["preprocess", str(root), *options], root / "derivatives" / "gliopet"

    def quantify_case(folder: Path) -> tuple[list[str], Path]:
        shutil.rmtree(folder, ignore_errors=True)
        preprocessed = work / "preprocess-reference" / "bids"
        shutil.copytree(preprocessed, folder / "bids")
        quant = folder / "bids" / "derivatives" / "gliopet" / "quant"
        return ["quantify", str(folder / "bids"), *options], quant

    def bids_of(folder: Path) -> Path:
        return folder / "bids"

    def reset_stage(out: Path) -> None:
        shutil.rmtree(out, ignore_errors=True)

    def reset_preprocess(out: Path) -> None:
        shutil.rmtree(out / "preprocess", ignore_errors=True)

    def folder_of(folder: Path) -> Path:
        return folder

    return [StageCase("simulate", simulate_case, bids_of, reset_stage),
            StageCase("import-dicom", import_case, folder_of, _reset_import),
            StageCase("preprocess", preprocess_case, bids_of, reset_preprocess),
            StageCase("quantify", quantify_case, bids_of, reset_stage)]


def _reset_import(out: Path) -> None:
    """A completed import: remove the dataset and the id-map (`out` holds both)."""
    shutil.rmtree(out / "bids", ignore_errors=True)
    (out / "id-map.json").unlink(missing_ok=True)


def _simulate_args(subjects: int, seed: int, scenario: str) -> list[str]:
    return ["--subjects", str(subjects), "--seed", str(seed), "--profile", "tiny", "--scenario",
            scenario]


def make_source(work: Path, *, subjects: int, seed: int, scenario: str = "diagnosis") -> Path:
    """``gliopet simulate --dicom`` of the tiny phantom under `work` (the input of the cases)."""
    root = work / "source" / "bids"
    shutil.rmtree(root.parent, ignore_errors=True)
    root.parent.mkdir(parents=True)
    result = run(["simulate", str(root), *_simulate_args(subjects, seed, scenario), "--dicom"],
                 work / "source.log")
    if result.code != 0:
        raise RuntimeError(f"simulate --dicom failed (see {work / 'source.log'})")
    return root
