"""The patient report as a 4-page A4 PDF, built with matplotlib's PdfPages (no system library).

Pages (`gliopet.report.patient.PDF_PAGES`): 1 summary (header, tumour, model output, biopsy
target, QC flags), 2 images (the same PNG figures as the HTML), 3 TACs and guideline numbers,
4 provenance. Every page carries the research-use disclaimer at its foot.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.image as mpimg
from matplotlib.figure import Figure

from gliopet import DISCLAIMER
from gliopet.report import figures
from gliopet.report.numbers import fmt, guideline_rows

if TYPE_CHECKING:
    from gliopet.report.patient import PatientReport

A4 = (8.27, 11.69)


def _page(title: str) -> Figure:
    fig = Figure(figsize=A4)
    fig.text(0.06, 0.96, title, fontsize=14, fontweight="bold", va="top")
    fig.text(0.06, 0.02, "\n".join(textwrap.wrap(DISCLAIMER, 110)), fontsize=7, color="dimgray")
    return fig


def _lines(fig: Figure, lines: Sequence[str], top: float = 0.92, size: float = 8.5) -> float:
    """Write wrapped lines from `top` downwards; returns the next free height."""
    y = top
    for line in lines:
        indent = "    " if line.startswith("  ") else ""  # continuation under its item
        for part in textwrap.wrap(line, 105, subsequent_indent=indent) or [""]:
            fig.text(0.06, y, part, fontsize=size, va="top", family="monospace"
                     if line.startswith("  ") else None)
            y -= 0.016
    return y


def _png_axes(fig: Figure, png: bytes, box: tuple[float, float, float, float]) -> None:
    ax = fig.add_axes(box)
    ax.imshow(mpimg.imread(io.BytesIO(png), format="png"))
    ax.set_axis_off()


def summary_page(r: PatientReport) -> Figure:
    """Page 1: header, tumour, model output, biopsy target, QC flags."""
    from gliopet.report.patient import model_rows, target_points, target_rows, tumour_sentence

    fig = _page(r.title)
    q = r.quant
    lines = [f"Subject {r.subject}, session {r.session}, site {fmt(q.get('site'))}, tracer "
             f"{fmt(q.get('tracer'))}, {fmt(q.get('n_frames'))} frame(s).", "",
             tumour_sentence(q), "", "Model output:"]
    lines += ([f"  {m}: probability {p} (threshold {t}) -> {c}" for m, _, p, t, c, _ in
               model_rows(r.model)] if r.model is not None else
              ["  not run (gliopet predict BIDS_DIR --model MODEL_DIR)"])
    lines += ["", "Biopsy target:"]
    if r.target is None:
        lines += ["  not run (gliopet signature, gliopet biopsy)"]
    else:
        lines += [f"  {name}: RAS {ras} mm (LPS {lps}), MRI voxel {voxel}; {values}"
                  for name, ras, lps, voxel, _, values in target_points(r.target)]
        lines += [f"  {k}: {v}" for k, v in target_rows(r.target)]
    lines += ["", "QC flags: " + (", ".join(r.qc_flags) if r.qc_flags else "none")]
    _lines(fig, lines)
    return fig


def images_page(r: PatientReport) -> Figure:
    """Page 2: the image panels (PET, then the aggressiveness and saliency maps when present)."""
    fig = _page(f"{r.subject} {r.session}: images")
    shown = [f for f in (r.figures.get(n) for n in ("pet", "aggressiveness", "saliency"))
             if f is not None]
    height = 0.86 / 3
    for index, figure in enumerate(shown):
        _png_axes(fig, figures.png_bytes(figure, dpi=90),
                  (0.03, 0.92 - (index + 1) * height, 0.94, height - 0.01))
    if len(shown) < 3:
        _lines(fig, ["Maps not shown were not computed for this session (aggressiveness: "
                     "gliopet signature; saliency: an image model of gliopet predict)."],
               top=0.92 - len(shown) * height - 0.02)
    return fig


def numbers_page(r: PatientReport) -> Figure:
    """Page 3: the TACs and the guideline numbers with units, readings and sources."""
    fig = _page(f"{r.subject} {r.session}: TACs and guideline numbers")
    tacs = r.figures.get("tacs")
    if tacs is not None:
        _png_axes(fig, figures.png_bytes(tacs, dpi=90), (0.12, 0.55, 0.76, 0.38))
    else:
        _lines(fig, ["Static acquisition (one frame): no time-activity curve."])
    ax = fig.add_axes((0.04, 0.08, 0.92, 0.42))
    ax.set_axis_off()
    rows = [[r_["quantity"], r_["value"], r_["units"], r_["reading"], r_["source"]]
            for r_ in guideline_rows(r.quant)]
    grid = ax.table(cellText=rows, colLabels=["quantity", "value", "units", "reading", "source"],
                    loc="upper center", colWidths=[0.2, 0.1, 0.1, 0.28, 0.32])
    grid.auto_set_font_size(False)
    grid.set_fontsize(7.5)
    return fig


def provenance_page(r: PatientReport) -> Figure:
    """Page 4: each step (command, version, time) and the dependency versions."""
    from gliopet.report.patient import provenance_rows

    fig = _page(f"{r.subject} {r.session}: provenance")
    lines = ["Steps (stage, command, gliopet version, finished UTC, seconds):"]
    lines += [f"  {' | '.join(row)}" for row in provenance_rows(r)]
    lines += ["", "Versions:"] + [f"  {k} {v}" for k, v in sorted(r.versions.items())]
    _lines(fig, lines)
    return fig


def write_pdf(report: PatientReport, path: Path) -> Path:
    """Write the 4 pages atomically to `path`."""
    from matplotlib.backends.backend_pdf import PdfPages

    from gliopet.atomic import atomic_path

    with atomic_path(path) as tmp, PdfPages(tmp) as pdf:
        for build in (summary_page, images_page, numbers_page, provenance_page):
            pdf.savefig(build(report))
    return path
