"""`gliopet evaluate-representation` end to end on four sessions of the real learning grid: a
tiny untrained foundation model saved as a gliopet checkpoint, `gliopet embed`, phantom-style
truth (tissue labels on the learning grid with an identity T1w-to-template transform, true
posteriors) and IDH labels, then the command's table, summary, PNG and provenance; refusals
are one line with nothing written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch

from gliopet import DISCLAIMER
from gliopet.foundation.checkpoint import FORMAT
from gliopet.foundation.data import MODALITY_CHANNELS, learning_grid_geometry
from gliopet.io import derivatives as d
from gliopet.io.bids_write import write_image
from support.bids_factory import make_bids_dataset
from support.cli import run_cli
from support.foundation_samples import (
    _anatomy,
    one_torch_thread,  # noqa: F401  (fixture)
    small_config,
    write_learning_session,
)

# slow: about 25 s (four sessions on the 77 x 94 x 80 grid, whole-grid embeddings, each
# modality removed once)
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

SES = "diagnosis"
IDH = {"01": "mutant", "02": "wildtype", "03": "mutant", "04": "wildtype"}


def _write_truth(root, subject, index, shape, affine):
    brain, field, tumour = _anatomy(index, tuple(shape))
    labels = np.where(field > 0.5, 3, 4).astype(np.int16)
    labels[tumour > 0] = 11
    labels[~brain.astype(bool)] = 1
    ids = (subject, SES)
    write_image(d.TRUTH_TISSUE_T1W.path(root, ids), labels, affine, np.int16, None)
    xfm = d.XFM.path(root, ids, from_=d.REFERENCE_SPACE, to=d.TEMPLATE_SPACE)
    xfm.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteTransform(sitk.Euler3DTransform(), str(xfm))
    latent = d.TRUTH_LATENT.path(root, ids)
    latent.parent.mkdir(parents=True, exist_ok=True)
    posterior = 0.9 if IDH[subject] == "mutant" else 0.2
    latent.write_text(json.dumps({"session": {"posteriors": {"IDH_mutant": posterior}}}))


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    from gliopet.foundation.embed import run_embed
    from gliopet.foundation.module import PretrainModule

    base = tmp_path_factory.mktemp("representation")
    root = base / "bids"
    make_bids_dataset(root, n_subjects=4)
    participants = pd.read_csv(root / "participants.tsv", sep="\t")
    participants["IDH"] = participants["participant_id"].str.removeprefix("sub-").map(IDH)
    participants.to_csv(root / "participants.tsv", sep="\t", index=False)
    shape, affine = learning_grid_geometry()
    for i, subject in enumerate(IDH):
        write_learning_session(root, subject, SES, tuple(MODALITY_CHANNELS), i)
        _write_truth(root, subject, i, shape, affine)
    torch.manual_seed(0)
    config = small_config(model={"patch_size": 8})
    module = PretrainModule(config.as_dict(), MODALITY_CHANNELS, shape, affine.tolist(), seed=1)
    torch.save({"gliopet_format": FORMAT, "hyper_parameters": dict(module.hparams),
                "state_dict": module.state_dict(),
                "gliopet_modalities_seen": list(MODALITY_CHANNELS)}, base / "tiny.ckpt")
    run_embed(root, base / "tiny.ckpt")
    return root, base


def test_every_evaluation_is_written_with_its_ci(embedded):
    root, base = embedded
    code, out, err = run_cli("evaluate-representation", root, "--model", base / "tiny.ckpt",
                             "--out", base / "eval", "--seeds", "1,2,3")
    assert code == 0, err
    table = pd.read_csv(base / "eval" / "representation.tsv", sep="\t", keep_default_na=False)
    assert f"evaluated {len(table)} row(s)" in out
    clustering = table[table.evaluation == "patch_clustering"].set_index("features")
    assert list(clustering.index) == ["embedding", "raw", "kinetic"]
    assert (clustering.n == 4).all() and (clustering.seeds == "1,2,3").all()
    assert ((clustering.ci_low <= clustering.estimate)
            & (clustering.estimate <= clustering.ci_high)).all()
    patch_probe = table[table.evaluation == "patch_probe"].set_index("features")
    assert list(patch_probe.index) == ["embedding", "raw", "kinetic", "raw + kinetic"]
    assert (patch_probe.metric == "balanced accuracy").all() and (patch_probe.n == 4).all()
    assert patch_probe.estimate.between(0, 1).all()
    probes = table[table.evaluation == "probe"]
    assert sorted(zip(probes.features, probes.probe, strict=True)) == [
        ("embedding", "knn"), ("embedding", "linear"), ("raw intensities", "knn"),
        ("raw intensities", "linear"), ("true posterior", "Bayes ceiling")]
    assert (probes.target == "IDH").all() and (probes.n == 4).all()
    assert probes[probes.probe == "Bayes ceiling"].estimate.item() == pytest.approx(1.0)
    tumour = table[table.evaluation == "tumour_probe"]
    assert sorted(zip(tumour.features, tumour.probe, strict=True)) == [
        ("embedding", "knn"), ("embedding", "linear"), ("raw intensities", "knn"),
        ("raw intensities", "linear")]
    assert (tumour.n == 4).all() and tumour.note.str.startswith("tumour region: ").all()
    missing = table[table.evaluation == "missing_modality"]
    assert sorted(missing.removed) == sorted(MODALITY_CHANNELS)
    summary = (base / "eval" / "representation.md").read_text()
    assert summary.startswith("# Representation evaluation: tiny.ckpt") and DISCLAIMER in summary
    assert (base / "eval" / "representation-projection.png").read_bytes()[:4] == b"\x89PNG"
    provenance = json.loads((base / "eval" / "provenance.json").read_text())
    assert provenance["seeds"] == [1, 2, 3] and provenance["command"].endswith("representation")


def test_refusals_are_one_line_and_write_nothing(embedded, tmp_path):
    root, base = embedded
    code, _, err = run_cli("evaluate-representation", root, "--model", base / "tiny.ckpt",
                           "--out", tmp_path / "a", "--labels", "outcome")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "no session carries label(s) outcome (outcome at recurrence)" in err
    code, _, err = run_cli("evaluate-representation", root, "--model", tmp_path / "none.ckpt",
                           "--out", tmp_path / "b")
    assert code == 2 and "model checkpoint not found" in err
    other = tmp_path / "other.ckpt"
    torch.save({"weight": torch.zeros(2)}, other)  # a bare state dict of another model
    code, _, err = run_cli("evaluate-representation", root, "--model", other,
                           "--out", tmp_path / "c")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "not a gliopet foundation checkpoint" in err
    code, _, err = run_cli("evaluate-representation", root, "--model", base / "tiny.ckpt",
                           "--out", tmp_path / "d", "--site", "siteZ")
    assert code == 2 and "no session of the dataset at site(s) siteZ has an embedding" in err
    assert not any((tmp_path / n).exists() for n in "abcd")


def test_probes_trained_on_one_dataset_are_scored_on_another(embedded, tmp_path):
    """--test-dataset: a copy of the dataset with every IDH label flipped. The probes fitted on
    the original reproduce its labels (4 sessions, many features: separable), so on the copy
    their AUC is exactly 0, and so is the Bayes ceiling (posteriors unchanged)."""
    import shutil

    root, base = embedded
    other = tmp_path / "other"
    shutil.copytree(root, other)
    participants = pd.read_csv(other / "participants.tsv", sep="\t")
    participants["IDH"] = participants["IDH"].map({"mutant": "wildtype", "wildtype": "mutant"})
    participants.to_csv(other / "participants.tsv", sep="\t", index=False)
    code, out, err = run_cli("evaluate-representation", root, "--model", base / "tiny.ckpt",
                             "--out", tmp_path / "eval", "--seeds", "1", "--test-dataset", other)
    assert code == 0, err
    table = pd.read_csv(tmp_path / "eval" / "representation.tsv", sep="\t",
                        keep_default_na=False)
    assert (table[table.evaluation == "patch_clustering"].n == 4).all()
    patch_probe = table[table.evaluation == "patch_probe"]
    assert len(patch_probe) == 4 and (patch_probe.n == 4).all()
    assert (patch_probe.note == "trained on the patches of 4 session(s) of bids").all()
    probes = table[table.evaluation == "probe"].set_index(["features", "probe"])
    for key in [("embedding", "linear"), ("embedding", "knn"), ("raw intensities", "linear"),
                ("true posterior", "Bayes ceiling")]:
        assert probes.loc[key, "estimate"] == pytest.approx(0.0), key
        assert probes.loc[key, "n"] == 4
    assert probes.loc[("embedding", "linear"), "note"] == "trained on 4 session(s) of bids"
    tumour = table[table.evaluation == "tumour_probe"].set_index(["features", "probe"])
    assert len(tumour) == 4 and (tumour.n == 4).all()
    # the same sessions, labels flipped: the region probes are exactly wrong too
    assert tumour.loc[("embedding", "linear"), "estimate"] == pytest.approx(0.0)
    assert tumour.loc[("raw intensities", "linear"), "note"].startswith(
        "trained on 4 session(s) of bids; tumour region: ")
    assert sorted(table[table.evaluation == "missing_modality"].removed) == sorted(
        MODALITY_CHANNELS)
    provenance = json.loads((tmp_path / "eval" / "provenance.json").read_text())
    assert provenance["test_dataset"] == str(other)
    code, _, err = run_cli("evaluate-representation", root, "--model", base / "tiny.ckpt",
                           "--out", tmp_path / "e", "--test-dataset", tmp_path / "none")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "no session embeddings (the embeddings table is missing)" in err
    assert not (tmp_path / "e").exists()
