"""``gliopet evaluate-representation``: how good is a pretrained representation (issue 12,
item 8 a, b, c, e)?

Inputs, all through the derivatives contract: the learning-grid images (`LearningGridDataset`),
the embeddings of `gliopet embed` (patch maps and ``embeddings.tsv``, made by the checkpoint
given: its SHA-256 is checked), the session labels of participants.tsv / sessions.tsv and, on a
phantom, the truth (tissue labels, ``*_latent.json`` posteriors). Read here on purpose, as an
evaluation; the phantom generator itself is never imported.

(a) **Patch clustering** (`gliopet.foundation.evaluation`): per session and seed, k-means ARI
    of the patch embeddings against the true compartments, next to the same clustering of the
    patch means of the raw intensities and of the dynamic PET (kinetic) channels; mean over
    sessions with a bootstrap 95 % CI over sessions.
    **Patch probe**: a linear (multinomial logistic) probe from a patch's features to its true
    compartment, cross-validated by subject (the first seed's folds), balanced accuracy per
    session (mean over sessions, bootstrap 95 % CI), for the embedding and the patch means of
    the raw, kinetic and both channel sets: whether the compartment can be read from the
    features at all, which k-means on standardised features does not ask (docs/foundation.md).
(b) **Probes** (`gliopet.foundation.probes`) for each label present: IDH (mutant vs wild type)
    at diagnosis sessions, outcome (progression vs treatment-related change) at recurrence
    sessions; linear probe and k-NN on the session vectors and on a raw-intensity vector of the
    same sessions (per channel: mean and 10th/50th/90th percentiles inside the brain mask),
    cross-validated by subject with every seed; next to the Bayes ceiling (AUC of the phantom's
    true posterior on the same sessions).
    **Tumour region**: the same probes on vectors pooled over the 64 mm region around the
    tumour that the pipeline found (`gliopet.foundation.tumour_region`: quantification's
    tumour VOI, else the largest PET-avid component): the mean patch embedding there, against
    the raw-intensity vector of the same voxels (``tumour_probe`` rows). A whole-brain vector
    holds a 20 mL tumour at about 1 % of its patches.
(c) **Missing modality**: the linear probe trained on full session vectors scores, in each
    held-out fold, vectors embedded by the model with one modality removed (the encoder takes
    any subset: the modality is left out of the sample before `embed_sample`).
``--site`` restricts every evaluation to the sessions of the sites given (a site held out of
pretraining: generalisation). ``--test-dataset`` trains the probes on BIDS_DIR (at ``--site``)
and scores everything on another embedded dataset (a held-out generator):
`gliopet.foundation.transfer`.

(e) **Projection**: the patch embeddings of up to `PROJECTION_SESSIONS` sessions on their first
    two principal components, coloured by true compartment (PNG).

Outputs in ``--out``: `TABLE` (one row per evaluation, features, probe and removed modality:
aggregate over seeds with its CI), `SUMMARY` (Markdown), `FIGURE`, ``provenance.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliopet import DISCLAIMER
from gliopet.config import Config, load_config
from gliopet.errors import InputError
from gliopet.foundation.probes import (
    PROBES,
    PatchSet,
    Score,
    auc_with_ci,
    cv_probabilities,
    mean_with_ci,
    patch_probe_cv,
)
from gliopet.io import derivatives as d
from gliopet.io.truth import true_posteriors

TABLE = "representation.tsv"
SUMMARY = "representation.md"
FIGURE = "representation-projection.png"
#: Sessions whose patches enter the 2-D projection, and patches drawn per session.
PROJECTION_SESSIONS = 4
PROJECTION_PATCHES = 400
#: Percentiles of the raw-intensity baseline vector (with the mean), inside the brain mask.
RAW_PERCENTILES = (10, 50, 90)
#: Feature sets of the patch probe, in the table's order: the embedding, then patch means of
#: the static channels (raw), the dynamic PET channels (kinetic) and both (every input the
#: model sees).
PATCH_PROBE_FEATURES = ("embedding", "raw", "kinetic", "raw + kinetic")
COLUMNS = ["evaluation", "target", "features", "probe", "removed", "metric", "estimate",
           "ci_low", "ci_high", "seed_sd", "n", "seeds", "model", "note"]


@dataclass(frozen=True)
class LabelSpec:
    """A session label: the session kind it is read at, its coding and its true posterior.
    (The coding of `gliopet.classify.cohort.TARGETS`, which this rank may not import.)"""

    kind: str
    positive: str
    negatives: tuple[str, ...]
    posterior: str


LABELS = {
    "IDH": LabelSpec("diagnosis", "mutant", ("wildtype", "wild-type"), "IDH_mutant"),
    "outcome": LabelSpec("recurrence", "progression",
                         ("treatment_change", "treatment-related change", "pseudoprogression",
                          "radionecrosis"), "progression"),
}


@dataclass
class RepresentationOptions:
    """Everything `gliopet evaluate-representation` takes."""

    bids_dir: Path
    model: Path
    out: Path
    seeds: list[int]
    labels: list[str] | None = None
    jobs: int = 1
    sites: list[str] | None = None
    n_boot: int = 2000
    config: Config | None = None
    #: Another dataset embedded by `model`: probes trained on `bids_dir`, scored there.
    test_dir: Path | None = None


@dataclass
class Evaluation:
    """Rows of the table and notes of the summary, filled as the evaluations run."""

    model: str
    seeds: list[int]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, score: Score, **row: Any) -> None:
        self.rows.append({
            "estimate": score.estimate, "ci_low": score.ci_low, "ci_high": score.ci_high,
            "seed_sd": score.seed_sd, "n": score.n, "model": self.model,
            "seeds": ",".join(str(s) for s in self.seeds), "removed": "", "note": "", **row})


def session_kind(session: str) -> str:
    """Kind of a session from its label: ``recurrence2`` -> ``recurrence``."""
    return re.sub(r"[-_]?\d+$", "", str(session).removeprefix("ses-"))


def read_labels(bids_dir: Path, config: Config) -> pd.DataFrame:
    """One row per session: subject, session, kind and each `LABELS` coded 1/0 (NaN: absent,
    unknown value, or a session of another kind)."""
    from gliopet.io.bids_read import scan_dataset

    rows = []
    for s in scan_dataset(bids_dir, config=config).sessions:
        row: dict[str, Any] = {"subject": s.subject, "session": s.session or "",
                               "kind": session_kind(s.session or "")}
        for name, spec in LABELS.items():
            value = str(s.labels.get(name, "")).strip()
            coded = 1.0 if value == spec.positive else 0.0 if value in spec.negatives else np.nan
            row[name] = coded if row["kind"] == spec.kind else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=["subject", "session", "kind", *LABELS])


def read_posteriors(bids_dir: Path, key: str) -> dict[tuple[str, str], float]:
    """(subject, session) -> the phantom's true posterior `key` (``session.posteriors``)."""
    return true_posteriors(bids_dir, key)


def raw_vector(sample: dict[str, Any], region: np.ndarray | None = None) -> dict[str, float]:
    """The raw-intensity baseline of a session: per channel of every present modality, the mean
    and `RAW_PERCENTILES` inside the brain mask (and inside `region`, a learning-grid mask,
    when given)."""
    brain = np.asarray(sample["brain_mask"][0], bool)
    if region is not None:
        brain = brain & region
    out = {}
    for modality, volume in sample["images"].items():
        for c, channel in enumerate(np.asarray(volume)):
            values = channel[brain]
            out[f"{modality}{c}_mean"] = float(values.mean())
            for q, v in zip(RAW_PERCENTILES, np.percentile(values, RAW_PERCENTILES), strict=True):
                out[f"{modality}{c}_p{q}"] = float(v)
    return out


def read_embeddings(bids_dir: Path, sha256: str, model: Path) -> pd.DataFrame:
    """``embeddings.tsv`` of the dataset, checked to come from `model`."""
    path = d.EMBEDDING_TABLE.path(bids_dir)
    if not path.is_file():
        raise InputError("no session embeddings (the embeddings table is missing)", path=path,
                         fix=f"run `gliopet embed {bids_dir} --model {model}` first")
    sidecar = d.EMBEDDING_TABLE.sidecar(bids_dir)
    made_by = json.loads(sidecar.read_text()).get("ModelSHA256") if sidecar.is_file() else None
    if made_by != sha256:
        raise InputError("the embeddings were made by another model than --model", path=path,
                         fix=f"run `gliopet embed {bids_dir} --model {model} --force`")
    table = pd.read_csv(path, sep="\t", dtype={"subject": str, "session": str})
    table["session"] = table["session"].fillna("")
    return table.set_index(["subject", "session"])


def vector_columns(table: pd.DataFrame) -> list[str]:
    """The session-vector columns (``e`` + 3 digits) of an embeddings table."""
    return [c for c in table.columns if re.fullmatch(r"e\d{3}", str(c))]


# ---------------------------------------------------------------------------- (a) and (e)
def map_patch_size(map_affine: np.ndarray, learning_affine: np.ndarray) -> int:
    """Patch edge (learning voxels) of a patch map: the ratio of the two affines' voxel sizes."""
    return int(np.rint(np.linalg.norm(np.asarray(map_affine, float)[:3, 0])
                       / np.linalg.norm(np.asarray(learning_affine, float)[:3, 0])))


def session_patches(bids_dir: Path, ids: tuple[str, str], sample: dict[str, Any],
                    config: Config) -> dict[str, Any]:
    """The labelled patches of one session on its embedding map's patch grid: the map, its
    affine, the truth, the patch grid, each learning voxel's patch (``index``), the labelled
    patches (``keep``) and, for the patch probe, each feature set's rows (``features``:
    name -> (n, D)) and true compartments (``labels`` (n,)). Raises InputError without truth
    or map."""
    from gliopet.foundation.evaluation import (
        PatchGrid,
        patch_index,
        patch_labels,
        patch_means,
        truth_on_learning_grid,
    )
    from gliopet.io.nifti import load_nifti

    truth = truth_on_learning_grid(bids_dir, ids, config)
    img = load_nifti(d.find(bids_dir, ids, d.EMBEDDING_MAP, what="patch-embedding map"))
    embedding = np.asarray(img.dataobj, dtype=np.float32)
    brain = np.asarray(sample["brain_mask"][0], bool)
    grid = PatchGrid(tuple(embedding.shape[:3]), np.asarray(img.affine, float))
    n = int(np.prod(grid.shape))
    index = patch_index(truth.shape, sample["affine"], grid)
    labels = patch_labels(truth, brain, index, n)
    keep = np.flatnonzero(labels >= 0)
    images = {m: np.asarray(v) for m, v in sample["images"].items()}
    features = {"embedding": embedding.reshape(n, -1)[keep]}
    static = [v for m, v in images.items() if m != "pet_dynamic"]
    if static:
        features["raw"] = patch_means(np.concatenate(static), brain, index, n)[keep]
    if "pet_dynamic" in images:
        features["kinetic"] = patch_means(images["pet_dynamic"], brain, index, n)[keep]
        if static:
            features["raw + kinetic"] = np.hstack([features["raw"], features["kinetic"]])
    return {"embedding": embedding, "affine": img.affine, "truth": truth, "features": features,
            "labels": labels[keep], "subject": ids[0], "index": index, "keep": keep,
            "grid": grid}


def session_clustering(bids_dir: Path, ids: tuple[str, str], sample: dict[str, Any],
                       seeds: list[int], config: Config) -> dict[str, Any]:
    """ARIs of one session (features -> {seed: ARI}), its labelled patches for the projection
    (``patches`` (n, D), ``compartments`` (n,)) and for the patch probe (`session_patches`).
    Raises InputError without truth or map."""
    from gliopet.foundation.evaluation import baseline_aris, embedding_ari

    found = session_patches(bids_dir, ids, sample, config)
    brain = np.asarray(sample["brain_mask"][0], bool)
    learning_affine = np.asarray(sample["affine"], float)
    affine = np.asarray(found["affine"], float)
    patch = map_patch_size(affine, learning_affine)
    scores: dict[str, dict[int, float]] = {"embedding": {}, "raw": {}, "kinetic": {}}
    for seed in seeds:
        scores["embedding"][seed] = embedding_ari(found["embedding"], affine, found["truth"],
                                                  brain, learning_affine, seed=seed)
        for name, value in baseline_aris(sample, found["truth"], patch_size=patch,
                                         seed=seed).items():
            scores[name][seed] = value
    labels = found["labels"]
    keep = np.random.default_rng(seeds[0]).permutation(len(labels))[:PROJECTION_PATCHES]
    return {"scores": scores, "patches": found["features"]["embedding"][keep],
            "compartments": labels[keep], "features": found["features"], "labels": labels,
            "subject": found["subject"]}


def _one_session(bids_dir: Path, dataset: Any, index: int, seeds: list[int],
                 config: Config) -> tuple[str, dict[str, Any] | str]:
    item = dataset.sessions[index]
    key = f"sub-{item.subject}_ses-{item.session}"
    try:
        return key, session_clustering(bids_dir, (item.subject, item.session), dataset[index],
                                       seeds, config)
    except InputError as exc:
        return key, exc.one_line()


def clustering(ev: Evaluation, bids_dir: Path, dataset: Any, indices: list[int],
               opts: RepresentationOptions, config: Config) -> list[dict[str, Any]]:
    """(a): rows of the patch-clustering ARIs; returns every scored session's result (its
    projection patches and patch-probe features), in order."""
    from joblib import Parallel, delayed

    results = Parallel(n_jobs=max(1, opts.jobs))(
        delayed(_one_session)(bids_dir, dataset, i, opts.seeds, config) for i in indices)
    done = {k: r for k, r in results if isinstance(r, dict)}
    for key, result in results:
        if isinstance(result, str):
            ev.notes.append(f"patch clustering: {key} left out: {result}")
    if not done:
        ev.notes.append("patch clustering (a) and the projection (e): no session could be "
                        "scored")
        return []
    for features in ("embedding", "raw", "kinetic"):
        table = pd.DataFrame({k: r["scores"][features] for k, r in done.items()}).T
        score = mean_with_ci(table, seed=opts.seeds[0], n_boot=opts.n_boot)
        note = "" if score.n else "no session with dynamic PET"
        ev.add(score, evaluation="patch_clustering", target="true compartment",
               features=features, probe="k-means", metric="ARI", note=note)
    return list(done.values())


def feature_sets(sessions: list[dict[str, Any]]) -> list[str]:
    """The patch-probe feature sets every session has (embedding first)."""
    names = [n for n in PATCH_PROBE_FEATURES if all(n in s["features"] for s in sessions)]
    return names


def patch_sets(sessions: list[dict[str, Any]], features: str) -> list[PatchSet]:
    """One `PatchSet` per session result for the feature set `features`."""
    return [PatchSet(s["subject"], s["features"][features], s["labels"]) for s in sessions]


def patch_probe(ev: Evaluation, sessions: list[dict[str, Any]],
                opts: RepresentationOptions) -> None:
    """(a), second measure: the patch probe cross-validated by subject, for the embedding and
    each baseline feature set, mean balanced accuracy over sessions with its CI. One
    cross-validation, with the first seed's folds (the fits dominate the evaluation's time;
    the folds move the estimate by far less than its CI)."""
    if not sessions:
        return
    patch_probe_rows(ev, feature_sets(sessions), lambda features: patch_probe_cv(
        patch_sets(sessions, features), seeds=opts.seeds[:1], what=f"patch probe ({features})"),
        opts, seeds=str(opts.seeds[0]))


def patch_probe_rows(ev: Evaluation, features: list[str],
                     score: Callable[[str], pd.DataFrame], opts: RepresentationOptions, *,
                     note: str = "", seeds: str = "") -> None:
    """One ``patch_probe`` row per feature set: `score` (feature set -> per-session balanced
    accuracies, sessions x seeds) aggregated with its CI; the first refusal ends it with a
    note."""
    for name in features:
        try:
            table = score(name)
        except InputError as exc:
            ev.notes.append(f"patch probe: not run: {exc.one_line()}")
            return
        ev.add(mean_with_ci(table, seed=opts.seeds[0], n_boot=opts.n_boot),
               evaluation="patch_probe", target="true compartment", features=name,
               probe="linear", metric="balanced accuracy", note=note)
        ev.rows[-1]["seeds"] = seeds


def projection_figure(samples: list[dict[str, Any]], path: Path, model: str) -> Path:
    """(e): PCA of the sessions' labelled patch embeddings, coloured by true compartment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    from gliopet.atomic import atomic_path

    x = np.concatenate([s["patches"] for s in samples])
    labels = np.concatenate([s["compartments"] for s in samples])
    xy = PCA(n_components=2).fit_transform(x - x.mean(axis=0))
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=100)
    for value in np.unique(labels):
        pick = labels == value
        ax.scatter(xy[pick, 0], xy[pick, 1], s=6, alpha=0.7, label=f"label {value}")
    ax.set(xlabel="PC 1", ylabel="PC 2",
           title=f"Patch embeddings ({len(samples)} session(s), {model})")
    ax.legend(title="true compartment", fontsize=7, markerscale=2)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------- (b) and (c)
def vector_without(module: Any, sample: dict[str, Any], modality: str) -> np.ndarray | None:
    """The session vector embedded without `modality` (None when nothing else is present)."""
    from gliopet.foundation.data import collate_sessions
    from gliopet.foundation.embed import embed_sample

    images = {m: v for m, v in sample["images"].items() if m != modality}
    if not images:
        return None
    reduced = {**sample, "images": images, "present": tuple(m for m in sample["present"]
                                                            if m != modality)}
    return embed_sample(module, collate_sessions([reduced])).vector


def read_radiomics(bids_dir: Path, keys: list[tuple[str, str]]) -> tuple[np.ndarray | None,
                                                                         str]:
    """Radiomics features (``radiomics.tsv``) of the sessions `keys`, in that order (see
    `radiomics_frame`); (None, why) when they cannot be used, else (features, note)."""
    features, why = radiomics_frame(bids_dir, keys)
    return (None, why) if features is None else (features.to_numpy(float), why)


def radiomics_frame(bids_dir: Path, keys: list[tuple[str, str]]
                    ) -> tuple[pd.DataFrame | None, str]:
    """`read_radiomics` as a table with the feature names as columns: the numeric feature
    columns finite in every session with a PET-avid tumour. A session without one has no
    tumour features (a row of NaN, imputed inside each training fold by the probes, with an
    indicator); the note says how many. (None, why) when no session has a tumour."""
    from gliopet.radiomics.pipeline import ID_COLUMNS

    path = d.RADIOMICS_TABLE.path(bids_dir)
    if not path.is_file():
        return None, f"no radiomics table (run `{d.RADIOMICS.command}`)"
    table = pd.read_csv(path, sep="\t", dtype={"participant_id": str, "session_id": str})
    table.index = [(str(p).removeprefix("sub-"), str(s).removeprefix("ses-") if pd.notna(s)
                    else "") for p, s in zip(table.participant_id, table.session_id, strict=True)]
    missing = [k for k in keys if k not in table.index]
    if missing:
        return None, f"{len(missing)} session(s) without a radiomics row"
    features = table.loc[keys, [c for c in table.columns if c not in ID_COLUMNS]]
    features = features.apply(pd.to_numeric, errors="coerce")
    finite = np.isfinite(features.to_numpy(float))
    tumour = finite.any(axis=1)
    features = features.loc[:, finite[tumour].all(axis=0)] if tumour.any() else features.iloc[:, :0]
    if features.shape[1] == 0:
        return None, "no radiomics feature is finite in every session with a PET-avid tumour"
    lacking = int((~tumour).sum())
    return features, (f"{lacking} session(s) without a PET-avid tumour: their tumour features "
                      "are imputed inside each training fold (median, with an indicator)"
                      if lacking else "")


def probe_target(ev: Evaluation, name: str, sessions: pd.DataFrame, vectors: np.ndarray,
                 raw: np.ndarray, posteriors: dict[tuple[str, str], float],
                 opts: RepresentationOptions) -> None:
    """(b): linear probe and k-NN on the session vectors, the raw vector and (when every
    session has them) the radiomics features; Bayes ceiling."""
    y = sessions[name].to_numpy(int)
    subjects = sessions["subject"].to_numpy()
    what = f"{name} at {LABELS[name].kind}"
    radiomics, why = read_radiomics(
        opts.bids_dir, list(zip(sessions.subject, sessions.session, strict=True)))
    sets = [("embedding", vectors), ("raw intensities", raw)]
    if radiomics is None:
        ev.notes.append(f"radiomics baseline of {name}: not run ({why})")
    else:
        sets.append(("radiomics", radiomics))
        if why:
            ev.notes.append(f"radiomics baseline of {name}: {why}")
    for features, x in sets:
        for probe in PROBES:
            proba = cv_probabilities(x, y, subjects, kind=probe, seeds=opts.seeds, what=what,
                                     missing=features == "radiomics")
            ev.add(auc_with_ci(y, proba, seed=opts.seeds[0], n_boot=opts.n_boot),
                   evaluation="probe", target=name, features=features, probe=probe,
                   metric="AUC")
    post = np.array([posteriors.get(k, np.nan) for k in zip(sessions.subject, sessions.session,
                                                              strict=True)])
    if not posteriors:
        return
    if not np.isfinite(post).all():
        ev.notes.append(f"Bayes ceiling of {name}: {int((~np.isfinite(post)).sum())} session(s) "
                        "without a true posterior; not computed")
        return
    score = auc_with_ci(y, post, seed=opts.seeds[0], n_boot=opts.n_boot)
    ev.add(Score(score.estimate, score.ci_low, score.ci_high, float("nan"), score.n),
           evaluation="probe", target=name, features="true posterior", probe="Bayes ceiling",
           metric="AUC")


def region_vectors(bids_dir: Path, keys: list[tuple[str, str]], samples: list[dict[str, Any]]
                   ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Tumour-region vectors of the sessions `keys`: the mean of the patch embeddings (the map
    of `gliopet embed`) over the patches of the 64 mm tumour region
    (`gliopet.foundation.tumour_region`) that hold brain, the raw-intensity vector
    (`raw_vector`) over the region's brain voxels, and how each region was found."""
    from gliopet.foundation.tumour_region import CROP_VOXELS, tumour_region
    from gliopet.io.nifti import load_nifti

    vectors, raws, methods = [], [], []
    for (subject, session), sample in zip(keys, samples, strict=True):
        ids = (subject, session or None)
        images = {m: np.asarray(v) for m, v in sample["images"].items()}
        brain = np.asarray(sample["brain_mask"][0], bool)
        origin, method = tumour_region(bids_dir, ids, images, brain)
        img = load_nifti(d.find(bids_dir, ids, d.EMBEDDING_MAP, what="patch-embedding map"))
        patch_map = np.asarray(img.dataobj, dtype=np.float32)
        p = map_patch_size(img.affine, sample["affine"])
        block = patch_map[tuple(slice(o // p, -(-(o + CROP_VOXELS) // p)) for o in origin)]
        block = block.reshape(-1, patch_map.shape[-1])
        block = block[np.any(block != 0, axis=1)]  # gliopet embed zeroes patches without brain
        vectors.append(block.mean(axis=0) if len(block) else
                       np.full(patch_map.shape[-1], np.nan))
        cube = np.zeros(brain.shape, bool)
        cube[tuple(slice(o, o + CROP_VOXELS) for o in origin)] = True
        raws.append(raw_vector(sample, cube))
        methods.append(method)
    return np.stack(vectors), pd.DataFrame(raws).to_numpy(float), methods


def region_note(methods: list[str]) -> str:
    """How the tumour regions were found, e.g. ``tumour region: tumour-mask 38, pet-avid 2``."""
    counts = pd.Series(methods).value_counts()
    return "tumour region: " + ", ".join(f"{m} {int(n)}" for m, n in counts.items())


def tumour_probe_target(ev: Evaluation, name: str, sessions: pd.DataFrame, vectors: np.ndarray,
                        raw: np.ndarray, methods: list[str],
                        opts: RepresentationOptions) -> None:
    """(b) on the tumour region: linear probe and k-NN on the region's embedding and on its raw
    intensities (evaluation ``tumour_probe``)."""
    y = sessions[name].to_numpy(int)
    subjects = sessions["subject"].to_numpy()
    for features, x in (("embedding", vectors), ("raw intensities", raw)):
        for probe in PROBES:
            proba = cv_probabilities(x, y, subjects, kind=probe, seeds=opts.seeds,
                                     what=f"{name} at {LABELS[name].kind} (tumour region)")
            ev.add(auc_with_ci(y, proba, seed=opts.seeds[0], n_boot=opts.n_boot),
                   evaluation="tumour_probe", target=name, features=features, probe=probe,
                   metric="AUC", note=region_note(methods))


def missing_modality(ev: Evaluation, name: str, sessions: pd.DataFrame, vectors: np.ndarray,
                     samples: list[dict[str, Any]], module: Any,
                     opts: RepresentationOptions) -> None:
    """(c): the linear probe (trained on full vectors) scoring vectors without one modality."""
    y = sessions[name].to_numpy(int)
    subjects = sessions["subject"].to_numpy()
    present = sorted({m for s in samples for m in s["images"]})
    for modality in present:
        reduced = [vector_without(module, s, modality) if modality in s["images"] else v
                   for s, v in zip(samples, vectors, strict=True)]
        if any(r is None for r in reduced):
            ev.notes.append(f"missing {modality} ({name}): a session has no other modality; "
                            "not evaluated")
            continue
        proba = cv_probabilities(vectors, y, subjects, kind="linear", seeds=opts.seeds,
                                 what=f"{name} at {LABELS[name].kind}",
                                 test_features=np.stack(reduced))
        ev.add(auc_with_ci(y, proba, seed=opts.seeds[0], n_boot=opts.n_boot),
               evaluation="missing_modality", target=name, features="embedding",
               probe="linear", removed=modality, metric="AUC")


def label_sessions(labels: pd.DataFrame, name: str, embedded: pd.DataFrame,
                   keys: list[tuple[str, str]]) -> pd.DataFrame:
    """Sessions with a coded `name`, an embedding row and learning-grid images (in that order)."""
    rows = labels[labels[name].notna()]
    have = set(embedded.index) & set(keys)
    return rows[[k in have for k in zip(rows.subject, rows.session, strict=True)]].reset_index(
        drop=True)


def chosen_labels(labels: pd.DataFrame, wanted: list[str] | None) -> list[str]:
    """Labels to probe: those asked (refused when unknown or absent), else every one present."""
    unknown = [n for n in wanted or [] if n not in LABELS]
    if unknown:
        raise InputError(f"unknown label(s) {', '.join(unknown)}",
                         fix=f"choose --labels among {', '.join(LABELS)}")
    if wanted:
        absent = [n for n in wanted if not labels[n].notna().any()]
        if absent:
            raise InputError(f"no session carries label(s) {', '.join(absent)} "
                             f"({', '.join(f'{n} at {LABELS[n].kind}' for n in absent)})",
                             fix="add the label to participants.tsv or sub-<s>_sessions.tsv, "
                                 "or leave it out of --labels")
        return list(wanted)
    return [n for n in LABELS if labels[n].notna().any()]


# ---------------------------------------------------------------------------- the command
def probes(ev: Evaluation, opts: RepresentationOptions, labels: pd.DataFrame,
           names: list[str], dataset: Any, embedded: pd.DataFrame, module: Any,
           mapped: list[int]) -> None:
    """(b) and (c) for every label in `names` (rows of `read_labels`), on the dataset's
    sessions `mapped`."""
    if not names:
        ev.notes.append(f"probes (b, c): no session carries a label ({', '.join(LABELS)})")
    position = {(dataset.sessions[i].subject, dataset.sessions[i].session): i for i in mapped}
    columns = vector_columns(embedded)
    has_truth = bool(d.find_every_session(opts.bids_dir, d.TRUTH_LATENT))
    for name in names:
        sessions = label_sessions(labels, name, embedded, list(position))
        keys = list(zip(sessions.subject, sessions.session, strict=True))
        samples = [dataset[position[k]] for k in keys]
        raw = pd.DataFrame([raw_vector(s) for s in samples])
        vectors = embedded.loc[keys, columns].to_numpy(float)
        posteriors = read_posteriors(opts.bids_dir, LABELS[name].posterior) if has_truth else {}
        try:
            probe_target(ev, name, sessions, vectors, raw.to_numpy(float), posteriors, opts)
            tumour_probe_target(ev, name, sessions, *region_vectors(opts.bids_dir, keys, samples),
                                opts)
        except InputError as exc:
            if opts.labels:
                raise
            ev.notes.append(f"probes of {name}: skipped: {exc.one_line()}")
            continue
        missing_modality(ev, name, sessions, vectors, samples, module, opts)


def evaluate_representation(opts: RepresentationOptions) -> pd.DataFrame:
    """Run (a), (b), (c), (e) and write `TABLE`, `SUMMARY`, `FIGURE` and provenance in
    ``opts.out``; return the table.

    Raises
    ------
    InputError
        No or foreign checkpoint, no embeddings of this model, no learning-grid session, an
        unknown label, or (for a label asked with ``--labels``) one class only.
    """
    from gliopet.foundation.checkpoint import load_pretrained
    from gliopet.foundation.data import LearningGridDataset
    from gliopet.provenance import sha256_file

    if not opts.seeds:
        raise InputError("no seed given", fix="give --seeds as a comma-separated list")
    config = opts.config or load_config()
    module = load_pretrained(opts.model)
    sha = sha256_file(opts.model)
    if opts.test_dir is not None:
        from gliopet.foundation.transfer import evaluate_transfer

        return evaluate_transfer(opts, module, sha, config)
    embedded = read_embeddings(opts.bids_dir, sha, opts.model)
    labels = read_labels(opts.bids_dir, config)
    names = chosen_labels(labels, opts.labels)
    dataset = LearningGridDataset(opts.bids_dir, config=config)
    ev = Evaluation(Path(opts.model).name, list(opts.seeds))
    mapped = [i for i, s in enumerate(dataset.sessions)
              if (s.subject, s.session) in embedded.index and (not opts.sites
                                                                or s.site in opts.sites)]
    if not mapped:
        sites = f" at site(s) {', '.join(opts.sites)}" if opts.sites else ""
        raise InputError(f"no session of the dataset{sites} has an embedding of this model",
                         path=d.FOUNDATION.root(opts.bids_dir),
                         fix=f"run `gliopet embed {opts.bids_dir} --model {opts.model}` first")
    if d.find_every_session(opts.bids_dir, d.TRUTH_TISSUE_T1W):
        scored = clustering(ev, opts.bids_dir, dataset, mapped, opts, config)
        patch_probe(ev, scored, opts)
        projection = scored[:PROJECTION_SESSIONS]
    else:
        projection = []
        ev.notes.append("no phantom truth: patch clustering (a), the projection (e) and the "
                        "Bayes ceilings skipped")
    probes(ev, opts, labels, names, dataset, embedded, module, mapped)
    return write_outputs(ev, opts, projection, sha, config)


def write_outputs(ev: Evaluation, opts: RepresentationOptions,
                  projection: list[dict[str, Any]], sha: str, config: Config) -> pd.DataFrame:
    """`TABLE`, `SUMMARY`, `FIGURE` (when there is a projection) and provenance."""
    from gliopet.atomic import write_text, write_tsv
    from gliopet.provenance import write_provenance

    if not ev.rows:
        raise InputError("nothing could be evaluated: " + "; ".join(ev.notes),
                         fix="give a phantom cohort (truth) or sessions with labels")
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(ev.rows).reindex(columns=COLUMNS)
    write_tsv(out / TABLE, table)
    if projection:
        projection_figure(projection, out / FIGURE, ev.model)
    write_text(out / SUMMARY, summary(table, ev, bool(projection)))
    write_provenance(out, command="gliopet evaluate-representation", config=config.as_dict(),
                     inputs=[opts.model, d.EMBEDDING_TABLE.path(opts.bids_dir),
                             *([d.EMBEDDING_TABLE.path(opts.test_dir)] if opts.test_dir
                               else [])],
                     extra={"model_sha256": sha, "seeds": list(opts.seeds),
                            "n_boot": opts.n_boot, "notes": ev.notes,
                            "test_dataset": str(opts.test_dir) if opts.test_dir else None})
    return table


def _three(value: float) -> str:
    """Three decimals, or n/a (a document never shows the text nan)."""
    return "n/a" if pd.isna(value) else f"{value:.3f}"


def summary(table: pd.DataFrame, ev: Evaluation, figure: bool) -> str:
    """The Markdown summary: one line per row of the table, then the notes."""
    lines = [f"# Representation evaluation: {ev.model}", "", f"> {DISCLAIMER}", "",
             f"Seeds {', '.join(map(str, ev.seeds))}; 95 % CI: bootstrap over sessions "
             "(ARI) or stratified bootstrap of the out-of-fold predictions (AUC).", "",
             "| evaluation | target | features | probe | removed | metric | estimate (95 % CI) "
             "| seed SD | n |", "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.evaluation} | {r.target} | {r.features} | {r.probe} | "
                     f"{r.removed or '-'} | {r.metric} | {_three(r.estimate)} "
                     f"({_three(r.ci_low)} to {_three(r.ci_high)}) | {_three(r.seed_sd)} | "
                     f"{r.n} |")
    if figure:
        lines += ["", f"Projection of the patch embeddings: {FIGURE}"]
    if ev.notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in ev.notes]]
    return "\n".join(lines) + "\n"
