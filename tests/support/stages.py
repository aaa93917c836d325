"""A toy stage for the stage runner's tests (importable by joblib and Dask workers).

`FrameCountStage` writes one TSV per session (the PET frame count, 0 for an MRI-only session)
and a cohort table of its rows; sessions of the subjects in ``fail`` raise an `InputError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gliopet.errors import InputError
from gliopet.io import derivatives as d
from gliopet.io.session import Session
from gliopet.stage import Outcome, SessionContext, SessionWriter, Stage

TOY = d.StageFolder("toy", d.PIPELINE_DIR / "toy", "the toy stage", "toy-stage")
TOY_ROW = d.declare(TOY, "toy", ".json", description="the session's row")
TOY_FRAMES = d.declare(TOY, "frames", ".tsv", tracer=True, desc="count")
TOY_TABLE = d.Table(TOY, "toy.tsv")


@dataclass
class FrameCount:
    """Typed result of the toy stage."""

    key: str
    n_frames: int
    threads: int


@dataclass(frozen=True)
class FrameCountStage(Stage[FrameCount]):
    """Counts PET frames; fails on the subjects in ``fail``."""

    fail: tuple[str, ...] = ()

    folder = TOY
    row_file = TOY_ROW
    command = "toy-stage"
    done_verb = "counted"
    tables = (TOY_TABLE.filename,)

    def run_session(self, session: Session, context: SessionContext) -> FrameCount:
        if session.subject in self.fail:
            raise InputError("this subject is meant to fail", path=session.pet.path,
                             fix="remove it from FrameCountStage.fail")
        pet = session.pet  # None for an MRI-only session: 0 frames
        n_frames = pet.timing.n_frames if pet is not None else 0
        out = SessionWriter(context.out, (session.subject, session.session),
                            pet.tracer if pet is not None else None)
        out.tsv(TOY_FRAMES, pd.DataFrame({"n_frames": [n_frames]}))
        return FrameCount(session.key, n_frames, context.threads)

    def row(self, result: FrameCount) -> dict[str, Any]:
        return {"session": result.key, "n_frames": result.n_frames}

    def inputs(self, session: Session, result: FrameCount) -> list[Path]:
        return [session.pet.path] if session.pet is not None else []

    def session_provenance(self, session: Session, context: SessionContext) -> dict[str, Any]:
        return {"threads": context.threads}

    def stage_provenance(self) -> dict[str, Any]:
        return {"fail": list(self.fail)}

    def failed_row(self, session: Session, message: str) -> dict[str, Any]:
        return {"session": session.key, "n_frames": None, "error": message}

    def write_tables(self, root: Path, outcomes: list[Outcome]) -> pd.DataFrame | None:
        from gliopet.atomic import write_tsv

        rows = [o.row for o in outcomes if o.row is not None]
        if not rows:
            return None
        table = pd.DataFrame(rows)
        write_tsv(TOY_TABLE.path(root), table)
        return table
