"""docs/validation.md section "classify": the WP3 families (clinical rules, radiomics + classical
ML, a CNN from scratch and, when the foundation section has pretrained one, the foundation model)
on the phantom, with external-site validation and Bayes ceilings.

Everything through the public command line:

1. ``tiny-both`` (40 subjects, 80 sessions, sites A-C) preprocessed and quantified (shared with
   the phantom section), then ``gliopet radiomics``;
2. ``gliopet classify cohort`` for progression vs treatment-related change at recurrence and for
   IDH at diagnosis, with site C as the external site (trained on A and B, the operating
   threshold carried unchanged), `REPEATS` x 5-fold nested CV by subject on A and B (the image
   families on the first `IMAGE_REPEATS` of the same seeded folds).

The table shows each model's AUC with its 95 % bootstrap CI next to the Bayes ceiling (the AUC
of the phantom's true posterior on the same sessions); a model above the ceiling would mean
leakage.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from validation.common import Cohorts
from validation.common import run as gliopet

COHORT = "tiny-both"
EXTERNAL = "siteC"
REPEATS = 5
IMAGE_REPEATS = 1
#: The checkpoint of the foundation section (pretrained without the external site, no labels).
FOUNDATION_CHECKPOINT = "foundation-tiny-no-siteC/checkpoints/last.ckpt"
TASKS = (("outcome", "recurrence", "progression vs treatment-related change"),
         ("IDH", "diagnosis", "IDH-mutant vs IDH-wildtype"))
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


def run(cohorts: Cohorts) -> str:
    """Markdown of the classify section."""
    root = cohorts.quantified(COHORT)
    gliopet("radiomics", root, "--jobs", 2)
    lines = ["## WP3 classifiers on the phantom (clinical rules, radiomics + ML)", "",
             f"Cohort `{COHORT}` (40 subjects, 80 sessions, sites A-C). `gliopet classify cohort "
             f"--external-site {EXTERNAL} --repeats {REPEATS}`: {REPEATS} x 5-fold nested "
             "cross-validation by subject on sites A and B (selection, scaling and thresholds "
             f"inside the folds), then the models refitted on A and B and applied to {EXTERNAL} "
             "with the operating threshold carried unchanged. 95 % CIs: stratified bootstrap. "
             "Bayes ceiling: AUC of the phantom's true posterior on the same sessions; a model "
             "whose whole CI lies above it would mean leakage (on 13 external sessions an AUC "
             "a little above the ceiling is sampling noise). The published cut-offs are for "
             "progression; for IDH the rules learn their cut-off and direction in the training "
             "folds. The CNN (from scratch) and the foundation model (linear probe on the "
             "checkpoint of the foundation section, pretrained without labels and without "
             f"{EXTERNAL}) run on the first {IMAGE_REPEATS} repeat(s) of the same seeded folds. "
             "Simulated results are signal-recovery results, not clinical evidence.", ""]
    checkpoint = cohorts.work / FOUNDATION_CHECKPOINT
    families = "rules,radiomics,cnn" + (",foundation" if checkpoint.is_file() else "")
    extra = ("--foundation-model", checkpoint) if checkpoint.is_file() else ()
    for target, session, title in TASKS:
        out = cohorts.work / f"classify-{target}-{session}"
        gliopet("classify", "cohort", root, "--target", target, "--session", session,
                "--external-site", EXTERNAL, "--repeats", REPEATS, "--out", out, "--force",
                "--jobs", 2, "--families", families, "--image-repeats", IMAGE_REPEATS, *extra)
        results = pd.read_csv(Path(out) / "results.tsv", sep="\t")
        flag = (results["above_bayes_ceiling"].astype(str) == "True"
                if "above_bayes_ceiling" in results else pd.Series(False, index=results.index))
        above = results[flag]
        lines += [f"### {title[0].upper()}{title[1:]} ({session} sessions)", "",
                  *_table(results), ""]
        lines.append(f"Models above the Bayes ceiling: {len(above)}"
                     + (f" ({', '.join(above['model'] + ' / ' + above['evaluation'])})"
                        if len(above) else "") + ".")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
