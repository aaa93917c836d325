"""The patch probe of `gliopet evaluate-representation` (item 8a, second measure): the true
compartment of a patch read from its features by a linear probe cross-validated by subject
(gliopet.foundation.probes), and its rows in the evaluation (gliopet.foundation.representation)."""

from __future__ import annotations

import numpy as np
import pytest
from test_representation import SEEDS, planted  # noqa: F401  (fixture)

from gliopet.errors import InputError
from gliopet.foundation import probes
from gliopet.foundation import representation as rep
from gliopet.foundation.probes import (
    PatchSet,
    balanced_accuracy,
    patch_probe_cv,
    patch_probe_transfer,
)


def _sessions(n_subjects: int, *, informative: bool, seed: int = 0) -> list[PatchSet]:
    """Two sessions per subject, 60 patches each of 3 compartments (40/15/5: unbalanced, as
    grey/white matter and a tumour); features = a noisy one-hot of the compartment, or noise."""
    rng = np.random.default_rng(seed)
    out = []
    for s in range(n_subjects):
        for _ in range(2):
            labels = np.repeat([3, 4, 11], [40, 15, 5])
            x = rng.normal(0, 0.2, (60, 4))
            if informative:
                x[:, :3] += np.eye(3)[np.searchsorted([3, 4, 11], labels)]
            out.append(PatchSet(f"{s:02d}", x, labels))
    return out


def test_balanced_accuracy_is_the_mean_recall_over_the_sessions_compartments():
    labels = np.array([3, 3, 3, 3, 11])
    predicted = np.array([3, 3, 4, 4, 11])  # grey 2/4, tumour 1/1; the stray 4 counts nowhere
    assert balanced_accuracy(labels, predicted) == pytest.approx(0.75)
    assert np.isnan(balanced_accuracy(np.array([]), np.array([])))


def test_features_that_encode_the_compartment_are_read_and_noise_is_at_chance():
    good = patch_probe_cv(_sessions(6, informative=True), seeds=SEEDS, what="t")
    noise = patch_probe_cv(_sessions(6, informative=False), seeds=SEEDS, what="t")
    assert good.shape == (12, 3)
    assert good.to_numpy().min() > 0.95
    # Unbalanced classes: predicting the majority gives 1/3, not the 2/3 plain accuracy gives.
    assert noise.to_numpy().mean() == pytest.approx(1 / 3, abs=0.08)


def test_no_session_is_scored_by_a_probe_that_saw_its_subject(monkeypatch):
    seen: list[set[str]] = []
    fit = probes.fit_patch_probe

    def recording(train, *, seed, what):
        seen.append({s.subject for s in train})
        model = fit(train, seed=seed, what=what)
        model.trained_on = seen[-1]
        return model

    scored: list[tuple[str, set[str]]] = []
    score = probes._score

    def checking(model, s):
        scored.append((s.subject, model.trained_on))
        return score(model, s)

    monkeypatch.setattr(probes, "fit_patch_probe", recording)
    monkeypatch.setattr(probes, "_score", checking)
    patch_probe_cv(_sessions(7, informative=True), seeds=[1, 2], what="t")
    assert len(seen) == 2 * 5  # MAX_FOLDS folds per seed
    assert len(scored) == 2 * 14  # every session once per seed
    assert all(subject not in train for subject, train in scored)


def test_transfer_is_fitted_on_one_cohort_and_scored_on_the_other():
    table = patch_probe_transfer(_sessions(4, informative=True),
                                 _sessions(3, informative=True, seed=9), seed=5, what="t")
    assert list(table.columns) == [5] and len(table) == 6
    assert table[5].min() > 0.95


def test_one_subject_or_one_compartment_is_refused_in_one_line():
    with pytest.raises(InputError, match=r"^t: 1 subject\(s\); cross-validation by subject "
                                         r"needs at least 2"):
        patch_probe_cv(_sessions(1, informative=True), seeds=SEEDS, what="t")
    flat = [PatchSet(s.subject, s.features, np.full(60, 3)) for s in _sessions(3,
                                                                              informative=True)]
    with pytest.raises(InputError, match=r"^t: fewer than two true compartments among the "
                                         r"training patches"):
        patch_probe_cv(flat, seeds=SEEDS, what="t")


def test_the_planted_one_hot_embedding_is_read_perfectly_and_beats_raw(planted):  # noqa: F811
    root, dataset = planted
    ev = rep.Evaluation("planted", SEEDS)
    opts = rep.RepresentationOptions(root, root / "m.ckpt", root / "out", SEEDS, n_boot=200)
    scored = rep.clustering(ev, root, dataset, [0, 1, 2], opts, config=None)
    rep.patch_probe(ev, scored, opts)
    rows = {r["features"]: r for r in ev.rows if r["evaluation"] == "patch_probe"}
    assert list(rows) == ["embedding", "raw"]  # no dynamic PET: no kinetic sets
    assert rows["embedding"]["estimate"] == pytest.approx(1.0)
    assert rows["embedding"]["metric"] == "balanced accuracy" and rows["embedding"]["n"] == 3
    assert rows["raw"]["estimate"] < rows["embedding"]["ci_low"]
