"""The association study's folder: tables (TSV + Markdown), volcano and heatmap figures.

Written under the user's ``--out`` folder through `gliopet.atomic.staged_directory` (nothing
half-written); missing values are written ``n/a``; the Markdown carries `gliopet.DISCLAIMER`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliopet import DISCLAIMER
from gliopet.signature.association import AssociationOptions, AssociationResult
from gliopet.signature.labels import MARKERS, ORDINAL

#: Files of the study folder.
UNIVARIATE_FILE = "association.tsv"
MULTIVARIABLE_FILE = "multivariable.tsv"
SUMMARY_FILE = "association.md"
VOLCANO_FILE = "volcano.png"
HEATMAP_FILE = "heatmap.png"


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"
    return str(value)


def _signed_effect(table: pd.DataFrame) -> pd.Series:
    """Cliff's delta for binary markers, rho for the grade: both in [-1, 1]."""
    return table["cliffs_delta"].where(table["effect_name"] == "AUC", table["effect"])


def volcano(table: pd.DataFrame, path: Path, alpha: float) -> None:
    """Signed effect against -log10 p, discoveries (BH q <= alpha) in colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    effect = _signed_effect(table)
    logp = -np.log10(np.clip(table["p"].to_numpy(float), 1e-300, 1))
    hit = table["discovery"].to_numpy(bool)
    ax.scatter(effect[~hit], logp[~hit], s=12, c="0.6", label="not significant")
    ax.scatter(effect[hit], logp[hit], s=16, c="tab:red", label=f"BH q <= {alpha:g}")
    for i in np.flatnonzero(hit)[:12]:
        ax.annotate(f"{table['feature'].iloc[i]} / {table['marker'].iloc[i]}",
                    (effect.iloc[i], logp[i]), fontsize=6)
    ax.set_xlabel("effect: Cliff's delta (binary markers) or Spearman rho (grade)")
    ax.set_ylabel("-log10 p")
    ax.axvline(0, c="0.8", lw=0.8)
    ax.legend(fontsize=7)
    ax.set_title("signature elements vs markers", fontsize=9)
    fig.text(0.01, 0.005, DISCLAIMER, fontsize=5)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def heatmap(table: pd.DataFrame, path: Path) -> None:
    """Signed effect of every element (rows) for every marker (columns); * for discoveries."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = table.assign(signed=_signed_effect(table)).pivot(index="feature", columns="marker",
                                                            values="signed")
    hits = table.pivot(index="feature", columns="marker", values="discovery")
    hits = hits.reindex(index=grid.index, columns=grid.columns)
    fig, ax = plt.subplots(figsize=(1.2 + 0.8 * grid.shape[1], 1.5 + 0.22 * grid.shape[0]))
    image = ax.imshow(grid.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(grid.shape[0]), grid.index, fontsize=6)
    for (i, j), hit in np.ndenumerate(hits.to_numpy()):
        if hit is True or hit == 1:
            ax.text(j, i, "*", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax, label="Cliff's delta / rho")
    fig.text(0.01, 0.005, DISCLAIMER, fontsize=4)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _marker_words(marker: str) -> str:
    if marker in MARKERS:
        return MARKERS[marker].meaning
    return ORDINAL.get(marker, f"{marker} (read as a number)")


def summary_markdown(result: AssociationResult, opts: AssociationOptions,
                     context: list[str]) -> str:
    """The paper-ready summary: methods line, discoveries table, multivariable table."""
    uni, multi = result.univariate, result.multivariable
    lines = ["# Signature association study", "", f"> {DISCLAIMER}", "", *context, "",
             "Univariate: Mann-Whitney U (binary markers; effect = AUC of the element for the "
             "positive class, Cliff's delta = 2 AUC - 1) or Spearman rho (grade), 95 % "
             f"bootstrap intervals ({opts.n_boot} replicates); Benjamini-Hochberg FDR over all "
             f"{len(uni)} tests, discoveries at q <= {opts.alpha:g}.", "",
             "Markers: " + "; ".join(f"{m}: {_marker_words(m)}"
                                     for m in dict.fromkeys(uni.get("marker", []))), "",
             "| element | marker | n | effect | 95 % CI | p | q |", "|---|---|---|---|---|---|---|"]
    shown = uni.sort_values("q").head(30) if not uni.empty else uni
    for _, r in shown.iterrows():
        lines.append(f"| {r.feature} | {r.marker} | {r.n} | {r.effect_name} {_fmt(r.effect)} | "
                     f"{_fmt(r.ci_low)} to {_fmt(r.ci_high)} | {_fmt(r.p, 3)} | "
                     f"{_fmt(r.q, 3)}{' *' if r.discovery else ''} |")
    n_hits = int(uni["discovery"].sum()) if not uni.empty else 0
    lines += ["", f"{n_hits} discoveries of {len(uni)} tests (* above; at most 30 rows shown, "
                  f"all in {UNIVARIATE_FILE}).", "",
              "## Multivariable (cross-validated, by subject)", ""]
    if multi.empty:
        lines.append("No marker had enough subjects of each class for the cross-validation.")
    else:
        lines += ["| marker | n (pos/neg) | AUC | 95 % CI |", "|---|---|---|---|"]
        lines += [f"| {r.marker} | {r.n} ({r.n_pos}/{r.n_neg}) | {_fmt(r.auc)} | "
                  f"{_fmt(r.ci_low)} to {_fmt(r.ci_high)} |" for _, r in multi.iterrows()]
    if result.notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in result.notes[:50]]]
    return "\n".join(lines) + "\n"


def write_study(out: str | Path, result: AssociationResult, opts: AssociationOptions,
                context: list[str], provenance: dict[str, Any]) -> Path:
    """Write the study folder (module docstring); return it."""
    from gliopet.atomic import staged_directory, write_text, write_tsv
    from gliopet.provenance import write_provenance

    with staged_directory(out, overwrite=True) as folder:
        write_tsv(folder / UNIVARIATE_FILE, result.univariate)
        write_tsv(folder / MULTIVARIABLE_FILE, result.multivariable)
        write_text(folder / SUMMARY_FILE, summary_markdown(result, opts, context))
        if not result.univariate.empty:
            volcano(result.univariate, folder / VOLCANO_FILE, opts.alpha)
            heatmap(result.univariate, folder / HEATMAP_FILE)
        write_provenance(folder, **provenance)
    return Path(out)
