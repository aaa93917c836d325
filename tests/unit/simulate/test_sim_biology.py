"""Phantom labels: WHO 2021 consistency, label coverage, null marker, exact posteriors, AUCs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from gliopet.errors import ParameterError
from gliopet.simulate import biology as B
from gliopet.simulate.kinetics import KineticParams, frame_means, input_function, time_to_peak_min
from gliopet.simulate.sites import SITES

SITE = SITES["siteA"]
N_DRAWS = 2000


@pytest.fixture(scope="module")
def cohort():
    """2000 patients with one diagnosis and one recurrence session each (site A)."""
    rng = np.random.default_rng(2026)
    subjects = B.sample_subjects(N_DRAWS, rng, scenario="both")
    diagnosis = [B.session_biology(s, "diagnosis", rng, SITE) for s in subjects]
    recurrence = [B.session_biology(s, "recurrence", rng, SITE) for s in subjects]
    return subjects, diagnosis, recurrence


def _labels(subjects, name):
    return {
        "IDH_mutant": np.array([s.idh == "mutant" for s in subjects]),
        "codeleted_1p19q": np.array([s.codeletion_1p19q == "codeleted" for s in subjects]),
        "CDKN2AB_deleted": np.array([s.cdkn2ab == "deleted" for s in subjects]),
        "MGMT_methylated": np.array([s.mgmt == "methylated" for s in subjects]),
        "grade_4": np.array([s.grade == 4 for s in subjects]),
        "glioblastoma": np.array([s.who_type == "glioblastoma" for s in subjects]),
        "progression": np.array([s.recurrence_outcome == "progression" for s in subjects]),
    }[name]


def _posterior(sessions, name):
    return np.array([s.posteriors[name] for s in sessions])


# ---------------------------------------------------------------- WHO 2021 and coverage


def test_who_2021_consistency_over_200_subjects():
    subjects = B.sample_subjects(200, np.random.default_rng(7), healthy_fraction=0.1)
    assert sum(s.healthy for s in subjects) == 20
    for s in subjects:
        assert B.who_consistency_problems(s) == [], s
        if s.healthy:
            continue
        if s.who_type == "oligodendroglioma":
            assert s.idh == "mutant" and s.codeletion_1p19q == "codeleted" and s.grade in (2, 3)
        if s.who_type == "glioblastoma":
            assert s.idh == "wildtype" and s.grade == 4
        if s.who_type == "astrocytoma":
            assert s.idh == "mutant" and s.codeletion_1p19q == "intact" and s.grade in (2, 3, 4)
            if s.cdkn2ab == "deleted":
                assert s.grade == 4
        if s.codeletion_1p19q == "codeleted":
            assert s.idh == "mutant"
    # the checker itself catches violations
    bad = dataclasses.replace(next(s for s in subjects if s.who_type == "glioblastoma"), grade=3)
    assert "glioblastoma must be IDH-wildtype grade 4" in B.who_consistency_problems(bad)
    bad = dataclasses.replace(
        next(s for s in subjects if s.who_type == "astrocytoma"), cdkn2ab="deleted", grade=2
    )
    assert "CDKN2A/B-deleted astrocytoma must be grade 4" in B.who_consistency_problems(bad)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("healthy_fraction", [0.0, 0.2])
def test_every_label_group_appears_in_40_subjects(seed, healthy_fraction):
    subjects = B.sample_subjects(40, np.random.default_rng(seed), healthy_fraction=healthy_fraction)
    patients = [s for s in subjects if not s.healthy]
    groups = {
        "idh": {"mutant", "wildtype"}, "codeletion_1p19q": {"codeleted", "intact"},
        "cdkn2ab": {"deleted", "intact"}, "mgmt": {"methylated", "unmethylated"},
        "who_type": {"astrocytoma", "oligodendroglioma", "glioblastoma"}, "grade": {2, 3, 4},
        "recurrence_outcome": {"progression", "treatment_change"},
    }
    for attr, levels in groups.items():
        assert {getattr(s, attr) for s in patients} == levels, attr
    assert {s.null_marker for s in subjects} == {"positive", "negative"}
    assert (healthy_fraction > 0) == any(s.healthy for s in subjects)


def test_label_coverage_is_guaranteed_from_17_patients_whatever_the_seed():
    # Systematic sampling puts at least one draw in every contiguous block of configurations
    # whose prior mass is >= 1 / n_patients; every label level has such a block for n >= 17.
    configs = B._configs()
    getters = {"idh": lambda c: c.idh, "codel": lambda c: c.codel, "cdkn": lambda c: c.cdkn,
               "grade": lambda c: c.grade, "mgmt": lambda c: c.mgmt, "outcome": lambda c: c.outcome,
               "who_type": lambda c: c.who_type}
    for name, get in getters.items():
        for level in {get(c) for c in configs}:
            best = run = 0.0
            for c in configs:
                run = run + c.prior if get(c) == level else 0.0
                best = max(best, run)
            assert best >= 1 / 17, (name, level, best)


def test_configuration_prior_is_a_distribution_and_systematic_draws_follow_it():
    configs = B._configs()
    assert sum(c.prior for c in configs) == pytest.approx(1.0)
    subjects = B.sample_subjects(5000, np.random.default_rng(1))
    # systematic sampling: each label level's count is within a few of n x prior
    p_mut = sum(c.prior for c in configs if c.idh == "mutant")
    assert sum(s.idh == "mutant" for s in subjects) == pytest.approx(5000 * p_mut, abs=3)
    p_codel = sum(c.prior for c in configs if c.codel == "codeleted")
    assert sum(s.codeletion_1p19q == "codeleted" for s in subjects) == pytest.approx(
        5000 * p_codel, abs=3
    )
    # pseudoprogression (treatment change) is more frequent with MGMT methylation (Galldiks 2015)
    meth = [s for s in subjects if s.mgmt == "methylated"]
    unmeth = [s for s in subjects if s.mgmt == "unmethylated"]
    tc = lambda group: np.mean([s.recurrence_outcome == "treatment_change" for s in group])  # noqa: E731
    assert tc(meth) > tc(unmeth) + 0.1


# ---------------------------------------------------------------- null marker


def test_null_marker_is_independent_by_construction():
    # Its own random stream: other draws (here the healthy fraction and the cohort scenario) do
    # not change it; only the seed does.
    a = B.sample_subjects(60, np.random.default_rng(4), healthy_fraction=0.0)
    b = B.sample_subjects(60, np.random.default_rng(4), healthy_fraction=0.5)
    c = B.sample_subjects(60, np.random.default_rng(5), healthy_fraction=0.0)
    assert [s.null_marker for s in a] == [s.null_marker for s in b]
    assert [s.null_marker for s in a] != [s.null_marker for s in c]
    assert sum(s.null_marker == "positive" for s in a) == 30


def test_null_marker_is_statistically_independent_of_labels_and_image_parameters(cohort):
    subjects, diagnosis, recurrence = cohort
    null = np.array([s.null_marker == "positive" for s in subjects])
    # 25 tests of independence: Bonferroni keeps the family-wise false alarm rate at 5 % (at 0.01
    # each, one of 25 true nulls fails about one cohort draw in five).
    alpha = 0.05 / 25
    for attr in (
        "idh",
        "codeletion_1p19q",
        "cdkn2ab",
        "mgmt",
        "who_type",
        "grade",
        "recurrence_outcome",
        "sex",
    ):
        values = [str(getattr(s, attr)) for s in subjects]
        levels = sorted(set(values))
        table = np.array(
            [
                [
                    sum(1 for v, n in zip(values, null, strict=True) if v == lev and n == flag)
                    for lev in levels
                ]
                for flag in (False, True)
            ]
        )
        assert stats.chi2_contingency(table)[1] > alpha, attr
    continuous = {
        "aggressiveness": [s.aggressiveness for s in subjects],
        "age": [s.age for s in subjects],
        "weight": [s.weight_kg for s in subjects],
    }
    for sessions, kind in ((diagnosis, "diagnosis"), (recurrence, "recurrence")):
        for name in B.LATENT_NAMES:
            continuous[f"{kind}:{name}"] = [s.latent_image[name] for s in sessions]
        continuous[f"{kind}:K1"] = [float(s.tissue_params["enhancing"].K1) for s in sessions]
        continuous[f"{kind}:volume"] = [s.tumour_volume_ml for s in sessions]
    for name, values in continuous.items():
        values = np.asarray(values)
        assert stats.mannwhitneyu(values[null], values[~null]).pvalue > alpha, name
    assert len(continuous) + 8 == 25
    # its posterior is the prevalence: no information
    assert {s.posteriors["null_positive"] for s in diagnosis} == {B.NULL_PREVALENCE}


# ---------------------------------------------------------------- posteriors


def test_posterior_equals_bayes_rule_computed_independently():
    rng = np.random.default_rng(3)
    subjects = B.sample_subjects(5, rng)
    for s in subjects:
        for kind in ("diagnosis", "recurrence"):
            z = np.array(list(B.session_biology(s, kind, rng, SITE).latent_image.values()))
            joint = {}
            for c in B._configs():
                mean, beta, sd = B._latent_model(kind, c)
                m_a = B._aggressiveness_mean(c)
                density = stats.multivariate_normal(
                    mean + beta * m_a, B.SD_A**2 * np.outer(beta, beta) + np.diag(sd**2)
                ).pdf(z)
                joint[c] = c.prior * density
            total = sum(joint.values())
            post = B.latent_posteriors(kind, z)
            assert post["IDH_mutant"] == pytest.approx(
                sum(v for c, v in joint.items() if c.idh == "mutant") / total, rel=1e-9)
            assert post["codeleted_1p19q"] == pytest.approx(
                sum(v for c, v in joint.items() if c.codel == "codeleted") / total, rel=1e-9)
            if kind == "recurrence":
                assert post["progression"] == pytest.approx(
                    sum(v for c, v in joint.items() if c.outcome == "progression") / total, rel=1e-9
                )


@pytest.mark.parametrize(
    "kind, name",
    [
        ("diagnosis", "IDH_mutant"),
        ("diagnosis", "codeleted_1p19q"),
        ("diagnosis", "grade_4"),
        ("recurrence", "progression"),
    ],
)
def test_stored_posterior_is_calibrated(cohort, kind, name):
    subjects, diagnosis, recurrence = cohort
    post = _posterior(diagnosis if kind == "diagnosis" else recurrence, name)
    label = _labels(subjects, name)
    edges = np.linspace(0, 1, 6)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (post >= lo) & (post < hi) if hi < 1 else (post >= lo)
        if inside.sum() < 30:
            continue
        expected = post[inside].mean()
        se = np.sqrt(expected * (1 - expected) / inside.sum())
        assert abs(label[inside].mean() - expected) < 3.5 * se + 0.01, (lo, hi, inside.sum())
    # overall: mean posterior equals the label frequency
    assert abs(post.mean() - label.mean()) < 3 * np.sqrt(
        label.mean() * (1 - label.mean()) / len(label)
    )


def test_bayes_auc_is_in_the_target_range(cohort):
    subjects, diagnosis, recurrence = cohort
    idh = B.bayes_auc(_posterior(diagnosis, "IDH_mutant"), _labels(subjects, "IDH_mutant"))
    prog = B.bayes_auc(_posterior(recurrence, "progression"), _labels(subjects, "progression"))
    assert 0.85 <= idh <= 0.92
    assert 0.85 <= prog <= 0.92
    codel = B.bayes_auc(
        _posterior(diagnosis, "codeleted_1p19q"), _labels(subjects, "codeleted_1p19q")
    )
    assert 0.7 <= codel < 0.95
    # bayes_auc is the Mann-Whitney AUC
    assert B.bayes_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(
        0.75
    )


def _tacs(sessions, key="enhancing", site=SITE):
    params = [
        s.tissue_params[key] if key != "aggressive" else s.aggressive_params for s in sessions
    ]
    stacked = KineticParams(
        *(np.array([float(getattr(p, n)) for p in params]) for n in ("K1", "k2", "k3", "k4", "vB"))
    )
    return frame_means(stacked, site.frame_timing(), input_function(190e6, 75.0))


def test_ttp_auc_for_idh_is_near_the_published_value_and_below_the_bayes_ceiling(cohort):
    subjects, diagnosis, _ = cohort
    timing = SITE.frame_timing()
    ttp = time_to_peak_min(_tacs(diagnosis), timing)
    idh = _labels(subjects, "IDH_mutant")
    ttp_auc = B.bayes_auc(ttp, idh)  # longer TTP predicts IDH-mutant (Ginet 2020: 0.789)
    bayes = B.bayes_auc(_posterior(diagnosis, "IDH_mutant"), idh)
    assert 0.70 <= ttp_auc <= 0.88
    assert ttp_auc < bayes
    # IDH-wildtype mostly peaks early (< 5.4 min), IDH-mutant later (Ginet 2020)
    assert np.median(ttp[~idh]) < 5.4 <= np.median(ttp[idh])


def test_tbrmax_auc_for_progression_is_near_the_published_value(cohort):
    subjects, _, recurrence = cohort
    timing = SITE.frame_timing()
    window = timing.window_weights(600, 1800)
    lesion = _tacs(recurrence) @ window
    background = 0.5 * (_tacs(recurrence, "grey") @ window) + 0.5 * (
        _tacs(recurrence, "white") @ window
    )
    auc = B.bayes_auc(lesion / background, _labels(subjects, "progression"))
    bayes = B.bayes_auc(_posterior(recurrence, "progression"), _labels(subjects, "progression"))
    assert 0.78 <= auc <= 0.9  # Cui 2021, pooled FDOPA: 0.85
    assert auc < bayes


# ---------------------------------------------------------------- uptake levels and kinetics


def test_uptake_levels_match_the_literature(cohort):
    subjects, diagnosis, _ = cohort
    timing = SITE.frame_timing()
    window = timing.window_weights(600, 1800)
    suv = 75000.0 / 190e6
    enh = _tacs(diagnosis) @ window * suv
    grey = _tacs(diagnosis, "grey") @ window * suv
    white = _tacs(diagnosis, "white") @ window * suv
    striatum = _tacs(diagnosis, "striatum") @ window * suv
    background = 0.5 * (grey + white)
    assert 1.0 <= np.mean(background) <= 1.5  # healthy brain SUV about 1-1.5 at 10-30 min
    assert 3.3 <= np.mean(striatum) <= 4.2  # striatum SUV about 3.5-4 before partial volume
    # no FDOPA grey/white contrast to speak of: the real healthy group mean has white matter at
    # about 1.1 x cortex at 3 mm, cortex being lowered there by partial volume with CSF
    assert 0.95 <= np.mean(grey / white) <= 1.1
    # Before the PSF; partial volume brings the measured striatum/cortex to about 2.1 (real
    # healthy FDOPA group mean at 3 mm), checked on images by make validate.
    assert 2.6 <= np.mean(striatum / background) <= 3.2
    grade = np.array([s.grade for s in subjects])
    # SUVmax before the PSF, about 1.3 x the compartment mean with 15 % voxel variation, against
    # Fueger 2010 (high grade 4.22 +/- 1.30, low grade 2.34 +/- 1.35, mean +/- SD, measured on
    # images): between the published mean and mean + 2 SD, since the PSF and partial volume lower
    # the measured SUVmax by about 10-30 % (docs/validation.md, end-to-end bias before the PSF);
    # the measured values are judged through the pipeline by make validate.
    for g, mean, sd in ((4, 4.22, 1.30), (2, 2.34, 1.35)):
        assert mean <= 1.3 * np.mean(enh[grade == g]) <= mean + 2 * sd, g


def test_aggressive_subregion_peaks_early_with_higher_early_uptake(cohort):
    _, diagnosis, recurrence = cohort
    timing = SITE.frame_timing()
    early = timing.mid_min < 5
    for sessions in (diagnosis[:400], recurrence[:400]):
        agg = _tacs(sessions, "aggressive")
        tumour = _tacs(sessions)
        assert np.all(time_to_peak_min(agg, timing) < 5.4)
        assert np.all(agg[:, early].mean(axis=1) > 1.05 * tumour[:, early].mean(axis=1))
        assert np.all(agg[:, -1] < agg.max(axis=1))  # washout after the peak
    frac = np.mean([s.has_aggressive for s in diagnosis])
    assert frac == pytest.approx(B.AGGRESSIVE_FRACTION, abs=0.05)


def test_striatum_traps_and_idh_wildtype_has_high_k1_k2_low_k3(cohort):
    subjects, diagnosis, _ = cohort
    idh = _labels(subjects, "IDH_mutant")
    k = {
        n: np.array([float(getattr(s.tissue_params["enhancing"], n)) for s in diagnosis])
        for n in ("K1", "k2", "k3")
    }
    assert np.median(k["K1"][~idh]) > np.median(k["K1"][idh])
    assert np.median(k["k2"][~idh]) > np.median(k["k2"][idh])
    assert np.median(k["k3"][~idh]) < np.median(k["k3"][idh])
    striatum = diagnosis[0].tissue_params["striatum"]
    assert float(striatum.k3) > 0.03 and float(striatum.k4) < 0.01


def test_session_fields_and_healthy_sessions():
    rng = np.random.default_rng(0)
    subjects = B.sample_subjects(10, rng, healthy_fraction=0.3)
    healthy = next(s for s in subjects if s.healthy)
    patient = next(s for s in subjects if not s.healthy)
    h = B.session_biology(healthy, "healthy", rng, SITE)
    assert h.tumour_volume_ml == 0.0 and h.posteriors == {} and h.aggressive_params is None
    keys = {
        "csf",
        "grey",
        "white",
        "striatum",
        "scalp",
        "necrosis",
        "enhancing",
        "infiltration",
        "oedema",
    }
    assert keys <= set(h.tissue_params)
    for kind in ("diagnosis", "recurrence"):
        sb = B.session_biology(patient, kind, rng, SITE)
        assert keys <= set(sb.tissue_params) and set(sb.voxel_cv) >= keys
        assert 5.0 <= sb.tumour_volume_ml <= 80.0
        assert set(sb.latent_image) == set(B.LATENT_NAMES)
        assert 0 <= sb.mri_effects["necrosis_fraction"] <= 0.3
        assert sb.aggressive_params is not None
        assert 120e6 <= sb.dose_bq <= 260e6
        for params in sb.tissue_params.values():
            assert params.problems() == []
    assert B.session_biology(patient, "recurrence", rng, SITE).outcome == patient.recurrence_outcome
    # label descriptions cover the label columns and their values
    for column in (
        "IDH",
        "codeletion_1p19q",
        "CDKN2AB",
        "MGMT",
        "who_type",
        "grade",
        "outcome",
        "null_marker",
    ):
        assert "Description" in B.LABEL_DESCRIPTIONS[column]
    assert patient.idh in B.LABEL_DESCRIPTIONS["IDH"]["Levels"]


def test_heldout_variant_changes_the_kinetic_ranges():
    subject = B.sample_subjects(1, np.random.default_rng(9))[0]
    std = B.session_biology(subject, "diagnosis", np.random.default_rng(1), SITES["siteA"])
    held = B.session_biology(subject, "diagnosis", np.random.default_rng(1), SITES["heldout"])
    assert std.latent_image == held.latent_image and std.posteriors == held.posteriors
    assert float(held.tissue_params["enhancing"].k2) == pytest.approx(
        0.75 * float(std.tissue_params["enhancing"].k2)
    )
    assert held.voxel_cv["grey"] == pytest.approx(1.3 * std.voxel_cv["grey"])


def test_same_seed_same_biology():
    def draw(seed):
        rng = np.random.default_rng(seed)
        subjects = B.sample_subjects(12, rng, healthy_fraction=0.25)
        return subjects, [
            B.session_biology(s, "healthy" if s.healthy else "diagnosis", rng, SITE)
            for s in subjects
        ]

    a, b, c = draw(3), draw(3), draw(4)
    assert a[0] == b[0] and a[1] == b[1]
    assert a[0] != c[0]


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: B.sample_subjects(0, np.random.default_rng(0)),
            "the 'subjects' parameter must be a positive number of subjects; got 0 instead",
        ),
        (
            lambda: B.sample_subjects(5, np.random.default_rng(0), healthy_fraction=1.5),
            "the 'healthy_fraction' parameter must be a fraction between 0 and 1; got 1.5 instead",
        ),
        (
            lambda: B.sample_subjects(5, np.random.default_rng(0), scenario="screening"),
            "the 'scenario' parameter must be one of diagnosis, recurrence, both, healthy; got "
            "'screening' instead",
        ),
    ],
)
def test_bad_parameters(call, message):
    with pytest.raises(ParameterError) as info:
        call()
    assert str(info.value) == message


def test_kind_must_match_the_subject():
    rng = np.random.default_rng(0)
    patient = next(s for s in B.sample_subjects(4, rng) if not s.healthy)
    with pytest.raises(ParameterError, match="'healthy' for healthy subjects"):
        B.session_biology(patient, "healthy", rng, SITE)
