"""`gliopet reader analyze`: the Obuchowski-Rockette-Hillis MRMC analysis of a reader study.

``gliopet reader analyze (--study ID --database URL | --ratings CSV) --out DIR
[--ai-ratings CSV] [--cov jackknife|delong|unbiased] [--alpha 0.05]``

Writes orh.json, report.md, reader_auc.tsv, operating_points.tsv (when a threshold applies),
reader_auc.png, auc_difference.png and provenance.json into DIR (`gliopet.reader.mrmc_report`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gliopet.cli.reader_cmd import reader_app


def read_csv(path: Path, what: str) -> object:
    """A CSV file as a DataFrame; InputError when absent or unreadable."""
    import pandas as pd

    from gliopet.errors import InputError

    if not path.is_file():
        raise InputError(f"the {what} file does not exist", path=path,
                         fix="give the path of a CSV file")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"the {what} file is not a readable CSV ({exc.__class__.__name__})",
                         path=path, fix="save it as comma-separated text with a header"
                         ) from exc


def load_ratings(ratings: Path | None, study: str | None, database: str | None) -> object:
    """The long-form ratings from a CSV or from a study's database."""
    from gliopet.errors import InputError
    from gliopet.reader.mrmc_input import check_ratings

    if (ratings is None) == (study is None):
        raise InputError("give either --ratings CSV or --study ID (with --database URL)",
                         fix="name one source of ratings")
    if study is not None:
        if database is None:
            raise InputError("--study needs --database URL", fix="e.g. sqlite:///study.db")
        from gliopet.reader.export import ratings_long

        return check_ratings(ratings_long(database, study), path=f"study {study}")
    return check_ratings(read_csv(ratings, "ratings"), path=ratings)


def _ai_modality(modalities: list[str], wanted: str | None) -> str:
    from gliopet.errors import InputError

    if wanted is not None:
        if wanted not in modalities:
            raise InputError(f"--ai-reference {wanted!r} is not a modality of the ratings",
                             fix="one of " + ", ".join(modalities))
        return wanted
    return "unaided" if "unaided" in modalities else modalities[-1]


@reader_app.command("analyze")
def analyze(
    out: Annotated[Path, typer.Option("--out", help="Folder of the results (orh.json, "
                                                    "report.md, figures).")],
    ratings: Annotated[Path | None, typer.Option(
        "--ratings", help="Long-form CSV: reader, modality, case, truth (0/1), rating "
                          "(optional decision 0/1).")] = None,
    study: Annotated[str | None, typer.Option("--study", help="Study ID in the database.")] = None,
    database: Annotated[str | None, typer.Option(
        "--database", help="Database URL of the study (sqlite:///... or "
                           "postgresql://...).")] = None,
    ai_ratings: Annotated[Path | None, typer.Option(
        "--ai-ratings", help="CSV of the standalone AI: case, rating (its probability).")] = None,
    ai_reference: Annotated[str | None, typer.Option(
        "--ai-reference", help="Modality whose readers the AI is compared with (default: "
                               "'unaided' when present, else the last modality).")] = None,
    cov: Annotated[str, typer.Option(
        "--cov", help="Covariance estimator: jackknife, delong or unbiased.")] = "jackknife",
    alpha: Annotated[float, typer.Option("--alpha", help="1 - interval coverage.")] = 0.05,
    design: Annotated[str | None, typer.Option(
        "--design", help="Expected design (crossed, partially_paired, cases_within_readers, "
                         "cases_within_modalities, readers_within_modalities); default: "
                         "detected.")] = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="Rating at or above which a reading counts as positive, for "
                            "sensitivity/specificity (default: 0.5 for probabilities 0-1, "
                            "50 for 0-100).")] = None,
    order: Annotated[str | None, typer.Option(
        "--order", help="Comma-separated modality order; differences are first minus second "
                        "(default: aided before unaided, else sorted).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace DIR.")] = False,
) -> None:
    """Reader-averaged AUCs, Obuchowski-Rockette-Hillis tests (random readers and cases, fixed
    readers, fixed cases), per-reader sensitivity/specificity and the standalone AI."""
    from gliopet.errors import InputError
    from gliopet.provenance import provenance_record
    from gliopet.reader.mrmc import analyse
    from gliopet.reader.mrmc_ai import operating_points, standalone_ai
    from gliopet.reader.mrmc_report import ORH_JSON, write_results

    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError("the output folder exists and is not empty", path=out,
                         fix="choose a new folder or add --overwrite")
    frame = load_ratings(ratings, study, database)
    result = analyse(frame, cov=cov, alpha=alpha, design=design,
                     order=[s.strip() for s in order.split(",")] if order else None)
    ai = None
    if ai_ratings is not None:
        ai = standalone_ai(frame, read_csv(ai_ratings, "AI ratings"),
                           _ai_modality(result.modalities, ai_reference), cov=cov, alpha=alpha)
    record = provenance_record(command="reader analyze",
                               inputs=[p for p in (ratings, ai_ratings) if p is not None],
                               extra={"study": study, "cov": cov, "alpha": alpha})
    write_results(result, out, ai=ai, operating=operating_points(frame, threshold),
                  overwrite=overwrite, provenance=record)
    test = result.analyses["random_readers_cases"].test
    typer.echo(f"F = {test.value:.4f} on ({test.df1:g}, {test.df2:.2f}), p = {test.p_value:.4g}; "
               f"results: {out / ORH_JSON}")
