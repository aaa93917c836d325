"""Verb ``import-dicom``: a PACS export (PET, MR) to a de-identified BIDS dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gliopet.cli import app


def _print_skipped(skipped: list, verbose: bool) -> None:
    """The table of skipped series: series number, modality, files, reason, and the series
    description only with ``--verbose`` (descriptions may hold identifiers)."""
    if not skipped:
        return
    header = ("series", "series description", "modality", "files") if verbose else (
        "series", "modality", "files")
    rows = [header]
    for item in skipped:
        cells = [f"#{item.series_number}" if item.series_number else "?"]
        if verbose:
            cells.append(item.description or "(none)")
        rows.append((*cells, item.modality or "?", str(item.n_files)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    typer.echo(f"Skipped {len(skipped)} series:")
    reasons = ["reason"] + [item.reason for item in skipped]
    for row, reason in zip(rows, reasons, strict=True):
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        typer.echo(f"  {cells}  {reason}")


def _print_written(report, verbose: bool) -> None:
    typer.echo(f"Wrote {len(report.written)} images to {report.bids_dir}:")
    for item in report.written:
        shape = "x".join(map(str, item.shape))
        line = f"  {item.bids_path}  ({item.kind}, {item.n_files} files, shape {shape})"
        if verbose:
            line += f" from series #{item.series_number or '?'} {item.description!r}"
        typer.echo(line)


@app.command("import-dicom")
def import_dicom_cmd(
    ctx: typer.Context,
    src: Annotated[
        Path,
        typer.Argument(help="Folder of DICOM files (PACS export; nested folders, any file names)."),
    ],
    bids_dir: Annotated[
        Path, typer.Argument(help="BIDS dataset to create (must not exist or be empty; "
                             "neither inside SRC nor holding it).")
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
            help="Tracer label for PET series (FDOPA, FET); default: from the "
            "radiopharmaceutical code or a known tracer name; required when neither is known.",
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an existing BIDS_DIR written by gliopet once the new one is complete "
            "(any other folder is refused).",
        ),
    ] = False,
) -> None:
    """Import PET (static, dynamic) and MR series into BIDS, de-identified; report skipped series.

    Series descriptions (free text that may hold identifiers) are shown only with
    'gliopet --verbose import-dicom ...'; docs/deidentification.md gives the policy.
    """
    from gliopet.errors import InputError
    from gliopet.io.dicom import import_dicom

    verbose = bool(ctx.find_root().params.get("verbose"))

    try:
        report = import_dicom(
            src, bids_dir, id_map, series_map=series_map, tracer=tracer, overwrite=overwrite
        )
    except InputError as exc:
        partial = getattr(exc, "report", None)
        if partial is not None:
            _print_skipped(partial.skipped, verbose)
        raise
    typer.echo(f"Read {report.n_files} files: {report.n_files - report.n_ignored} DICOM, "
               f"{report.n_ignored} ignored (not DICOM).")
    _print_skipped(report.skipped, verbose)
    _print_written(report, verbose)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}")
    typer.echo(f"Identifier map (keep it private): {report.id_map}")
