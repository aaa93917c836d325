"""Obuchowski-Rockette-Hillis analysis: the Van Dyke example against its published results
(../shared/data/real/mrmc-vandyke, read in place: the GPL-3 file is not copied here), the
covariance estimators against independent computations, other designs, and bad input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gliopet.errors import InputError
from gliopet.metrics import delong_variance
from gliopet.reader.mrmc import analyse
from gliopet.reader.mrmc_ai import operating_points, standalone_ai
from gliopet.reader.mrmc_cov import make_groups, psi, unbiased_covariance
from gliopet.reader.mrmc_input import check_ratings, detect_design
from gliopet.reader.roemetz import simulate

REAL_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "real"
VANDYKE = REAL_DATA / "mrmc-vandyke" / "vandyke_ratings.csv"
SIG = 6  # significant digits of the comparison


def close(value: float, reference: float, digits: int = SIG) -> bool:
    """Equal to `digits` significant digits (relative 0.5 x 10^(1 - digits))."""
    return abs(value - reference) <= 0.5 * 10 ** (1 - digits) * abs(reference)


@pytest.fixture(scope="module")
def vandyke() -> pd.DataFrame:
    if not VANDYKE.is_file():
        pytest.skip("the Van Dyke data is not in ../shared/data/real/mrmc-vandyke")
    return pd.read_csv(VANDYKE)


@pytest.fixture(scope="module")
def result(vandyke):
    return analyse(vandyke, cov="jackknife", order=[0, 1])


# Published: Iowa OR-DBM MRMC 2.51 output (RJafroc goodValues361/Iowa/VanDyke.txt) and the
# MRMCaov README; the numbers are those of the data folder's README.
READER_AUC = {0: [0.91964573, 0.85877617, 0.90386473, 0.97310789, 0.82979066],
              1: [0.94782609, 0.90531401, 0.92173913, 0.99935588, 0.92995169]}


@pytest.mark.realdata
def test_vandyke_reader_aucs_and_components(result):
    table = result.reader_auc
    for modality, aucs in READER_AUC.items():
        got = table[table["modality"] == str(modality)].sort_values("reader")["auc"]
        assert all(close(g, a) for g, a in zip(got, aucs, strict=True))
    c = result.components
    published = {"var_r": 0.0015349993, "var_tr": 0.0002004025, "cov1": 0.0003466137,
                 "cov2": 0.0003440748, "cov3": 0.0002390284, "var_error": 0.0008022883,
                 "ms_t": 0.004796171, "ms_tr": 0.0005510306}
    for name, value in published.items():
        assert close(getattr(c, name), value), (name, getattr(c, name), value)
    assert result.design == "crossed" and result.n_cases == 114


@pytest.mark.realdata
def test_vandyke_random_readers_and_cases(result):
    rrrc = result.analyses["random_readers_cases"]
    assert close(rrrc.test.value, 4.456319) and close(rrrc.test.df2, 15.25967)
    assert close(rrrc.test.p_value, 0.05166569) and rrrc.test.df1 == 1
    diff = rrrc.differences[0]
    assert diff.label == "0 - 1" and close(diff.estimate, -0.04380032)
    assert close(diff.se, 0.02074862)
    assert close(diff.ci_low, -0.0879594986) and close(diff.ci_high, 0.0003588544)
    m0, m1 = rrrc.modalities
    assert close(m0.estimate, 0.89703704) and close(m1.estimate, 0.94083736)
    assert close(m0.se, 0.03317360) and close(m0.df, 12.74465)
    assert close(m0.ci_low, 0.8252236) and close(m0.ci_high, 0.9688505)
    assert close(m1.se, 0.02156637) and close(m1.df, 12.71019)
    assert close(m1.ci_low, 0.8941378) and close(m1.ci_high, 0.9875369)


@pytest.mark.realdata
def test_vandyke_fixed_readers_and_fixed_cases(result):
    frrc = result.analyses["fixed_readers"]
    assert frrc.test.statistic == "chi2" and close(frrc.test.value, 5.475953)
    assert close(frrc.test.p_value, 0.01927984)
    d = frrc.differences[0]
    assert close(d.se, 0.01871748)
    assert close(d.ci_low, -0.08048591) and close(d.ci_high, -0.00711473)
    rrfc = result.analyses["fixed_cases"]
    assert close(rrfc.test.value, 8.704, 4) and (rrfc.test.df1, rrfc.test.df2) == (1, 4)
    assert close(rrfc.test.p_value, 0.04195875)
    d = rrfc.differences[0]
    assert close(d.ci_low, -0.08502022) and close(d.ci_high, -0.00258042)
    # per-reader differences (fixed readers) exist for every reader
    assert len(result.reader_differences) == 5


@pytest.mark.realdata
def test_vandyke_delong_diagonal_is_pairwise_delong(vandyke):
    """The DeLong covariance's variances are each reader's DeLong variance (pROC-checked)."""
    res = analyse(vandyke, cov="delong")
    part = vandyke[(vandyke["reader"] == 0) & (vandyke["modality"] == 0)].sort_values("case")
    _, var = delong_variance(part["truth"], part["rating"])
    row = res.reader_auc[(res.reader_auc["reader"] == "0") & (res.reader_auc["modality"] == "0")]
    assert row["se"].iloc[0] ** 2 == pytest.approx(var, rel=1e-12)


def _unbiased_balanced(frame: pd.DataFrame) -> np.ndarray:
    """MRMCaov's `unbiased_balanced` (the crossed-design formula), written independently."""
    wide = frame.pivot_table(index="case", columns=["modality", "reader"], values="rating")
    truth = frame.groupby("case")["truth"].first().loc[wide.index].to_numpy()
    pos, neg = wide.to_numpy()[truth == 1], wide.to_numpy()[truth == 0]
    m, n = len(pos), len(neg)
    scores = np.stack([psi(pos[:, g], neg[:, g]) for g in range(wide.shape[1])], axis=-1)
    total = scores.sum(axis=(0, 1))
    rows, cols = scores.sum(axis=1), scores.sum(axis=0)
    flat = scores.reshape(m * n, -1)
    delta = (m * n) ** 2 / (m * (m - 1) * n * (n - 1))
    return ((1 - delta) * np.outer(total, total)
            + delta * (rows.T @ rows + cols.T @ cols - flat.T @ flat)) / (m * n) ** 2


def test_unbiased_covariance_matches_the_crossed_formula():
    frame = check_ratings(simulate(readers=3, normal=12, abnormal=9, rng=4, scale=5))
    cases = sorted(frame["case"].unique())
    groups = make_groups(frame, [0, 1], [0, 1, 2], cases)
    got = unbiased_covariance(groups, len(cases))
    np.testing.assert_allclose(got, _unbiased_balanced(frame), rtol=1e-12, atol=1e-15)


def test_jackknife_matches_refitting_without_each_case():
    """The closed-form leave-one-out AUCs equal refitting the AUC without the case."""
    frame = check_ratings(simulate(readers=2, normal=8, abnormal=7, rng=2, scale=5))
    res = analyse(frame, cov="jackknife")
    cases = sorted(frame["case"].unique())
    loo = []
    for case in cases:
        rest = frame[frame["case"] != case]
        aucs = [delong_variance(p["truth"], p["rating"])[0]
                for _, p in rest.groupby(["modality", "reader"])]
        loo.append(aucs)
    loo = np.array(loo)
    k = len(cases)
    cov = (k - 1) / k * (loo - loo.mean(0)).T @ (loo - loo.mean(0))
    assert res.components.var_error == pytest.approx(np.diag(cov).mean(), rel=1e-12)


def test_designs_are_detected():
    crossed = simulate(readers=4, normal=10, abnormal=10, rng=1)
    assert detect_design(crossed) == "crossed"
    nested = crossed.copy()
    nested["case"] = nested["case"].astype(str) + "-" + nested["reader"].astype(str)
    assert detect_design(nested) == "cases_within_readers"
    by_modality = crossed.copy()
    tag = by_modality["modality"].astype(str)
    by_modality["case"] = by_modality["case"].astype(str) + "-" + tag
    assert detect_design(by_modality) == "cases_within_modalities"
    split = crossed[(crossed["reader"] < 2) == (crossed["modality"] == 0)]
    assert detect_design(split) == "readers_within_modalities"
    partial = crossed.drop(index=crossed.index[:3])
    assert detect_design(partial) == "partially_paired"


def test_other_designs_zero_the_covariances_they_cannot_estimate():
    crossed = simulate(readers=4, normal=10, abnormal=10, rng=1)
    nested = crossed.copy()
    nested["case"] = nested["case"].astype(str) + "-" + nested["reader"].astype(str)
    res = analyse(nested)
    assert res.components.cov2 == 0 and res.components.cov3 == 0
    split = crossed[(crossed["reader"] < 2) == (crossed["modality"] == 0)]
    res = analyse(split)
    assert res.design == "readers_within_modalities" and res.components.cov1 == 0
    # two readers per modality: n0 = (16 - 8) / (4 x 1) = 2 readers; residual df 4 - 2 = 2
    rrfc = res.analyses["fixed_cases"].test
    assert rrfc.df2 == 2
    partial = analyse(crossed.drop(index=crossed.index[:3]), cov="unbiased")
    assert partial.design == "partially_paired"
    assert np.isfinite(partial.analyses["random_readers_cases"].test.p_value)


def test_aided_is_compared_against_unaided():
    frame = simulate(readers=3, normal=10, abnormal=10, rng=5, delta=0.5)
    frame["modality"] = frame["modality"].map({0: "unaided", 1: "aided"})
    res = analyse(frame)
    assert res.modalities == ["aided", "unaided"]
    assert res.analyses["random_readers_cases"].differences[0].label == "aided - unaided"


def test_standalone_ai_and_operating_points():
    frame = check_ratings(simulate(readers=4, normal=20, abnormal=20, rng=7))
    frame["rating"] = 1 / (1 + np.exp(-frame["rating"]))  # probabilities
    ai = frame[(frame["reader"] == 0) & (frame["modality"] == 1)][["case", "rating"]]
    out = standalone_ai(frame, ai, 0)
    part = frame[frame["modality"] == 0]
    readers = [delong_variance(p["truth"], p["rating"])[0] for _, p in part.groupby("reader")]
    assert out.reader_mean_auc == pytest.approx(np.mean(readers), rel=1e-12)
    assert out.difference_rrrc.estimate == pytest.approx(np.mean(readers) - out.ai.estimate)
    assert out.difference_rrfc.df == 3
    ops = operating_points(frame)
    assert (ops["threshold"] == 0.5).all() and len(ops) == 8
    p = frame[(frame["reader"] == 1) & (frame["modality"] == 0)]
    sens = ((p["rating"] >= 0.5) & (p["truth"] == 1)).sum() / (p["truth"] == 1).sum()
    row = ops[(ops["reader"] == "1") & (ops["modality"] == "0")]
    assert row["sensitivity"].iloc[0] == pytest.approx(sens)


# --- bad input ----------------------------------------------------------------------------

def _small() -> pd.DataFrame:
    return simulate(readers=3, normal=6, abnormal=6, rng=3, scale=5)


def test_missing_column_is_refused():
    with pytest.raises(InputError) as err:
        analyse(_small().drop(columns=["truth"]))
    assert str(err.value) == ("the ratings lack the column(s) truth (fix: give a long-form table "
                              "with columns reader, modality, case, truth, rating)")


def test_reader_who_did_not_read_every_case_in_a_crossed_design():
    frame = _small()
    frame = frame[~((frame["reader"] == 2) & (frame["modality"] == 1) & (frame["case"] < 2))]
    with pytest.raises(InputError) as err:
        analyse(frame, design="crossed")
    assert str(err.value) == ("fully crossed design: reader 2 read 10 of the 12 cases in "
                              "modality 1 (fix: give every reading, or analyse as "
                              "partially_paired)")


def test_non_binary_truth_is_refused():
    frame = _small()
    frame.loc[frame["case"] == 0, "truth"] = 2
    with pytest.raises(InputError) as err:
        analyse(frame)
    assert str(err.value) == ("truth must be 0 or 1; got values 0, 1, 2 (fix: code the "
                              "reference standard as 1 (disease) or 0 (no disease))")


def test_other_bad_input():
    frame = _small()
    twice = pd.concat([frame, frame.iloc[:1]])
    with pytest.raises(InputError, match="rated case 0 in modality 0 more than once"):
        analyse(twice)
    with pytest.raises(InputError, match="the DeLong covariance needs every reader"):
        analyse(frame.drop(index=frame.index[:1]), cov="delong")
    with pytest.raises(InputError, match="unknown covariance method 'bootstrap'"):
        analyse(frame, cov="bootstrap")
    with pytest.raises(InputError, match="one modality"):
        analyse(frame[frame["modality"] == 0])
    bad = frame.assign(rating=frame["rating"].astype(object))
    bad.loc[bad.index[0], "rating"] = "high"
    with pytest.raises(InputError, match="the rating 'high' is not a finite number"):
        analyse(bad)
