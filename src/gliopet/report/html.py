"""Small HTML builders for self-contained reports (no external resource, images inline).

Every report page carries `gliopet.DISCLAIMER` in a banner at its top and its foot.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Sequence

from gliopet import DISCLAIMER

#: "nan" as a word (an undefined value printed by pandas or numpy).
NAN_WORD = re.compile(r"\bnan\b", re.IGNORECASE)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.disclaimer { background: #fff3cd; border: 1px solid #e0c060; padding: 0.6em; }
.flag { color: #a00000; font-weight: bold; }
.notrun { color: #555; font-style: italic; }
img { max-width: 100%; }
.row { display: flex; flex-wrap: wrap; gap: 4px; }
.row p { flex: 1 1 23%; margin: 0; }
pre { white-space: pre-wrap; }
"""


def esc(text: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(text))


def data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def image(png: bytes, alt: str) -> str:
    """An inline PNG image with its alternative text."""
    return f'<p><img src="{data_uri(png)}" alt="{esc(alt)}"></p>'


def linked_image(src: str, alt: str) -> str:
    """An image by relative path (cohort report: PNGs beside it)."""
    return f'<p><img src="{esc(src)}" alt="{esc(alt)}"></p>'


def table(header: Sequence[str], rows: Iterable[Sequence[object]], *, raw: bool = False) -> str:
    """An HTML table; cells are escaped unless `raw` (cells already HTML)."""
    cell = (lambda v: str(v)) if raw else esc
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def section(title: str, body: str, anchor: str = "") -> str:
    """A titled section."""
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{esc(title)}</h2>{body}</section>"


def paragraph(text: str, css: str = "") -> str:
    """An escaped paragraph (with an optional CSS class)."""
    klass = f' class="{css}"' if css else ""
    return f"<p{klass}>{esc(text)}</p>"


def not_run(what: str, command: str) -> str:
    """The sentence of a section whose stage did not run, with the command that runs it."""
    return paragraph(f"{what} was not run for this report: run `{command}` to add it.", "notrun")


def markdown(text: str) -> str:
    """Markdown (a stage's summary.md, with tables) as HTML; raw HTML in it is escaped
    (markdown-it-py, which rich already requires) and an undefined value written as "nan" by
    the stage reads "n/a"."""
    from markdown_it import MarkdownIt

    text = NAN_WORD.sub("n/a", text)
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def row(items: list[str]) -> str:
    """Items (images) side by side, wrapping on narrow screens."""
    return f'<div class="row">{"".join(items)}</div>' if items else ""


def page(title: str, body: str) -> str:
    """A complete HTML document with the disclaimer banner at the top and the foot."""
    banner = f'<p class="disclaimer"><strong>Research use only.</strong> {esc(DISCLAIMER)}</p>'
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{esc(title)}</h1>{banner}{body}{banner}</body></html>\n")
