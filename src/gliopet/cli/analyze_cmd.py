"""`gliopet analyze`: one patient from DICOM (or a BIDS dataset) to the patient report.

``gliopet analyze (--dicom DIR --id-map PATH | --bids DIR --participant-label X)
[--model DIR] --out DIR`` runs, through the public verbs (`gliopet.cli.main`, as a user types
them): import-dicom (with ``--dicom``: the de-identified dataset goes to ``OUT/bids``),
preprocess, quantify, then when this version registers them: signature and biopsy (diagnosis
sessions: aggressive subregion and biopsy target), radiomics and predict (with ``--model``, a
folder of `gliopet classify cohort`: the progression probability and its explanation), and
finally the patient report of each session (HTML + PDF in OUT). The seconds of each step are
printed, written to ``OUT/analyze-steps.json`` and shown in the report's provenance. A failure
of an optional step (signature, biopsy, radiomics, predict) is reported and the report is still
written, saying which sections did not run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from gliopet.cli import app


def _subjects(bids_dir: Path) -> list[str]:
    from gliopet.errors import InputError

    found = sorted(p.name.removeprefix("sub-") for p in bids_dir.glob("sub-*") if p.is_dir())
    if not found:
        raise InputError("the imported dataset holds no subject", path=bids_dir,
                         fix="check the DICOM folder (gliopet import-dicom lists what it skipped)")
    return found


def _check(dicom: Path | None, id_map: Path | None, bids: Path | None,
           participant: str | None) -> None:
    from gliopet.errors import InputError

    if (dicom is None) == (bids is None):
        raise InputError("give either --dicom DIR --id-map PATH or --bids DIR "
                         "--participant-label X", fix="gliopet analyze --dicom DIR --id-map "
                         "PATH --out DIR")
    if dicom is not None and id_map is None:
        raise InputError("--dicom needs --id-map (the protected identifier map)",
                         fix="add --id-map PATH outside OUT")
    if bids is not None and not participant:
        raise InputError("--bids needs --participant-label", fix="add --participant-label X")


class Steps:
    """Runs the verbs in order, prints progress and records the seconds of each step."""

    def __init__(self, run: Callable[[list[str]], int], total: int) -> None:
        self.run, self.total, self.seconds, self.failed = run, total, {}, {}

    def step(self, name: str, argv: list[str], *, required: bool = True) -> bool:
        """Run one verb; a required step that fails stops the analysis (exit status kept)."""
        index = len(self.seconds) + len(self.failed) + 1
        typer.echo(f"[{index}/{self.total}] {name}: gliopet {' '.join(argv)}")
        start = time.perf_counter()
        code = self.run(argv)
        elapsed = time.perf_counter() - start
        if code != 0:
            self.failed[name] = code
            typer.echo(f"[{index}/{self.total}] {name} failed (exit status {code}) after "
                       f"{elapsed:.1f} s" + ("" if required else "; going on without it"),
                       err=True)
            if required:
                raise typer.Exit(code)
            return False
        self.seconds[name] = elapsed
        typer.echo(f"[{index}/{self.total}] {name} done in {elapsed:.1f} s")
        return True


def _optional_steps(steps: Steps, bids: str, label: str, model: Path | None, out: Path,
                    verbs: set[str]) -> Path | None:
    """Signature, biopsy, radiomics and predict when registered; the predictions path."""
    part = ["--participant-label", label]
    # every session of the patient: an imported session's label need not name its kind
    if "signature" in verbs and steps.step("signature", ["signature", bids, "--session", "all",
                                                         *part], required=False):
        if "biopsy" in verbs:
            steps.step("biopsy", ["biopsy", bids, *part], required=False)
    if model is None:
        return None
    if "radiomics" in verbs:
        steps.step("radiomics", ["radiomics", bids, *part], required=False)
    if steps.step("predict", ["predict", bids, "--model", str(model), "--out",
                              str(out / "predict")], required=False):
        return out / "predict"
    return None


@app.command("analyze")
def analyze(
    out: Annotated[Path, typer.Option("--out", help="Folder of the report (and of the "
                                                    "imported dataset with --dicom).")],
    dicom: Annotated[Path | None, typer.Option(
        "--dicom", help="One patient's DICOM export (PET and MR series).")] = None,
    id_map: Annotated[Path | None, typer.Option(
        "--id-map", help="Protected identifier map of import-dicom (outside OUT).")] = None,
    bids: Annotated[Path | None, typer.Option(
        "--bids", help="A BIDS dataset holding the patient (derivatives are written into it).")
    ] = None,
    participant_label: Annotated[str | None, typer.Option(
        "--participant-label", help="The patient's subject label (with --bids).")] = None,
    model: Annotated[Path | None, typer.Option(
        "--model", help="Folder of `gliopet classify cohort` (progression probability at "
                        "recurrence).")] = None,
) -> None:
    """One patient through import, preprocessing, quantification, WP2/WP3 and the report."""
    import json

    from gliopet.atomic import write_json
    from gliopet.cli import main
    from gliopet.cli.demo_stages import registered_verbs
    from gliopet.report.cohort import session_ids
    from gliopet.report.patient import write_patient_report

    _check(dicom, id_map, bids, participant_label)
    verbs = registered_verbs(app)
    steps = Steps(main, (dicom is not None) + 3 + 2 * ("signature" in verbs)
                  + (2 if model is not None else 0))
    if dicom is not None:
        bids = out / "bids"
        steps.step("import-dicom", ["import-dicom", str(dicom), str(bids), "--id-map",
                                    str(id_map)])
    subjects = [participant_label.removeprefix("sub-")] if participant_label else _subjects(bids)
    part = [a for s in subjects for a in ("--participant-label", s)]
    steps.step("preprocess", ["preprocess", str(bids), *part])
    steps.step("quantify", ["quantify", str(bids), *part])
    predictions = None
    for subject in subjects:
        predictions = _optional_steps(steps, str(bids), subject, model, out, verbs) or predictions
    start = time.perf_counter()
    written = [write_patient_report(bids, ids, out, predictions=predictions,
                                    step_seconds=dict(steps.seconds))
               for ids in session_ids(bids) if ids[0] in subjects]
    steps.seconds["report"] = time.perf_counter() - start
    write_json(out / "analyze-steps.json", {"seconds": steps.seconds, "failed": steps.failed})
    typer.echo(f"[{steps.total}/{steps.total}] report done in {steps.seconds['report']:.1f} s")
    typer.echo("steps: " + json.dumps({k: round(v, 1) for k, v in steps.seconds.items()}))
    for html, pdf in written:
        typer.echo(f"patient report: {html}" + (f" and {pdf}" if pdf else ""))
