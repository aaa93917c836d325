"""Benchmark of `gliopet classify tabular`: 100 patients x 120 correlated features.

Writes a synthetic radiomics-like table (12 groups of 10 features sharing a latent factor,
within-group correlation about 0.8; the label depends on two of the factors, so that the
selection has correlated near-duplicates to choose among) and its label table, then runs the
command with 10 x 5-fold repeated nested cross-validation on 2 joblib processes (the four
classical families: L2 logistic regression, SVM, random forest, gradient boosting), timing the
whole command (reading, evaluation, final fits, SHAP, bootstrap, figures).

Usage::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 taskset -c 0,1 \\
        .venv/bin/python benchmarks/classify_tabular.py [--out DIR] [--jobs 2]

Prints a Markdown line for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_tables(folder: Path, n: int = 100, groups: int = 12, per_group: int = 10,
                seed: int = 1) -> tuple[Path, Path]:
    """Feature table (csv) and label table (tsv) of the benchmark in `folder`."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, groups))
    columns = {}
    for g in range(groups):
        for j in range(per_group):
            columns[f"g{g:02d}_f{j:02d}"] = latent[:, g] + 0.5 * rng.normal(size=n)
    risk = 1.0 * latent[:, 0] - 0.8 * latent[:, 1]
    y = (risk + rng.normal(size=n) > 0).astype(int)
    ids = [f"sub-{i:03d}" for i in range(n)]
    features = folder / "features.csv"
    labels = folder / "labels.tsv"
    pd.DataFrame({"participant_id": ids, **columns}).to_csv(features, index=False)
    pd.DataFrame({"participant_id": ids, "outcome": y}).to_csv(labels, sep="\t", index=False)
    return features, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    from gliopet.cli import main as cli

    work = Path(tempfile.mkdtemp(prefix="bench-classify-"))
    out = args.out or work / "out"
    features, labels = make_tables(work)
    argv = ["classify", "tabular", str(features), "--labels", str(labels), "--target", "outcome",
            "--out", str(out), "--repeats", str(args.repeats), "--folds", "5", "--jobs",
            str(args.jobs), "--models", "logistic,svm,rf,gb", "--force"]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    code = cli(argv)
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"gliopet classify tabular failed with status {code}")
    results = pd.read_csv(out / "results.tsv", sep="\t")
    aucs = ", ".join(f"{r.model} {r.auc:.2f} [{r.auc_ci_low:.2f}, {r.auc_ci_high:.2f}]"
                     for r in results.itertuples())
    print(f"\n| 100 x 120, {args.repeats} x 5-fold nested CV, 4 families, --jobs {args.jobs} | "
          f"{wall:.0f} s | load average before the run {load:.1f} | AUC {aucs} |")


if __name__ == "__main__":
    main()
