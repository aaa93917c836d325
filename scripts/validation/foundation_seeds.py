"""The foundation section's pretraining seeds (issue 12, item 8: "at least three seeds"):
where each seed's model and evaluations live, and the per-seed table with the mean and the
between-seed SD of every metric next to its baselines.

The baselines (raw intensities, kinetic channels, radiomics, Bayes ceiling) do not depend on
the pretrained model: the same sessions, k-means seeds and cross-validation splits give the
same values for every pretraining seed, so they are shown once (from the first seed's table).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: Pretraining seeds: the package configuration's and the next ones.
N_SEEDS = 3


def pretraining_seeds(base: int) -> list[int]:
    """`N_SEEDS` pretraining seeds starting at the configuration's `base`."""
    return [base + i for i in range(N_SEEDS)]


def seeded(path: Path, seed: int, base: int) -> Path:
    """`path` for the configuration's seed (the names of earlier runs), ``path-seed-N`` else."""
    return path if seed == base else path.with_name(f"{path.name}-seed-{seed}")


@dataclass(frozen=True)
class Metric:
    """One row of the seed table: which rows of `representation.tsv` it reads."""

    label: str
    evaluation: str
    target: str
    probe: str
    baselines: tuple[str, ...]
    removed: str = ""
    #: The evaluation whose rows give the baselines after the first (the tumour-region probes
    #: share the radiomics and the Bayes ceiling of the whole-brain probes); its own if empty.
    shared_from: str = ""


METRICS = (
    Metric("patch-cluster ARI", "patch_clustering", "true compartment", "k-means",
           ("raw", "kinetic")),
    Metric("patch-probe balanced accuracy", "patch_probe", "true compartment", "linear",
           ("raw", "raw + kinetic", "kinetic")),
    *(Metric(f"{name} AUC, {target}", "probe", target, probe,
             ("raw intensities", "radiomics", "true posterior"))
      for target in ("IDH", "outcome")
      for probe, name in (("linear", "linear probe"), ("knn", "k-NN"))),
    *(Metric(f"tumour-region {name} AUC, {target}", "tumour_probe", target, probe,
             ("raw intensities", "radiomics", "true posterior"), shared_from="probe")
      for target in ("IDH", "outcome")
      for probe, name in (("linear", "linear probe"), ("knn", "k-NN"))),
)
#: How the baselines are named in the table.
BASELINE_NAMES = {"raw": "raw intensities", "kinetic": "kinetic channels",
                  "raw + kinetic": "raw intensities + kinetic channels (every input)",
                  "true posterior": "Bayes ceiling"}
#: The baseline given every input the model sees, where a metric has one besides raw.
ALL_INPUTS = "raw + kinetic"


def missing_metrics(table: pd.DataFrame) -> list[Metric]:
    """Item 8c rows of a table: the linear probe with one modality removed at inference."""
    rows = table[table.evaluation == "missing_modality"]
    return [Metric(f"linear probe AUC, {t}, without {m}", "missing_modality", t, "linear", (),
                   m) for t, m in zip(rows.target, rows.removed, strict=True)]


def _row(table: pd.DataFrame, metric: Metric, features: str) -> pd.Series | None:
    evaluation = metric.evaluation
    if metric.shared_from and features in metric.baselines[1:]:
        evaluation = metric.shared_from
    pick = table[(table.evaluation == evaluation) & (table.target == metric.target)
                 & (table.features == features)]
    if metric.removed:
        pick = pick[pick.removed == metric.removed]
    if features != "true posterior":
        pick = pick[pick.probe == metric.probe]
    return pick.iloc[0] if len(pick) and pd.notna(pick.iloc[0].estimate) else None


def _ci(row: pd.Series | None) -> str:
    if row is None:
        return "n/a"
    low, high = (f"{v:.3f}" if pd.notna(v) else "n/a" for v in (row.ci_low, row.ci_high))
    return f"{row.estimate:.3f} ({low} to {high})"


@dataclass(frozen=True)
class SeedSummary:
    """One metric over the pretraining seeds."""

    metric: Metric
    per_seed: dict[int, pd.Series]
    raw: pd.Series | None

    @property
    def values(self) -> np.ndarray:
        return np.array([r.estimate for r in self.per_seed.values()], float)

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    @property
    def sd(self) -> float:
        return float(self.values.std(ddof=1)) if len(self.values) > 1 else float("nan")

    def mean_sd(self) -> str:
        sd = "n/a" if np.isnan(self.sd) else f"{self.sd:.3f}"
        return f"{self.mean:.3f} +/- {sd}"

    def beats_raw(self) -> bool:
        """Every pretraining seed's estimate above the raw-intensity estimate."""
        return self.raw is not None and bool((self.values > self.raw.estimate).all())


def summaries(tables: dict[int, pd.DataFrame]) -> list[SeedSummary]:
    """Per metric present in every seed's table: the seeds' rows and the raw baseline."""
    out = []
    first = next(iter(tables.values()))
    for metric in (*METRICS, *missing_metrics(first)):
        rows = {s: _row(t, metric, "embedding") for s, t in tables.items()}
        if any(r is None for r in rows.values()):
            continue
        raw = _row(first, metric, metric.baselines[0]) if metric.baselines else None
        out.append(SeedSummary(metric, rows, raw))
    return out


def seed_table(tables: dict[int, pd.DataFrame]) -> list[str]:
    """Markdown: per metric (missing-modality rows included), the embedding of each pretraining
    seed (95 % CI), mean +/- SD over seeds, then the baselines (95 % CI)."""
    seeds = list(tables)
    first = tables[seeds[0]]
    lines = ["| metric | " + " | ".join(f"seed {s}" for s in seeds)
             + " | mean +/- SD over seeds | raw intensities | other baselines |",
             "|---" * (len(seeds) + 4) + "|"]
    for summary in summaries(tables):
        others = [f"{BASELINE_NAMES.get(b, b)} {_ci(_row(first, summary.metric, b))}"
                  for b in summary.metric.baselines[1:]
                  if _row(first, summary.metric, b) is not None]
        lines.append(f"| {summary.metric.label} | "
                     + " | ".join(_ci(summary.per_seed[s]) for s in seeds)
                     + f" | {summary.mean_sd()} | "
                     + (_ci(summary.raw) if summary.metric.baselines else "-") + " | "
                     + ("; ".join(others) or "-") + " |")
    return lines


def seed_verdicts(tables: dict[int, pd.DataFrame], where: str) -> list[str]:
    """One line per linear-probe and ARI metric: does the embedding beat raw intensities over
    every pretraining seed?"""
    out = []
    for summary in summaries(tables):
        if summary.raw is None or summary.metric.probe == "knn":
            continue
        verdict = ("beats" if summary.beats_raw() else "does **not** beat")
        out.append(f"- {where}, {summary.metric.label}: the embeddings "
                   f"{summary.mean_sd()} (mean +/- SD over {len(summary.values)} pretraining "
                   f"seeds; per seed {', '.join(f'{v:.3f}' for v in summary.values)}) "
                   f"{verdict} raw intensities {_ci(summary.raw)}.")
        every = (_row(next(iter(tables.values())), summary.metric, ALL_INPUTS)
                 if ALL_INPUTS in summary.metric.baselines else None)
        if every is not None:
            verdict = "beat" if (summary.values > every.estimate).all() else "do **not** beat"
            out.append(f"- {where}, {summary.metric.label}: the embeddings {verdict} the patch "
                       f"means of every input the model sees (raw + kinetic) {_ci(every)}.")
    return out


def seed_caveats(tables: dict[int, pd.DataFrame], where: str) -> list[str]:
    """What a won comparison does not show: for each linear-probe metric the embedding wins,
    whether every seed's CI still holds chance (0.5) and whether the raw-intensity probe fell
    below chance (so that the win is over a baseline that failed, not a strong embedding)."""
    out = []
    for summary in summaries(tables):
        if (summary.metric.evaluation not in ("probe", "tumour_probe")
                or summary.metric.probe == "knn"):
            continue
        if not summary.beats_raw():
            continue
        lows = [r.ci_low for r in summary.per_seed.values()]
        parts = []
        if all(low <= 0.5 for low in lows):
            parts.append("every seed's 95 % CI includes chance (0.5; lower limits "
                         + ", ".join(f"{low:.3f}" for low in lows) + ")")
        if summary.raw.estimate < 0.5:
            parts.append(f"the raw-intensity probe fell below chance "
                         f"({summary.raw.estimate:.3f}) on these sessions")
        ceiling = _row(next(iter(tables.values())), summary.metric, "true posterior")
        above = [s for s, r in summary.per_seed.items()
                 if ceiling is not None and r.estimate > ceiling.estimate]
        if above:
            parts.append(f"seed(s) {', '.join(map(str, above))} score above the Bayes ceiling "
                         f"of these sessions ({ceiling.estimate:.3f}), which no model can do "
                         f"on average: on {ceiling.n} sessions that is chance")
        if parts:
            out.append(f"- {where}, {summary.metric.label}: the win over raw intensities is "
                       "weak: " + "; ".join(parts) + ".")
    return out
