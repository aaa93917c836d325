"""The results of the MRMC analysis as files: ``orh.json``, a Markdown report section and PNG
figures, written together into one folder (atomically: all or nothing).

``orh.json`` keys: ``F``, ``ddf``, ``p_value`` (random readers and cases global test),
``ci_low``, ``ci_high`` (interval of the first pairwise AUC difference, labelled in
``difference``), ``auc_by_modality`` (reader-averaged AUC); then ``analyses`` (all three),
``components``, ``reader_auc``, ``reader_differences``, ``operating_points``,
``standalone_ai``, ``design``, ``cov_method``, ``alpha`` and ``disclaimer``. Numbers that do not
exist (an infinite df of a normal interval, a missing estimate) are null.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from gliopet import DISCLAIMER
from gliopet.atomic import staged_directory, write_json, write_text, write_tsv
from gliopet.reader.mrmc import Analysis, Estimate, MRMCResult
from gliopet.reader.mrmc_ai import StandaloneAI

ORH_JSON = "orh.json"
REPORT_MD = "report.md"
READER_AUC_TSV = "reader_auc.tsv"
OPERATING_TSV = "operating_points.tsv"
FIG_READERS = "reader_auc.png"
FIG_DIFFERENCE = "auc_difference.png"


def clean(value: object) -> object:
    """JSON-safe copy: NaN and infinities become None, recursively."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalar
        return clean(value.item())
    return value


def orh_summary(result: MRMCResult, ai: StandaloneAI | None = None,
                operating: pd.DataFrame | None = None) -> dict:
    """The content of ``orh.json``."""
    rrrc = result.analyses["random_readers_cases"]
    first = rrrc.differences[0]
    out = {"F": rrrc.test.value, "ddf": rrrc.test.df2, "p_value": rrrc.test.p_value,
           "ci_low": first.ci_low, "ci_high": first.ci_high,
           "auc_by_modality": {m.label: m.estimate for m in rrrc.modalities},
           "difference": first.label, "difference_estimate": first.estimate,
           **result.to_dict(), "disclaimer": DISCLAIMER}
    out["operating_points"] = [] if operating is None else operating.to_dict("records")
    out["standalone_ai"] = None if ai is None else asdict(ai)
    return clean(out)


def fmt(value: float, digits: int = 3) -> str:
    """A number for people: fixed digits, ``n/a`` when it does not exist."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def fmt_p(value: float) -> str:
    """A p-value: 4 digits, ``< 0.0001`` below."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def fmt_df(value: float) -> str:
    """Degrees of freedom; infinite (normal interval) shown as ``normal``."""
    if value is None or math.isnan(value):
        return "n/a"
    return "normal" if math.isinf(value) else f"{value:.2f}"


def _interval(e: Estimate, pct: int) -> str:
    return f"{fmt(e.estimate, 4)} ({fmt(e.ci_low, 4)} to {fmt(e.ci_high, 4)}), {pct} % CI"


def _analysis_rows(analysis: Analysis, pct: int) -> list[str]:
    t = analysis.test
    stat = f"{t.statistic} = {fmt(t.value, 3)} on ({t.df1:g}, {fmt_df(t.df2)})"
    rows = [f"| {analysis.name} | global | {stat}, p = {fmt_p(t.p_value)} |"]
    for d in analysis.differences:
        rows.append(f"| {analysis.name} | {d.label} | {_interval(d, pct)}; SE {fmt(d.se, 4)}, "
                    f"df {fmt_df(d.df)}, p = {fmt_p(d.p_value)} |")
    for m in analysis.modalities:
        rows.append(f"| {analysis.name} | AUC {m.label} | {_interval(m, pct)}; "
                    f"SE {fmt(m.se, 4)}, df {fmt_df(m.df)} |")
    return rows


def _reader_table(result: MRMCResult) -> list[str]:
    wide = result.reader_auc.pivot(index="reader", columns="modality", values="auc")
    wide = wide.reindex(columns=result.modalities)
    lines = ["| reader | " + " | ".join(f"AUC {m}" for m in result.modalities) + " |",
             "|---|" + "---|" * len(result.modalities)]
    for reader, row in wide.iterrows():
        lines.append(f"| {reader} | " + " | ".join(fmt(v, 4) for v in row) + " |")
    return lines


def _components_lines(result: MRMCResult) -> list[str]:
    c = result.components
    names = [("Var(R)", c.var_r), ("Var(T:R)", c.var_tr), ("Cov1", c.cov1), ("Cov2", c.cov2),
             ("Cov3", c.cov3), ("Var(error)", c.var_error), ("MS(T)", c.ms_t),
             ("MS(R)", c.ms_r), ("MS(T:R)", c.ms_tr)]
    return ["| component | estimate |", "|---|---|",
            *[f"| {n} | {fmt(v, 7)} |" for n, v in names]]


def _operating_lines(operating: pd.DataFrame | None) -> list[str]:
    if operating is None or operating.empty:
        return ["No operating point: the ratings are a confidence scale without a stated "
                "threshold and there is no decision column."]
    lines = ["| reader | modality | threshold | sensitivity | specificity |",
             "|---|---|---|---|---|"]
    for r in operating.itertuples():
        lines.append(f"| {r.reader} | {r.modality} | {r.threshold} | {fmt(r.sensitivity)} | "
                     f"{fmt(r.specificity)} |")
    return lines


def _ai_lines(ai: StandaloneAI | None, pct: int) -> list[str]:
    if ai is None:
        return ["No standalone AI ratings were given."]
    return [
        f"Modality {ai.modality}, {ai.n_readers} readers, {ai.n_cases} cases. Method: "
        "single-modality OR analysis of the reader-minus-AI AUC differences (RJafroc "
        "`StCadVsRad` 1T-RRRC; Chakraborty 2017), Hillis df; AI AUC with DeLong's interval.",
        "", "| quantity | estimate |", "|---|---|",
        f"| AI AUC | {_interval(ai.ai, pct)} |",
        f"| mean reader AUC | {fmt(ai.reader_mean_auc, 4)} |",
        f"| readers - AI (random readers and cases) | {_interval(ai.difference_rrrc, pct)}, "
        f"df {fmt_df(ai.difference_rrrc.df)}, p = {fmt_p(ai.difference_rrrc.p_value)} |",
        f"| readers - AI (random readers, fixed cases) | {_interval(ai.difference_rrfc, pct)}, "
        f"df {fmt_df(ai.difference_rrfc.df)}, p = {fmt_p(ai.difference_rrfc.p_value)} |",
    ]


def markdown(result: MRMCResult, ai: StandaloneAI | None = None,
             operating: pd.DataFrame | None = None) -> str:
    """The Markdown report section (tables, figure links, disclaimer)."""
    pct = round(100 * (1 - result.alpha))
    lines = [
        "## Reader study: MRMC analysis", "", f"*{DISCLAIMER}*", "",
        f"Design: {result.design.replace('_', ' ')}; {len(result.readers)} readers, "
        f"{result.n_cases} cases, modalities {', '.join(result.modalities)}. Empirical "
        f"(Wilcoxon) AUC; {result.cov_method} covariances; Obuchowski-Rockette analysis with "
        "Hillis denominator degrees of freedom (as the R package MRMCaov computes it).", "",
        "### Reader AUCs", "", *_reader_table(result), "",
        f"![reader AUCs]({FIG_READERS})", "",
        "### Obuchowski-Rockette-Hillis results", "",
        "| analysis | comparison | result |", "|---|---|---|",
    ]
    for analysis in result.analyses.values():
        lines += _analysis_rows(analysis, pct)
    lines += ["", f"![AUC difference]({FIG_DIFFERENCE})", "", "### Variance components", "",
              *_components_lines(result), "", "### Sensitivity and specificity per reader", "",
              *_operating_lines(operating), "", "### Standalone AI", "", *_ai_lines(ai, pct),
              ""]
    return "\n".join(lines)


def _pyplot():  # noqa: ANN202  (matplotlib module)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_reader_auc(result: MRMCResult, path: Path) -> Path:
    """Each reader's AUC in each modality (one line per reader) and the reader average."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    table = result.reader_auc.pivot(index="reader", columns="modality", values="auc")
    table = table.reindex(columns=result.modalities)
    x = range(len(result.modalities))
    for reader, row in table.iterrows():
        ax.plot(x, row.to_numpy(), marker="o", color="0.6", lw=1)
        ax.annotate(str(reader), (len(x) - 1, row.iloc[-1]), xytext=(4, 0),
                    textcoords="offset points", fontsize=7, va="center")
    ax.plot(x, table.mean().to_numpy(), marker="s", color="C3", lw=2.5, label="reader average")
    ax.set_xticks(list(x), result.modalities)
    ax.set_ylabel("AUC (empirical)")
    ax.set_title("Reader AUCs by modality")
    ax.legend(loc="lower right", fontsize=8)
    fig.text(0.01, 0.005, DISCLAIMER, fontsize=5, wrap=True)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path


def figure_difference(result: MRMCResult, path: Path) -> Path:
    """AUC differences with their intervals: the three analyses and each reader (fixed)."""
    plt = _pyplot()
    rows = [(f"{a.name}: {d.label}", d) for a in result.analyses.values() for d in a.differences]
    rows += [(f"reader {r['reader']}: {r['label']}", r)
             for r in result.reader_differences.to_dict("records")]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.35 * len(rows)), dpi=100)
    for y, (_label, d) in enumerate(reversed(rows)):
        est = d.estimate if isinstance(d, Estimate) else d["estimate"]
        low = d.ci_low if isinstance(d, Estimate) else d["ci_low"]
        high = d.ci_high if isinstance(d, Estimate) else d["ci_high"]
        colour = "C0" if isinstance(d, Estimate) else "0.5"
        ax.errorbar(est, y, xerr=[[est - low], [high - est]], fmt="o", color=colour, capsize=3)
    ax.set_yticks(range(len(rows)), [label for label, _ in reversed(rows)], fontsize=7)
    ax.axvline(0, color="k", lw=0.8, ls="--")
    ax.set_xlabel(f"AUC difference ({round(100 * (1 - result.alpha))} % CI)")
    ax.set_title("Difference of AUCs between modalities")
    fig.text(0.01, 0.005, DISCLAIMER, fontsize=5, wrap=True)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path


def write_results(result: MRMCResult, out: str | Path, *, ai: StandaloneAI | None = None,
                  operating: pd.DataFrame | None = None, overwrite: bool = False,
                  provenance: dict | None = None) -> Path:
    """Write orh.json, report.md, the tables and figures into `out` (all or nothing)."""
    with staged_directory(out, overwrite=overwrite) as stage:
        write_json(stage / ORH_JSON, orh_summary(result, ai, operating))
        write_text(stage / REPORT_MD, markdown(result, ai, operating))
        write_tsv(stage / READER_AUC_TSV, result.reader_auc)
        if operating is not None and not operating.empty:
            write_tsv(stage / OPERATING_TSV, operating)
        figure_reader_auc(result, stage / FIG_READERS)
        figure_difference(result, stage / FIG_DIFFERENCE)
        if provenance is not None:
            write_json(stage / "provenance.json", clean(provenance))
    return Path(out)
