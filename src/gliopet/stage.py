"""The stage runner: one session loop for every per-session stage (preprocess, quantify, ...).

`run_stage` does, for any `Stage`:

1. session discovery with the dataset checks of `gliopet validate`
   (`gliopet.io.validate.usable_sessions`: the first error refuses the run before any work;
   ``--participant-label``), after
   removing what an interrupted run of the stage left (staging folders and temporary files that
   no running writer holds: `gliopet.atomic.remove_stale`);
2. per session: skip it when done (its ``provenance.json`` and its row file exist) unless
   ``force``; let the stage refuse it early (`Stage.check`); build its folder under a temporary
   name (`gliopet.atomic.staged_directory`), run `Stage.run_session`, write the row and a
   per-session ``provenance.json``, and move the folder into place;
3. sessions in parallel with joblib (``jobs`` processes) or on a Dask cluster
   (``dask_scheduler``, a trusted scheduler: results come back pickled; ``tls://`` with
   ``dask_security``: `gliopet.cluster`), behind a progress bar (`gliopet.progress.track`);
4. one log line per failed session while the others go on (a session fails with an
   `InputError`; nothing of it is written);
5. the stage's tables (`Stage.write_tables`), the derivatives' ``dataset_description.json`` and
   a stage-level ``provenance.json``;
6. one `InputError` at the end when sessions failed: the session's own message when it was the
   only one, else a count with the first message.

A stage is a small object: its folder and row file (from `gliopet.io.derivatives`),
`run_session` returning a typed result, `row(result)`, `inputs(result)` and `write_tables`.
It must pickle (joblib and Dask send it to the workers): keep its fields plain.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import pandas as pd

from gliopet.config import Config, load_config
from gliopet.errors import InputError
from gliopet.io import derivatives
from gliopet.io.derivatives import Derivative, IdsLike, StageFolder
from gliopet.io.session import Session
from gliopet.progress import logger, track

R = TypeVar("R")


@dataclass(frozen=True)
class SessionContext:
    """What a stage's `run_session` gets besides the session.

    Attributes
    ----------
    root : Path
        The BIDS dataset root.
    out : Path
        The session's staging folder: write every output here (it becomes the session folder).
    config : Config
        Resolved configuration.
    threads : int
        Threads this session may use (CPU count divided by the parallel sessions).
    """

    root: Path
    out: Path
    config: Config
    threads: int = 1


@dataclass(frozen=True)
class SessionWriter:
    """Writes a session's files under their contract names inside a (staging) folder.

    ``tracer`` fills the ``trc-`` entity of derivatives that carry one (None: left out).
    """

    directory: Path
    ids: tuple[str, str | None]
    tracer: str | None = None

    def path(self, derivative: Derivative, **fill: str | None) -> Path:
        """Path of a file of `derivative` in the folder."""
        tracer = self.tracer if derivative.tracer else None
        return derivative.in_dir(self.directory, self.ids, tracer=tracer, **fill)

    def image(self, derivative: Derivative, data: np.ndarray, affine: np.ndarray, *,
              dtype: type = np.float32, sidecar: dict[str, Any] | None = None,
              **fill: str | None) -> Path:
        """Write a NIfTI image (and its JSON sidecar when given); return its path."""
        from gliopet.io.bids_write import write_image

        return write_image(self.path(derivative, **fill), data, affine, dtype, sidecar)

    def tsv(self, derivative: Derivative, frame: pd.DataFrame, *,
            sidecar: dict[str, Any] | None = None, **fill: str | None) -> Path:
        """Write a BIDS TSV (and its JSON sidecar when given); return its path."""
        from gliopet.atomic import write_json, write_tsv

        path = write_tsv(self.path(derivative, **fill), frame)
        if sidecar is not None:
            write_json(self.path(derivative.sidecar(), **fill), sidecar)
        return path


@dataclass
class Outcome:
    """What one session gave: its row (None for a failed session the stage does not tabulate),
    the one-line error of a failed session, and whether it was skipped as already done."""

    key: str
    row: dict[str, Any] | None
    error: str | None = None
    skipped: bool = False

    @property
    def ok(self) -> bool:
        """True when the session finished (now or in an earlier run)."""
        return self.error is None


class Stage(ABC, Generic[R]):
    """One per-session stage for `run_stage`: subclass it and fill the class attributes.

    Attributes
    ----------
    folder : StageFolder
        Its derivatives folder (`gliopet.io.derivatives`).
    row_file : Derivative
        The per-session JSON row; with ``provenance.json`` it marks a session done.
    command : str
        ``gliopet <verb>``, recorded in the provenance.
    done_verb : str
        Past participle for the skip message (``preprocessed``).
    tables : tuple of str
        Table files the stage writes (recorded in the stage-level provenance).
    failure_fix : str
        Fix of the summary error when several sessions failed.
    """

    folder: ClassVar[StageFolder]
    row_file: ClassVar[Derivative]
    command: ClassVar[str]
    done_verb: ClassVar[str]
    tables: ClassVar[tuple[str, ...]] = ()
    failure_fix: ClassVar[str] = ("fix the inputs of the failed sessions and rerun (finished "
                                  "sessions are skipped)")

    def check(self, session: Session, root: Path) -> None:  # noqa: B027  (optional hook)
        """Refuse a session before any folder is made (e.g. an earlier stage has not run)."""

    def applies(self, session: Session) -> bool:
        """Whether the stage has work for the session (False: `run_stage` leaves it out, with
        one log line; e.g. quantification and an MRI-only session)."""
        return True

    @abstractmethod
    def run_session(self, session: Session, context: SessionContext) -> R:
        """Compute one session, writing its files into ``context.out``; return its result."""

    @abstractmethod
    def row(self, result: R) -> dict[str, Any]:
        """The session's table row (written to its row file)."""

    @abstractmethod
    def inputs(self, session: Session, result: R) -> list[Path]:
        """Files the session read (hashed into its provenance)."""

    def session_provenance(self, session: Session, context: SessionContext) -> dict[str, Any]:
        """Extra fields of the session's provenance (after ``session``)."""
        return {}

    def stage_provenance(self) -> dict[str, Any]:
        """Extra fields of the stage-level provenance (after ``tables`` and ``sessions``)."""
        return {}

    def failed_row(self, session: Session, message: str) -> dict[str, Any] | None:
        """The table row of a failed session, or None to leave it out of the tables."""
        return None

    @abstractmethod
    def write_tables(self, root: Path, outcomes: list[Outcome]) -> pd.DataFrame | None:
        """Write the stage's tables from this run's outcomes; return the main table (None when
        nothing was written)."""

    def failure_path(self, root: Path) -> Path:
        """Where the summary error of several failed sessions points."""
        return self.folder.root(root)


def require_finished(earlier: StageFolder, root: Path, session: Session, *, fix: str,
                     detail: str = "") -> None:
    """Refuse `session` (InputError) when the stage of `earlier` has not finished it (its
    per-session ``provenance.json`` is written last); for `Stage.check` of a later stage."""
    if not earlier.session_provenance(root, session).is_file():
        raise InputError(f"no {earlier.producer} output for this session{detail}",
                         path=earlier.session_dir(root, session), fix=fix)


def has_pet(session: Session) -> bool:
    """`Stage.applies` of the stages that need PET (an MRI-only session is left out)."""
    return session.pet is not None


@dataclass
class StageRun:
    """Result of `run_stage`: the stage's main table and every session's outcome."""

    table: pd.DataFrame | None
    outcomes: list[Outcome] = field(default_factory=list)


# ---------------------------------------------------------------------------- one session
def is_done(stage: Stage[Any], root: str | Path, ids: IdsLike) -> bool:
    """True when the session's folder is complete (provenance and row file present)."""
    provenance = stage.folder.session_provenance(root, ids)
    return provenance.is_file() and derivatives.find_or_none(root, ids, stage.row_file) is not None


def read_row(stage: Stage[Any], root: str | Path, ids: IdsLike) -> dict[str, Any]:
    """The stored row of a finished session."""
    path = derivatives.find(root, ids, stage.row_file, what="the session's row")
    return json.loads(path.read_text())


def run_session(stage: Stage[Any], session: Session, root: str | Path, config: Config | None = None,
                *, force: bool = False, threads: int = 1) -> dict[str, Any]:
    """Run one session of `stage` (skipped when done unless `force`); return its row.

    Raises
    ------
    InputError
        The session cannot be processed (nothing of it is written).
    """
    from gliopet.atomic import staged_directory, write_json
    from gliopet.provenance import write_provenance

    config = config or load_config()
    root = Path(root)
    if is_done(stage, root, session) and not force:
        logger.info("%s: already %s (use --force to redo)", session.key, stage.done_verb)
        return read_row(stage, root, session)
    stage.check(session, root)
    with staged_directory(stage.folder.session_dir(root, session), overwrite=True) as staging:
        context = SessionContext(root, staging, config, threads)
        result = stage.run_session(session, context)
        row = stage.row(result)
        write_json(stage.row_file.in_dir(staging, session), row)
        write_provenance(staging, command=stage.command, config=config.as_dict(),
                         inputs=stage.inputs(session, result),
                         extra={"session": session.key,
                                **stage.session_provenance(session, context)})
    return row


@dataclass(frozen=True)
class _Task:
    stage: Stage[Any]
    session: Session
    root: Path
    config: Config
    force: bool
    threads: int


def _run_task(task: _Task) -> Outcome:
    """A worker: one session, its `InputError` turned into a failed outcome."""
    try:
        row = run_session(task.stage, task.session, task.root, task.config, force=task.force,
                          threads=task.threads)
    except InputError as exc:
        message = exc.one_line()
        return Outcome(task.session.key, task.stage.failed_row(task.session, message), message)
    return Outcome(task.session.key, row)


# ---------------------------------------------------------------------------- the cohort
def run_stage(stage: Stage[Any], bids_dir: str | Path, *,
              participant_label: Sequence[str] | None = None, jobs: int = 1,
              dask_scheduler: str | None = None, force: bool = False, config: Config | None = None,
              threads: int | None = None, label: str | None = None,
              dask_security: str | Path | None = None) -> StageRun:
    """Run `stage` on every session of a BIDS dataset (module docstring).

    `threads`: per session (default: the CPU count divided by `jobs`); `label`: progress-bar text;
    `dask_scheduler`: address of a trusted Dask scheduler (its results are unpickled here), with
    `dask_security` the TLS settings file of a ``tls://`` address (`gliopet.cluster`).

    Raises
    ------
    InputError
        ``jobs`` below 1, the dataset cannot be read or has no session, the Dask scheduler cannot
        be used, or (after the other sessions are done and the tables written) sessions failed.
    """
    from gliopet.io.validate import usable_sessions

    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}", fix="give --jobs 1 or more")
    if dask_security is not None and not dask_scheduler:
        raise InputError("--dask-security is given without --dask-scheduler", path=dask_security,
                         fix="add --dask-scheduler tls://host:port or drop --dask-security")
    config = config or load_config()
    root = Path(bids_dir)
    _remove_stale_staging(stage, root)
    sessions = usable_sessions(root, list(participant_label) if participant_label else None,
                               config)
    if not sessions:
        raise InputError("no session found", path=root,
                         fix="check the dataset and --participant-label")
    left_out = [s.key for s in sessions if not stage.applies(s)]
    if left_out:
        logger.info("%s: %d session(s) left out (nothing to do): %s", stage.folder.name,
                    len(left_out), ", ".join(left_out))
        sessions = [s for s in sessions if stage.applies(s)]
    if not sessions:
        raise InputError(f"no session the {stage.folder.producer} applies to", path=root,
                         fix="check the dataset (gliopet validate lists MRI-only sessions)")
    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    tasks = [_Task(stage, s, root, config, force, threads) for s in sessions]
    outcomes = []
    dask = (dask_scheduler, dask_security) if dask_scheduler else None
    for outcome in _execute(tasks, jobs, dask, label or stage.folder.name):
        if outcome.error is not None and len(tasks) > 1:
            logger.error("%s: %s failed: %s", outcome.key, stage.folder.name, outcome.error)
        outcomes.append(outcome)
    table = stage.write_tables(root, outcomes)
    if table is not None:
        _write_stage_records(stage, root, config, outcomes)
    _raise_failures(stage, root, outcomes)
    return StageRun(table, outcomes)


def _remove_stale_staging(stage: Stage[Any], root: Path) -> None:
    """Staging folders and temporary files that interrupted runs of `stage` left in its folder
    (stage, subject and session levels) and in the pipeline's root."""
    from gliopet.atomic import remove_stale

    removed = remove_stale(stage.folder.root(root), depth=2)
    removed += remove_stale(derivatives.pipeline_root(root))
    for path in removed:
        logger.info("removed %s, left by an interrupted run", path)


def _execute(tasks: list[_Task], jobs: int, dask: tuple[str, str | Path | None] | None,
             label: str) -> Iterator[Outcome]:
    """Outcomes in task order: on a Dask cluster (address, TLS settings file), in joblib
    processes, or one after the other."""
    if dask:
        yield from _execute_dask(tasks, *dask, label)
    elif jobs > 1 and len(tasks) > 1:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=jobs, backend="loky", return_as="generator")
        yield from track(parallel(delayed(_run_task)(t) for t in tasks), label, total=len(tasks))
    else:
        for task in track(tasks, label):
            yield _run_task(task)


def _execute_dask(tasks: list[_Task], address: str, security: str | Path | None,
                  label: str) -> Iterator[Outcome]:
    from gliopet.cluster import connect

    client = connect(address, security)
    try:
        futures = client.map(_run_task, tasks, pure=False)
        for future in track(futures, label):
            yield future.result()
    finally:
        client.close()


def _write_stage_records(stage: Stage[Any], root: Path, config: Config,
                         outcomes: list[Outcome]) -> None:
    """The derivatives' dataset_description.json (once) and, when sessions finished, the
    stage-level provenance."""
    from gliopet.io.bids_write import write_dataset_description
    from gliopet.provenance import generated_by, write_provenance

    pipeline = derivatives.pipeline_root(root)
    if not (pipeline / "dataset_description.json").is_file():
        write_dataset_description(pipeline, "gliopet derivatives", dataset_type="derivative",
                                  generated_by=generated_by())
    done = [o.key for o in outcomes if o.ok]
    if done:
        write_provenance(stage.folder.root(root), command=stage.command, config=config.as_dict(),
                         inputs=[root / "participants.tsv"],
                         extra={"tables": list(stage.tables), "sessions": done,
                                **stage.stage_provenance()})


def _raise_failures(stage: Stage[Any], root: Path, outcomes: list[Outcome]) -> None:
    failed = [o for o in outcomes if not o.ok]
    if not failed:
        return
    first = failed[0].error
    if len(outcomes) == 1:
        raise InputError(first)  # the session's own one-line message (file, problem, fix)
    raise InputError(f"{len(failed)} of {len(outcomes)} sessions failed; first: {first}",
                     path=stage.failure_path(root), fix=stage.failure_fix)
