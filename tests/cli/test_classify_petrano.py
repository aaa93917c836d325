"""`gliopet classify cohort` with PET RANO 1.0, the dynamic test and `--final-fit`, then predict.

A synthetic cohort.tsv (what `gliopet quantify` writes): 30 subjects at two sites, a diagnosis
and a recurrence session each, except sub-029 (recurrence only: PET RANO is not assessable).
Progressive subjects' BTV grows from diagnosis to recurrence, the others' shrinks or stays.
"""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest

from gliopet.io import derivatives as d

N = 30
RULE = "PET RANO 1.0 (BTV vs diagnosis)"


def _write_cohort(root) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    y = np.tile([1, 0], N // 2)
    subjects = [f"sub-{i:03d}" for i in range(N)]
    base = rng.uniform(0.1, 6.0, N)  # diagnosis BTV (mL), some not measurable
    growth = np.where(y == 1, rng.uniform(1.0, 2.5, N), rng.uniform(0.3, 1.3, N))
    rec = pd.DataFrame({"participant_id": subjects, "session_id": "ses-recurrence",
                        "tracer": "FDOPA", "BTV_mL": base * growth,
                        "TBRmax": 1.7 + 0.4 * y + rng.normal(0, 0.3, N),
                        "TTP_min": 15 - 3 * y + rng.normal(0, 4, N),
                        "slope_SUV_per_h": rng.normal(0, 1, N),
                        "site": np.where(np.arange(N) < 18, "siteA", "siteB"),
                        "outcome": np.where(y == 1, "progression", "treatment_change")})
    dx = rec.iloc[:N - 1].assign(session_id="ses-diagnosis", BTV_mL=base[:N - 1], outcome="n/a")
    d.COHORT_TABLE.path(root).parent.mkdir(parents=True)
    pd.concat([rec, dx]).to_csv(d.COHORT_TABLE.path(root), sep="\t", index=False)
    # the expected ordinal score, written out by hand (docs/classify.md, "PET RANO 1.0")
    follow, before = rec["BTV_mL"].to_numpy(), np.append(base[:N - 1], np.nan)
    expected = np.where(follow <= 0.5, 0, np.where(
        (before <= 0.5) | (follow >= 1.25 ** 1.5 * before), 2, 1)).astype(float)
    expected[-1] = np.nan
    return rec.assign(expected=expected)


@pytest.mark.slow
def test_petrano_dynamic_test_and_final_fit(run_cli, tmp_path):
    bids, out = tmp_path / "bids", tmp_path / "model"
    rec = _write_cohort(bids)
    assert set(rec["expected"].dropna()) == {0.0, 1.0, 2.0}  # every case of the score occurs
    code, _, stderr = run_cli("classify", "cohort", str(bids), "--out", str(out), "--target",
                              "outcome", "--session", "recurrence", "--families", "rules",
                              "--external-site", "siteB", "--final-fit", "training-sites",
                              "--repeats", "1", "--folds", "3", "--n-boot", "200", "--seed", "3")
    assert code == 0, stderr
    assert (f"{RULE}: 1 session(s) not assessable, given the training rows' median score: "
            "sub-029_ses-recurrence: no baseline (diagnosis) session of the subject in "
            "cohort.tsv") in stderr
    sessions = pd.read_csv(out / "sessions.tsv", sep="\t").set_index("participant_id")
    np.testing.assert_array_equal(sessions.loc[rec.participant_id, "PETRANO_score"],
                                  rec["expected"])
    pred = pd.read_csv(out / "predictions.tsv", sep="\t")
    calls = pred[pred.model == RULE].merge(rec.assign(id=rec.participant_id + "_ses-recurrence"),
                                           on="id")
    assessable = calls["expected"].notna()
    assert (~assessable).sum() == 2  # sub-029 (site B): nested CV and external validation
    np.testing.assert_array_equal(calls.loc[assessable, "predicted"],
                                  (calls.loc[assessable, "expected"] == 2).astype(int))
    results = pd.read_csv(out / "results.tsv", sep="\t")
    assert {RULE, "logistic TBRmax (dynamic test)",
            "logistic TBRmax+TTP+slope (dynamic test)"} <= set(results.model)
    dynamic = pd.read_csv(out / "dynamic_vs_static.tsv", sep="\t")
    assert list(dynamic.evaluation) == ["nested_cv", "external:siteB"]
    assert ((dynamic.ci_low <= dynamic.difference) & (dynamic.difference <= dynamic.ci_high)
            & dynamic.p_value.between(0, 1)).all()
    assert "## Do dynamic features add to TBRmax?" in (out / "summary.md").read_text()
    # --final-fit training-sites: the saved models saw site A only (as the external validation)
    bundle = joblib.load(out / "models.joblib")
    assert bundle["final_fit"] == "training-sites"
    tbr = bundle["models"]["TBRmax (Youden, training folds)"]
    assert abs(tbr.centre_ - rec.loc[rec.site == "siteA", "TBRmax"].mean()) < 1e-12
    # ... and so did the SHAP background of `gliopet predict` (no external-site row in it)
    assert bundle["background_sites"] and all(set(np.asarray(sites)) == {"siteA"}
               for sites in bundle["background_sites"].values())

    code, _, stderr = run_cli("predict", str(bids), "--model", str(out), "--out",
                              str(tmp_path / "pred"))
    assert code == 0, stderr
    applied = pd.read_csv(tmp_path / "pred" / "predictions.tsv", sep="\t").query(
        "model == @RULE").set_index("participant_id").loc[rec.participant_id]
    assert applied.loc["sub-029", "explanation"].startswith("PET RANO 1.0 not assessable")
    for sub, score in zip(rec.participant_id[:-1], rec.expected[:-1], strict=True):
        assert applied.loc[sub, "explanation"].startswith(f"PET RANO 1.0 score {int(score)}:")
        assert applied.loc[sub, "predicted"] == int(score == 2)
