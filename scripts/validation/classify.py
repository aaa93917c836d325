"""docs/validation.md section "classify": the WP3 families (clinical rules, radiomics + classical
ML, a CNN from scratch and, when the foundation section has pretrained one, the foundation model)
on the phantom, with external-site validation and Bayes ceilings.

Everything through the public command line:

1. ``tiny-both`` (40 subjects, 80 sessions, sites A-C) preprocessed and quantified (shared with
   the phantom section), then ``gliopet radiomics``;
2. ``gliopet classify cohort`` for progression vs treatment-related change at recurrence and for
   IDH at diagnosis, with site C as the external site (trained on A and B, the operating
   threshold carried unchanged), `REPEATS` x 5-fold nested CV by subject on A and B (the image
   families on the first `IMAGE_REPEATS` of the same seeded folds), the saved models fitted on
   A and B (``--final-fit training-sites``);
3. the held-out generator ``tiny-heldout`` (quantified, then ``gliopet radiomics``): the saved
   models applied by ``gliopet predict`` (`validation.classify_heldout`);
4. for progression: PET RANO 1.0 (recurrence vs the diagnosis session), the test whether
   dynamic features add to TBRmax (``dynamic_vs_static.tsv``, DeLong), and the clinical-rule
   baseline against the published range (docs/literature.md).

The table shows each model's AUC with its 95 % bootstrap CI next to the Bayes ceiling (the AUC
of the phantom's true posterior on the same sessions); a model above the ceiling would mean
leakage.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gliopet.classify.dynamic import dynamic_vs_static
from gliopet.classify.predict import load_bundle
from validation.classify_heldout import heldout_results
from validation.common import Cohorts
from validation.common import run as gliopet

COHORT = "tiny-both"
HELDOUT = "tiny-heldout"
#: Published pooled AUC of FDOPA TBRmax (or visual) for progression vs treatment-related change
#: (Cui 2021 meta-analysis, docs/literature.md) and the FET TBRmax pooled AUC.
LITERATURE_AUC = {"FDOPA TBRmax, pooled (Cui 2021)": 0.85, "FET TBRmax, pooled (Cui 2021)": 0.86}
BASELINE_RULE = "TBRmax (Youden, training folds)"
EXTERNAL = "siteC"
REPEATS = 5
IMAGE_REPEATS = 1
#: The checkpoint of the foundation section (pretrained without the external site, no labels).
FOUNDATION_CHECKPOINT = "foundation-tiny-no-siteC/checkpoints/last.ckpt"
#: (target, session kind, title, families): None = every family; 1p/19q runs the rules and
#: radiomics only (few codeleted tumours per fold; the image families would add half an hour).
TASKS = (("outcome", "recurrence", "progression vs treatment-related change", None),
         ("IDH", "diagnosis", "IDH-mutant vs IDH-wildtype", None),
         ("codeletion_1p19q", "diagnosis", "1p/19q-codeleted vs intact", "rules,radiomics"))
COLUMNS = ("sensitivity", "specificity", "precision", "npv", "brier")


def _ci(row: pd.Series, metric: str) -> str:
    if not pd.notna(row[metric]):
        return "n/a (no case predicted on that side)"
    return (f"{row[metric]:.2f} [{row[f'{metric}_ci_low']:.2f}, "
            f"{row[f'{metric}_ci_high']:.2f}]")


def _table(results: pd.DataFrame) -> list[str]:
    lines = ["| family | model | evaluation | n (pos) | AUC [95 % CI] | Bayes ceiling | "
             + " | ".join(COLUMNS) + " |", "|---" * (6 + len(COLUMNS)) + "|"]
    for _, r in results.iterrows():
        ceiling = (f"{r['bayes_auc']:.2f} [{r['bayes_auc_ci_low']:.2f}, "
                   f"{r['bayes_auc_ci_high']:.2f}]" if pd.notna(r.get("bayes_auc")) else "-")
        cells = [f"{r[m]:.2f}" if m == "brier" else _ci(r, m) for m in COLUMNS]
        lines.append(f"| {r.get('family', '-')} | {r['model']} | {r['evaluation']} | "
                     f"{int(r['n'])} ({int(r['n_positive'])}) | {_ci(r, 'auc')} | {ceiling} | "
                     + " | ".join(cells) + " |")
    return lines


def _dynamic_lines(table: pd.DataFrame) -> list[str]:
    lines = []
    for r in table.itertuples():
        verdict = ("the dynamic features add" if r.p_value < 0.05 and r.difference > 0 else
                   "worse with them" if r.p_value < 0.05 else "no significant difference")
        lines.append(f"- {r.evaluation} ({r.n} sessions, {r.n_positive} progressive): AUC "
                     f"{r.auc_static:.2f} (TBRmax) vs {r.auc_dynamic:.2f} (TBRmax + TTP + "
                     f"slope), difference {r.difference:+.3f} [95 % CI {r.ci_low:+.3f}, "
                     f"{r.ci_high:+.3f}], DeLong p = {r.p_value:.2g}: {verdict}.")
    return lines


def _petrano_lines(results: pd.DataFrame, out: Path) -> list[str]:
    rows = results[results["model"].str.startswith("PET RANO")]
    sessions = pd.read_csv(out / "sessions.tsv", sep="\t")
    missing = (int(sessions["PETRANO_score"].isna().sum()) if "PETRANO_score" in sessions
               else len(sessions))
    out = []
    for _, r in rows.iterrows():
        out.append(f"{r['evaluation']}: AUC {_ci(r, 'auc')}, sensitivity "
                   f"{_ci(r, 'sensitivity')}, specificity {_ci(r, 'specificity')}")
    return ["PET RANO 1.0 (Albert 2024) as the clinical comparator, `gliopet.classify.petrano`: "
            "the recurrence session against the same subject's diagnosis session; measurable "
            "disease = BTV > 0.5 mL; progressive when measurable disease appears where the "
            "baseline had none, or when the BTV grows by >= 40 % (MRI RANO's 25 % increase of "
            "the product of two diameters, as a volume of a sphere; that PET RANO uses the same "
            "25 % was not checked against its full text). Fixed thresholds, nothing fitted (the "
            "probability is a monotone map of the ordinal score 0/1/2, fitted on the training "
            "folds, for the AUC). Not used: clinical status, steroid dose, MRI, a TBR change, "
            "the confirmation scan, separate lesions. Sessions without a baseline are listed as "
            f"not assessable ({missing} of {len(sessions)} here). "
            + ("; ".join(out) + "." if out else "Not run."), "", *_score_lines(sessions)]


def _score_lines(sessions: pd.DataFrame) -> list[str]:
    """Where PET RANO's AUC comes from: its ordinal score by outcome (nested-CV sessions)."""
    if "PETRANO_score" not in sessions:
        return []
    table = pd.crosstab(sessions["PETRANO_score"], sessions["label"])
    cells = [f"score {int(k)}: {int(table.loc[k].get(1, 0))} progressive, "
             f"{int(table.loc[k].get(0, 0))} treatment-related change" for k in table.index]
    medians = sessions.groupby("label")["BTV_mL"].median()
    return ["PET RANO score by outcome (every session): " + "; ".join(cells) + ". Median BTV "
            f"at recurrence {medians.get(1, float('nan')):.2f} mL (progression) vs "
            f"{medians.get(0, float('nan')):.2f} mL (treatment-related change)"
            + (": on this phantom treatment-related change mostly leaves no measurable volume "
               "above 1.6 x background, and the tumour volume is drawn independently of the "
               "outcome and smaller at recurrence (`gliopet.simulate.biology`), so the ordinal "
               "score's AUC rests mostly on measurable vs not, and the progression call itself "
               "(score 2) is rare." if medians.get(0, 1.0) <= 0.5 else "."), ""]


def _literature_lines(results: pd.DataFrame) -> list[str]:
    rows = results[(results["model"] == BASELINE_RULE)]
    published = ", ".join(f"{k} {v:.2f}" for k, v in LITERATURE_AUC.items())
    out = []
    for _, r in rows.iterrows():
        inside = [k for k, v in LITERATURE_AUC.items()
                  if r["auc_ci_low"] <= v <= r["auc_ci_high"]]
        side = ("below" if r["auc"] < min(LITERATURE_AUC.values()) else "above"
                if r["auc"] > max(LITERATURE_AUC.values()) else "at")
        out.append(f"{r['evaluation']}: AUC {_ci(r, 'auc')}, point estimate {side} the "
                   "published values, "
                   + ("which its CI contains" if inside else "which its CI does NOT contain"))
    return [f"Clinical-rule baseline against the literature ({BASELINE_RULE}; published: "
            f"{published}; docs/literature.md): " + "; ".join(out) + ".", ""]


def run(cohorts: Cohorts) -> str:
    """Markdown of the classify section."""
    root = cohorts.quantified(COHORT)
    gliopet("radiomics", root, "--jobs", 2)
    heldout = None
    lines = ["## WP3 classifiers on the phantom (clinical rules, radiomics + ML, CNN, "
             "foundation model)", "",
             f"Cohort `{COHORT}` (40 subjects, 80 sessions, sites A-C). `gliopet classify cohort "
             f"--external-site {EXTERNAL} --repeats {REPEATS}`: {REPEATS} x 5-fold nested "
             "cross-validation by subject on every site (A-C; selection, scaling and thresholds "
             f"inside the folds), then the models refitted on A and B and applied to {EXTERNAL} "
             "with the operating threshold carried unchanged, and the same saved models "
             "(`--final-fit training-sites`) applied by `gliopet predict` to the held-out "
             f"generator `{HELDOUT}` (20 subjects, site `heldout`: other deformation, noise and "
             "kinetic models; evaluation `heldout generator`). 95 % CIs: stratified bootstrap. "
             "Bayes ceiling: AUC of the phantom's true posterior on the same sessions; a model "
             "whose whole CI lies above it would mean leakage (on 13 external sessions an AUC "
             "a little above the ceiling is sampling noise). The published cut-offs are for "
             "progression; for IDH and 1p/19q the rules learn their cut-off and direction in the "
             "training folds. The CNN (from scratch) and the foundation model (linear probe on the "
             "checkpoint of the foundation section, pretrained without labels and without "
             f"{EXTERNAL}) run on the first {IMAGE_REPEATS} repeat(s) of the same seeded folds. "
             "Simulated results are signal-recovery results, not clinical evidence.", ""]
    checkpoint = cohorts.work / FOUNDATION_CHECKPOINT
    families = "rules,radiomics,cnn" + (",foundation" if checkpoint.is_file() else "")
    extra = ("--foundation-model", checkpoint) if checkpoint.is_file() else ()
    for target, session, title, only in TASKS:
        out = cohorts.work / f"classify-{target}-{session}"
        gliopet("classify", "cohort", root, "--target", target, "--session", session,
                "--external-site", EXTERNAL, "--repeats", REPEATS, "--out", out, "--force",
                "--jobs", 2, "--families", only or families, "--image-repeats", IMAGE_REPEATS,
                "--final-fit", "training-sites", *(extra if only is None else ()))
        results = pd.read_csv(Path(out) / "results.tsv", sep="\t")
        predictions = pd.read_csv(Path(out) / "predictions.tsv", sep="\t")
        if heldout is None:  # built after the long runs: `make validate` builds it here
            heldout = cohorts.quantified(HELDOUT)
            gliopet("radiomics", heldout, "--jobs", 2)
        held, held_dynamic = heldout_results(
            heldout, out, cohorts.work / f"predict-heldout-{target}", target, session,
            seed=int(load_bundle(out)["seed"]), n_boot=2000)
        results = pd.concat([results, held], ignore_index=True)
        flag = (results["above_bayes_ceiling"].astype(str) == "True"
                if "above_bayes_ceiling" in results else pd.Series(False, index=results.index))
        above = results[flag]
        lines += [f"### {title[0].upper()}{title[1:]} ({session} sessions)", "",
                  *_table(results), ""]
        if target == "outcome":
            dynamic = pd.concat([dynamic_vs_static(predictions), held_dynamic])
            lines += ["Do dynamic features add to TBRmax? Logistic regression on TBRmax alone "
                      "against TBRmax + TTP + late slope (`gliopet.classify.dynamic`), "
                      "out-of-fold on the same folds (trained on A and B for siteC and the "
                      "held-out generator), DeLong's paired test:", "", *_dynamic_lines(dynamic),
                      "", *_petrano_lines(results, Path(out)), *_literature_lines(results)]
        lines.append(f"Models above the Bayes ceiling: {len(above)}"
                     + (f" ({', '.join(above['model'] + ' / ' + above['evaluation'])})"
                        if len(above) else "") + ".")
        whole = results["auc_ci_low"] > results["bayes_auc"]
        # a perfect AUC on a few positives has a degenerate bootstrap CI ([1, 1]): every
        # resample separates perfectly, so "whole CI above the ceiling" says nothing there
        perfect = whole & (results["auc"] >= 1.0) & (results["n_positive"] <= 5)
        beyond, degenerate = results[whole & ~perfect], results[perfect]
        lines.append(f"Models whose whole 95 % CI is above the ceiling (leakage): {len(beyond)}"
                     + (f" ({', '.join(beyond['model'] + ' / ' + beyond['evaluation'])})"
                        if len(beyond) else "") + ".")
        if len(degenerate):
            lines.append(
                "Perfect separation of at most 5 positives (bootstrap CI [1.00, 1.00], "
                "degenerate; read it against the same model's other evaluations, not as "
                "leakage): " + ", ".join(
                    f"{r['model']} / {r['evaluation']} ({int(r['n_positive'])} of "
                    f"{int(r['n'])})" for _, r in degenerate.iterrows()) + ".")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
