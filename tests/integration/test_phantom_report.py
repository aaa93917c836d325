"""Phantom realism report (`gliopet phantom-report`, gliopet.simulate.realism)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gliopet.simulate import realism as pr

pytestmark = [pytest.mark.xdist_group("phantom_report"), pytest.mark.slow]

#: Seed 8 with 4 subjects gives both IDH classes, both outcomes, both null-marker levels and
#: grades 2-4 (checked in `test_fixture_has_every_group`).
SEED = 8


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    from gliopet.simulate.cohort import simulate_cohort

    root = tmp_path_factory.mktemp("report") / "bids"
    simulate_cohort(
        root, 4, SEED, profile="tiny", sites=("siteA", "siteB"), scenario="both", jobs=2
    )
    return root


@pytest.fixture
def cohort_copy(cohort, tmp_path) -> Path:
    target = tmp_path / "bids"
    shutil.copytree(cohort, target)
    return target


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}


def test_fixture_has_every_group(cohort):
    truth = pd.read_csv(cohort / pr.TRUTH_REL / "truth.tsv", sep="\t", dtype={"grade": str})
    assert set(truth["IDH"]) == {"mutant", "wildtype"}
    assert set(truth.loc[truth["kind"] == "recurrence", "outcome"]) == {
        "progression",
        "treatment_change",
    }
    assert set(truth["null_marker"]) == {"positive", "negative"}
    assert {"2", "4"} <= set(truth["grade"])


def test_auc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    for n in (7, 40, 301):
        labels = rng.random(n) < 0.4
        labels[:2] = [True, False]
        scores = np.round(rng.normal(size=n) + labels, 1)  # rounding makes ties
        assert pr.auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert np.isnan(pr.auc([1.0, 2.0], [True, True]))


def test_bootstrap_ci_brackets_the_auc_and_is_deterministic():
    rng = np.random.default_rng(1)
    labels = rng.random(60) < 0.5
    scores = rng.normal(size=60) + 1.5 * labels
    value = pr.auc(scores, labels)
    lo, hi = pr.bootstrap_auc_ci(scores, labels)
    assert lo < value < hi
    assert 0.0 <= lo and hi <= 1.0
    assert pr.bootstrap_auc_ci(scores, labels) == (lo, hi)
    # a perfect separation has a degenerate CI at 1
    assert pr.bootstrap_auc_ci(np.arange(10.0), np.arange(10) >= 5) == (1.0, 1.0)


def test_bayes_ceiling_exceeds_single_latent_feature():
    """The true posterior ranks better than the single latent image parameter that drives TTP (k2),
    on a large sample of the label model (no images: the model's own sampling functions)."""
    from gliopet.simulate.biology import sample_subjects, session_biology
    from gliopet.simulate.cohort import _rng
    from gliopet.simulate.sites import get_site

    site = get_site("siteA")
    subjects = sample_subjects(600, np.random.default_rng(3), scenario="diagnosis")
    bios = [session_biology(s, "diagnosis", _rng(3, i, 1, 2), site) for i, s in enumerate(subjects)]
    is_mutant = np.array([s.idh == "mutant" for s in subjects])
    posterior = np.array([b.posteriors["IDH_mutant"] for b in bios])
    slow_washout = -np.array(
        [b.latent_image["log_k2"] for b in bios]
    )  # IDH-mutant: low k2, late peak
    ceiling, single = pr.auc(posterior, is_mutant), pr.auc(slow_washout, is_mutant)
    assert 0.5 < single < ceiling < 1.0


def test_report_truth_path_has_every_row(cohort_copy):
    md, tsv = pr.write_report(cohort_copy)
    assert md == cohort_copy / "derivatives" / "gliopet" / "reports" / "phantom-realism.md"
    assert tsv == md.with_suffix(".tsv")
    assert md.with_name("phantom-realism.provenance.json").is_file()
    text = md.read_text()
    from gliopet import DISCLAIMER

    assert DISCLAIMER in text
    assert "Generator only, not the analysis" in text
    assert "Fueger 2010" in text and "Verger 2017" in text and "cannot both hold" in text
    table = pd.read_csv(tsv, sep="\t", na_values=["n/a"])
    keys = set(zip(table["quantity"], table["group"], strict=True))
    for quantity, group in [
        ("SUVmax", "diagnosis, high grade (3-4)"), ("SUVmax", "diagnosis, low grade (2)"),
        ("SUVmax", "diagnosis, IDH-mutant"), ("SUVmax", "diagnosis, IDH-wildtype"),
        ("SUVmax", "recurrence, progression"), ("SUVmax", "recurrence, treatment change"),
        ("TBRmax", "diagnosis, IDH-mutant"), ("TBRmax", "diagnosis, IDH-wildtype"),
        ("TBRmax", "diagnosis, high grade (3-4)"), ("TBRmax", "diagnosis, low grade (2)"),
        ("TBRmax", "recurrence, progression"), ("TBRmax", "recurrence, treatment change"),
        ("TSRmax", "diagnosis, IDH-mutant"), ("TSRmax", "diagnosis, IDH-wildtype"),
        ("TTP_min", "diagnosis, IDH-mutant"), ("TTP_min", "diagnosis, IDH-wildtype"),
        ("striatum / healthy brain", "all sessions"), ("PET-avid fraction", "diagnosis"),
        ("BTV_mL", "diagnosis, IDH-mutant, PET-avid"),
        ("BTV_mL", "diagnosis, IDH-wildtype, PET-avid"),
        ("AUC TTP -> IDH-mutant", "diagnosis"), ("Bayes ceiling IDH (true posterior)", "diagnosis"),
        ("AUC TBRmax -> progression", "recurrence"),
        ("Bayes ceiling progression (true posterior)", "recurrence"),
        ("AUC TBRmax -> null marker", "tumour sessions"),
    ]:
        assert (quantity, group) in keys, (quantity, group)
    assert set(table["verdict"]) <= {"inside", "outside", "reference (FET)", "contradicted", "-",
                                     "no data"}
    # Verger 2017's reversed T/N and T/S are shown as contradicted, the real cohort's medians judged
    verger = table[table["source"] == "Verger 2017"]
    assert set(verger.loc[verger["quantity"] != "striatum / healthy brain", "verdict"]) == {
        "contradicted"}
    medians = table[table["tolerance"].str.startswith("simulated median within the target")]
    assert len(medians) == 6 and medians["verdict"].isin(["inside", "outside"]).all()
    # every judged row states its tolerance
    assert table.loc[table["verdict"].isin(["inside", "outside"]), "tolerance"].str.len().min() > 5
    # the figures are those of the truth table (noise-free, after PSF)
    truth = pd.read_csv(cohort_copy / pr.TRUTH_REL / "truth.tsv", sep="\t", na_values=["n/a"])
    mutant = truth[(truth["kind"] == "diagnosis") & (truth["IDH"] == "mutant")]
    row = table[(table["quantity"] == "SUVmax") & (table["group"] == "diagnosis, IDH-mutant")].iloc[
        0
    ]
    assert row["mean"] == pytest.approx(mutant["SUVmax_psf"].mean(), rel=1e-9)
    assert row["n"] == len(mutant)
    # AUC rows: values in [0, 1] with CIs around them
    aucs = table[table["section"] == "auc"]
    assert ((aucs["ci_low"] <= aucs["mean"]) & (aucs["mean"] <= aucs["ci_high"])).all()
    # noise per frame for every site, consistent with the generator's formula
    frames = table[table["section"] == "noise_frame"]
    assert len(frames) == 27 + 34  # siteA and siteB frame schedules
    judged = table[table["section"] == "noise"]
    assert len(judged) == 6 and (judged["verdict"] == "inside").all()


def test_noise_matches_the_generator_formula(cohort):
    noise = pr.noise_by_frame(cohort)
    assert set(noise["site"]) == {"siteA", "siteB"}
    ratio = noise["cov_measured"] / noise["cov_expected"]
    assert ratio.between(0.8, 1.2).all(), ratio.describe()
    # short early frames are noisier than the late ones
    for _, group in noise.groupby("site"):
        assert group["cov_measured"].iloc[0] > 3 * group["cov_measured"].iloc[-1]


def test_cohort_tsv_is_used_when_present(cohort_copy):
    truth = pd.read_csv(cohort_copy / pr.TRUTH_REL / "truth.tsv", sep="\t", na_values=["n/a"])
    cohort_tsv = cohort_copy / pr.COHORT_REL
    cohort_tsv.parent.mkdir(parents=True)
    synthetic = pd.DataFrame(
        {
            "participant_id": truth["participant_id"],
            "session_id": truth["session_id"],
            "SUVmax": np.arange(len(truth)) + 10.0,
            "TBRmax": 2.0,
            "TSRmax": 1.0,
            "TTP_min": np.where(truth["IDH"] == "mutant", 20.0, 2.0),
            "BTV_mL": np.where(np.arange(len(truth)) % 4 == 0, np.nan, 12.0),
            "background_SUVmean": 1.0,
            "striatum_SUVmean": 1.9,
            "IDH": truth["IDH"],
            "grade": truth["grade"],
            "outcome": truth["outcome"],
            "site": truth["site"],
            "null_marker": truth["null_marker"],
        }
    )
    synthetic.to_csv(cohort_tsv, sep="\t", index=False, na_rep="n/a")
    md, tsv = pr.write_report(cohort_copy)
    text = md.read_text()
    assert "through the pipeline" in text and "Generator only" not in text
    table = pd.read_csv(tsv, sep="\t", na_values=["n/a"])
    dx = synthetic[truth["kind"] == "diagnosis"]
    row = table[
        (table["quantity"] == "SUVmax") & (table["group"] == "diagnosis, IDH-wildtype")
    ].iloc[0]
    assert row["mean"] == pytest.approx(dx.loc[dx["IDH"] == "wildtype", "SUVmax"].mean())
    assert row["basis"] == "pipeline (cohort.tsv)"
    ratio = table[
        (table["quantity"] == "striatum / healthy brain") & (table["group"] == "all sessions")
    ].iloc[0]
    assert ratio["mean"] == pytest.approx(1.9) and ratio["verdict"] == "inside"
    # PET-avid = a BTV above 0 mL; the synthetic table has none in every fourth session
    avid = table[table["quantity"] == "PET-avid fraction"].iloc[0]
    dx_btv = synthetic.loc[truth["kind"] == "diagnosis", "BTV_mL"]
    assert avid["mean"] == pytest.approx(dx_btv.notna().mean()) and avid["n"] == len(dx_btv)
    assert avid["verdict"] == ("inside" if avid["mean"] >= 0.9 else "outside")
    ttp = table[table["quantity"] == "AUC TTP -> IDH-mutant"].iloc[0]
    assert ttp["mean"] == pytest.approx(1.0)  # the synthetic TTP separates IDH perfectly
    # the Bayes ceiling still comes from the truth posteriors
    ceiling = table[table["quantity"] == "Bayes ceiling IDH (true posterior)"].iloc[0]
    assert ceiling["basis"] == "truth posteriors"


def test_bad_cohort_tsv_is_refused_and_nothing_written(run_cli, cohort_copy):
    cohort_tsv = cohort_copy / pr.COHORT_REL
    cohort_tsv.parent.mkdir(parents=True)
    pd.DataFrame(
        {"participant_id": ["sub-001"], "session_id": ["ses-diagnosis"], "SUVmax": [2.0]}
    ).to_csv(cohort_tsv, sep="\t", index=False)
    before = _files(cohort_copy)
    code, out, err = run_cli("phantom-report", cohort_copy)
    assert code == 2
    assert err.strip() == (
        f"error: {cohort_tsv}: cohort table lacks the columns TBRmax, TSRmax, TTP_min, "
        "BTV_mL, background_SUVmean, striatum_SUVmean (fix: rerun gliopet quantify, or delete the "
        "file to report the generator only)"
    )
    assert _files(cohort_copy) == before


def test_cli_refuses_a_folder_without_truth(run_cli, tmp_path):
    (tmp_path / "raw").mkdir()
    code, out, err = run_cli("phantom-report", tmp_path / "raw")
    assert code == 2
    assert err.strip() == (
        f"error: {tmp_path / 'raw'}: not a simulated cohort: derivatives/phantom-truth/truth.tsv "
        "is missing (fix: give a folder written by gliopet simulate (the realism report needs "
        "its truth))"
    )
    assert list((tmp_path / "raw").iterdir()) == []


def test_cli_writes_the_report(run_cli, cohort_copy, tmp_path):
    out = tmp_path / "reports" / "realism.md"
    code, stdout, err = run_cli("phantom-report", cohort_copy, "--out", out)
    assert code == 0, err
    assert out.is_file() and out.with_suffix(".tsv").is_file()
    assert f"wrote {out}" in stdout


def test_healthy_reference_missing_is_refused(run_cli, cohort_copy, tmp_path):
    missing = tmp_path / "nope.nii"
    before = _files(cohort_copy)
    code, out, err = run_cli("phantom-report", cohort_copy, "--healthy-reference", missing)
    assert code == 2
    assert err.strip().startswith(f"error: {missing}: healthy reference image not found")
    assert _files(cohort_copy) == before


def test_healthy_comparison_with_the_real_group_mean(real_data, tmp_path):
    """Simulated healthy FDOPA vs the real 12-control group mean (MNI 3 mm, CC BY-NC-SA).

    The real image is read in place.
    """
    from gliopet.simulate.cohort import simulate_cohort

    reference = real_data / "fdopa-healthy-group-mean" / "FDOPA_group_mean_MNI_3mm.nii"
    root = tmp_path / "healthy"
    simulate_cohort(
        root, 2, 12, profile="tiny", sites=("siteA", "siteC"), scenario="healthy", jobs=2
    )
    table = pr.healthy_comparison(root, reference)
    real = table.set_index("image").loc["real group mean"]
    baseline = table.set_index("image").loc["baseline: template grey matter"]
    sessions = table[table["image"].str.startswith("sub-")]
    assert len(sessions) == 2
    # the real group mean shows the physiological striatal uptake: about 2 x cortex
    assert 1.6 < real["striatum_cortex_ratio"] < 2.8
    # simulated striatum is brighter than cortex, and the MNI mapping (truth transforms) puts the
    # simulated pattern where the real one is: far better than a brain-shaped map without FDOPA
    # contrast
    assert (sessions["striatum_cortex_ratio"] > 1.15).all()
    assert (sessions["correlation_with_real"] > baseline["correlation_with_real"] + 0.15).all()
    rows = pr.healthy_rows(table)
    assert [r["quantity"] for r in rows] == [
        "striatum / cortex (MNI)", "white matter / cortex (MNI)", "thalamus / cortex (MNI)",
        "brainstem / cortex (MNI)", "cerebellar cortex / cortex (MNI)",
        "spatial correlation with the real mean",
    ]
    assert rows[0]["mean"] == pytest.approx(sessions["striatum_cortex_ratio"].mean())
    # the healthy calibration: every structure's ratio to cortex within 20 % of the real one, and
    # the shape correlates far better than before the calibration (0.46)
    assert all(r["verdict"] == "inside" for r in rows[:-1]), rows
    assert sessions["correlation_with_real"].mean() > 0.5


def test_template_disk_cache_is_bit_identical(tmp_path, monkeypatch):
    """The phantom's template cache gives exactly the freshly built template; 'off' disables it."""
    from gliopet.simulate import anatomy

    monkeypatch.setenv("GLIOPET_CACHE_DIR", str(tmp_path / "cache"))
    built = anatomy.template_labels.__wrapped__(2)          # builds and stores
    stored = list((tmp_path / "cache").glob("phantom-template-2mm-*.npz"))
    assert len(stored) == 1
    loaded = anatomy.template_labels.__wrapped__(2)         # reads the stored copy
    for name in ("labels", "gm", "wm", "csf", "shell_depth"):
        a, b = getattr(built, name), getattr(loaded, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert built.grid.shape == loaded.grid.shape and np.array_equal(
        built.grid.affine, loaded.grid.affine
    )
    monkeypatch.setenv("GLIOPET_CACHE_DIR", "off")
    assert anatomy._template_cache_file(2) is None


def test_a_diagnosis_only_cohort_reports_its_recurrence_rows_as_no_data(cohort_copy):
    """The standard-profile realism cohort has diagnosis sessions only: no recurrence labels or
    posteriors; its report must still build (it crashed on the missing posterior column)."""
    measurements, source = pr.load_measurements(cohort_copy)
    posteriors = pr.load_posteriors(cohort_copy)
    diagnosis = measurements[measurements["kind"] == "diagnosis"]
    table = pr.realism_rows(diagnosis, posteriors.drop(columns=["posterior_progression"]), source)
    ceiling = table[table["quantity"] == "Bayes ceiling progression (true posterior)"].iloc[0]
    assert ceiling["verdict"] == "no data" and ceiling["n"] == 0
    idh = table[table["quantity"] == "Bayes ceiling IDH (true posterior)"].iloc[0]
    assert idh["n"] == len(diagnosis) and 0.0 <= idh["mean"] <= 1.0
