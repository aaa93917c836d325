"""docs/validation.md section "foundation": the foundation model's representation (issue 12,
item 8 a, b, c, e) on a multi-site phantom cohort with one site held out of pretraining.

Everything through the public command line, as a user would run it:

1. ``tiny-both`` (40 subjects, 80 sessions, sites A-C) preprocessed and quantified (shared
   with the phantom section), and the held-out generator ``tiny-heldout`` (20 subjects, 40
   sessions, site ``heldout``: other deformation, noise and kinetic models), never seen in
   pretraining;
2. ``gliopet pretrain --config tiny --exclude-site siteC --max-epochs 8 --seed S`` for three
   pretraining seeds S (the configuration's and the next two; `foundation_seeds`), each reused
   when its last checkpoint exists;
3. ``gliopet embed --model last.ckpt`` (``--force`` when the embeddings are of another model),
   only when an evaluation of that model must run;
4. ``gliopet radiomics`` on both cohorts (the probes' radiomics baseline; the section goes on
   without it when it fails, and the summary says so);
5. per pretraining seed, ``gliopet evaluate-representation`` with the configuration's three
   evaluation seeds on every site of ``tiny-both``, on the held-out site alone
   (``--site siteC``) and on the held-out generator (``--test-dataset tiny-heldout``: probes
   trained on the sessions of sites A-C, every evaluation scored on the generator's); an
   evaluation folder whose provenance names the same checkpoint, evaluation seeds and test
   dataset is reused;
6. item 8f, one ablation per pretext task: the same pretraining (the configuration's seed,
   same epochs and sessions) with that objective's weight set to 0 (a configuration file over
   the tiny preset), embedded and evaluated on the held-out site like the full model; its ARI
   and linear-probe AUCs are shown next to the full model's.

Long (three pretrainings and four ablations on CPU, then every session embedded once per
modality removed): run with ``scripts/validate.py --sections foundation``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd

from gliopet.io import derivatives as d
from validation.common import Cohorts
from validation.common import run as gliopet
from validation.foundation_seeds import (
    pretraining_seeds,
    seed_caveats,
    seed_table,
    seed_verdicts,
    seeded,
)

COHORT = "tiny-both"
#: The held-out generator (never in pretraining; probes trained on COHORT, scored there).
GENERATOR = "tiny-heldout"
#: Pretraining epochs of every model (the tiny preset's default, 2, is for tests; 27 steps per
#: epoch here). Seven pretrainings (three seeds, four ablations) share 2 CPU cores; more epochs
#: moved the output features little (docs/foundation.md, diagnosis).
EPOCHS = 8
HELD_OUT = "siteC"
TABLE = "representation.tsv"
FIGURE = "representation-projection.png"
#: Pretext objectives ablated one at a time (gliopet.foundation.pretext.OBJECTIVES).
ABLATIONS = ("inpainting", "cross_modal", "dynamic", "contrastive")
#: Where the projection figures are copied (kept with the docs, out of the work folder).
FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"


def ablation_config(objective: str) -> str:
    """A foundation configuration file: the tiny preset with `objective`'s weight set to 0."""
    if objective not in ABLATIONS:
        raise ValueError(f"unknown pretext objective {objective!r} (one of {ABLATIONS})")
    return f"preset: tiny\npretext:\n  {objective}: {{weight: 0.0}}\n"


def ablation_rows(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Markdown table: per model (full, then each ablation), the embedding's patch-cluster ARI,
    patch-probe balanced accuracy and linear-probe AUC of each target, estimate (95 % CI)."""
    targets = sorted({t for table in tables.values()
                      for t in table[table.evaluation == "probe"].target.unique()})
    lines = ["| pretraining | patch-cluster ARI | patch-probe balanced accuracy | " + " | ".join(
        f"linear probe AUC, {t}" for t in targets) + " |", "|---" * (3 + len(targets)) + "|"]
    for name, table in tables.items():
        emb = table[table.features == "embedding"]
        cells = [_cell(emb[emb.evaluation == "patch_clustering"]),
                 _cell(emb[emb.evaluation == "patch_probe"])]
        cells += [_cell(emb[(emb.evaluation == "probe") & (emb.probe == "linear")
                            & (emb.target == t)]) for t in targets]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _cell(rows: pd.DataFrame) -> str:
    return _fmt(rows.iloc[0]) if len(rows) else "n/a"


def _embedded(root: Path, checkpoint: Path) -> None:
    """``gliopet embed`` (again with --force when the table is of another checkpoint)."""
    from gliopet.provenance import sha256_file

    sidecar = d.EMBEDDING_TABLE.sidecar(root)
    made_by = json.loads(sidecar.read_text()).get("ModelSHA256") if sidecar.is_file() else None
    force = ["--force"] if made_by not in (None, sha256_file(checkpoint)) else []
    gliopet("embed", root, "--model", checkpoint, *force)


def _number(value: float) -> str:
    """Three decimals, or n/a (never the text nan in a document)."""
    return "n/a" if pd.isna(value) else f"{value:.3f}"


def _fmt(row: pd.Series) -> str:
    if pd.isna(row.estimate):
        return "n/a"
    return f"{row.estimate:.3f} ({_number(row.ci_low)} to {_number(row.ci_high)})"


def _markdown(table: pd.DataFrame) -> list[str]:
    lines = ["| evaluation | target | features | probe | removed | metric | estimate (95 % CI) "
             "| seed SD | n |", "|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        removed = r.removed if isinstance(r.removed, str) and r.removed else "-"
        lines.append(f"| {r.evaluation} | {r.target} | {r.features} | {r.probe} | {removed} | "
                     f"{r.metric} | {_fmt(r)} | {_number(r.seed_sd)} | {r.n} |")
    return lines


def _pretrained(root: Path, model_dir: Path, config: str | Path,
                seed: int | None = None) -> Path:
    """``gliopet pretrain`` without the held-out site (reused when its last checkpoint exists);
    the configuration's seed unless `seed` is given."""
    checkpoint = model_dir / "checkpoints" / "last.ckpt"
    if not checkpoint.is_file():
        seeding = [] if seed is None else ["--seed", seed]
        gliopet("pretrain", root, "--config", config, "--exclude-site", HELD_OUT,
                "--max-epochs", EPOCHS, *seeding, "--out", model_dir)
    return checkpoint


def _reusable(out: Path, checkpoint: Path, test: Path | None, seeds: list[int]) -> bool:
    """`out` holds an evaluation of `checkpoint` with these evaluation seeds and test dataset."""
    from gliopet.provenance import sha256_file

    record = out / "provenance.json"
    if not (record.is_file() and (out / TABLE).is_file()):
        return False
    made = json.loads(record.read_text())
    return (made.get("model_sha256") == sha256_file(checkpoint)
            and made.get("seeds") == seeds
            and made.get("test_dataset") == (str(test) if test else None))


def _evaluated(root: Path, checkpoint: Path, out: Path, *extra: str,
               test: Path | None = None) -> pd.DataFrame:
    """``gliopet embed`` (of `root`, and of `test` when given) then ``gliopet
    evaluate-representation`` of one checkpoint; reused when `out` already holds it."""
    from gliopet.config import load_config

    seeds = [load_config().seed + i for i in range(3)]  # evaluate-representation's default
    if not _reusable(out, checkpoint, test, seeds):
        _embedded(root, checkpoint)
        testing = [] if test is None else ["--test-dataset", test]
        if test is not None:
            _embedded(test, checkpoint)
        gliopet("evaluate-representation", root, "--model", checkpoint, "--out", out,
                "--jobs", 2, *extra, *testing)
    return pd.read_csv(out / TABLE, sep="\t")


def _ablations(cohorts: Cohorts, root: Path) -> dict[str, pd.DataFrame]:
    """Item 8f: the held-out site's table of each model pretrained without one objective."""
    tables = {}
    for objective in ABLATIONS:
        config = cohorts.work / f"foundation-tiny-no-{objective}.yaml"
        config.write_text(ablation_config(objective))
        model_dir = cohorts.work / f"foundation-tiny-no-{HELD_OUT}-no-{objective}"
        checkpoint = _pretrained(root, model_dir, config)
        tables[f"without {objective}"] = _evaluated(
            root, checkpoint, cohorts.work / f"foundation-eval-{HELD_OUT}-no-{objective}",
            "--site", HELD_OUT)
    return tables


def _figure(out: Path, name: str) -> str:
    """Copy a projection figure into docs/figures; its path for the text."""
    import shutil

    if not (out / FIGURE).is_file():
        return "not drawn"
    FIGURES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / FIGURE, FIGURES / name)
    return f"`docs/figures/{name}`"


def _radiomics(root: Path) -> None:
    """``gliopet radiomics`` (the probes' radiomics baseline); the section goes on without it."""
    try:
        gliopet("radiomics", root, "--jobs", 2)
    except subprocess.CalledProcessError as exc:
        print(f"[validate] radiomics failed ({exc}); probes without the radiomics baseline")


#: Where each evaluation is scored -> the slug of its output folder and figure.
WHERE = {"every site": "all", f"held-out {HELD_OUT}": HELD_OUT, "held-out generator": "heldout"}


def run(cohorts: Cohorts) -> str:
    """Markdown of the foundation section."""
    from gliopet.config import load_config

    root = cohorts.quantified(COHORT)
    generator = cohorts.quantified(GENERATOR)
    for dataset in (root, generator):
        _radiomics(dataset)
    base = load_config().seed
    tables: dict[str, dict[int, pd.DataFrame]] = {where: {} for where in WHERE}
    for seed in pretraining_seeds(base):
        model = seeded(cohorts.work / f"foundation-tiny-no-{HELD_OUT}", seed, base)
        checkpoint = _pretrained(root, model, "tiny", seed)
        for where, slug in WHERE.items():
            out = seeded(cohorts.work / f"foundation-eval-{slug}", seed, base)
            extra = ["--site", HELD_OUT] if slug == HELD_OUT else []
            tables[where][seed] = _evaluated(root, checkpoint, out, *extra,
                                             test=generator if slug == "heldout" else None)
    runs = {where: cohorts.work / f"foundation-eval-{slug}" for where, slug in WHERE.items()}
    return section(tables, runs, _ablations(cohorts, root))


def _title(where: str) -> str:
    return where[0].upper() + where[1:]


def section(tables: dict[str, dict[int, pd.DataFrame]], runs: dict[str, Path],
            ablations: dict[str, pd.DataFrame]) -> str:
    """The section's Markdown from the evaluation tables (`tables`: where -> pretraining seed
    -> table; `runs`: where -> output folder of the first seed)."""
    seeds = list(next(iter(tables.values())))
    first = {where: by_seed[seeds[0]] for where, by_seed in tables.items()}
    lines = ["## Foundation model representation", "", INTRO.format(
        cohort=COHORT, held_out=HELD_OUT, epochs=EPOCHS, generator=GENERATOR,
        seeds=", ".join(map(str, seeds)), n=len(seeds)), "",
        "### Pretraining seeds: every metric, mean and SD over pretraining seeds", "",
        "Each seed's cell: estimate (95 % CI) with the three evaluation seeds pooled. The "
        "baselines do not depend on the pretrained model (same sessions, k-means seeds and "
        "splits), so they are shown once. A cell 0.500 (0.500 to 0.500) means the probe gave "
        "every session the same score (vectors embedded without that modality lie so far from "
        "the training vectors that its probabilities saturate).", ""]
    verdicts = []
    for where, by_seed in tables.items():
        verdicts += seed_verdicts(by_seed, where)
        lines += [f"#### {_title(where)}", "", *seed_verdicts(by_seed, where),
                  *seed_caveats(by_seed, where), "", *seed_table(by_seed), ""]
    if any("**not** beat" in v for v in verdicts):
        lines += [why_not(first), ""]
    for where, out in runs.items():
        slug = out.name.removeprefix("foundation-eval-")
        lines += [f"### {_title(where)}: every evaluation, pretraining seed {seeds[0]}", "",
                  *_markdown(first[where]), "", "Projection of the patch embeddings: "
                  f"{_figure(out, f'foundation-projection-{slug}.png')}.", ""]
    lines += ["### Ablations (item 8f)", "",
              f"Each row is a pretraining with the same seed ({seeds[0]}), epochs and sessions "
              "as the full model and one objective's weight set to 0 (its masks are then not "
              f"drawn either), evaluated on the held-out site {HELD_OUT} like the full model.",
              "", *ablation_rows({"full model": first[f"held-out {HELD_OUT}"], **ablations}),
              ""]
    if not ablations:
        lines += [f"No ablation in this run: {len(ABLATIONS)} more CPU pretrainings did not fit "
                  "its time; `scripts/validate.py --sections foundation` runs them.", ""]
    lines += ["Not evaluated here: label efficiency (item 8d: `gliopet classify cohort "
              "--foundation-mode finetune --label-fractions`, docs/classify.md).", ""]
    return "\n".join(lines).rstrip() + "\n"


def _probe_n(table: pd.DataFrame | None) -> str:
    if table is None:
        return "few"
    n = table[table.evaluation == "probe"].n
    return str(int(n.min())) if len(n) else "few"


def why_not(first: dict[str, pd.DataFrame]) -> str:
    """`WHY_NOT` with the session counts of the held-out evaluations."""
    return WHY_NOT.format(n=_probe_n(first.get(f"held-out {HELD_OUT}")),
                          m=_probe_n(first.get("held-out generator")))


INTRO = (
    "Cohort `{cohort}` (80 sessions, sites A-C) and the held-out generator `{generator}` (40 "
    "sessions of 20 subjects, site `heldout`: other deformation, noise and kinetic models; "
    "never seen in pretraining). The tiny model is pretrained without {held_out} (`gliopet "
    "pretrain --config tiny --exclude-site {held_out} --max-epochs {epochs} --seed S`) with "
    "{n} pretraining seeds S = {seeds} (initial weights, data order, crops, masks), then "
    "`gliopet embed` and `gliopet evaluate-representation` with the configuration's three "
    "evaluation seeds (k-means initialisation, cross-validation splits): on every site, on the "
    "held-out site alone (`--site {held_out}`), and on the held-out generator (`--test-dataset "
    "{generator}`: the probes are fitted on the 80 sessions of sites A-C and scored on the "
    "generator's sessions; clustering on the generator's sessions). ARI: k-means of patch "
    "features against the phantom's true compartments, mean over sessions (bootstrap 95 % CI "
    "over sessions). Patch probe: a linear probe from a patch's features to its true "
    "compartment, cross-validated by subject (held-out generator: trained on the patches of "
    "sites A-C), balanced accuracy per session, mean over sessions (bootstrap 95 % CI); its "
    "baselines are the patch means of the static channels (raw), of the dynamic PET channels "
    "(kinetic) and of both (every input the model sees). Session probes on the whole brain and "
    "on the tumour region (the 64 mm cube around quantification's tumour VOI, the same voxels "
    "for the raw-intensity vector). AUC: cross-validated by subject (held-out generator: "
    "trained on A-C, tested there), stratified bootstrap 95 % CI; Bayes ceiling = AUC of the "
    "phantom's true posterior on the same sessions. A metric beats raw intensities here only "
    "when every pretraining seed's estimate is above the raw-intensity estimate. Simulated "
    "results are signal-recovery results, not clinical evidence.")


#: Shown when a comparison with raw intensities is lost (the measurements behind it are in
#: docs/foundation.md).
WHY_NOT = (
    "Why the embedding does not beat raw intensities where it does not (measured in "
    "docs/foundation.md, \"What the patch-cluster ARI rewards\", with "
    "`benchmarks/patch_features.py`): on the template grid most 16 mm patches are grey matter, "
    "white matter or cerebellar cortex, which the patch means of five intensities separate "
    "almost by definition, and k-means with k = the number of compartments (8-11 per session) "
    "has to split those large compartments, so more information can lower the ARI: the raw "
    "means with each channel's within-patch SD added give a lower ARI and a higher patch-probe "
    "accuracy than the means alone. The patch probe asks what the ARI cannot, whether the "
    "compartment can be read from the features (verdicts above). On this template-space "
    "phantom the position alone gives most of the compartment (a leave-one-session-out atlas "
    "of the majority compartment per patch position scores an ARI near 0.7): the tiny model's "
    "patch vectors do not show k-means that anatomy, and neither twice the width and depth nor "
    "five times the training changed its ARI; its contrastive term stays at chance (ln 3 with 2 "
    "views of 1 sample). A whole-brain session vector holds a 20 mL tumour at about 1 % of its "
    "patches; the tumour-region rows pool the embedding and the raw intensities over the same "
    "64 mm region around the tumour that the pipeline found. The "
    "held-out-site probes rest on {n} sessions per label (wide CIs; AUCs far below 0.5 there "
    "are the known negative bias of cross-validation on very small samples, each held-out "
    "session's class being under-represented in its training folds). The held-out-generator "
    "probes are fitted on sites A-C and scored on {m} sessions per label of a generator whose "
    "deformation, noise and kinetic models differ, a shift that the embedding and the raw "
    "intensities must both survive. The base preset on a GPU (`benchmarks/foundation_gpu.sh`) "
    "has not been run: no GPU was lent to this work.")
