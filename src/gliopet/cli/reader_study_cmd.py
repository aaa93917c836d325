"""`gliopet reader create-study | serve | export`: set up and run the reader-study web
application (`gliopet.reader.setup`, `gliopet.reader.app`, `gliopet.reader.export`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gliopet.cli.reader_cmd import reader_app

_DB_HELP = "Database URL: sqlite:///PATH (default engine, WAL mode) or postgresql://USER@HOST/DB."


@reader_app.command("create-study")
def create_study(
    bids_dir: Annotated[Path, typer.Argument(help="BIDS dataset with the preprocessing and "
                                                  "quantification derivatives.")],
    predictions: Annotated[Path, typer.Option("--predictions", help="Predictions table: the "
                                              "predictions.tsv of `gliopet predict` or any "
                                              "table with subject, session, probability "
                                              "[, threshold, saliency].")],
    name: Annotated[str, typer.Option("--name", help="Study name.")],
    database: Annotated[str, typer.Option("--database", help=_DB_HELP)],
    design: Annotated[str, typer.Option("--design", help="crossed or split-plot.")] = "crossed",
    arms: Annotated[str, typer.Option("--arms", help="Arms in reading order: unaided,aided or "
                                      "unaided,probability-only,aided.")] = "unaided,aided",
    washout_days: Annotated[float, typer.Option("--washout-days", help="Days between the last "
                                                "answer of an arm and the next arm.")] = 28.0,
    readers: Annotated[Path | None, typer.Option("--readers", help="TSV: username, site "
                                                 "[, password][, role].")] = None,
    n_readers: Annotated[int, typer.Option("--n-readers", help="Readers to make when no "
                                           "--readers table is given.")] = 3,
    groups: Annotated[int, typer.Option("--groups", help="Reader/case groups of a split-plot "
                                        "design.")] = 2,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the case orders "
                                             "(default: the configuration's).")] = None,
    truth_column: Annotated[str, typer.Option("--truth-column", help="Label column of the "
                                              "reference standard.")] = "outcome",
    model: Annotated[str | None, typer.Option("--model", help="Model of the predictions table "
                                              "(when it holds several).")] = None,
    images: Annotated[Path | None, typer.Option("--images", help="Folder of the case images "
                                                "(default: beside the SQLite file).")] = None,
) -> None:
    """Create a reader study: de-identified cases, accounts, counterbalanced case orders."""
    from gliopet.reader.setup import StudyOptions
    from gliopet.reader.setup import create_study as make

    opts = StudyOptions(bids_dir, predictions, name, database, images, design,
                        tuple(a.strip() for a in arms.split(",") if a.strip()), washout_days,
                        readers, n_readers, groups, seed, truth_column, model)
    summary = make(opts)
    typer.echo(f"study {summary.name}: {summary.n_cases} cases, images in {summary.image_dir}")
    new = [a for a in summary.accounts if a.generated]
    if new:
        typer.echo("accounts (passwords are shown only now; hand them over securely):")
        for account in new:
            role = "admin" if account.is_admin else "reader"
            typer.echo(f"  {account.username}\t{account.site}\t{role}\t{account.password}")


@reader_app.command("serve")
def serve(
    database: Annotated[str, typer.Option("--database", help=_DB_HELP)],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port.")] = 8000,
    study: Annotated[str | None, typer.Option("--study", help="Study name (when the database "
                                              "holds several).")] = None,
    session_hours: Annotated[float, typer.Option("--session-hours", help="Login session "
                                                 "lifetime (h).")] = 8.0,
    secure_cookie: Annotated[bool, typer.Option("--secure-cookie", help="Mark cookies Secure "
                                                "(behind an HTTPS proxy).")] = False,
) -> None:
    """Serve the study to its readers (put it behind an HTTPS reverse proxy beyond a test)."""
    import uvicorn

    from gliopet.reader.app import create_app

    application = create_app(database, study=study, session_hours=session_hours,
                             secure_cookie=secure_cookie)
    typer.echo(f"serving on http://{host}:{port}/ (Ctrl-C stops)")
    uvicorn.run(application, host=host, port=port, log_level="warning")


@reader_app.command("export")
def export(
    database: Annotated[str, typer.Option("--database", help=_DB_HELP)],
    study: Annotated[str, typer.Option("--study", help="Study name.")],
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    layout: Annotated[str, typer.Option("--layout", help="long (reader, modality, case, truth, "
                                        "rating), imrmc or results.")] = "long",
) -> None:
    """Write the study's answers as CSV."""
    from gliopet.atomic import write_text
    from gliopet.errors import ParameterError
    from gliopet.reader.export import imrmc_table, ratings_long, results_table

    if layout not in ("long", "imrmc", "results"):
        raise ParameterError("--layout", layout, "long, imrmc or results")
    if layout == "results":
        table = results_table(database, study)
    else:
        table = ratings_long(database, study)
        table = imrmc_table(table) if layout == "imrmc" else table
    write_text(out, table.to_csv(index=False, lineterminator="\n"))
    typer.echo(f"wrote {out} ({len(table)} rows)")
