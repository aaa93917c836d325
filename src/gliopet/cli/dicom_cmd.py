"""Verb ``import-dicom``: a PACS export (PET, MR) to a de-identified BIDS dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gliopet.cli import app


def _print_skipped(skipped) -> None:
    if not skipped:
        return
    rows = [("series description", "modality", "files", "reason")]
    rows += [
        (s.description or "(none)", s.modality or "?", str(s.n_files), s.reason) for s in skipped
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    typer.echo(f"Skipped {len(skipped)} series:")
    for row in rows:
        typer.echo(
            "  "
            + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3]))
            + "  "
            + row[3]
        )


@app.command("import-dicom")
def import_dicom_cmd(
    src: Annotated[
        Path,
        typer.Argument(help="Folder of DICOM files (PACS export; nested folders, any file names)."),
    ],
    bids_dir: Annotated[
        Path, typer.Argument(help="BIDS dataset to create (must not exist or be empty).")
    ],
    id_map: Annotated[
        Path,
        typer.Option(
            "--id-map",
            help="Protected JSON file mapping patient IDs and UIDs to the "
            "new labels; outside BIDS_DIR. Reused if it exists, so labels stay the same.",
        ),
    ],
    series_map: Annotated[
        Path | None,
        typer.Option(
            "--series-map",
            help="YAML or TSV mapping SeriesDescription "
            "patterns or SeriesInstanceUIDs to T1w, ce-gadolinium_T1w, T2w, "
            "FLAIR, pet or skip.",
        ),
    ] = None,
    tracer: Annotated[
        str | None,
        typer.Option(
            "--tracer",
            help="Tracer label for PET series (FDOPA, FET); "
            "default: from the radiopharmaceutical name.",
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace an existing BIDS_DIR once the new one is complete."
        ),
    ] = False,
) -> None:
    """Import PET (static, dynamic) and MR series into BIDS, de-identified; report what was skipped."""
    from gliopet.errors import InputError
    from gliopet.io.dicom import import_dicom

    try:
        report = import_dicom(
            src, bids_dir, id_map, series_map=series_map, tracer=tracer, overwrite=overwrite
        )
    except InputError as exc:
        partial = getattr(exc, "report", None)
        if partial is not None:
            _print_skipped(partial.skipped)
        raise
    typer.echo(f"Read {report.n_files} files: {report.n_files - report.n_ignored} DICOM, "
               f"{report.n_ignored} ignored (not DICOM).")
    _print_skipped(report.skipped)
    typer.echo(f"Wrote {len(report.written)} images to {report.bids_dir}:")
    for item in report.written:
        typer.echo(
            f"  {item.bids_path}  ({item.kind}, {item.n_files} files, shape {'x'.join(map(str, item.shape))})"
        )
    for warning in report.warnings:
        typer.echo(f"warning: {warning}")
    typer.echo(f"Identifier map (keep it private): {report.id_map}")
