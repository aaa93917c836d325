"""`gliopet evaluate-representation` pieces (gliopet.foundation.representation, .probes) on
constructed inputs: planted patch embeddings written through the contract, session vectors
that encode the label or not, a tiny untrained model for the missing-modality path, and the
one-line refusals."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from gliopet.errors import InputError
from gliopet.foundation import evaluation
from gliopet.foundation import representation as rep
from gliopet.foundation.evaluation import baseline_patch_grid
from gliopet.foundation.probes import auc_with_ci, cv_probabilities, mean_with_ci
from gliopet.io import derivatives as d
from support.foundation_samples import one_torch_thread  # noqa: F401  (fixture)

SHAPE = (24, 24, 16)
AFFINE = np.array([[2.0, 0, 0, -24.0], [0, 2.0, 0, -30.0], [0, 0, 2.0, -10.0], [0, 0, 0, 1]])
P = 4
SEEDS = [3, 4, 5]


def _scene(index: int):
    """Grey matter (3) left, white matter (4) right, a tumour (11); T1w barely separates grey
    from white (noise SD 1.0 against a difference of 0.4)."""
    rng = np.random.default_rng(index)
    truth = np.full(SHAPE, 3, np.int16)
    truth[12:] = 4
    truth[4:12, 8:16, 4:12] = 11
    brain = np.zeros(SHAPE, bool)
    brain[2:-2, 2:-2, 2:-2] = True
    truth[~brain] = 1
    level = {1: 0.0, 3: 0.2, 4: -0.2, 11: 0.6}
    t1 = np.vectorize(level.get)(truth).astype(np.float32) + rng.normal(0, 1.0, SHAPE)
    sample = {"images": {"t1w": torch.tensor(t1[None], dtype=torch.float32)},
              "brain_mask": torch.tensor(brain[None]), "affine": AFFINE, "present": ("t1w",)}
    return truth, brain, sample


def _one_hot_map(truth):
    """The true compartment of each patch (majority), one-hot, on the baseline patch grid."""
    grid = baseline_patch_grid(SHAPE, AFFINE, P)
    index = evaluation.patch_index(SHAPE, AFFINE, grid)
    n = int(np.prod(grid.shape))
    labels = evaluation.patch_labels(truth, truth > 1, index, n)
    codes = {v: i for i, v in enumerate(sorted(set(labels[labels >= 0])))}
    onehot = np.zeros((n, len(codes)), np.float32)
    for p, v in enumerate(labels):
        if v >= 0:
            onehot[p, codes[v]] = 1.0
    return onehot.reshape(*grid.shape, -1), grid.affine


class _Sessions:
    """A stand-in for LearningGridDataset: `sessions` and samples by index."""

    def __init__(self, samples):
        self.samples = samples
        self.sessions = [type("S", (), {"subject": f"{i:02d}", "session": "diagnosis"})()
                         for i in range(len(samples))]

    def __getitem__(self, i):
        return self.samples[i]


@pytest.fixture
def planted(tmp_path, monkeypatch):
    scenes = [_scene(i) for i in range(3)]
    truths = {f"{i:02d}": s[0] for i, s in enumerate(scenes)}
    for i, (truth, _, _) in enumerate(scenes):
        data, affine = _one_hot_map(truth)
        path = d.EMBEDDING_MAP.path(tmp_path, (f"{i:02d}", "diagnosis"))
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(data, affine), path)
    monkeypatch.setattr(evaluation, "truth_on_learning_grid",
                        lambda root, ids, config=None: truths[ids[0]])
    return tmp_path, _Sessions([s[2] for s in scenes])


def test_planted_one_hot_embedding_has_ari_one_and_beats_raw_intensities(planted):
    root, dataset = planted
    ev = rep.Evaluation("planted", SEEDS)
    opts = rep.RepresentationOptions(root, root / "m.ckpt", root / "out", SEEDS, n_boot=200)
    projection = rep.clustering(ev, root, dataset, [0, 1, 2], opts, config=None)
    rows = {r["features"]: r for r in ev.rows}
    assert rows["embedding"]["estimate"] == pytest.approx(1.0, abs=1e-9)
    assert rows["embedding"]["ci_low"] == pytest.approx(1.0, abs=1e-9)
    assert rows["embedding"]["n"] == 3
    assert rows["raw"]["estimate"] < 0.8
    assert rows["raw"]["ci_high"] < rows["embedding"]["ci_low"]
    assert np.isnan(rows["kinetic"]["estimate"]) and rows["kinetic"]["note"]
    assert len(projection) == 3
    png = rep.projection_figure(projection, root / "out" / rep.FIGURE, "planted")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_session_without_truth_is_left_out_with_a_note(planted, monkeypatch):
    root, dataset = planted

    def no_truth(root, ids, config=None):
        raise InputError("phantom tissue labels are missing")

    monkeypatch.setattr(evaluation, "truth_on_learning_grid", no_truth)
    ev = rep.Evaluation("planted", SEEDS)
    opts = rep.RepresentationOptions(root, root / "m.ckpt", root / "out", SEEDS, n_boot=50)
    assert rep.clustering(ev, root, dataset, [0, 1], opts, config=None) == []
    assert not ev.rows
    assert ev.notes[0] == ("patch clustering: sub-00_ses-diagnosis left out: phantom tissue "
                           "labels are missing")


def _cohort(n_subjects=40, sessions_per_subject=2):
    rng = np.random.default_rng(0)
    subjects = np.repeat([f"{i:02d}" for i in range(n_subjects)], sessions_per_subject)
    y = np.repeat(np.arange(n_subjects) % 2, sessions_per_subject)
    return rng, subjects, y


def test_probe_on_a_vector_that_encodes_the_label_reaches_auc_one():
    rng, subjects, y = _cohort()
    x = np.column_stack([y + 0.01 * rng.standard_normal(len(y)), rng.standard_normal(len(y))])
    for kind in ("linear", "knn"):
        proba = cv_probabilities(x, y, subjects, kind=kind, seeds=SEEDS, what="IDH")
        score = auc_with_ci(y, proba, seed=1, n_boot=200)
        assert score.estimate == pytest.approx(1.0), kind
        assert score.ci_low == pytest.approx(1.0) and score.n == len(y)


def test_probe_on_a_random_vector_is_near_chance():
    rng, subjects, y = _cohort(n_subjects=60, sessions_per_subject=1)
    x = rng.standard_normal((len(y), 4))
    for kind in ("linear", "knn"):
        proba = cv_probabilities(x, y, subjects, kind=kind, seeds=SEEDS, what="IDH")
        score = auc_with_ci(y, proba, seed=1, n_boot=200)
        assert abs(score.estimate - 0.5) < 0.15, kind
        assert score.ci_low < 0.5 < score.ci_high


def test_probe_refusals_are_one_line():
    _, subjects, y = _cohort(n_subjects=6)
    x = np.ones((len(y), 2))
    with pytest.raises(InputError, match=r"^IDH at diagnosis: one class only \(12 session\(s\), "
                                         r"all negative\)"):
        cv_probabilities(x, np.zeros_like(y), subjects, kind="linear", seeds=SEEDS,
                         what="IDH at diagnosis")
    with pytest.raises(InputError, match=r"too few subjects per class for cross-validation by "
                                         r"subject \(5 negative, 1 positive\)"):
        y1 = (subjects == "01").astype(int)
        cv_probabilities(x, y1, subjects, kind="linear", seeds=SEEDS, what="IDH")
    x[0, 0] = np.nan
    with pytest.raises(InputError, match="the feature vectors hold missing values"):
        cv_probabilities(x, y, subjects, kind="knn", seeds=SEEDS, what="IDH")


def test_mean_with_ci_over_sessions_and_seeds():
    table = pd.DataFrame({3: [1.0, 0.5, np.nan], 4: [1.0, 0.7, np.nan]}, index=["a", "b", "c"])
    score = mean_with_ci(table, seed=0, n_boot=500)
    assert score.estimate == pytest.approx(0.8) and score.n == 2
    assert 0.6 <= score.ci_low <= score.ci_high <= 1.0
    assert score.seed_sd == pytest.approx(np.std([0.75, 0.85], ddof=1))


def _write_bids_labels(root):
    (root / "dataset_description.json").write_text('{"Name": "t", "BIDSVersion": "1.9.0"}')
    pd.DataFrame({"participant_id": ["sub-01", "sub-02"], "IDH": ["mutant", "wildtype"]}).to_csv(
        root / "participants.tsv", sep="\t", index=False)
    for s in ("01", "02"):
        for ses in ("diagnosis", "recurrence1"):
            (root / f"sub-{s}" / f"ses-{ses}" / "anat").mkdir(parents=True)
        pd.DataFrame({"session_id": ["ses-diagnosis", "ses-recurrence1"],
                      "outcome": ["n/a", "progression" if s == "01" else "pseudoprogression"]}
                     ).to_csv(root / f"sub-{s}" / f"sub-{s}_sessions.tsv", sep="\t", index=False)


def test_labels_are_read_at_their_session_kind_and_posteriors_through_the_contract(tmp_path):
    from gliopet.config import load_config

    _write_bids_labels(tmp_path)
    labels = rep.read_labels(tmp_path, load_config()).set_index(["subject", "session"])
    assert labels.loc[("01", "diagnosis"), "IDH"] == 1.0
    assert labels.loc[("02", "diagnosis"), "IDH"] == 0.0
    assert np.isnan(labels.loc[("01", "recurrence1"), "IDH"])
    assert labels.loc[("01", "recurrence1"), "outcome"] == 1.0
    assert labels.loc[("02", "recurrence1"), "outcome"] == 0.0
    assert np.isnan(labels.loc[("01", "diagnosis"), "outcome"])
    path = d.TRUTH_LATENT.path(tmp_path, ("01", "diagnosis"))
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"session": {"posteriors": {"IDH_mutant": 0.8}}}))
    assert rep.read_posteriors(tmp_path, "IDH_mutant") == {("01", "diagnosis"): 0.8}
    assert rep.read_posteriors(tmp_path, "progression") == {}
    with pytest.raises(InputError, match=r"unknown label\(s\) grade"):
        rep.chosen_labels(labels.reset_index(), ["grade"])
    none = labels.reset_index().assign(outcome=np.nan)
    with pytest.raises(InputError, match=r"no session carries label\(s\) outcome \(outcome at "
                                         r"recurrence\)"):
        rep.chosen_labels(none, ["outcome"])
    assert rep.chosen_labels(none, None) == ["IDH"]


def test_embeddings_missing_or_of_another_model_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"embeddings.tsv: no session embeddings \(the "
                                         r"embeddings table is missing\)"):
        rep.read_embeddings(tmp_path, "abc", tmp_path / "m.ckpt")
    path = d.EMBEDDING_TABLE.path(tmp_path)
    path.parent.mkdir(parents=True)
    pd.DataFrame({"subject": ["01"], "session": ["diagnosis"], "e000": [0.1]}).to_csv(
        path, sep="\t", index=False)
    d.EMBEDDING_TABLE.sidecar(tmp_path).write_text(json.dumps({"ModelSHA256": "other"}))
    with pytest.raises(InputError, match="the embeddings were made by another model than "
                                         "--model"):
        rep.read_embeddings(tmp_path, "abc", tmp_path / "m.ckpt")
    table = rep.read_embeddings(tmp_path, "other", tmp_path / "m.ckpt")
    assert rep.vector_columns(table) == ["e000"] and ("01", "diagnosis") in table.index


def test_a_missing_or_foreign_checkpoint_is_one_line(tmp_path):
    from gliopet.cli.evaluate_cmd import parse_seeds

    opts = rep.RepresentationOptions(tmp_path, tmp_path / "none.ckpt", tmp_path / "out", SEEDS)
    with pytest.raises(InputError, match="model checkpoint not found"):
        rep.evaluate_representation(opts)
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    opts.model = tmp_path / "other.ckpt"
    with pytest.raises(InputError, match="not a gliopet foundation checkpoint"):
        rep.evaluate_representation(opts)
    assert not (tmp_path / "out").exists()
    assert parse_seeds("4,5", 0) == [4, 5] and parse_seeds(None, 10) == [10, 11, 12]
    with pytest.raises(InputError, match="'--seeds' parameter must be a comma-separated list"):
        parse_seeds("1,x", 0)


@pytest.mark.usefixtures("one_torch_thread")
def test_missing_modality_rows_come_from_the_model_embedding_a_subset():
    from gliopet.foundation.data import MODALITY_CHANNELS
    from gliopet.foundation.module import PretrainModule
    from support.foundation_samples import AFFINE as GRID_AFFINE
    from support.foundation_samples import small_config, synthetic_sample

    grid = (16, 20, 16)
    torch.manual_seed(0)
    module = PretrainModule(small_config().as_dict(), MODALITY_CHANNELS, grid,
                            GRID_AFFINE.tolist(), seed=1).eval()
    samples = [synthetic_sample(i, ("t1w", "flair", "pet"), grid=grid,
                                channels=MODALITY_CHANNELS) for i in range(8)]
    full = np.stack([rep.vector_without(module, s, "none") for s in samples])
    without = rep.vector_without(module, samples[0], "pet")
    assert without.shape == full[0].shape and not np.allclose(without, full[0])
    only = {**samples[0], "images": {"t1w": samples[0]["images"]["t1w"]}, "present": ("t1w",)}
    assert rep.vector_without(module, only, "t1w") is None
    sessions = pd.DataFrame({"subject": [f"{i:02d}" for i in range(8)], "IDH": [0, 1] * 4})
    ev = rep.Evaluation("tiny", SEEDS[:2])
    opts = rep.RepresentationOptions(None, None, None, SEEDS[:2], n_boot=50)
    rep.missing_modality(ev, "IDH", sessions, full, samples, module, opts)
    assert [r["removed"] for r in ev.rows] == ["flair", "pet", "t1w"]
    assert all(0.0 <= r["estimate"] <= 1.0 and r["n"] == 8 for r in ev.rows)


def test_radiomics_baseline_keeps_features_finite_in_every_session(tmp_path):
    keys = [("01", "diagnosis"), ("02", "diagnosis")]
    assert rep.read_radiomics(tmp_path, keys) == (
        None, "no radiomics table (run `gliopet radiomics`)")
    path = d.RADIOMICS_TABLE.path(tmp_path)
    path.parent.mkdir(parents=True)
    pd.DataFrame({"participant_id": ["sub-02", "sub-01"],
                  "session_id": ["ses-diagnosis", "ses-diagnosis"],
                  "tumour_status": ["ok", "ok"], "tumour_voxels": [10, 20],
                  "pet_mean": [2.0, 1.0], "pet_glcm": [np.nan, 0.5]}).to_csv(
        path, sep="\t", index=False, na_rep="n/a")
    features, why = rep.read_radiomics(tmp_path, keys)
    assert why == "" and features.tolist() == [[1.0], [2.0]]
    assert rep.read_radiomics(tmp_path, [*keys, ("03", "diagnosis")]) == (
        None, "1 session(s) without a radiomics row")


def test_radiomics_of_a_session_without_tumour_is_left_to_the_imputer(tmp_path):
    path = d.RADIOMICS_TABLE.path(tmp_path)
    path.parent.mkdir(parents=True)
    pd.DataFrame({"participant_id": ["sub-01", "sub-02", "sub-03"],
                  "session_id": ["ses-diagnosis"] * 3,
                  "tumour_status": ["ok", "ok", "no PET-avid tumour"],
                  "tumour_voxels": [20, 10, 0], "pet_mean": [1.0, 2.0, np.nan],
                  "pet_glcm": [0.5, np.nan, np.nan]}).to_csv(path, sep="\t", index=False,
                                                             na_rep="n/a")
    keys = [("01", "diagnosis"), ("02", "diagnosis"), ("03", "diagnosis")]
    features, why = rep.read_radiomics(tmp_path, keys)
    # pet_glcm is missing in a session with a tumour: dropped; the tumour-less row stays NaN
    assert features[:2].tolist() == [[1.0], [2.0]] and np.isnan(features[2]).all()
    assert why == ("1 session(s) without a PET-avid tumour: their tumour features are imputed "
                   "inside each training fold (median, with an indicator)")
    assert rep.read_radiomics(tmp_path, keys[2:]) == (
        None, "no radiomics feature is finite in every session with a PET-avid tumour")


def test_probes_impute_missing_rows_only_when_asked():
    rng = np.random.default_rng(0)
    subjects = np.repeat([f"{i:02d}" for i in range(12)], 2)
    y = np.tile([0, 1], 12)
    x = rng.normal(size=(24, 3)) + 2.0 * y[:, None]
    x[[0, 5]] = np.nan  # two sessions without a tumour
    with pytest.raises(InputError, match="the feature vectors hold missing values"):
        cv_probabilities(x, y, subjects, kind="linear", seeds=SEEDS, what="IDH")
    for kind in ("linear", "knn"):
        proba = cv_probabilities(x, y, subjects, kind=kind, seeds=SEEDS, what="IDH",
                                 missing=True)
        assert np.isfinite(proba).all()
        assert auc_with_ci(y, proba, seed=0, n_boot=50).estimate > 0.8
    x[1, 1] = np.inf
    with pytest.raises(InputError, match="the feature vectors hold missing values"):
        cv_probabilities(x, y, subjects, kind="linear", seeds=SEEDS, what="IDH", missing=True)
