"""`gliopet classify`: WP3 classifiers. ``gliopet classify tabular`` runs on any feature table.

``gliopet classify tabular FEATURES --labels LABELS --target COLUMN --out DIR [--positive VALUE]
[--id-column NAME] [--group-column site] [--covariates age,sex] [--models logistic,svm,rf,gb,rules]
[--external-site SITE] [--harmonize] [--repeats 10] [--folds 5] [--jobs N]`` writes DIR (see
`gliopet.classify.report`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gliopet.cli import app
from gliopet.cli.options import ConfigFile, Force, Jobs, resolve_jobs

classify_app = typer.Typer(
    help="Classifiers of WP3 (progression vs treatment-related change, IDH, 1p/19q) and their "
         "honest evaluation.", no_args_is_help=True)
app.add_typer(classify_app, name="classify")


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _fractions(value: str | None) -> tuple[float, ...]:
    from gliopet.errors import ParameterError

    try:
        return tuple(float(v) for v in _split(value))
    except ValueError:
        raise ParameterError("--label-fractions", value, "comma-separated fractions in (0, 1], "
                             "e.g. 0.1,0.25,0.5,1") from None


# Options shared by `classify tabular` and `classify cohort`.
ExternalSite = Annotated[str | None, typer.Option(
    "--external-site", help="Site never seen in training: fit on the others, test on it.")]
Repeats = Annotated[int, typer.Option("--repeats", help="Repeats of the outer CV.")]
Folds = Annotated[int, typer.Option("--folds", help="Outer folds.")]
InnerFolds = Annotated[int, typer.Option("--inner-folds", help="Inner folds.")]
NBoot = Annotated[int, typer.Option("--n-boot", help="Bootstrap replicates.")]
Seed = Annotated[int | None, typer.Option(
    "--seed", help="Seed of splits, models and bootstrap. Default: the configuration's.")]


@classify_app.command("tabular")
def tabular(
    features: Annotated[Path, typer.Argument(help="Feature table: csv, tsv or xlsx, one row per "
                                                  "patient.")],
    target: Annotated[str, typer.Option("--target", help="Label column (of LABELS).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (new, or --force).")],
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="Label table (csv, tsv or xlsx). Default: the target is a column of "
                         "FEATURES.")] = None,
    positive: Annotated[str | None, typer.Option(
        "--positive", help="Value of the target that is the positive class (needed for text "
                           "labels; default for 0/1 labels: 1).")] = None,
    id_column: Annotated[str | None, typer.Option(
        "--id-column", help="Id column shared by both files. Default: participant_id when both "
                            "have it, else the first column of FEATURES.")] = None,
    group_column: Annotated[str | None, typer.Option(
        "--group-column", help="Site column, for --harmonize and --external-site.")] = None,
    subject_column: Annotated[str | None, typer.Option(
        "--subject-column", help="Subject column when one subject has several rows (all of a "
                                 "subject's rows stay in one fold). Default: the id.")] = None,
    covariates: Annotated[str | None, typer.Option(
        "--covariates", help="Comma-separated columns always given to the models (numeric or "
                             "two-valued text).")] = None,
    models: Annotated[str, typer.Option(
        "--models", help="Comma-separated families: logistic, svm, rf, gb, rules (threshold "
                         "rules on TBRmax, TBRmean, TSRmax, TTP_min when present).")
    ] = "logistic,svm,rf,gb,rules",
    tracer: Annotated[str | None, typer.Option(
        "--tracer", help="Keep only the published cut-offs of this tracer (FDOPA or FET).")
    ] = None,
    external_site: ExternalSite = None,
    harmonize: Annotated[bool, typer.Option(
        "--harmonize", help="ComBat across sites, fitted inside the training folds.")] = False,
    repeats: Repeats = 10,
    folds: Folds = 5,
    inner_folds: InnerFolds = 3,
    n_boot: NBoot = 2000,
    seed: Seed = None,
    jobs: Jobs = None,
    force: Force = False,
    config: ConfigFile = None,
) -> None:
    """Radiomics + machine learning with repeated nested CV on any feature table."""
    from gliopet.classify.report import write_outputs
    from gliopet.classify.tabular import TabularOptions, evaluate_tabular
    from gliopet.config import load_config

    cfg = load_config(config)
    opts = TabularOptions(
        features=features, labels=labels, target=target, out=out,
        seed=cfg.seed if seed is None else seed, positive=positive, id_column=id_column,
        group_column=group_column, subject_column=subject_column,
        covariates=_split(covariates), models=_split(models), tracer=tracer,
        repeats=repeats, folds=folds, inner_folds=inner_folds, external_site=external_site,
        harmonize=harmonize, n_boot=n_boot, jobs=resolve_jobs(cfg, jobs), force=force)
    run = evaluate_tabular(opts)
    for line in run.report.lines()[1:]:
        typer.echo(line, err=True)
    folder = write_outputs(run, opts)
    typer.echo(f"{len(run.data.y)} patients, {len(run.models)} models; wrote {folder}")
    typer.echo((folder / "summary.md").read_text().split("## Results\n\n")[1].split("\n\n")[0])


# Options of the image families and the label-efficiency curves (`classify cohort`).
FoundationModelPath = Annotated[Path | None, typer.Option(
    "--foundation-model", help="Checkpoint (.ckpt) of `gliopet pretrain` for the foundation "
                               "family.")]
FoundationMode = Annotated[str, typer.Option(
    "--foundation-mode", help="probe (linear probe, encoder frozen) or finetune (the last "
                              "block and the head, layer-wise learning rates).")]
ImageRepeats = Annotated[int, typer.Option(
    "--image-repeats", min=1, help="Outer-CV repeats of the image families (at most "
                                   "--repeats; the first repeats of the same folds).")]
CnnEpochs = Annotated[int, typer.Option(
    "--cnn-epochs", min=1, help="Most epochs of the CNN (early stopping on a validation "
                                "split by subject).")]
SaliencyMethods = Annotated[str, typer.Option(
    "--saliency", help="Out-of-fold saliency of the image families: gradcam, occlusion, "
                       "ig (comma-separated).")]
LabelFractions = Annotated[str | None, typer.Option(
    "--label-fractions", help="Label-efficiency curves: refit every model on these "
                              "fractions of the training subjects (e.g. 0.1,0.25,0.5,1); "
                              "writes label_efficiency.tsv and .png.")]
CropVoxels = Annotated[int, typer.Option(
    "--crop-voxels", help="Edge of the tumour-centred crop of the image families (2 mm "
                          "voxels, a multiple of 8).")]


@classify_app.command("cohort")
def cohort(
    bids_dir: Annotated[Path, typer.Argument(help="BIDS dataset quantified by `gliopet "
                                                  "quantify` (and `gliopet radiomics`).")],
    target: Annotated[str, typer.Option(
        "--target", help="outcome (progression positive), IDH (mutant positive) or "
                         "codeletion_1p19q (codeleted positive).")],
    session: Annotated[str, typer.Option(
        "--session", help="Session kind: recurrence or diagnosis.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (new, or --force).")],
    families: Annotated[str, typer.Option(
        "--families", help="Comma-separated: rules (cohort.tsv), radiomics (radiomics.tsv), cnn "
                           "(learning-grid crops around the tumour), foundation (needs "
                           "--foundation-model; skipped with a note without it).")
    ] = "rules,radiomics",
    foundation_model: FoundationModelPath = None,
    foundation_mode: FoundationMode = "probe",
    image_repeats: ImageRepeats = 3,
    cnn_epochs: CnnEpochs = 60,
    saliency: SaliencyMethods = "gradcam",
    label_fractions: LabelFractions = None,
    crop_voxels: CropVoxels = 32,
    models: Annotated[str, typer.Option(
        "--models", help="Classifiers of the radiomics family.")] = "logistic,svm,rf,gb",
    external_site: ExternalSite = None,
    final_fit: Annotated[str, typer.Option(
        "--final-fit", help="What the saved models (models.joblib, for `gliopet predict`) are "
                            "fitted on: all (every session) or training-sites (the sites "
                            "other than --external-site, as in the external validation).")
    ] = "all",
    harmonize: Annotated[bool, typer.Option(
        "--harmonize", help="ComBat of the radiomics features across sites, fitted inside the "
                            "training folds.")] = False,
    repeats: Repeats = 10,
    folds: Folds = 5,
    inner_folds: InnerFolds = 3,
    n_boot: NBoot = 2000,
    seed: Seed = None,
    jobs: Jobs = None,
    force: Force = False,
    config: ConfigFile = None,
) -> None:
    """The WP3 families on a quantified dataset (nested CV by subject, external site, ceiling)."""
    from gliopet.classify.cohort import CohortOptions, check_cohort_options, evaluate_cohort
    from gliopet.classify.cohort_report import write_cohort_outputs
    from gliopet.classify.tabular import TabularOptions, check_options
    from gliopet.config import load_config

    cfg = load_config(config)
    opts = CohortOptions(
        bids_dir=bids_dir, target=target, session=session, out=out,
        seed=cfg.seed if seed is None else seed, families=_split(families),
        classifiers=_split(models), external_site=external_site, harmonize=harmonize,
        repeats=repeats, folds=folds, inner_folds=inner_folds, n_boot=n_boot,
        jobs=resolve_jobs(cfg, jobs), force=force, foundation_model=foundation_model,
        foundation_mode=foundation_mode, image_repeats=image_repeats, cnn_epochs=cnn_epochs,
        saliency=_split(saliency), crop_voxels=crop_voxels,
        label_fractions=_fractions(label_fractions), final_fit=final_fit)
    check_cohort_options(opts)
    check_options(TabularOptions(features=bids_dir, labels=None, target=target, out=out,
                                 seed=opts.seed, group_column="site", repeats=repeats,
                                 folds=folds, inner_folds=inner_folds, n_boot=n_boot,
                                 jobs=opts.jobs, force=True))
    run = evaluate_cohort(opts)
    for line in run.notes + run.dropped:
        typer.echo(line, err=True)
    folder, results = write_cohort_outputs(run)
    typer.echo(f"{len(run.sessions)} {session} sessions, {len(run.models)} models; "
               f"wrote {folder}")
    for r in results.itertuples():
        ceiling = (f"; Bayes ceiling {r.bayes_auc:.3f} [{r.bayes_auc_ci_low:.3f}, "
                   f"{r.bayes_auc_ci_high:.3f}]" if hasattr(r, "bayes_auc") else "")
        flag = "  ABOVE THE CEILING: leakage?" if getattr(r, "above_bayes_ceiling", False) else ""
        typer.echo(f"{r.model} | {r.evaluation}: AUC {r.auc:.3f} [{r.auc_ci_low:.3f}, "
                   f"{r.auc_ci_high:.3f}]{ceiling}{flag}")
