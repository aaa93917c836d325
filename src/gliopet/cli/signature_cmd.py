"""`gliopet signature`: habitats, patient signature, aggressiveness map and aggressive subregion
per session, the cohort table, and the association study with the molecular markers.

``gliopet signature BIDS_DIR [--space kinetic|embedding|both] [--session diagnosis]
[--markers IDH,codeletion_1p19q,...] [--model DIR | --save-model DIR] [--out DIR]
[--participant-label 01] [--force] [--jobs N]`` writes ``derivatives/gliopet/signature/``
(see `gliopet.signature.pipeline`) and, with ``--out``, the association study.

``gliopet signature --features TABLE [--labels TABLE] [--markers ...] --out DIR`` runs the
association study alone on any feature table (like ``gliopet classify tabular``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gliopet.cli import app
from gliopet.cli.options import ConfigFile, Force, Jobs, ParticipantLabels, resolve_jobs

if TYPE_CHECKING:
    import pandas as pd

    from gliopet.config import Config
    from gliopet.signature.pipeline import SignatureOptions


def _split(value: str | None) -> list[str] | None:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    return items or None


@app.command("signature")
def signature(
    bids_dir: Annotated[Path | None, typer.Argument(
        help="BIDS-PET dataset, already quantified (gliopet quantify). Leave out with "
             "--features.")] = None,
    space: Annotated[str | None, typer.Option(
        "--space", help="Feature space of the habitats: kinetic (quantification's voxel maps), "
                        "embedding (gliopet embed), both. Default: kinetic, or the saved "
                        "model's.")] = None,
    session: Annotated[str, typer.Option(
        "--session", help="Session kind (diagnosis, recurrence) or all.")] = "diagnosis",
    markers: Annotated[str | None, typer.Option(
        "--markers", help="Comma-separated marker columns (IDH, codeletion_1p19q, MGMT, "
                          "CDKN2AB, grade, null_marker, ...). Default: every known one "
                          "present.")] = None,
    model: Annotated[Path | None, typer.Option(
        "--model", help="Apply a saved model (folder of --save-model) instead of fitting one: "
                        "a new patient. Only folders you trust (joblib).")] = None,
    save_model: Annotated[Path | None, typer.Option(
        "--save-model", help="Save the model fitted here into this folder.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder of the association study (tables, figures); replaced.")] = None,
    features: Annotated[Path | None, typer.Option(
        "--features", help="Run the association study alone on this feature table (tsv/csv); "
                           "needs --out.")] = None,
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="With --features: label table joined on participant_id/session_id. "
                         "Default: the markers are columns of the feature table.")] = None,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap replicates.")] = 2000,
    folds: Annotated[int, typer.Option("--folds", help="Cross-validation folds.")] = 5,
    repeats: Annotated[int, typer.Option("--repeats", help="Cross-validation repeats.")] = 1,
    participant_label: ParticipantLabels = None,
    force: Force = False,
    jobs: Jobs = None,
    config: ConfigFile = None,
) -> None:
    """Image signature (habitats), aggressiveness map and subregion per session; association
    with molecular markers (--out); or the association on any table (--features)."""
    from gliopet.config import load_config
    from gliopet.errors import InputError

    cfg = load_config(config)
    if features is not None:
        if bids_dir is not None or out is None:
            raise InputError("--features runs the association alone: give --out and no BIDS_DIR",
                             fix="gliopet signature --features TABLE --out DIR")
        _features(features, labels, markers, out, n_boot, folds, repeats, cfg)
        return
    if bids_dir is None:
        raise InputError("give BIDS_DIR (or --features TABLE --out DIR)",
                         fix="gliopet signature BIDS_DIR")
    if model is not None and save_model is not None:
        raise InputError("--model applies a saved model; --save-model saves a fitted one: give "
                         "one of them", fix="drop --save-model")
    from gliopet.signature.pipeline import SignatureOptions, run_signature

    opts = SignatureOptions(bids_dir, space, session, _split(markers), model, save_model, out,
                            participant_label, force, resolve_jobs(cfg, jobs), n_boot, folds,
                            repeats, cfg)
    table = run_signature(opts)
    _summary(table, opts)


def _features(features: Path, labels: Path | None, markers: str | None, out: Path, n_boot: int,
              folds: int, repeats: int, cfg: Config) -> None:
    from gliopet.signature.pipeline import run_features

    folder = run_features(features, labels, _split(markers), out, n_boot=n_boot, folds=folds,
                          repeats=repeats, config=cfg)
    typer.echo(f"association study: {folder}")


def _summary(table: pd.DataFrame | None, opts: SignatureOptions) -> None:
    from gliopet.io.derivatives import SIGNATURE_TABLE
    from gliopet.signature.pipeline import NO_TUMOUR

    if table is None:
        typer.echo("no session finished")
        return
    no_tumour = int((table["tumour_status"] == NO_TUMOUR).sum())
    sources = sorted(set(table["aggressiveness_source"].dropna()) - {"n/a"})
    typer.echo(f"signature of {len(table)} session(s) ({no_tumour} without a PET-avid "
               f"tumour); aggressiveness map: {', '.join(sources) or 'n/a'}; "
               f"table: {SIGNATURE_TABLE.path(opts.bids_dir)}")
    for note in opts.notes:
        typer.echo(f"note: {note}")
    if opts.out:
        typer.echo(f"association study: {opts.out}")
