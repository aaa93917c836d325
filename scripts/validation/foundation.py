"""docs/validation.md section "foundation": the foundation model's representation (issue 12,
item 8 a, b, c, e) on a multi-site phantom cohort with one site held out of pretraining.

Everything through the public command line, as a user would run it:

1. ``tiny-both`` (40 subjects, 80 sessions, sites A-C) preprocessed and quantified (shared
   with the phantom section);
2. ``gliopet pretrain --config tiny --exclude-site siteC --max-epochs 15`` (reused when its last
   checkpoint exists);
3. ``gliopet embed --model last.ckpt`` (``--force`` when the embeddings are of another model);
4. ``gliopet radiomics`` (the probes' radiomics baseline; the section goes on without it when
   it fails, and the summary says so);
5. ``gliopet evaluate-representation`` with the configuration's three seeds, on every site and
   on the held-out site alone (``--site siteC``).

Long (pretraining on CPU, then every session embedded once per modality removed): run with
``scripts/validate.py --sections foundation``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd

from gliopet.io import derivatives as d
from validation.common import Cohorts
from validation.common import run as gliopet

COHORT = "tiny-both"
#: Pretraining epochs (the tiny preset's default, 2, is for tests; about 25 steps per epoch here).
EPOCHS = 15
HELD_OUT = "siteC"
TABLE = "representation.tsv"
FIGURE = "representation-projection.png"


def _embedded(root: Path, checkpoint: Path) -> None:
    """``gliopet embed`` (again with --force when the table is of another checkpoint)."""
    from gliopet.provenance import sha256_file

    sidecar = d.EMBEDDING_TABLE.sidecar(root)
    made_by = json.loads(sidecar.read_text()).get("ModelSHA256") if sidecar.is_file() else None
    force = ["--force"] if made_by not in (None, sha256_file(checkpoint)) else []
    gliopet("embed", root, "--model", checkpoint, *force)


def _fmt(row: pd.Series) -> str:
    return f"{row.estimate:.3f} ({row.ci_low:.3f} to {row.ci_high:.3f})"


def _markdown(table: pd.DataFrame) -> list[str]:
    lines = ["| evaluation | target | features | probe | removed | metric | estimate (95 % CI) "
             "| seed SD | n |", "|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        removed = r.removed if isinstance(r.removed, str) and r.removed else "-"
        lines.append(f"| {r.evaluation} | {r.target} | {r.features} | {r.probe} | {removed} | "
                     f"{r.metric} | {_fmt(r)} | {r.seed_sd:.3f} | {r.n} |")
    return lines


def _verdicts(table: pd.DataFrame, where: str) -> list[str]:
    """One line per required comparison: embedding vs raw intensities."""
    out = []
    cluster = table[table.evaluation == "patch_clustering"].set_index("features")
    if {"embedding", "raw"} <= set(cluster.index):
        e, r = cluster.loc["embedding"], cluster.loc["raw"]
        verdict = "beats" if e.ci_low > r.estimate else "does **not** beat"
        out.append(f"- {where}: patch-cluster ARI of the embeddings {_fmt(e)} {verdict} raw "
                   f"intensities {_fmt(r)}.")
    probes = table[(table.evaluation == "probe") & (table.probe == "linear")]
    for target, group in probes.groupby("target"):
        rows = group.set_index("features")
        if {"embedding", "raw intensities"} <= set(rows.index):
            e, r = rows.loc["embedding"], rows.loc["raw intensities"]
            verdict = "beats" if e.estimate > r.estimate else "does **not** beat"
            out.append(f"- {where}: linear probe of {target}, AUC {_fmt(e)} {verdict} the raw-"
                       f"intensity probe {_fmt(r)}.")
    return out


def run(cohorts: Cohorts) -> str:
    """Markdown of the foundation section."""
    root = cohorts.quantified(COHORT)
    model_dir = cohorts.work / f"foundation-tiny-no-{HELD_OUT}"
    checkpoint = model_dir / "checkpoints" / "last.ckpt"
    if not checkpoint.is_file():
        gliopet("pretrain", root, "--config", "tiny", "--exclude-site", HELD_OUT,
                "--max-epochs", EPOCHS, "--out", model_dir)
    _embedded(root, checkpoint)
    try:
        gliopet("radiomics", root, "--jobs", 2)
    except subprocess.CalledProcessError as exc:
        print(f"[validate] radiomics failed ({exc}); probes without the radiomics baseline")
    runs = {"every site": cohorts.work / "foundation-eval-all",
            f"held-out {HELD_OUT}": cohorts.work / f"foundation-eval-{HELD_OUT}"}
    for where, out in runs.items():
        extra = ["--site", HELD_OUT] if where.startswith("held-out") else []
        gliopet("evaluate-representation", root, "--model", checkpoint, "--out", out,
                "--jobs", 2, *extra)
    lines = ["## Foundation model representation", "",
             f"Cohort `{COHORT}` (80 sessions, sites A-C); the tiny model pretrained without "
             f"{HELD_OUT} (`gliopet pretrain --config tiny --exclude-site {HELD_OUT} --max-epochs "
             f"{EPOCHS}`), then "
             "`gliopet embed` and `gliopet evaluate-representation` with the configuration's "
             "three seeds. ARI: k-means of patch features against the phantom's true "
             "compartments, mean over sessions (bootstrap 95 % CI over sessions). AUC: "
             "cross-validated by subject, stratified bootstrap 95 % CI; Bayes ceiling = AUC "
             "of the phantom's true posterior on the same sessions. Simulated results are "
             "signal-recovery results, not clinical evidence.", ""]
    for where, out in runs.items():
        table = pd.read_csv(out / TABLE, sep="\t")
        lines += [*_verdicts(table, where), "", f"### {where.capitalize()}", "",
                  *_markdown(table), "",
                  f"Projection of the patch embeddings: `{out / FIGURE}` (validation work "
                  "folder).", ""]
    lines += ["Not evaluated here: label efficiency (item 8d), one ablation per pretext task "
              "(8f) and the held-out generator.", ""]
    return "\n".join(lines).rstrip() + "\n"
