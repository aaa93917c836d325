"""`gliopet reader ...`: the reader study (set-up, web application, MRMC analysis).

The group is declared here; its commands live in `reader_study_cmd` (create-study, serve,
accounts, export) and `reader_analyze_cmd` (analyze), which register on `reader_app`.
"""

from __future__ import annotations

import typer

from gliopet import DISCLAIMER
from gliopet.cli import app

reader_app = typer.Typer(
    help="Multi-reader multi-case study: set it up, serve it to physicians, analyse it "
         f"(Obuchowski-Rockette-Hillis).\n\n{DISCLAIMER}",
    no_args_is_help=True,
)
app.add_typer(reader_app, name="reader")
