"""`gliopet classify cohort` and `gliopet predict` on a small synthetic derivatives tree.

The tree holds what `gliopet quantify`, `gliopet radiomics` and `gliopet simulate` would write
(cohort.tsv, radiomics.tsv, the phantom's ``*_latent.json``), built directly: 30 subjects at two
sites, a recurrence session each (plus diagnosis sessions that must be left out). The true
posterior of progression given the latent value z is known in closed form, so the Bayes
ceiling the command reports is checked against scikit-learn's AUC of those posteriors.
"""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from gliopet import DISCLAIMER
from gliopet.classify.cohort_report import leakage_lines
from gliopet.io import derivatives as d

N = 30
ARGS = ["--target", "outcome", "--session", "recurrence", "--models", "logistic",
        "--repeats", "1", "--folds", "3", "--n-boot", "200", "--seed", "3"]


def _write_tree(root, *, radiomics=True, truth=True):
    rng = np.random.default_rng(11)
    y = np.tile([1, 0], N // 2)
    z = y + rng.normal(0, 0.8, N)
    posterior = 1 / (1 + np.exp(-(z - 0.5) / 0.64))  # P(y=1 | z), equal priors, sd 0.8
    subjects = [f"sub-{i:03d}" for i in range(N)]
    rec = pd.DataFrame({"participant_id": subjects, "session_id": "ses-recurrence",
                        "tracer": "FDOPA", "TBRmax": 1.6 + 0.5 * z + rng.normal(0, 0.2, N),
                        "TBRmean": 1.3 + 0.3 * z + rng.normal(0, 0.2, N),
                        "site": np.where(np.arange(N) < 18, "siteA", "siteB"),
                        "outcome": np.where(y == 1, "progression", "treatment_change"),
                        "IDH": "wildtype"})
    dx = rec.iloc[:6].assign(session_id="ses-diagnosis", outcome="n/a")
    extra = rec.iloc[:1].assign(participant_id="sub-900", outcome="n/a")
    d.COHORT_TABLE.path(root).parent.mkdir(parents=True)
    pd.concat([rec, dx, extra]).to_csv(d.COHORT_TABLE.path(root), sep="\t", index=False)
    if radiomics:
        feats = pd.DataFrame({"participant_id": subjects, "session_id": "ses-recurrence",
                              "tumour_status": "ok", "tumour_SUV_stat_mean": z + rng.normal(
                                  0, 0.3, N),
                              **{f"tumour_SUV_f{i}": rng.normal(size=N) for i in range(5)}})
        feats = pd.concat([feats, feats.iloc[:1].assign(participant_id="sub-900")])
        d.RADIOMICS_TABLE.path(root).parent.mkdir(parents=True)
        feats.to_csv(d.RADIOMICS_TABLE.path(root), sep="\t", index=False)
    if truth:
        for sub, p in zip(subjects, posterior, strict=True):
            path = d.TRUTH_LATENT.path(root, (sub, "ses-recurrence"))
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps({"session": {"kind": "recurrence",
                                                    "posteriors": {"progression": p}}}))
    return dict(zip([f"{s}_ses-recurrence" for s in subjects], posterior, strict=True)), y


@pytest.mark.slow
def test_cohort_end_to_end_then_predict(run_cli, tmp_path):
    bids = tmp_path / "bids"
    posteriors, y = _write_tree(bids)
    out = tmp_path / "model"
    code, stdout, stderr = run_cli("classify", "cohort", str(bids), "--out", str(out),
                                   "--families", "rules,radiomics,cnn",
                                   "--external-site", "siteB", *ARGS)
    assert code == 0, stderr
    assert "cnn: no session has learning-grid images (run `gliopet preprocess`" in stderr
    assert ("dropped session sub-900_ses-recurrence: outcome is missing (positive: progression"
            in stderr)
    results = pd.read_csv(out / "results.tsv", sep="\t")
    assert set(results["evaluation"]) == {"nested_cv", "external:siteB"}
    assert {"radiomics-logistic", "TBRmax (Youden, training folds)"} <= set(results["model"])
    assert set(results["family"]) == {"rules", "radiomics"}
    assert (results["n"] == np.where(results["evaluation"] == "nested_cv", N, 12)).all()
    ids = sorted(posteriors)
    site_b = [i for i in ids if int(i[4:7]) >= 18]
    labels = dict(zip([f"sub-{i:03d}_ses-recurrence" for i in range(N)], y, strict=True))
    for evaluation, sessions in (("nested_cv", ids), ("external:siteB", site_b)):
        direct = roc_auc_score([labels[i] for i in sessions], [posteriors[i] for i in sessions])
        rows = results[results["evaluation"] == evaluation]
        assert np.allclose(rows["bayes_auc"], direct, atol=1e-12)
        assert (rows["bayes_auc_ci_low"] < direct).all() and (rows["bayes_auc_ci_high"] > direct
                                                              ).all()
    assert "Bayes ceiling AUC" in (out / "summary.md").read_text()
    assert DISCLAIMER in (out / "summary.md").read_text()
    assert "Bayes ceiling" in stdout
    for name in ("delong.tsv", "predictions.tsv", "shap_global.tsv", "sessions.tsv",
                 "roc_external-siteB.png", "models.joblib", "provenance.json"):
        assert (out / name).is_file(), name

    code, stdout, stderr = run_cli("predict", str(bids), "--model", str(out), "--out",
                                   str(tmp_path / "pred"))
    assert code == 0, stderr
    pred = pd.read_csv(tmp_path / "pred" / "predictions.tsv", sep="\t")
    assert (tmp_path / "pred" / "predictions.json").is_file()
    bundle = joblib.load(out / "models.joblib")
    assert set(pred["model"]) == set(bundle["models"])
    assert len(pred) == (N + 1) * len(bundle["models"])  # sub-900 has no label: predicted too
    cohort = pd.read_csv(d.COHORT_TABLE.path(bids), sep="\t").query(
        "session_id == 'ses-recurrence'")
    radiomics = pd.read_csv(d.RADIOMICS_TABLE.path(bids), sep="\t").set_index("participant_id")
    for name, model in bundle["models"].items():
        rows = pred[pred["model"] == name].set_index("participant_id")
        if bundle["family"][name] == "rules":
            X = cohort.set_index("participant_id")[bundle["features"][name]]
            assert rows["explanation"].str.contains(f"positive when {model.column} >=").all()
        else:
            X = radiomics[bundle["features"][name]]
            assert rows["explanation"].str.endswith("[SHAP, log-odds]").all()
        expected = model.predict_proba(X.loc[X.index.isin(rows.index)])[:, 1]
        got = rows.loc[X.index[X.index.isin(rows.index)], "probability"].to_numpy()
        assert np.allclose(got, expected, rtol=1e-9)
        assert np.allclose(rows["threshold"], model.threshold_)
        assert ((rows["probability"] >= rows["threshold"]).astype(int) == rows["predicted"]).all()


@pytest.mark.parametrize("change, tree, message", [
    (["--target", "grade"], {}, "the '--target' parameter must be one of outcome, IDH, "
                                "codeletion_1p19q"),
    (["--session", "diagnosis", "--families", "rules"], {"dx": False},
     "no diagnosis session in cohort.tsv (session kinds: recurrence)"),
    ([], {"radiomics": False}, "run `gliopet radiomics` on the dataset first"),
    (["--families", "cnn,foundation"], {}, "cnn: no session has learning-grid images"),
])
def test_bad_input_one_line(run_cli, tmp_path, change, tree, message):
    bids = tmp_path / "bids"
    _write_tree(bids, radiomics=tree.get("radiomics", True), truth=False)
    if tree.get("dx") is False:
        cohort = pd.read_csv(d.COHORT_TABLE.path(bids), sep="\t")
        cohort[cohort.session_id != "ses-diagnosis"].to_csv(d.COHORT_TABLE.path(bids), sep="\t",
                                                            index=False)
    args = [*ARGS, *change]
    code, _, stderr = run_cli("classify", "cohort", str(bids), "--out", str(tmp_path / "out"),
                              *args)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert not (tmp_path / "out").exists()


def test_predict_names_the_missing_step(run_cli, tmp_path):
    """A model trained with radiomics, applied to a dataset without radiomics.tsv."""
    bids, other = tmp_path / "bids", tmp_path / "other"
    _write_tree(bids, truth=False)
    _write_tree(other, radiomics=False, truth=False)
    out = tmp_path / "model"
    code, _, stderr = run_cli("classify", "cohort", str(bids), "--out", str(out),
                              "--families", "radiomics", *ARGS)
    assert code == 0, stderr
    code, _, stderr = run_cli("predict", str(other), "--model", str(out))
    assert code == 2 and "run `gliopet radiomics` on the dataset first" in stderr
    code, _, stderr = run_cli("predict", str(bids), "--model", str(tmp_path))
    assert code == 2 and "no models.joblib in the model folder" in stderr


def test_a_model_above_the_ceiling_is_flagged():
    results = pd.DataFrame({"model": ["a", "b", "c"], "evaluation": "nested_cv",
                            "auc": [0.95, 0.80, 0.86], "auc_ci_low": [0.91, 0.70, 0.78],
                            "bayes_auc": 0.85})
    results["above_bayes_ceiling"] = results["auc"] > results["bayes_auc"]
    results["beyond_bayes_ceiling"] = results["auc_ci_low"] > results["bayes_auc"]
    lines = leakage_lines(results)
    assert lines == [
        "- **LEAKAGE?** a (nested_cv): AUC 0.950 above the Bayes ceiling 0.850 (its whole 95 % "
        "CI is above it).",
        "- **LEAKAGE?** c (nested_cv): AUC 0.860 above the Bayes ceiling 0.850 (inside the "
        "model's CI: chance on this sample, or leakage)."]
    assert leakage_lines(results.drop(columns="bayes_auc")) == []


@pytest.mark.slow
def test_cohort_with_the_cnn_family_shares_folds_and_writes_saliency(run_cli, tmp_path):
    """The CNN on learning-grid PET crops (a ball whose height follows the latent z), beside
    the rules on the same sessions; out-of-fold saliency per session; predict's saliency."""
    import nibabel as nib

    from gliopet.foundation.data import learning_grid_geometry
    from support.image_cohort import write_pet_sessions

    bids = tmp_path / "bids"
    _write_tree(bids)
    cohort = pd.read_csv(d.COHORT_TABLE.path(bids), sep="\t").query(
        "session_id == 'ses-recurrence'")
    z = (cohort["TBRmax"].to_numpy() - 1.6) / 0.5  # the latent, up to the table's noise
    write_pet_sessions(bids, list(zip(cohort.participant_id, cohort.session_id, strict=True)),
                       np.clip(1.2 + 0.8 * z, 0.2, None))
    out = tmp_path / "model"
    code, stdout, stderr = run_cli("classify", "cohort", str(bids), "--out", str(out),
                                   "--families", "rules,cnn", "--external-site", "siteB",
                                   "--cnn-epochs", "3", "--crop-voxels", "16", *ARGS)
    assert code == 0, stderr
    assert "foundation" not in stderr  # not asked for: no note
    assert "image crops centred on: pet-avid (30 sessions)" in stderr
    results = pd.read_csv(out / "results.tsv", sep="\t").set_index(["model", "evaluation"])
    assert results.loc[("cnn", "nested_cv"), "n"] == N
    assert results.loc[("cnn", "external:siteB"), "n"] == 12
    assert results.loc[("cnn", "nested_cv"), "family"] == "cnn"
    assert 0.0 <= results.loc[("cnn", "nested_cv"), "auc"] <= 1.0
    predictions = pd.read_csv(out / "predictions.tsv", sep="\t")
    nested = predictions[predictions["evaluation"] == "nested_cv"]
    folds = {m: g.set_index("id")["fold"].sort_index() for m, g in nested.groupby("model")}
    assert all(f.equals(folds["cnn"]) for f in folds.values())  # the same outer folds
    delong = pd.read_csv(out / "delong.tsv", sep="\t")
    assert ((delong["model_a"] == "cnn") | (delong["model_b"] == "cnn")).sum() == 2 * 3
    saliency = pd.read_csv(out / "saliency.tsv", sep="\t")
    assert len(saliency) == N + 12 and set(saliency["method"]) == {"gradcam"}
    shape, affine = learning_grid_geometry()
    first = nib.load(out / saliency["nifti"].iloc[0])
    assert first.shape == shape and np.allclose(first.affine, affine)
    data = np.asarray(first.dataobj)
    assert 0 < np.count_nonzero(data) <= 16**3 and data.max() <= 1.0 + 1e-6
    assert all((out / p).is_file() for p in saliency["png"])

    code, _, stderr = run_cli("predict", str(bids), "--model", str(out), "--out",
                              str(tmp_path / "pred"))
    assert code == 0, stderr
    pred = pd.read_csv(tmp_path / "pred" / "predictions.tsv", sep="\t", keep_default_na=False)
    cnn = pred[pred["family"] == "cnn"]
    assert len(cnn) == N + 1 and (pred.loc[pred["family"] == "rules", "saliency"] == "n/a").all()
    assert cnn["saliency"].str.endswith("_desc-cnnGradcam_saliency.nii.gz").all()
    assert all((tmp_path / "pred" / p).is_file() for p in cnn["saliency"])
    assert (tmp_path / "pred" / "provenance.json").is_file()
    bundle = joblib.load(out / "models.joblib")
    assert bundle["channels"] == {"cnn": ["pet"]} and bundle["crop_voxels"] == 16
    sanity = pd.read_csv(out / "saliency_sanity.tsv", sep="\t")
    assert set(sanity["model"]) == {"cnn"} and 0 < len(sanity) <= 8
    assert "## Saliency sanity check" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_cohort_with_the_foundation_family_from_a_checkpoint(run_cli, tmp_path):
    """A tiny random checkpoint on the learning grid: the linear probe runs on the shared folds,
    and predict writes its token Grad-CAM maps."""
    from gliopet.foundation.data import learning_grid_geometry
    from support.image_cohort import write_pet_sessions
    from support.image_crops import tiny_checkpoint

    bids = tmp_path / "bids"
    _write_tree(bids, truth=False)
    cohort = pd.read_csv(d.COHORT_TABLE.path(bids), sep="\t").query(
        "session_id == 'ses-recurrence'")
    write_pet_sessions(bids, list(zip(cohort.participant_id, cohort.session_id, strict=True)),
                       np.where(cohort["outcome"] == "progression", 2.0, 0.5))
    shape, affine = learning_grid_geometry()
    ckpt = tiny_checkpoint(tmp_path / "tiny.ckpt", grid=shape, affine=affine)
    out = tmp_path / "model"
    code, _, stderr = run_cli("classify", "cohort", str(bids), "--out", str(out),
                              "--families", "rules,foundation", "--foundation-model", str(ckpt),
                              "--crop-voxels", "16", *ARGS)
    assert code == 0, stderr
    results = pd.read_csv(out / "results.tsv", sep="\t").set_index(["model", "evaluation"])
    assert results.loc[("foundation-probe", "nested_cv"), "n"] == N
    assert results.loc[("foundation-probe", "nested_cv"), "family"] == "foundation"
    saliency = pd.read_csv(out / "saliency.tsv", sep="\t")
    assert len(saliency) == N and (saliency["model"] == "foundation-probe").all()
    code, _, stderr = run_cli("predict", str(bids), "--model", str(out), "--out",
                              str(tmp_path / "pred"))
    assert code == 0, stderr
    pred = pd.read_csv(tmp_path / "pred" / "predictions.tsv", sep="\t", keep_default_na=False)
    rows = pred[pred["family"] == "foundation"]
    assert rows["saliency"].str.endswith("_desc-foundationprobeGradcam_saliency.nii.gz").all()
    assert all((tmp_path / "pred" / p).is_file() for p in rows["saliency"])

    code, _, stderr = run_cli("classify", "cohort", str(bids), "--out", str(tmp_path / "x"),
                              "--families", "foundation", "--foundation-model",
                              str(tmp_path / "none.ckpt"), *ARGS)
    assert code == 2 and "model checkpoint not found" in stderr


def test_cohort_label_efficiency_curves(run_cli, tmp_path):
    bids = tmp_path / "bids"
    _write_tree(bids, truth=False)
    out = tmp_path / "model"
    code, _, stderr = run_cli("classify", "cohort", str(bids), "--out", str(out), "--families",
                              "rules", "--label-fractions", "0.25,1", *ARGS)
    assert code == 0, stderr
    table = pd.read_csv(out / "label_efficiency.tsv", sep="\t")
    assert set(table["fraction"]) == {0.25, 1.0} and set(table["family"]) == {"rules"}
    assert (table["n"] == N).all()
    assert (out / "label_efficiency.png").is_file()
    assert "## Label efficiency" in (out / "summary.md").read_text()
    code, _, stderr = run_cli("classify", "cohort", str(bids), "--out", str(tmp_path / "bad"),
                              "--families", "rules", "--label-fractions", "0,1", *ARGS)
    assert code == 2 and "fractions in (0, 1]" in stderr and len(stderr.strip().splitlines()) == 1
