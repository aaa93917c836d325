"""Fixtures of the report tests: the shared quantified phantom cohort (built once per run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.report_data import quantified_cohort


@pytest.fixture(scope="session")
def cohort_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BIDS root of the quantified 3-subject phantom (never modified by the tests)."""
    return quantified_cohort(tmp_path_factory.getbasetemp())
