"""`gliopet phantom-report`: the simulated cohort against the published ranges (Markdown + TSV).

``gliopet phantom-report BIDS_DIR [--out PATH] [--healthy-reference PATH]`` writes
``BIDS_DIR/derivatives/gliopet/reports/phantom-realism.md`` (and ``.tsv``) by default.
Figures come through the pipeline (``derivatives/gliopet/quant/cohort.tsv``) when quantification
has run, else from the phantom's truth table, and the report says which.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gliopet.cli import app


@app.command("phantom-report")
def phantom_report(
    bids_dir: Annotated[Path, typer.Argument(help="BIDS root written by gliopet simulate.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Markdown file to write (the TSV goes beside it with the same stem). Default: "
            "BIDS_DIR/derivatives/gliopet/reports/phantom-realism.md.",
        ),
    ] = None,
    healthy_reference: Annotated[
        Path | None,
        typer.Option(
            "--healthy-reference",
            help="Real healthy FDOPA group-mean image in MNI space (e.g. "
            "FDOPA_group_mean_MNI_3mm.nii); compares the cohort's healthy sessions "
            "with it (striatum/cortex ratio, spatial correlation).",
        ),
    ] = None,
) -> None:
    """
    Report how realistic a simulated cohort is against the published figures of docs/literature.md
    (SUV, TBR, T/S, TTP, noise, AUCs).
    """
    from gliopet.simulate.realism import write_report

    md, tsv = write_report(bids_dir, out, healthy_reference)
    typer.echo(f"wrote {md}")
    typer.echo(f"wrote {tsv}")
