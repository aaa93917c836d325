"""ComBat (gliopet.radiomics.harmonize): known answer from neuroCombat, a planted site shift
removed, fit on training rows only, unseen sites, use inside a scikit-learn pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gliopet.radiomics.harmonize import ComBat

SITE = np.array(["A"] * 4 + ["B"] * 5 + ["C"] * 4)
AGE = np.array([50.0, 62, 41, 70, 55, 38, 66, 47, 59, 44, 71, 53, 60])

#: neuroCombat 0.2.12 ``neuroCombat(dat=X.T, covars=DataFrame(site, age), batch_col="site",
#: continuous_cols=["age"])["data"].T`` on `_known_answer_data` (float64, parametric EB).
NEUROCOMBAT_WITH_AGE = np.array([
    [2.7235738147, 5.7720944826, 8.153891589, 9.6508837141],
    [4.315289759, 6.1499915102, 7.5304866967, 9.2849287258],
    [2.109369615, 3.2149642603, 5.2052382217, 7.9670834342],
    [2.3152232319, 5.6644648774, 9.2866528764, 12.4594116568],
    [2.8353305824, 5.9962534976, 8.2933215517, 10.00421659],
    [2.6046313663, 3.8287934351, 5.1037363603, 7.1334917167],
    [1.7555285975, 4.1983635363, 7.5895501824, 11.6354500431],
    [1.1790964812, 4.6038138838, 7.876261682, 10.3850853125],
    [3.4279022499, 6.1624519389, 8.0755239052, 9.8163513129],
    [2.5873679269, 3.368061473, 4.5221357181, 6.6400832462],
    [1.9856374933, 5.6538093209, 10.0724804623, 14.4154060805],
    [2.27424413, 5.6640292077, 8.3915817864, 10.208553677],
    [3.9340798089, 6.3096193559, 8.0808948955, 9.9962141346],
])
#: The same without covariates.
NEUROCOMBAT_SITE_ONLY_ROW0 = np.array([2.679193481, 5.3895349227, 7.8919001623, 9.5050763944])


def _known_answer_data() -> pd.DataFrame:
    j, f = np.arange(13)[:, None], np.arange(4)[None, :]
    base = np.sin(1.7 * j + 0.9 * f) + 0.03 * AGE[:, None] * (f + 1)
    shift = np.where(SITE[:, None] == "A", 0.0, np.where(SITE[:, None] == "B", 1.5, -0.8))
    scale = np.where(SITE[:, None] == "C", 2.0, 1.0)
    frame = pd.DataFrame(base * scale + shift * (f + 1), columns=list("abcd"))
    return frame.assign(site=SITE, age=AGE)


def test_matches_neurocombat_known_answer():
    data = _known_answer_data()
    out = ComBat(covariates=["age"]).fit_transform(data)
    assert list(out.columns) == ["a", "b", "c", "d", "age"]
    np.testing.assert_allclose(out[list("abcd")].to_numpy(), NEUROCOMBAT_WITH_AGE, atol=1e-9)
    np.testing.assert_array_equal(out["age"], AGE)  # covariates pass through unchanged
    plain = ComBat().fit_transform(data.drop(columns="age"))
    np.testing.assert_allclose(plain.iloc[0].to_numpy(float), NEUROCOMBAT_SITE_ONLY_ROW0,
                               atol=1e-9)


def _cohort(rng, n_per_site=30, shift=(0.0, 3.0, -2.0), scale=(1.0, 2.0, 0.5)):
    """Features = label signal + noise, then a planted additive and multiplicative site effect."""
    sites = np.repeat(["s0", "s1", "s2"], n_per_site)
    y = rng.integers(0, 2, len(sites))
    clean = rng.normal(size=(len(sites), 6)) + 0.8 * y[:, None]
    index = np.searchsorted(["s0", "s1", "s2"], sites)
    observed = clean * np.asarray(scale)[index, None] + np.asarray(shift)[index, None]
    frame = pd.DataFrame(observed, columns=[f"f{i}" for i in range(6)]).assign(site=sites)
    return frame, clean, y


def test_removes_a_planted_site_shift():
    rng = np.random.default_rng(7)
    frame, clean, _ = _cohort(rng)
    out = ComBat().fit_transform(frame).to_numpy(float)
    sites = frame["site"].to_numpy()
    before = [frame.drop(columns="site")[sites == s].mean().mean() for s in ("s0", "s1", "s2")]
    after = [out[sites == s].mean() for s in ("s0", "s1", "s2")]
    assert np.ptp(before) > 4.0
    assert np.ptp(after) < 0.15  # site means agree to within the sampling noise
    stds = [out[sites == s].std() for s in ("s0", "s1", "s2")]
    assert max(stds) / min(stds) < 1.3  # and the planted 4x scale difference is gone
    # the harmonised data keep the structure of the clean data (one affine map, corr ~ 1)
    assert np.corrcoef(out[:, 0], clean[:, 0])[0, 1] > 0.95


def test_held_out_rows_use_the_training_parameters():
    rng = np.random.default_rng(3)
    frame, _, _ = _cohort(rng)
    train, test = frame.iloc[::2], frame.iloc[1::2]
    model = ComBat().fit(train)
    held_out = model.transform(test)
    # transforming is row-wise: one held-out row alone gives the same values
    alone = model.transform(test.iloc[[0]])
    np.testing.assert_allclose(alone.to_numpy(float), held_out.iloc[[0]].to_numpy(float))
    # and it never refits: the fitted parameters are unchanged by transform
    gamma = model.gamma_star_.copy()
    model.transform(test.assign(f0=test["f0"] + 100.0))
    np.testing.assert_array_equal(model.gamma_star_, gamma)
    # the held-out sites are harmonised too: the 5-unit spread of site means shrinks tenfold
    sites = test["site"].to_numpy()
    raw = [test.drop(columns="site")[sites == s].to_numpy().mean() for s in ("s0", "s1", "s2")]
    means = [held_out[sites == s].to_numpy(float).mean() for s in ("s0", "s1", "s2")]
    assert np.ptp(raw) > 4.5 and np.ptp(means) < 0.1 * np.ptp(raw)


def test_unseen_site_is_an_error_or_its_own_estimate():
    rng = np.random.default_rng(5)
    frame, _, _ = _cohort(rng)
    train = frame[frame["site"] != "s2"]
    new = frame[frame["site"] == "s2"]
    model = ComBat().fit(train)
    with pytest.raises(ValueError, match=r"site 's2' was not in the training rows \(fitted "
                                         r"sites: \['s0', 's1'\]\)"):
        model.transform(new)
    own = ComBat(unseen_site="own").fit(train).transform(new).to_numpy(float)
    reference = ComBat().fit(train).transform(train[train["site"] == "s0"]).to_numpy(float)
    assert abs(own.mean() - reference.mean()) < 0.5
    with pytest.raises(ValueError, match="needs at least 2 rows"):
        ComBat(unseen_site="own").fit(train).transform(new.iloc[[0]])


def test_bad_input_messages():
    frame, _, _ = _cohort(np.random.default_rng(1), n_per_site=4)
    with pytest.raises(ValueError, match="the site column 'scanner' is not in X"):
        ComBat(site_column="scanner").fit(frame)
    with pytest.raises(ValueError, match="at least 2 sites"):
        ComBat().fit(frame[frame["site"] == "s0"])
    with pytest.raises(ValueError, match="at least 2 rows per site; site 's2' has 1"):
        ComBat().fit(frame.iloc[:9])
    with pytest.raises(ValueError, match="finite features"):
        ComBat().fit(frame.assign(f0=np.nan))
    with pytest.raises(ValueError, match="unseen_site must be"):
        ComBat(unseen_site="drop").fit(frame)


def test_inside_a_cross_validated_pipeline():
    """Fit on the training folds only (GroupKFold by site: every test site unseen -> 'own')."""
    rng = np.random.default_rng(11)
    frame, _, y = _cohort(rng)
    pipe = make_pipeline(ComBat(unseen_site="own"), StandardScaler(), LogisticRegression())
    scores = cross_val_score(pipe, frame, y, groups=frame["site"], cv=GroupKFold(3),
                             scoring="roc_auc")
    assert scores.min() > 0.7
    arrays = ComBat().fit(frame.drop(columns="site").to_numpy(), sites=frame["site"])
    assert arrays.transform(frame.drop(columns="site").to_numpy(),
                            sites=frame["site"]).shape == (90, 6)
