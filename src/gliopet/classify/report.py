"""The output folder of `gliopet classify tabular`.

``results.tsv`` (one row per model and evaluation: every metric with its 95 % CI),
``delong.tsv``, ``predictions.tsv`` (every out-of-sample prediction: model, evaluation,
repeat, fold, patient, label, probability, the fold's threshold, decision),
``selected_features.tsv`` (the features of every outer fit, ranked), ``feature_stability.tsv``
(selection frequency) and ``stability.tsv`` (Nogueira's index), ``shap_values.tsv`` and
``shap_global.tsv`` (explanations of the models fitted on every patient),
``input_report.txt`` (what was dropped and why), ROC, calibration and decision-curve PNGs per
evaluation, ``models.joblib`` (the fitted models with their thresholds), ``summary.md`` and
``provenance.json``. The folder is built under a temporary name and moved into place when
complete (`gliopet.atomic.staged_directory`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from gliopet import DISCLAIMER
from gliopet.atomic import atomic_path, staged_directory, write_text, write_tsv
from gliopet.classify.plots import calibration_figure, decision_figure, roc_figure
from gliopet.classify.results import delong_table, results_table, selection_stability
from gliopet.classify.tabular import TabularOptions, TabularRun
from gliopet.provenance import write_provenance

SUMMARY_METRICS = ("auc", "sensitivity", "specificity", "precision", "npv",
                   "balanced_accuracy", "f1", "brier")



def delong_markdown(delong: pd.DataFrame) -> list[str]:
    """The DeLong section of a summary (empty when there is no pair of models)."""
    if not len(delong):
        return []
    return ["## DeLong tests (probability averaged over repeats)", "",
            "| evaluation | A | B | AUC A - B [95 % CI] | p |", "|---|---|---|---|---|",
            *[f"| {r.evaluation} | {r.model_a} | {r.model_b} | {_delong_cells(r)} |"
              for r in delong.itertuples()],
            "", *(["n/a: DeLong's variance needs at least two cases of each class in the "
                   "evaluation.", ""] if not np.isfinite(delong["p_value"]).all() else [])]


def _delong_cells(r: Any) -> str:
    """'difference [CI] | p' of a DeLong row, in words when the test is undefined."""
    if not np.isfinite(r.p_value):
        return f"{r.difference:+.3f} (n/a) | n/a"
    return f"{r.difference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}] | {r.p_value:.3g}"

def _file_label(evaluation: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in evaluation).strip("-")


def shap_tables(run: TabularRun) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per patient, long form; global mean |SHAP| per model and feature)."""
    per, glob = [], []
    for name, frame in run.explanations.items():
        long = frame.assign(id=run.data.ids).melt(id_vars="id", var_name="feature",
                                                  value_name="shap")
        per.append(long.assign(model=name, scale=frame.attrs.get("scale", ""))[
            ["model", "id", "feature", "shap", "scale"]])
        mean_abs = frame.abs().mean().sort_values(ascending=False)
        glob.append(pd.DataFrame({"model": name, "feature": mean_abs.index,
                                  "mean_abs_shap": mean_abs.to_numpy(),
                                  "scale": frame.attrs.get("scale", "")}))
    return pd.concat(per, ignore_index=True), pd.concat(glob, ignore_index=True)


def _fmt(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.2f}"


def _results_markdown(results: pd.DataFrame) -> list[str]:
    head = "| model | evaluation | n (pos) | " + " | ".join(SUMMARY_METRICS) + " |"
    lines = [head, "|" + "---|" * (3 + len(SUMMARY_METRICS))]
    for _, r in results.iterrows():
        cells = [f"{_fmt(r[m])} [{_fmt(r[m + '_ci_low'])}, {_fmt(r[m + '_ci_high'])}]"
                 for m in SUMMARY_METRICS]
        lines.append(f"| {r['model']} | {r['evaluation']} | {r['n']} ({r['n_positive']}) | "
                     + " | ".join(cells) + " |")
    return lines


def _settings(opts: TabularOptions) -> str:
    """The evaluation settings in one paragraph."""
    text = (f"Evaluation: {opts.repeats} x {opts.folds}-fold nested cross-validation by subject "
            f"(inner {opts.inner_folds} folds: feature processing"
            + (", ComBat harmonisation" if opts.harmonize else "")
            + ", hyper-parameters and the operating threshold fitted on the training folds only)")
    if opts.external_site:
        text += (f"; external validation on site `{opts.external_site}` (trained on the other "
                 "sites, threshold carried unchanged"
                 + ("; ComBat estimates that site's location and scale from its own rows at "
                    "test time, without labels" if opts.harmonize else "") + ")")
    return text + (f". Seed {opts.seed}; {opts.n_boot} stratified bootstrap replicates over "
                   "patients for the 95 % intervals.")


def summary_markdown(run: TabularRun, opts: TabularOptions, results: pd.DataFrame,
                     delong: pd.DataFrame, stability: pd.DataFrame,
                     frequency: pd.DataFrame) -> str:
    """The Markdown summary: inputs, settings, results with CIs, DeLong, feature stability."""
    d = run.data
    lines = ["# gliopet classify tabular", "", f"> {DISCLAIMER}", "",
             f"Features `{opts.features}`, labels `{opts.labels or opts.features}`, target "
             f"`{opts.target}` (positive: `{run.report.positive}`): {len(d.y)} patients "
             f"({int(d.y.sum())} positive), {d.X.shape[1] - len(d.covariates)} features"
             + (f", covariates {', '.join(d.covariates)}" if d.covariates else "") + ".", "",
             _settings(opts), "",
             "## Results", "", *_results_markdown(results), "",
             "Thresholded metrics use the threshold chosen on each fold's training data.", ""]
    lines += delong_markdown(delong)
    lines += ["## Feature selection stability", "",
              "| model | evaluation | fits | mean selected | Nogueira index | most selected |",
              "|---|---|---|---|---|---|"]
    for r in stability.itertuples():
        top = frequency[(frequency.model == r.model) & (frequency.evaluation == r.evaluation)]
        best = ", ".join(f"{f} ({q:.0%})" for f, q in zip(top.feature[:5], top.frequency[:5],
                                                           strict=False))
        lines.append(f"| {r.model} | {r.evaluation} | {r.fits} | {r.mean_selected:.1f} | "
                     f"{_fmt(r.nogueira_stability)} | {best} |")
    lines += ["", "## Input", "", *[f"- {line}" for line in run.report.lines()], ""]
    return "\n".join(lines)


def write_outputs(run: TabularRun, opts: TabularOptions) -> Path:
    """Write the output folder (module docstring); returns its path."""
    ev = run.evaluation
    results = results_table(ev.predictions, seed=opts.seed, n_boot=opts.n_boot)
    delong = delong_table(ev.predictions)
    n_candidates = run.data.X.shape[1] - len(run.data.covariates)
    frequency, stability = selection_stability(ev.selections, n_candidates)
    per_patient, global_shap = shap_tables(run)
    with staged_directory(opts.out, overwrite=opts.force) as folder:
        for name, table in (("results", results), ("delong", delong),
                            ("predictions", ev.predictions), ("selected_features", ev.selections),
                            ("feature_stability", frequency), ("stability", stability),
                            ("shap_values", per_patient), ("shap_global", global_shap)):
            write_tsv(folder / f"{name}.tsv", table)
        write_text(folder / "input_report.txt", "\n".join(run.report.lines()) + "\n")
        for evaluation, group in ev.predictions.groupby("evaluation", sort=False):
            label = _file_label(evaluation)
            roc_figure(group, folder / f"roc_{label}.png", f"ROC, {evaluation}")
            calibration_figure(group, folder / f"calibration_{label}.png",
                               f"Calibration, {evaluation}")
            decision_figure(group, folder / f"decision_curve_{label}.png",
                            f"Decision curve, {evaluation}")
        with atomic_path(folder / "models.joblib") as tmp:
            joblib.dump({"models": run.fitted, "features": list(run.data.X.columns),
                         "positive": run.report.positive, "target": opts.target}, tmp)
        write_text(folder / "summary.md",
                   summary_markdown(run, opts, results, delong, stability, frequency))
        write_provenance(folder, **_provenance_kwargs(opts))
    return opts.out


def _provenance_kwargs(opts: TabularOptions) -> dict:
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(opts).items()
                if k not in ("extra", "force")}
    inputs = [opts.features] + ([opts.labels] if opts.labels is not None else [])
    return {"command": "gliopet classify tabular", "config": settings, "inputs": inputs,
            "extra": opts.extra or None}
