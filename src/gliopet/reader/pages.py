"""HTML of the reader-study application: Jinja2 templates (package data) and the TAC plot.

Templates live in ``gliopet/data/reader/templates`` and are rendered with autoescaping, so
nothing a user typed is interpreted as HTML. Every page carries `gliopet.DISCLAIMER`.
"""

from __future__ import annotations

import html
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

from gliopet import DISCLAIMER

#: The application's package data: ``templates/`` and ``static/`` (NiiVue, script, style).
DATA = Path(__file__).resolve().parents[1] / "data" / "reader"
#: Colours of the TAC plot's curves, in turn.
_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(DATA / "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True))


def render(template: str, **values: Any) -> str:
    """A page from its template, with the disclaimer."""
    return _environment().get_template(template).render(disclaimer=DISCLAIMER, **values)


def _scale(values: list[float], low: float, high: float, size: float) -> list[float]:
    span = (high - low) or 1.0
    return [size * (v - low) / span for v in values]


def tac_svg(tacs: dict[str, Any] | None, width: int = 360, height: int = 220) -> str:
    """An inline SVG line plot of the VOI TACs (SUV against min); "" when there are none.

    Hand-written (a few lines) so that the page needs no plotting library in the browser.
    """
    if not tacs or not tacs.get("minutes"):
        return ""
    minutes = [float(m) for m in tacs["minutes"]]
    curves = {k: [v for v in vals] for k, vals in tacs["curves"].items()}
    finite = [v for vals in curves.values() for v in vals if v is not None and math.isfinite(v)]
    if not finite:
        return ""
    left, bottom, top, right = 44, 30, 10, 90
    w, h = width - left - right, height - top - bottom
    xs = _scale(minutes, 0.0, max(minutes), w)
    ymax = max(finite) * 1.1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="time-activity curves" class="tac">',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#888"/>',
             f'<text x="{left + w / 2}" y="{height - 6}" text-anchor="middle" font-size="11">'
             'minutes from injection</text>',
             f'<text x="12" y="{top + h / 2}" font-size="11" transform="rotate(-90 12 '
             f'{top + h / 2})" text-anchor="middle">{html.escape(str(tacs.get("unit", "")))}'
             '</text>',
             f'<text x="{left - 4}" y="{top + 10}" text-anchor="end" font-size="10">'
             f'{ymax:.1f}</text>',
             f'<text x="{left - 4}" y="{top + h}" text-anchor="end" font-size="10">0</text>',
             f'<text x="{left + w}" y="{top + h + 12}" text-anchor="end" font-size="10">'
             f'{max(minutes):.0f}</text>']
    for i, (name, values) in enumerate(curves.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        points = " ".join(f"{left + x:.1f},{top + h - h * v / ymax:.1f}"
                          for x, v in zip(xs, values, strict=True)
                          if v is not None and math.isfinite(v))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{points}"/>')
        parts.append(f'<text x="{left + w + 6}" y="{top + 14 + 14 * i}" font-size="11" '
                     f'fill="{colour}">{html.escape(str(name))}</text>')
    parts.append("</svg>")
    return "".join(parts)
