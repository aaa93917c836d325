"""Cohort-scale validation (``make validate``): writes the figures of docs/validation.md.

Not part of CI. Simulates the validation cohorts once into a work folder (reused on later
runs), runs the pipeline stages on them, then each section module in ``scripts/validation/``
computes its figures and returns Markdown. Each section replaces only its own block of
docs/validation.md (between ``<!-- section:NAME -->`` markers), so one section can be rerun
alone::

    .venv/bin/python scripts/validate.py                      # every section
    .venv/bin/python scripts/validate.py --sections phantom   # one section
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from validation.common import Cohorts  # noqa: E402

SECTIONS = ("phantom", "preprocess", "quant", "kinetics", "curves", "faults", "foundation",
            "classify", "mrmc", "signature")
DOC = REPO / "docs" / "validation.md"


def replace_section(text: str, name: str, body: str) -> str:
    """Put `body` between the markers of section `name` (appended when absent)."""
    block = f"<!-- section:{name} -->\n{body.strip()}\n<!-- /section:{name} -->"
    pattern = re.compile(rf"<!-- section:{name} -->.*?<!-- /section:{name} -->", re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip() + "\n\n" + block + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {', '.join(SECTIONS)}")
    parser.add_argument("--work", type=Path, default=REPO / "validation-work",
                        help="folder for the simulated cohorts and their derivatives (reused)")
    parser.add_argument("--doc", type=Path, default=DOC, help="Markdown file to update")
    args = parser.parse_args(argv)
    names = [s for s in args.sections.split(",") if s]
    unknown = set(names) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; known: {SECTIONS}")
    cohorts = Cohorts(args.work)
    text = args.doc.read_text() if args.doc.is_file() else ""
    for name in names:
        start = time.perf_counter()
        print(f"[validate] section {name} ...", flush=True)
        module = importlib.import_module(f"validation.{name}")
        body = module.run(cohorts)
        text = replace_section(text, name, body)
        args.doc.write_text(text)
        print(f"[validate] section {name} done in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
