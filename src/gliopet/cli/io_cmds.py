"""Verbs of the io stage: `validate` and `info`."""

from __future__ import annotations

from gliopet.cli import app  # noqa: F401  (verbs register on the shared app)
