"""The documents the code points to exist, and every pointer names a section they have.

Docstrings, comments, CLI help and sidecar texts refer to ``docs/conventions.md`` and
``docs/literature.md`` by section name (``docs/conventions.md, "Static image"``); the project
notes they replaced (the design and literature notes kept outside the repository) must not be
referred to any more.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DOCS = {name: REPO / "docs" / f"{name}.md" for name in ("conventions", "literature")}
#: Notes outside the repository that nothing may point to (spelled in two parts so that this
#: file does not match itself).
GONE = ("LITERATURE" + ".md", "DESIGN" + ".md")
#: Folders and files whose text is checked.
SCANNED = ("src", "scripts", "benchmarks", "tests", "README.md", "docs")
#: Redrawn by the main author of issue 9 (its first paragraph still cites the design note).
NOT_YET: set[Path] = set()
#: A pointer: the document, then within the same clause the quoted section names.
POINTER = re.compile(r"docs/(conventions|literature)\.md([^);:]{0,200})")
QUOTED = re.compile(r"[\"']([A-Z][^\"'\n]{2,80})[\"']")


def _texts() -> list[tuple[Path, str]]:
    files: list[Path] = []
    for name in SCANNED:
        path = REPO / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [p for p in sorted(path.rglob("*")) if p.suffix in (".py", ".md", ".yaml")
                      and "__pycache__" not in p.parts]
    return [(p, p.read_text(encoding="utf-8")) for p in files if p not in NOT_YET]


def _headings(path: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("## ")]


@pytest.mark.parametrize("name", sorted(DOCS))
def test_document_exists_with_sections(name):
    assert DOCS[name].is_file(), DOCS[name]
    assert len(_headings(DOCS[name])) >= 5


def test_nothing_points_to_the_notes_outside_the_repository():
    found = [f"{path.relative_to(REPO)}: {gone}" for path, text in _texts() for gone in GONE
             if gone in text]
    assert found == []


def test_every_section_pointer_names_an_existing_section():
    headings = {name: _headings(path) for name, path in DOCS.items()}
    bad, seen = [], 0
    for path, text in _texts():
        flat = re.sub(r"\s+", " ", text.replace("\\", "").replace('" "', ""))
        for match in POINTER.finditer(flat):
            for section in QUOTED.findall(match.group(2)):
                seen += 1
                if not any(h.startswith(section) for h in headings[match.group(1)]):
                    bad.append(f"{path.relative_to(REPO)}: docs/{match.group(1)}.md {section!r}")
    assert bad == []
    assert seen >= 10  # the scan finds the pointers at all
