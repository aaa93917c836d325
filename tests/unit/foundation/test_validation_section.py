"""The foundation validation section's ablation helpers (scripts/validation/foundation.py) and
`gliopet pretrain --seed`."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from gliopet.foundation.config import load_foundation_config
from gliopet.foundation.pretext import OBJECTIVES, PretextModel
from support.cli import run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from validation import foundation as section  # noqa: E402


def test_every_objective_has_an_ablation_whose_file_switches_only_it_off(tmp_path):
    assert set(section.ABLATIONS) == set(OBJECTIVES)
    for objective in section.ABLATIONS:
        path = tmp_path / f"no-{objective}.yaml"
        path.write_text(section.ablation_config(objective))
        config = load_foundation_config(str(path))
        weights = {k: getattr(config.pretext, k).weight for k in OBJECTIVES}
        assert weights[objective] == 0.0
        assert all(w > 0 for k, w in weights.items() if k != objective)
        enabled = PretextModel.enabled(type("M", (), {"config": config})())
        assert enabled == [k for k in OBJECTIVES if k != objective]
    with pytest.raises(ValueError, match="unknown pretext objective 'rotation'"):
        section.ablation_config("rotation")


def _table(ari: float, auc: float) -> pd.DataFrame:
    rows = [("patch_clustering", "true compartment", "embedding", "k-means", ari),
            ("patch_clustering", "true compartment", "raw", "k-means", 0.9),
            ("probe", "IDH", "embedding", "linear", auc),
            ("probe", "IDH", "embedding", "knn", 0.1),
            ("probe", "IDH", "raw intensities", "linear", 0.8),
            ("probe", "IDH", "true posterior", "Bayes ceiling", 0.95)]
    return pd.DataFrame([{"evaluation": e, "target": t, "features": f, "probe": p,
                          "removed": "", "metric": "AUC", "estimate": v, "ci_low": v - 0.1,
                          "ci_high": v + 0.1, "seed_sd": 0.01, "n": 13}
                         for e, t, f, p, v in rows]).assign(
        seed_sd=lambda t: t.seed_sd.where(t.probe != "Bayes ceiling"))  # no seeds: NaN


def _patch_probe(embedding: float, raw: float, every: float) -> pd.DataFrame:
    """Patch-probe rows: the embedding, raw intensities and every input (raw + kinetic)."""
    return pd.DataFrame([{"evaluation": "patch_probe", "target": "true compartment",
                          "features": f, "probe": "linear", "removed": "",
                          "metric": "balanced accuracy", "estimate": v, "ci_low": v - 0.1,
                          "ci_high": v + 0.1, "seed_sd": 0.01, "n": 13}
                         for f, v in (("embedding", embedding), ("raw", raw),
                                      ("raw + kinetic", every))])


def test_the_patch_probe_is_judged_against_raw_and_against_every_input():
    from validation import foundation_seeds as seeds

    tables = {1: pd.concat([_table(0.1, 0.6), _patch_probe(0.63, 0.60, 0.64)]),
              2: pd.concat([_table(0.1, 0.6), _patch_probe(0.62, 0.60, 0.64)])}
    lines = [v for v in seeds.seed_verdicts(tables, "here") if "patch-probe" in v]
    assert lines[0].startswith("- here, patch-probe balanced accuracy: the embeddings 0.625 "
                               "+/- 0.007")
    assert lines[0].endswith(" beats raw intensities 0.600 (0.500 to 0.700).")
    assert lines[1] == ("- here, patch-probe balanced accuracy: the embeddings do **not** "
                        "beat the patch means of every input the model sees (raw + kinetic) "
                        "0.640 (0.540 to 0.740).")
    row = [r for r in seeds.seed_table(tables) if r.startswith("| patch-probe")][0]
    assert row.endswith("| 0.600 (0.500 to 0.700) | raw intensities + kinetic channels (every "
                        "input) 0.640 (0.540 to 0.740) |")


def test_ablation_rows_show_the_embedding_ari_and_linear_probe_of_each_model():
    lines = section.ablation_rows({"full model": _table(0.5, 0.7),
                                   "without contrastive": _table(0.4, 0.6)})
    assert lines[0] == ("| pretraining | patch-cluster ARI | patch-probe balanced accuracy | "
                        "linear probe AUC, IDH |")
    assert lines[2] == "| full model | 0.500 (0.400 to 0.600) | n/a | 0.700 (0.600 to 0.800) |"
    assert lines[3] == ("| without contrastive | 0.400 (0.300 to 0.500) | n/a | "
                        "0.600 (0.500 to 0.700) |")
    with_probe = pd.concat([_table(0.5, 0.7), _patch_probe(0.65, 0.6, 0.7)])
    assert section.ablation_rows({"full model": with_probe})[2] == (
        "| full model | 0.500 (0.400 to 0.600) | 0.650 (0.550 to 0.750) | "
        "0.700 (0.600 to 0.800) |")


def test_pretrain_seed_option_reaches_the_run(monkeypatch, tmp_path):
    import gliopet.foundation.training as training

    seen = []

    def fake(bids_dir, config, out, *, seed, **kwargs):  # records the seed, trains nothing
        seen.append(seed)
        return training.PretrainResult(Path(out), Path(out), [], [])

    monkeypatch.setattr(training, "pretrain_bids", fake)
    code, _, err = run_cli("pretrain", tmp_path, "--out", tmp_path / "run", "--seed", "7")
    assert code == 0, err
    code, _, err = run_cli("pretrain", tmp_path, "--out", tmp_path / "run")
    assert code == 0, err
    from gliopet.config import load_config

    assert seen == [7, load_config().seed]


def test_section_text_says_why_when_raw_intensities_win(tmp_path):
    runs = {"every site": tmp_path / "foundation-eval-all",
            "held-out siteC": tmp_path / "foundation-eval-siteC",
            "held-out generator": tmp_path / "foundation-eval-heldout"}
    losing = {where: {1: _table(0.5, 0.7), 2: _table(0.6, 0.7)} for where in runs}
    text = section.section(losing, runs, {"without dynamic": _table(0.4, 0.6)})
    assert "does **not** beat raw intensities 0.900 (0.800 to 1.000)" in text
    assert "rest on 13 sessions per label" in text and "nan" not in text
    assert "scored on 13 sessions per label of a generator" in text
    assert "| without dynamic | 0.400 (0.300 to 0.500) | n/a | 0.600 (0.500 to 0.700) |" in text
    assert "Projection of the patch embeddings: not drawn." in text
    ceiling = "| true posterior | Bayes ceiling | - | AUC | 0.950 (0.850 to 1.050) | n/a | 13 |"
    assert ceiling in text
    assert "#### Held-out generator" in text and "### Held-out siteC: every evaluation" in text
    assert ("- held-out generator, patch-cluster ARI: the embeddings 0.550 +/- 0.071 (mean "
            "+/- SD over 2 pretraining seeds; per seed 0.500, 0.600) does **not** beat") in text
    winning = {where: {1: _table(1.05, 0.9)} for where in runs}  # above raw 0.9
    text = section.section(winning, runs, {})
    assert "Why the embedding" not in text and "No ablation in this run: 4 more" in text


def test_seed_table_gives_each_seed_the_mean_and_sd_and_the_baselines_once():
    from validation import foundation_seeds as seeds

    assert seeds.pretraining_seeds(10) == [10, 11, 12]
    assert seeds.seeded(Path("/w/model"), 10, 10) == Path("/w/model")
    assert seeds.seeded(Path("/w/model"), 12, 10) == Path("/w/model-seed-12")
    lines = seeds.seed_table({7: _table(0.2, 0.6), 8: _table(0.4, 0.8), 9: _table(0.3, 0.7)})
    assert lines[0] == ("| metric | seed 7 | seed 8 | seed 9 | mean +/- SD over seeds | raw "
                        "intensities | other baselines |")
    assert lines[2] == ("| patch-cluster ARI | 0.200 (0.100 to 0.300) | 0.400 (0.300 to 0.500) "
                        "| 0.300 (0.200 to 0.400) | 0.300 +/- 0.100 | 0.900 (0.800 to 1.000) "
                        "| - |")
    assert lines[3].startswith("| linear probe AUC, IDH | 0.600 (0.500 to 0.700) |")
    assert "| 0.700 +/- 0.100 | 0.800 (0.700 to 0.900) | Bayes ceiling 0.950 " in lines[3]
    assert len(lines) == 5  # ARI, linear and k-NN of IDH (no outcome rows in the tables)
    def without_pet(v):
        return pd.DataFrame([{"evaluation": "missing_modality", "target": "IDH",
                              "features": "embedding", "probe": "linear", "removed": "pet",
                              "metric": "AUC", "estimate": v, "ci_low": v - 0.1,
                              "ci_high": v + 0.1, "seed_sd": 0.0, "n": 13}])

    lines = seeds.seed_table({7: pd.concat([_table(0.2, 0.6), without_pet(0.5)]),
                              8: pd.concat([_table(0.4, 0.8), without_pet(0.7)])})
    assert lines[-1] == ("| linear probe AUC, IDH, without pet | 0.500 (0.400 to 0.600) | "
                         "0.700 (0.600 to 0.800) | 0.600 +/- 0.141 | - | - |")
    # beats raw only when every pretraining seed is above it
    verdicts = seeds.seed_verdicts({7: _table(0.95, 0.85), 8: _table(0.85, 0.9)}, "here")
    assert verdicts[0].endswith("does **not** beat raw intensities 0.900 (0.800 to 1.000).")
    assert " beats raw intensities 0.800" in verdicts[1]


def test_tumour_region_rows_share_the_ceiling_and_a_score_above_it_is_called_chance():
    from validation import foundation_seeds as seeds

    def region(auc):
        table = _table(0.1, 0.6)
        rows = table[table.evaluation == "probe"].copy()
        rows = rows[rows.features != "true posterior"].assign(evaluation="tumour_probe")
        rows.loc[(rows.features == "embedding") & (rows.probe == "linear"),
                 ["estimate", "ci_low", "ci_high"]] = [auc, auc - 0.05, min(auc + 0.05, 1)]
        return pd.concat([table, rows])

    tables = {1: region(0.98), 2: region(0.90)}
    row = [r for r in seeds.seed_table(tables) if r.startswith("| tumour-region linear")][0]
    assert row.endswith("| 0.800 (0.700 to 0.900) | Bayes ceiling 0.950 (0.850 to 1.050) |")
    caveat = [c for c in seeds.seed_caveats(tables, "C") if "tumour-region linear" in c][0]
    assert caveat.endswith("seed(s) 1 score above the Bayes ceiling of these sessions (0.950), "
                           "which no model can do on average: on 13 sessions that is chance.")


def test_a_weak_win_over_raw_intensities_is_qualified():
    from validation import foundation_seeds as seeds

    def probe(auc, low, raw):
        table = _table(0.1, auc)
        table.loc[(table.features == "embedding") & (table.probe == "linear"), "ci_low"] = low
        table.loc[table.features == "raw intensities", "estimate"] = raw
        return table

    weak = {1: probe(0.62, 0.35, 0.38), 2: probe(0.56, 0.29, 0.38)}
    assert seeds.seed_caveats(weak, "generator") == [
        "- generator, linear probe AUC, IDH: the win over raw intensities is weak: every "
        "seed's 95 % CI includes chance (0.5; lower limits 0.350, 0.290); the raw-intensity "
        "probe fell below chance (0.380) on these sessions."]
    strong = {1: probe(0.95, 0.85, 0.6), 2: probe(0.9, 0.8, 0.6)}
    assert seeds.seed_caveats(strong, "generator") == []
    lost = {1: probe(0.5, 0.3, 0.6)}
    assert seeds.seed_caveats(lost, "generator") == []
