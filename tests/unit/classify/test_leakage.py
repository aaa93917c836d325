"""A planted site artefact: honest evaluation does not exploit it, a leaky pipeline does.

Cohort: 3 sites x 30 patients, 400 features of pure noise (no feature carries the label), and
a site artefact: every feature is shifted by a site-specific offset (a scanner effect) while
the prevalence differs by site (80 %, 50 %, 20 % positive), so in the pooled data the scanner
signature predicts the label (AUC about 0.8 for the site) without any biology. (Without the
harmoniser, the same nested CV reaches AUC 0.70-0.75 on such cohorts: the confounding is real
in the pooled data, which is why harmonisation inside the folds and external sites matter.)

- Honest: repeated nested CV by subject with ComBat (`gliopet.radiomics.harmonize`) fitted
  inside the training folds, and external validation on a site never seen in training (site B,
  15 positive of 30; the artefact is constant within it; ComBat estimates the new site's
  location and scale from its own rows, without labels): both AUCs stay near 0.5.
- Leaky: the features most associated with the label chosen on every patient (selection on
  all data), then an ordinary 5-fold CV of the same logistic regression: AUC far above 0.5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gliopet.classify.evaluate import external_validation, nested_cv
from gliopet.classify.harmonize import combat_factory
from gliopet.classify.models import TabularModel
from gliopet.classify.tables import TabularData
from gliopet.metrics import auc_score

N_FEATURES = 400


def _model(harmonizer=None):
    return {"logistic": TabularModel("logistic", n_features=(10,), param_grid={"C": [1.0]},
                                     harmonizer=harmonizer)}


def _cohort(seed: int) -> TabularData:
    rng = np.random.default_rng(seed)
    sites = np.repeat(["A", "B", "C"], 30)
    y = np.concatenate([rng.permutation(np.r_[np.ones(k), np.zeros(30 - k)])
                        for k in (24, 15, 6)]).astype(int)
    offsets = {s: rng.normal(0.0, 1.0, N_FEATURES) for s in "ABC"}
    X = rng.normal(size=(90, N_FEATURES)) + np.array([offsets[s] for s in sites])
    ids = np.array([f"sub-{i:03d}" for i in range(90)])
    frame = pd.DataFrame(X, columns=[f"f{j:03d}" for j in range(N_FEATURES)])
    return TabularData(frame, y, ids, ids, sites)


@pytest.mark.slow
def test_planted_site_artefact(tmp_path):
    data = _cohort(11)
    cv = nested_cv(_model(combat_factory()), data, n_splits=5, n_repeats=1,
                   seed=11).predictions
    ext = external_validation(_model(combat_factory()), data, "B", seed=11).predictions
    auc_cv = auc_score(cv["label"], cv["probability"])
    auc_ext = auc_score(ext["label"], ext["probability"])

    # the deliberately leaky pipeline: selection on every patient, then CV
    selected = SelectKBest(f_classif, k=10).fit(data.X, data.y).get_support()
    leaky = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression()),
                              data.X.loc[:, selected], data.y,
                              cv=StratifiedKFold(5, shuffle=True, random_state=11),
                              method="predict_proba")[:, 1]
    auc_leaky = auc_score(data.y, leaky)

    site_signal = auc_score(data.y, (data.sites == "A") * 2 + (data.sites == "B"))
    assert site_signal > 0.75  # the artefact is there to be exploited
    assert abs(auc_cv - 0.5) < 0.15  # 0.53 with this seed
    assert auc_ext < 0.65  # 0.43 with this seed: no gain from the artefact
    assert auc_leaky > 0.75
    assert auc_leaky - max(auc_cv, auc_ext) > 0.2
