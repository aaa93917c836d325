"""`gliopet demo`: run the stages that exist on a built-in simulated cohort."""

from __future__ import annotations

from gliopet.cli import app  # noqa: F401  (verbs register on the shared app)
