"""The output folder of `gliopet classify cohort`: that of `classify tabular`, plus the ceiling.

The same files as `gliopet.classify.report` (``results.tsv``, ``delong.tsv``,
``predictions.tsv``, ``selected_features.tsv``, ``feature_stability.tsv``, ``stability.tsv``,
``shap_values.tsv``, ``shap_global.tsv``, ``input_report.txt``, the ROC, calibration and
decision-curve PNGs, ``models.joblib``, ``summary.md``, ``provenance.json``), built from the same
functions, and ``sessions.tsv`` (the sessions, their subject, site and label), and for progression
``dynamic_vs_static.tsv`` (do dynamic features add to TBRmax: `gliopet.classify.dynamic`).
On a phantom,
``results.tsv`` carries the Bayes ceiling of each row's evaluation (``bayes_auc`` and its CI,
``bayes_n``) and ``above_bayes_ceiling`` (the model's AUC is above it) and
``beyond_bayes_ceiling`` (its whole CI is above it); ``summary.md`` flags both as leakage.

``models.joblib`` holds what `gliopet predict` needs: the fitted models, each model's family
and feature columns, the training rows of each tabular family (the SHAP background), the crop
channels and size of each image family, the target, its positive value, the session kind and the
settings.

Image families (``cnn``, ``foundation``) add ``saliency/``: per session, the out-of-fold
saliency map of the fit that tested it (first repeat, and the external validation), on the
learning grid (NIfTI named by the contract's ``PREDICT_SALIENCY``, ``desc`` = model and method)
with a PNG overlay, indexed by ``saliency.tsv`` (model, evaluation, repeat, fold, id, method,
nifti, png; paths relative to the output folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from gliopet import DISCLAIMER
from gliopet.atomic import atomic_path, staged_directory, write_text, write_tsv
from gliopet.classify.cohort import TARGETS, CohortRun, final_data
from gliopet.classify.dynamic import dynamic_vs_static
from gliopet.classify.dynamic import markdown as dynamic_markdown
from gliopet.classify.plots import calibration_figure, decision_figure, roc_figure
from gliopet.classify.report import delong_markdown, shap_tables
from gliopet.classify.results import delong_table, results_table, selection_stability
from gliopet.classify.tabular import TabularRun
from gliopet.io import derivatives as d
from gliopet.provenance import write_provenance

#: Kind of bundle `gliopet predict` accepts.
BUNDLE_KIND = "gliopet classify cohort"
SUMMARY_METRICS = ("auc", "sensitivity", "specificity", "precision", "npv", "brier")


def _fmt(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.2f}"


def results_with_ceiling(run: CohortRun) -> pd.DataFrame:
    """results.tsv rows (`gliopet.classify.results.results_table`) with the Bayes ceiling."""
    from gliopet.classify.cohort import bayes_ceiling

    opts = run.opts
    results = results_table(run.evaluation.predictions, seed=opts.seed, n_boot=opts.n_boot)
    results.insert(2, "family", results["model"].map(run.family_of))
    if run.posteriors is None:
        return results
    ceiling = bayes_ceiling(run.evaluation.predictions, run.posteriors, seed=opts.seed,
                            n_boot=opts.n_boot)
    results = results.merge(ceiling, on="evaluation", how="left")
    results["above_bayes_ceiling"] = results["auc"] > results["bayes_auc"]
    results["beyond_bayes_ceiling"] = results["auc_ci_low"] > results["bayes_auc"]
    return results


def _results_lines(results: pd.DataFrame) -> list[str]:
    ceiling = "bayes_auc" in results.columns
    head = ["model", "family", "evaluation", "n (pos)", *SUMMARY_METRICS]
    head += ["Bayes ceiling AUC"] if ceiling else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in results.iterrows():
        cells = [r["model"], r["family"], r["evaluation"], f"{r['n']} ({r['n_positive']})"]
        cells += [f"{_fmt(r[m])} [{_fmt(r[m + '_ci_low'])}, {_fmt(r[m + '_ci_high'])}]"
                  for m in SUMMARY_METRICS]
        if ceiling:
            cells.append(f"{_fmt(r['bayes_auc'])} [{_fmt(r['bayes_auc_ci_low'])}, "
                         f"{_fmt(r['bayes_auc_ci_high'])}]")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return lines


def leakage_lines(results: pd.DataFrame) -> list[str]:
    """One line per model above the Bayes ceiling of its evaluation (empty: none, or no truth)."""
    if "bayes_auc" not in results.columns:
        return []
    lines = []
    for r in results[results["above_bayes_ceiling"]].itertuples():
        beyond = "its whole 95 % CI is above it" if r.beyond_bayes_ceiling else \
            "inside the model's CI: chance on this sample, or leakage"
        lines.append(f"- **LEAKAGE?** {r.model} ({r.evaluation}): AUC {r.auc:.3f} above the "
                     f"Bayes ceiling {r.bayes_auc:.3f} ({beyond}).")
    return lines


def summary_markdown(run: CohortRun, results: pd.DataFrame, delong: pd.DataFrame) -> str:
    """summary.md: inputs, settings, results with CIs and ceilings, leakage flags, DeLong."""
    o, coding = run.opts, TARGETS[run.opts.target]
    n, n_pos = len(run.sessions), int(run.sessions["label"].sum())
    lines = ["# gliopet classify cohort", "", f"> {DISCLAIMER}", "",
             f"Dataset `{o.bids_dir}`, {o.session} sessions, target `{o.target}` (positive: "
             f"`{coding.positive}`): {n} sessions of {run.sessions['participant_id'].nunique()} "
             f"subjects ({n_pos} positive); families {', '.join(run.data)}.", "",
             f"Evaluation: {o.repeats} x {o.folds}-fold nested cross-validation by subject (the "
             "same folds for every family; selection, harmonisation, hyper-parameters and "
             "thresholds fitted on the training folds only)"
             + (f"; external validation on site `{o.external_site}` (trained on the other "
                "sites, threshold carried unchanged)" if o.external_site else "")
             + f". Seed {o.seed}; {o.n_boot} stratified bootstrap replicates. Saved models "
             + ("(models.joblib) fitted on every session." if o.final_fit == "all" else
                f"(models.joblib) fitted on the sites other than `{o.external_site}`, as in "
                "the external validation."), ""]
    lines += [f"- {note}" for note in run.notes] + ([""] if run.notes else [])
    lines += ["## Results", "", *_results_lines(results), ""]
    if run.posteriors is not None:
        flags = leakage_lines(results)
        lines += ["Bayes ceiling: AUC of the phantom's true posterior "
                  f"(`{coding.posterior}`) on the same sessions as the row's evaluation; a "
                  "model above it signals leakage (docs/conventions.md).", "",
                  *(flags or ["No model is above the Bayes ceiling."]), ""]
    lines += delong_markdown(delong)
    lines += dynamic_markdown(dynamic_vs_static(run.evaluation.predictions))
    lines += _label_efficiency_lines(run)
    lines += _sanity_lines(run)
    lines += ["## Input", "", *[f"- {line}" for line in _input_lines(run)], ""]
    return "\n".join(lines)


def _sanity_lines(run: CohortRun) -> list[str]:
    """The saliency sanity-check section of summary.md (image families only)."""
    if not run.sanity:
        return []
    table = pd.DataFrame(run.sanity).groupby("model", sort=False).first()
    lines = ["## Saliency sanity check", "", "Model-parameter randomisation (Adebayo et al. 2018): "
             "Spearman rank correlation of the Grad-CAM maps of the final model and of a copy "
             "with re-initialised parameters, on up to 8 positive sessions "
             "(`saliency_sanity.tsv`); maps that do not change are not explanations.", ""]
    for model, r in table.iterrows():
        verdict = "passed" if r["passed"] else "FAILED: the maps barely depend on the weights"
        lines.append(f"- {model}: median correlation {_fmt(r['median'])} (bound "
                     f"{r['bound']:.2f}): {verdict}.")
    return [*lines, ""]


def _label_efficiency_lines(run: CohortRun) -> list[str]:
    """The label-efficiency section of summary.md (none when not asked for)."""
    table = run.label_efficiency
    if table is None:
        return []
    lines = ["## Label efficiency", "", "Each model refitted on a class-stratified sample of the "
             "training subjects of every outer fold (the test folds unchanged); "
             "`label_efficiency.tsv`, `label_efficiency.png`.", "",
             "| model | fraction | training subjects | AUC [95 % CI] |", "|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.model} | {r.fraction:g} | {r.train_subjects:.1f} | {_fmt(r.auc)} "
                     f"[{_fmt(r.auc_ci_low)}, {_fmt(r.auc_ci_high)}] |")
    return [*lines, ""]


def _input_lines(run: CohortRun) -> list[str]:
    lines = list(run.dropped)
    for family, report in run.reports.items():
        lines += [f"{family}: {line}" for line in report.lines()[1:]]
    return lines


def bundle(run: CohortRun) -> dict[str, Any]:
    """What models.joblib holds (module docstring)."""
    o = run.opts
    # the SHAP background is the saved models' training rows (the training sites only with
    # --final-fit training-sites: the external site's rows must not shape the explanations)
    fitted = {f: final_data(o, data) for f, data in run.data.items() if f not in run.channels}
    return {"kind": BUNDLE_KIND, "models": run.fitted, "family": run.family_of,
            "features": {name: list(run.data[f].X.columns) for name, f in run.family_of.items()},
            "background": {f: data.X for f, data in fitted.items()},
            "background_sites": {f: data.sites for f, data in fitted.items()},
            "channels": dict(run.channels), "crop_voxels": _crop_voxels(run),
            "target": o.target, "positive": TARGETS[o.target].positive, "session": o.session,
            "harmonize": o.harmonize, "seed": o.seed, "final_fit": o.final_fit,
            "external_site": o.external_site}


def _crop_voxels(run: CohortRun) -> int | None:
    for family in run.channels:
        return int(run.data[family].X["crop"].iloc[0].shape[-1])
    return None


def saliency_desc(model: str, method: str) -> str:
    """The ``desc`` entity of a saliency file: model and method, letters and digits only."""
    return "".join(c for c in model if c.isalnum()) + method.capitalize()


def write_saliency_cases(run: CohortRun, folder: Path) -> pd.DataFrame:
    """Write every out-of-fold map of `run` under ``folder/saliency``; the saliency.tsv rows."""
    from gliopet.classify.saliency import write_overlay, write_saliency
    from gliopet.foundation.data import learning_grid_geometry

    if not run.saliency:
        return pd.DataFrame()
    shape, affine = learning_grid_geometry()
    by_id = run.sessions.set_index("id")
    rows = []
    for case in run.saliency:
        ids = (by_id.loc[case.id, "participant_id"], by_id.loc[case.id, "session_id"])
        label = "".join(c if c.isalnum() else "-" for c in case.evaluation).strip("-")
        where = folder / "saliency" / label
        desc = saliency_desc(case.model, case.method)
        nifti = d.PREDICT_SALIENCY.in_dir(where, ids, desc=desc)
        png = d.PREDICT_SALIENCY_FIGURE.in_dir(where, ids, desc=desc)
        write_saliency(nifti, case.values, case.origin, shape, affine,
                       {"Model": case.model, "Method": case.method, "Evaluation": case.evaluation,
                        "Repeat": case.repeat, "Fold": case.fold, "CropOrigin": list(case.origin),
                        "OutOfFold": True})
        write_overlay(png, case.background, case.values, f"{case.model} {case.method}: {case.id}")
        rows.append({"model": case.model, "evaluation": case.evaluation, "repeat": case.repeat,
                     "fold": case.fold, "id": case.id, "method": case.method,
                     "nifti": str(nifti.relative_to(folder)), "png": str(png.relative_to(folder))})
    return pd.DataFrame(rows)


def _selection_tables(run: CohortRun) -> tuple[pd.DataFrame, pd.DataFrame]:
    freq, stab = [pd.DataFrame()], [pd.DataFrame()]
    for family, data in run.data.items():
        if family in run.channels:  # image families select no feature
            continue
        names = [m for m, f in run.family_of.items() if f == family]
        sel = run.evaluation.selections
        f, s = selection_stability(sel[sel["model"].isin(names)],
                                   data.X.shape[1] - len(data.covariates))
        freq.append(f)
        stab.append(s)
    return pd.concat(freq, ignore_index=True), pd.concat(stab, ignore_index=True)


def write_cohort_outputs(run: CohortRun) -> tuple[Path, pd.DataFrame]:
    """Write the output folder (module docstring); returns its path and results.tsv."""
    o, ev = run.opts, run.evaluation
    results = results_with_ceiling(run)
    delong = delong_table(ev.predictions)
    frequency, stability = _selection_tables(run)
    first = next(iter(run.data.values()))
    tab = TabularRun(first, next(iter(run.reports.values())), run.models, ev, run.fitted,
                     run.explanations)
    per_patient, global_shap = shap_tables(tab) if run.explanations else (pd.DataFrame(),
                                                                          pd.DataFrame())
    sessions = run.sessions[["id", "participant_id", "session_id", *(
        ["site"] if "site" in run.sessions.columns else []), o.target, "label", *(
        c for c in ("BTV_mL", "baseline_BTV_mL", "PETRANO_score") if c in run.sessions.columns)]]
    with staged_directory(o.out, overwrite=o.force) as folder:
        for name, table in (("results", results), ("delong", delong),
                            ("predictions", ev.predictions), ("selected_features", ev.selections),
                            ("feature_stability", frequency), ("stability", stability),
                            ("shap_values", per_patient), ("shap_global", global_shap),
                            ("sessions", sessions)):
            write_tsv(folder / f"{name}.tsv", table)
        write_text(folder / "input_report.txt", "\n".join(run.notes + _input_lines(run)) + "\n")
        dynamic = dynamic_vs_static(ev.predictions)
        if len(dynamic):
            write_tsv(folder / "dynamic_vs_static.tsv", dynamic)
        if run.label_efficiency is not None:
            from gliopet.classify.label_efficiency import label_efficiency_figure

            write_tsv(folder / "label_efficiency.tsv", run.label_efficiency)
            label_efficiency_figure(run.label_efficiency, folder / "label_efficiency.png",
                                    f"Label efficiency, {o.target} ({o.session})")
        if run.sanity:
            write_tsv(folder / "saliency_sanity.tsv", pd.DataFrame(run.sanity))
        saliency = write_saliency_cases(run, folder)
        if not saliency.empty:
            write_tsv(folder / "saliency.tsv", saliency)
        for evaluation, group in ev.predictions.groupby("evaluation", sort=False):
            label = "".join(c if c.isalnum() else "-" for c in evaluation).strip("-")
            roc_figure(group, folder / f"roc_{label}.png", f"ROC, {evaluation}")
            calibration_figure(group, folder / f"calibration_{label}.png",
                               f"Calibration, {evaluation}")
            decision_figure(group, folder / f"decision_curve_{label}.png",
                            f"Decision curve, {evaluation}")
        with atomic_path(folder / "models.joblib") as tmp:
            joblib.dump(bundle(run), tmp)
        write_text(folder / "summary.md", summary_markdown(run, results, delong))
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(o).items()
                    if k != "force"}
        inputs = [d.COHORT_TABLE.path(o.bids_dir)]
        if "radiomics" in run.data:
            inputs.append(d.RADIOMICS_TABLE.path(o.bids_dir))
        if "foundation" in run.data and o.foundation_model is not None:
            inputs.append(Path(o.foundation_model))
        write_provenance(folder, command=BUNDLE_KIND, config=settings, inputs=inputs)
    return o.out, results
