"""Verb ``import-brats``: an MRI-only collection in the BraTS folder layout to BIDS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gliopet.cli import app


@app.command("import-brats")
def import_brats_cmd(
    src: Annotated[Path, typer.Argument(help="Folder of BraTS case folders (<case>/<case>_t1."
                                             "nii.gz, _t1ce, _t2, _flair, _seg; or BraTS 2023 "
                                             "-t1n, -t1c, -t2w, -t2f, -seg).")],
    bids_dir: Annotated[Path, typer.Argument(help="BIDS dataset to create (must not exist or be "
                                                  "empty; neither inside SRC nor holding it).")],
    session: Annotated[str, typer.Option("--session", help="Session label of every case.")]
    = "diagnosis",
    site: Annotated[str, typer.Option("--site", help="Site written to the sessions files.")]
    = "brats",
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing BIDS_DIR written by gliopet once the new one "
                            "is complete (any other folder is refused).")] = False,
) -> None:
    """Import BraTS-layout cases as MRI-only BIDS sessions (T1w, contrast T1w, T2w, FLAIR) and
    their tumour labels as a derivative (derivatives/brats), so that they join pretraining."""
    from gliopet.io.brats import import_brats

    report = import_brats(src, bids_dir, session=session, site=site, overwrite=overwrite)
    typer.echo(f"Imported {len(report.cases)} case(s), {len(report.written)} files, into "
               f"{report.bids_dir}")
    if report.ignored:
        shown = ", ".join(report.ignored[:5]) + (" ..." if len(report.ignored) > 5 else "")
        typer.echo(f"Ignored {len(report.ignored)} file(s) not in the BraTS layout: {shown}")
