"""``gliopet evaluate-representation --test-dataset``: a representation measured on another
cohort than the one its probes are trained on (issue 12, item 8: the held-out generator).

The training cohort is BIDS_DIR (its sessions at ``--site`` when given); the test cohort is
another dataset embedded by the same checkpoint (its ``embeddings.tsv`` is checked by SHA-256
like BIDS_DIR's), e.g. a phantom cohort of another generator that pretraining never saw.

(a) **Patch clustering** on the test cohort's sessions (as `representation.clustering`), and
    the **patch probe** fitted on the training cohort's labelled patches (when it has phantom
    truth) and scored on each test session (`probes.patch_probe_transfer`).
(b) **Probes**: the linear probe and k-NN fitted once on every labelled training session and
    scored on every labelled test session (`probes.transfer_probabilities`), on the session
    vectors, the raw-intensity vector (the columns of the training cohort; a test session
    lacking one is refused) and the radiomics features (when both cohorts have them, on the
    columns finite in every session with a PET-avid tumour of both; a session without one is
    imputed from the training rows, with an indicator); AUC with a stratified bootstrap 95 % CI
    over the test sessions, next to the Bayes ceiling of the test sessions. One repeat: no seed SD.
    The same on the tumour-region vectors (``tumour_probe`` rows,
    `representation.region_vectors`).
(c) **Missing modality**: the linear probe fitted on full training vectors scores test vectors
    embedded without one modality.
(e) The projection is drawn from test sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliopet.config import Config
from gliopet.errors import InputError
from gliopet.foundation import representation as rep
from gliopet.foundation.probes import (
    PROBES,
    Score,
    auc_with_ci,
    patch_probe_transfer,
    transfer_probabilities,
)
from gliopet.io import derivatives as d


@dataclass
class Cohort:
    """One dataset's side of a transfer evaluation."""

    bids_dir: Path
    dataset: Any
    labels: pd.DataFrame
    embedded: pd.DataFrame
    #: (subject, session) -> index into `dataset`, for the sessions evaluated.
    position: dict[tuple[str, str], int]


@dataclass
class Side:
    """The labelled sessions of one cohort for one label, in order."""

    keys: list[tuple[str, str]]
    y: np.ndarray
    samples: list[dict[str, Any]]
    vectors: np.ndarray


def open_cohort(bids_dir: Path, sha: str, model: Path, config: Config,
                sites: list[str] | None) -> Cohort:
    """The embedded learning-grid sessions of `bids_dir` (at `sites` when given)."""
    from gliopet.foundation.data import LearningGridDataset

    embedded = rep.read_embeddings(bids_dir, sha, model)
    dataset = LearningGridDataset(bids_dir, config=config)
    position = {(s.subject, s.session): i for i, s in enumerate(dataset.sessions)
                if (s.subject, s.session) in embedded.index and (not sites or s.site in sites)}
    if not position:
        where = f" at site(s) {', '.join(sites)}" if sites else ""
        raise InputError(f"no session of the dataset{where} has an embedding of this model",
                         path=d.FOUNDATION.root(bids_dir),
                         fix=f"run `gliopet embed {bids_dir} --model {model}` first")
    return Cohort(Path(bids_dir), dataset, rep.read_labels(bids_dir, config), embedded,
                  position)


def labelled(cohort: Cohort, name: str) -> Side:
    """The sessions of `cohort` that carry `name`, with their labels, samples and vectors."""
    sessions = rep.label_sessions(cohort.labels, name, cohort.embedded, list(cohort.position))
    keys = list(zip(sessions.subject, sessions.session, strict=True))
    vectors = cohort.embedded.loc[keys, rep.vector_columns(cohort.embedded)].to_numpy(float)
    return Side(keys, sessions[name].to_numpy(int),
                [cohort.dataset[cohort.position[k]] for k in keys], vectors)


def raw_features(train: Side, test: Side, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The raw-intensity vectors of both sides on the training side's columns."""
    x_train = pd.DataFrame([rep.raw_vector(s) for s in train.samples])
    x_test = pd.DataFrame([rep.raw_vector(s) for s in test.samples])
    lacking = [c for c in x_train.columns if c not in x_test.columns]
    if lacking:
        raise InputError(f"{what}: the test cohort lacks raw-intensity channel(s) "
                         f"{', '.join(sorted({c.rsplit('_', 1)[0] for c in lacking}))}",
                         fix="test on sessions with the training cohort's modalities")
    return x_train.to_numpy(float), x_test[x_train.columns].to_numpy(float)


def radiomics_features(train: Cohort, test: Cohort, a: Side, b: Side
                       ) -> tuple[np.ndarray, np.ndarray] | str:
    """Radiomics of both sides on the feature columns finite in every session with a PET-avid
    tumour of both (rows of NaN for sessions without one), or why not."""
    x_a, why_a = rep.radiomics_frame(train.bids_dir, a.keys)
    x_b, why_b = rep.radiomics_frame(test.bids_dir, b.keys)
    if x_a is None or x_b is None:
        return f"training cohort: {why_a}" if x_a is None else f"test cohort: {why_b}"
    # Columns finite in every tumour session of both; a session without a PET-avid tumour keeps
    # its row of NaN, imputed from the training rows by the probe.
    common = [c for c in x_a.columns if c in x_b.columns]
    if not common:
        return "no radiomics feature is finite in every session of both cohorts"
    return x_a[common].to_numpy(float), x_b[common].to_numpy(float)


def _add(ev: rep.Evaluation, y: np.ndarray, proba: np.ndarray, opts: rep.RepresentationOptions,
         note: str, **row: Any) -> None:
    score = auc_with_ci(y, proba, seed=opts.seeds[0], n_boot=opts.n_boot)
    ev.add(score, metric="AUC", note=note, **row)
    ev.rows[-1]["seeds"] = ""


def probe_transfer(ev: rep.Evaluation, name: str, train: Cohort, test: Cohort,
                   module: Any, opts: rep.RepresentationOptions) -> None:
    """(b) and (c) of one label: probes fitted on `train`, scored on `test`."""
    a, b = labelled(train, name), labelled(test, name)
    what = f"{name} at {rep.LABELS[name].kind}"
    if len(np.unique(b.y)) < 2:
        ev.notes.append(f"probes of {name}: the test cohort has one class only ({len(b.y)} "
                        "session(s)); not evaluated")
        return
    note = f"trained on {len(a.y)} session(s) of {train.bids_dir.name}"
    sets = [("embedding", (a.vectors, b.vectors)), ("raw intensities", raw_features(a, b, what))]
    radiomics = radiomics_features(train, test, a, b)
    if isinstance(radiomics, str):
        ev.notes.append(f"radiomics baseline of {name}: not run ({radiomics})")
    else:
        sets.append(("radiomics", radiomics))
    for features, (x_a, x_b) in sets:
        for probe in PROBES:
            proba = transfer_probabilities(x_a, a.y, x_b, kind=probe, what=what,
                                           missing=features == "radiomics")
            _add(ev, b.y, proba, opts, note, evaluation="probe", target=name,
                 features=features, probe=probe)
    bayes_ceiling(ev, name, test, b, opts)
    a_emb, a_raw, _ = rep.region_vectors(train.bids_dir, a.keys, a.samples)
    b_emb, b_raw, methods = rep.region_vectors(test.bids_dir, b.keys, b.samples)
    for features, (x_a, x_b) in (("embedding", (a_emb, b_emb)),
                                 ("raw intensities", (a_raw, b_raw))):
        for probe in PROBES:
            proba = transfer_probabilities(x_a, a.y, x_b, kind=probe,
                                           what=f"{what} (tumour region)")
            _add(ev, b.y, proba, opts, f"{note}; {rep.region_note(methods)}",
                 evaluation="tumour_probe", target=name, features=features, probe=probe)
    for modality in sorted({m for s in b.samples for m in s["images"]}):
        reduced = [rep.vector_without(module, s, modality) if modality in s["images"] else v
                   for s, v in zip(b.samples, b.vectors, strict=True)]
        if any(r is None for r in reduced):
            ev.notes.append(f"missing {modality} ({name}): a test session has no other "
                            "modality; not evaluated")
            continue
        proba = transfer_probabilities(a.vectors, a.y, np.stack(reduced), kind="linear",
                                       what=what)
        _add(ev, b.y, proba, opts, note, evaluation="missing_modality", target=name,
             features="embedding", probe="linear", removed=modality)


def bayes_ceiling(ev: rep.Evaluation, name: str, test: Cohort, b: Side,
                  opts: rep.RepresentationOptions) -> None:
    """The AUC of the phantom's true posterior on the test sessions (when it has one)."""
    posteriors = rep.read_posteriors(test.bids_dir, rep.LABELS[name].posterior)
    post = np.array([posteriors.get(k, np.nan) for k in b.keys])
    if not posteriors or not np.isfinite(post).all():
        ev.notes.append(f"Bayes ceiling of {name}: test session(s) without a true posterior; "
                        "not computed")
        return
    score = auc_with_ci(b.y, post, seed=opts.seeds[0], n_boot=opts.n_boot)
    ev.add(Score(score.estimate, score.ci_low, score.ci_high, float("nan"), score.n),
           evaluation="probe", target=name, features="true posterior", probe="Bayes ceiling",
           metric="AUC")


def _training_patches(cohort: Cohort, index: int, config: Config) -> dict[str, Any] | str:
    item = cohort.dataset.sessions[index]
    try:
        found = rep.session_patches(cohort.bids_dir, (item.subject, item.session),
                                    cohort.dataset[index], config)
    except InputError as exc:
        return f"sub-{item.subject}_ses-{item.session}: {exc.one_line()}"
    return {k: found[k] for k in ("features", "labels", "subject")}


def patch_probe_transfer_rows(ev: rep.Evaluation, train: Cohort, scored: list[dict[str, Any]],
                              opts: rep.RepresentationOptions, config: Config) -> None:
    """(a), patch probe: fitted on every labelled patch of the training cohort, scored on
    each test session (`scored`: `representation.clustering`'s results)."""
    from joblib import Parallel, delayed

    if not scored:
        return
    if not d.find_every_session(train.bids_dir, d.TRUTH_TISSUE_T1W):
        ev.notes.append("patch probe: the training cohort has no phantom truth; not run")
        return
    found = Parallel(n_jobs=max(1, opts.jobs))(
        delayed(_training_patches)(train, i, config) for i in train.position.values())
    sessions = [f for f in found if isinstance(f, dict)]
    ev.notes += [f"patch probe: training session left out: {f}" for f in found
                 if isinstance(f, str)]
    rep.patch_probe_rows(ev, rep.feature_sets(sessions + scored), lambda features: (
        patch_probe_transfer(rep.patch_sets(sessions, features), rep.patch_sets(scored, features),
                             seed=opts.seeds[0], what=f"patch probe ({features})")), opts,
        note=f"trained on the patches of {len(sessions)} session(s) of {train.bids_dir.name}")


def evaluate_transfer(opts: rep.RepresentationOptions, module: Any, sha: str,
                      config: Config) -> pd.DataFrame:
    """(a), (b), (c), (e) with probes trained on ``opts.bids_dir`` and everything scored on
    ``opts.test_dir``; writes the outputs of `representation.write_outputs`."""
    train = open_cohort(opts.bids_dir, sha, opts.model, config, opts.sites)
    test = open_cohort(opts.test_dir, sha, opts.model, config, None)
    names = rep.chosen_labels(test.labels, opts.labels)
    ev = rep.Evaluation(Path(opts.model).name, list(opts.seeds))
    ev.notes.append(f"probes trained on {train.bids_dir} ({len(train.position)} session(s)), "
                    f"every evaluation scored on {test.bids_dir} ({len(test.position)})")
    projection: list[dict[str, Any]] = []
    if d.find_every_session(test.bids_dir, d.TRUTH_TISSUE_T1W):
        scored = rep.clustering(ev, test.bids_dir, test.dataset, list(test.position.values()),
                                opts, config)
        patch_probe_transfer_rows(ev, train, scored, opts, config)
        projection = scored[:rep.PROJECTION_SESSIONS]
    else:
        ev.notes.append("no phantom truth in the test cohort: patch clustering (a) and the "
                        "projection (e) skipped")
    for name in names:
        try:
            probe_transfer(ev, name, train, test, module, opts)
        except InputError as exc:
            if opts.labels:
                raise
            ev.notes.append(f"probes of {name}: skipped: {exc.one_line()}")
    return rep.write_outputs(ev, opts, projection, sha, config)
