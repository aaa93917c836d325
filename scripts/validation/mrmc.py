"""Validation section ``mrmc``: type-I error and power of the Obuchowski-Rockette-Hillis
analysis (`gliopet.reader.mrmc`) on Roe-Metz simulated reader studies (`gliopet.reader.roemetz`).

Each configuration is simulated 2000 times under the null hypothesis (equal separation mu in
both modalities) and 2000 times under an alternative (modality 1 separation mu + delta);
jackknife covariances, alpha = 0.05, continuous ratings. The random readers and cases test is
the one whose type-I error must be 5 %; the fixed-readers and fixed-cases tests answer
conditional questions (these readers, these cases) and are expected to reject more often when
readers and cases are in fact random, as they are here.
"""

from __future__ import annotations

import time

from scipy.stats import beta

from gliopet.config import load_config

REPLICATES = 2000
ALPHA = 0.05
CONFIGS = (
    dict(structure="HH", readers=5, normal=50, abnormal=50, mu=1.5, delta=0.4),
    dict(structure="LL", readers=5, normal=25, abnormal=25, mu=0.75, delta=0.5),
    dict(structure="HL", readers=10, normal=50, abnormal=50, mu=2.5, delta=0.6),
)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of a proportion k / n."""
    a = 1 - level
    low = beta.ppf(a / 2, k, n - k + 1) if k > 0 else 0.0
    high = beta.ppf(1 - a / 2, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)


def _rate(k: int) -> str:
    low, high = clopper_pearson(k, REPLICATES)
    return f"{100 * k / REPLICATES:.1f} % ({100 * low:.1f}-{100 * high:.1f})"


def run(cohorts=None) -> str:
    """The section's Markdown (no cohort needed)."""
    from gliopet.reader.roemetz import STRUCTURES, expected_auc, rejections

    seed = load_config().seed
    started = time.perf_counter()
    lines = [
        "## MRMC analysis: type-I error and power (Roe-Metz simulation)",
        "",
        __doc__.split("\n\n", 1)[1].strip().replace("\n", " "),
        "",
        "Cells: rejection rate at alpha = 0.05 with its exact (Clopper-Pearson) 95 % interval. "
        "RRRC: random readers and cases (Hillis ddf); FRRC: fixed readers; RRFC: fixed cases.",
        "",
        "| structure | readers | cases (-/+) | AUC null | AUC alt. | RRRC type I | FRRC type I "
        "| RRFC type I | RRRC power |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, config in enumerate(CONFIGS):
        design = {k: v for k, v in config.items() if k != "delta"}
        null = rejections(REPLICATES, alpha=ALPHA, seed=seed + 2 * i, **design)
        alt = rejections(REPLICATES, alpha=ALPHA, seed=seed + 2 * i + 1, delta=config["delta"],
                         **design)
        var = STRUCTURES[config["structure"]]
        auc0 = expected_auc(config["mu"], var)
        auc1 = expected_auc(config["mu"] + config["delta"], var)
        lines.append(
            f"| {config['structure']} | {config['readers']} | {config['normal']}/"
            f"{config['abnormal']} | {auc0:.3f} | {auc1:.3f} | "
            f"{_rate(null['random_readers_cases'])} | {_rate(null['fixed_readers'])} | "
            f"{_rate(null['fixed_cases'])} | {_rate(alt['random_readers_cases'])} |")
    lines += ["", f"{REPLICATES} replicates per cell; run time "
              f"{time.perf_counter() - started:.0f} s on one core."]
    return "\n".join(lines)
