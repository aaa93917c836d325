"""`gliopet biopsy`: the biopsy target per session and its export; `gliopet biopsy evaluate`.

``gliopet biopsy BIDS_DIR [--participant-label 01] [--radius-mm 2.5] [--margin-mm 2]
[--no-dicom] [--id-map MAP --export-dir DIR] [--force] [--jobs N]`` writes
``derivatives/gliopet/biopsy/`` (`gliopet.export.biopsy_stage`).

``gliopet biopsy evaluate BIDS_DIR --samples TSV --out DIR [--max-distance-mm 5]`` scores the
aggressiveness map and the targets against recorded samples
(`gliopet.signature.biopsy_evaluate`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from gliopet.cli import app
from gliopet.cli.options import ConfigFile, Force, Jobs, ParticipantLabels, resolve_jobs


class _TargetByDefault(TyperGroup):
    """``gliopet biopsy BIDS_DIR`` runs the ``target`` command; ``gliopet biopsy evaluate``
    its own (a first argument that is not a command name goes to ``target``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["target", *args]
        return super().parse_args(ctx, args)


biopsy_app = typer.Typer(cls=_TargetByDefault, no_args_is_help=True,
                         help="Biopsy target inside the aggressive subregion, exported as DICOM "
                              "SEG, RTSTRUCT and NIfTI (gliopet biopsy BIDS_DIR); scoring "
                              "against recorded samples (gliopet biopsy evaluate).")
app.add_typer(biopsy_app, name="biopsy")


@biopsy_app.command("target")
def target(
    bids_dir: Annotated[Path, typer.Argument(
        help="BIDS-PET dataset after gliopet quantify and gliopet signature.")],
    participant_label: ParticipantLabels = None,
    radius_mm: Annotated[float, typer.Option(
        "--radius-mm", help="Radius of the target sphere (mm).")] = 2.5,
    margin_mm: Annotated[float, typer.Option(
        "--margin-mm", help="Distance kept between the sphere and the edge of the aggressive "
                            "subregion when possible (mm).")] = 2.0,
    dicom: Annotated[bool, typer.Option(
        "--dicom/--no-dicom", help="Also write DICOM SEG and RTSTRUCT.")] = True,
    id_map: Annotated[Path | None, typer.Option(
        "--id-map", help="The id-map of gliopet import-dicom: SEG and RTSTRUCT then refer to "
                         "the original MR series (needs --export-dir).")] = None,
    export_dir: Annotated[Path | None, typer.Option(
        "--export-dir", help="Folder outside the dataset for the objects that refer to the "
                             "original series (they hold original identifiers).")] = None,
    force: Force = False,
    jobs: Jobs = None,
    config: ConfigFile = None,
) -> None:
    """The biopsy target of each session (rule: docs/biopsy.md) and its export."""
    from gliopet.config import load_config
    from gliopet.export.biopsy_stage import run_biopsy
    from gliopet.io.derivatives import BIOPSY_TABLE

    cfg = load_config(config)
    table = run_biopsy(bids_dir, participant_label=participant_label, radius_mm=radius_mm,
                       margin_mm=margin_mm, dicom=dicom, id_map=id_map, export_dir=export_dir,
                       force=force, jobs=resolve_jobs(cfg, jobs), config=cfg)
    if table is None:
        typer.echo("no session finished")
        return
    without = table[table["target_status"] != "ok"]
    for _, row in without.iterrows():
        typer.echo(f"note: {row['participant_id']} {row['session_id']}: {row['target_status']}")
    typer.echo(f"biopsy targets of {len(table) - len(without)} session(s)"
               + (f" ({len(without)} without target)" if len(without) else "")
               + f"; table: {BIOPSY_TABLE.path(bids_dir)}"
               + (f"; DICOM referring to the original series in {export_dir}" if id_map else ""))


@biopsy_app.command("evaluate")
def evaluate(
    bids_dir: Annotated[Path, typer.Argument(help="BIDS-PET dataset after gliopet biopsy.")],
    samples: Annotated[Path, typer.Option(
        "--samples", help="TSV: subject, session, x, y, z (RAS mm of the reference MRI), "
                          "grade (WHO 1-4) or histology (high/low).")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the evaluation to.")],
    max_distance_mm: Annotated[float, typer.Option(
        "--max-distance-mm", help="Largest distance from a target to the sample that stands "
                                  "for its tissue (mm).")] = 5.0,
) -> None:
    """Score the aggressiveness map (AUC) and the targets (hit and upgrade rates) against
    recorded biopsy samples."""
    from gliopet.signature import biopsy_evaluate as ev

    ev.check_out(out)
    result = ev.evaluate(bids_dir, ev.read_samples(samples), max_distance_mm=max_distance_mm)
    ev.write_evaluation(out, result, max_distance_mm)
    typer.echo(ev.summary_markdown(result, max_distance_mm).strip())
    typer.echo(f"written to {out}")
