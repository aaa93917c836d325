"""Parse a report's HTML (html.parser): visible text, image sources, link targets."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

PNG = b"\x89PNG\r\n\x1a\n"
#: "nan" as a word of the visible text (not inside another word such as "nanometre").
NAN = re.compile(r"\bnan\b", re.IGNORECASE)


class Page(HTMLParser):
    """Visible text, img src and a href of an HTML document."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text_parts: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.headings: list[str] = []
        self._tag = ""
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag = tag
        values = dict(attrs)
        if tag == "img":
            self.images.append(values["src"] or "")
        if tag == "a":
            self.links.append(values["href"] or "")

    def handle_data(self, data: str) -> None:
        if self._tag not in ("style", "script"):
            self.text_parts.append(data)
        if self._tag in ("h2", "h3"):
            self.headings.append(data)

    @property
    def text(self) -> str:
        return " ".join(self.text_parts)


def decode_image(src: str, base: Path) -> bytes:
    """The bytes of an image source: a data URI or a path relative to `base`."""
    if src.startswith("data:image/png;base64,"):
        return base64.b64decode(src.split(",", 1)[1])
    return (base / src).read_bytes()


def check_page(path: Path) -> Page:
    """Parse the page and check: every image is a PNG that exists or decodes, no "nan" in the
    visible text, the disclaimer present; returns the parsed page."""
    from gliopet import DISCLAIMER

    page = Page(path.read_text())
    for src in page.images:
        assert decode_image(src, path.parent).startswith(PNG), src[:80]
    assert not NAN.search(page.text), NAN.search(page.text)
    assert DISCLAIMER in page.text
    return page


def pdf_pages(path: Path) -> int:
    """Number of page objects of a PDF (``/Type /Page``, not ``/Pages``)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", path.read_bytes()))
