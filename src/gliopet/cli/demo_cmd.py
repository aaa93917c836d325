"""`gliopet demo`: run the stages that exist on a built-in simulated cohort."""

from __future__ import annotations
