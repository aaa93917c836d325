"""Verbs of the io stage: `validate` and `info`.

``gliopet validate BIDS_DIR`` lists the problems of a dataset (level, file, message with the
fix) and exits 0 when it is usable, 2 otherwise. ``gliopet info PATH`` lists the sessions of a
dataset, or the frame timing of one PET image (times in s from injection, mid-time in min).
Both only read; ``--json`` prints machine-readable output instead of tables.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gliopet.cli import app
from gliopet.errors import InputError

if TYPE_CHECKING:
    from gliopet.io.timing import FrameTiming


def _console():
    """A rich console on the current stdout; not wrapped when stdout is not a terminal."""
    import sys

    from rich.console import Console

    console = Console(file=sys.stdout)
    if not console.is_terminal:
        console = Console(file=sys.stdout, width=100_000, no_color=True)
    return console


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.{digits}g}"
    return str(value)


@app.command("validate")
def validate(
    bids_dir: Annotated[Path, typer.Argument(help="Root folder of the BIDS-PET dataset.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="YAML file overriding the defaults (io section)."),
    ] = None,
) -> None:
    """Check a BIDS-PET dataset; exit 0 when usable, 2 when it has errors."""
    from rich.table import Table
    from rich.text import Text

    from gliopet.config import load_config
    from gliopet.io.validate import validate_dataset

    report = validate_dataset(bids_dir, load_config(config))
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        console = _console()
        if report.problems:
            table = Table(title=f"gliopet validate {bids_dir}")
            table.add_column("level")
            table.add_column("file", overflow="fold")
            table.add_column("message", overflow="fold")
            order = sorted(report.problems, key=lambda p: (p.file, p.level != "error"))
            for problem in order:
                style = "red" if problem.level == "error" else "yellow"
                table.add_row(
                    Text(problem.level, style=style), Text(problem.file), Text(problem.message)
                )
            console.print(table)
        console.print(Text(report.verdict()))
    if not report.usable:
        raise typer.Exit(code=2)


def _suv_path(note: str, factor: float | None) -> str:
    """The short form of an SUV note: the decay path, or why there is no SUV."""
    clauses = [c.strip() for c in note.split(";") if c.strip()]
    if factor is None:
        return next((c for c in clauses if c.startswith("no SUV")), note)
    return clauses[0].split(":")[0] if clauses else ""


def _session_row(session) -> dict[str, Any]:
    pet = session.pet
    row: dict[str, Any] = {
        "subject": session.subject, "session": session.session or None,
        "site": session.site or None, "scanner": session.scanner or None,
        "tracer": pet.tracer if pet else None,
        "n_frames": pet.n_frames if pet else 0,
        "duration_min": float(pet.timing.end_s.max() - pet.timing.start_s.min()) / 60.0
        if pet and pet.n_frames else None,
        "weight_kg": session.weight_kg,
        "dose_MBq": None, "suv_factor": pet.suv_factor if pet else None,
        "suv_path": _suv_path(pet.suv_note, pet.suv_factor) if pet else "no PET",
        "anat": ",".join(session.anat) or None,
    }
    if pet:
        from gliopet.io.suv import radioactivity_bq

        try:
            row["dose_MBq"] = radioactivity_bq(pet.sidecar.get("InjectedRadioactivity"),
                                               pet.sidecar.get("InjectedRadioactivityUnits")) / 1e6
        except InputError:
            row["dose_MBq"] = None
    row.update(
        {
            f"label:{k}": v
            for k, v in session.labels.items()
            if k not in ("site", "scanner", "weight")
        }
    )
    return row


def _timing_rows(timing) -> list[dict[str, float]]:
    return [
        {"frame": i, "start_s": float(s), "duration_s": float(d), "mid_min": float(m)}
        for i, (s, d, m) in enumerate(
            zip(timing.start_s, timing.duration_s, timing.mid_min, strict=True)
        )
    ]


_InfoPath = Annotated[Path, typer.Argument(
    help="A BIDS-PET dataset folder, or one PET NIfTI (with its .json).")]
_InfoJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_InfoLabels = Annotated[bool, typer.Option(
    "--labels",
    help="Also show the participants/sessions label "
    "columns in the table (JSON always has them).")]


@app.command("info")
def info(path: _InfoPath, as_json: _InfoJson = False, labels: _InfoLabels = False) -> None:
    """Sessions of a dataset, or the frame timing of one PET image."""
    if path.is_dir():
        _dataset_info(path, as_json, labels)
    else:
        _image_info(path, as_json)


def _dataset_info(path: Path, as_json: bool, labels: bool) -> None:
    """One row per session of the dataset at `path` (label columns only with `labels`)."""
    from rich.table import Table
    from rich.text import Text

    from gliopet.io.bids_read import read_dataset

    console = _console()
    rows = [_session_row(s) for s in read_dataset(path)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    columns: list[str] = []
    for row in rows:
        columns += [
            c for c in row if c not in columns and (labels or not c.startswith("label:"))
        ]
    table = Table(title=f"{path}: {len(rows)} session(s)")
    for column in columns:
        table.add_column(column)
    for row in rows:
        short = {
            **row,
            "suv_path": str(row.get("suv_path") or "").split(" (")[0],
        }  # details in --json
        table.add_row(*(Text(_fmt(short.get(c))) for c in columns))
    console.print(table)


def _image_info(path: Path, as_json: bool) -> None:
    """The frame timing of one PET image (s from injection, mid-time in min)."""
    from rich.table import Table

    from gliopet.io.bids_read import read_json

    console = _console()
    sidecar_path = _sidecar_of(path)
    sidecar = read_json(sidecar_path)
    timing = _frame_timing(sidecar, sidecar_path)
    rows = _timing_rows(timing)
    if as_json:
        typer.echo(json.dumps({"file": str(path), "tracer": sidecar.get("TracerName"),
                               "units": sidecar.get("Units"), "frames": rows}, indent=2))
        return
    table = Table(title=f"{path.name}: {sidecar.get('TracerName', '?')}, {timing.n_frames} "
                        "frame(s), times from injection")
    for column in ("frame", "start (s)", "duration (s)", "mid-time (min)"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            str(row["frame"]),
            f"{row['start_s']:g}",
            f"{row['duration_s']:g}",
            f"{row['mid_min']:.3f}",
        )
    console.print(table)


def _sidecar_of(path: Path) -> Path:
    """The JSON sidecar of a PET NIfTI (or the sidecar itself); `InputError` for anything else."""
    name = path.name
    if name.endswith((".nii.gz", ".nii")):
        sidecar_path = path.with_name(name.split(".nii")[0] + ".json")
    elif name.endswith(".json"):
        sidecar_path = path
    else:
        raise InputError("not a folder, a NIfTI image or a JSON sidecar", path=path,
                         fix="give a BIDS dataset folder or a *_pet.nii.gz file")
    if not path.exists():
        raise InputError("file not found", path=path, fix="check the path")
    return sidecar_path


def _frame_timing(sidecar: dict[str, Any], sidecar_path: Path) -> FrameTiming:
    """The sidecar's frame timing relative to the injection; `InputError` when unusable."""
    from gliopet.io.timing import FrameTiming

    try:
        return FrameTiming.from_bids(sidecar["FrameTimesStart"], sidecar["FrameDuration"],
                                     float(sidecar.get("InjectionStart", 0.0)))
    except KeyError as exc:
        raise InputError(
            f"{exc.args[0]} missing, the frame timing cannot be listed",
            path=sidecar_path,
            fix="add FrameTimesStart and FrameDuration (s) to the sidecar",
        ) from None
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"frame timing is not a list of numbers of equal length ({exc})",
            path=sidecar_path,
            fix="give one FrameTimesStart and one FrameDuration (s) per frame",
        ) from None
