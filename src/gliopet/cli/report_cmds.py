"""`gliopet report patient` and `gliopet report cohort`: the reports people read.

``gliopet report patient BIDS_DIR --participant-label X [--session S] --out DIR
[--predictions PATH] [--no-pdf]`` writes ``sub-X_ses-S_report.html`` (self-contained) and
``.pdf`` for each quantified session of the subject (`gliopet.report.patient`).
``gliopet report cohort BIDS_DIR --out DIR [--classify DIR ...] [--signature DIR]
[--foundation DIR] [--no-patients]`` writes ``cohort_report.html`` with its ``figures/`` and, unless
``--no-patients``, every session's patient report under ``patients/``
(`gliopet.report.cohort`). `gliopet phantom-report` (the simulated cohort against published
ranges) is a separate verb and unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gliopet import DISCLAIMER
from gliopet.cli import app

report_app = typer.Typer(
    help=f"Patient report (HTML + PDF) and cohort report (HTML).\n\n{DISCLAIMER}",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")

Predictions = Annotated[Path | None, typer.Option(
    "--predictions", help="predictions.tsv of `gliopet predict` (or its folder). Default: "
                          "the dataset's derivatives/gliopet/predict/.")]


def _sessions(bids_dir: Path, subject: str, session: str | None) -> list[tuple[str, str | None]]:
    from gliopet.errors import InputError
    from gliopet.io import derivatives as d
    from gliopet.report.cohort import session_ids

    subject = subject.removeprefix("sub-")
    session = session.removeprefix("ses-") if session else None
    found = [ids for ids in session_ids(bids_dir)
             if ids[0] == subject and (session is None or ids[1] == session)]
    if not found:
        what = f"sub-{subject}" + (f" ses-{session}" if session else "")
        raise InputError(f"no quantified session of {what}", path=d.QUANT.root(bids_dir),
                         fix="run `gliopet preprocess` and `gliopet quantify` on it first, "
                             "or check --participant-label / --session")
    return found


@report_app.command("patient")
def patient(
    bids_dir: Annotated[Path, typer.Argument(help="BIDS dataset quantified by `gliopet "
                                                  "quantify`.")],
    participant_label: Annotated[str, typer.Option(
        "--participant-label", help="Subject label (with or without sub-).")],
    out: Annotated[Path, typer.Option("--out", help="Folder of the report files.")],
    session: Annotated[str | None, typer.Option(
        "--session", help="Session label (default: every quantified session).")] = None,
    predictions: Predictions = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also write the PDF.")] = True,
) -> None:
    """Self-contained HTML (and PDF) report of each quantified session of one subject."""
    from gliopet.report.patient import write_patient_report

    for ids in _sessions(bids_dir, participant_label, session):
        html, pdf_path = write_patient_report(bids_dir, ids, out, predictions=predictions,
                                              pdf=pdf)
        typer.echo(f"wrote {html}" + (f" and {pdf_path}" if pdf_path else ""))


@report_app.command("cohort")
def cohort(
    bids_dir: Annotated[Path, typer.Argument(help="BIDS dataset quantified by `gliopet "
                                                  "quantify`.")],
    out: Annotated[Path, typer.Option("--out", help="Folder of the cohort report.")],
    classify: Annotated[list[Path] | None, typer.Option(
        "--classify", help="Output folder of `gliopet classify cohort` (repeat for several).")
    ] = None,
    signature: Annotated[Path | None, typer.Option(
        "--signature", help="Output folder of the WP2 association study (default: the "
                            "dataset's signature.tsv and targets.tsv when present).")] = None,
    foundation: Annotated[Path | None, typer.Option(
        "--foundation", help="Output folder of `gliopet evaluate-representation`.")] = None,
    predictions: Predictions = None,
    patients: Annotated[bool, typer.Option(
        "--patients/--no-patients", help="Also write every session's patient report (HTML) "
                                         "under OUT/patients/.")] = True,
) -> None:
    """Cohort HTML report: sites, QC, distributions by group, model results, patient links."""
    from gliopet.errors import InputError
    from gliopet.progress import track
    from gliopet.report.cohort import CohortInputs, session_ids, write_cohort_report
    from gliopet.report.patient import write_patient_report

    for folder in [*(classify or []), signature, foundation]:
        if folder is not None and not folder.is_dir():
            raise InputError("result folder not found", path=folder,
                             fix="give the --out folder of the command that made it")
    patients_dir = out / "patients"
    if patients:
        for ids in track(session_ids(bids_dir), "patient reports"):
            write_patient_report(bids_dir, ids, patients_dir, predictions=predictions, pdf=False)
    path = write_cohort_report(CohortInputs(bids_dir, out, list(classify or []), signature,
                                            foundation, patients_dir))
    typer.echo(f"wrote {path}")
