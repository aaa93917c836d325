"""Shared test fixtures.

Layout: ``unit/<package>/`` (one module's behaviour on small synthetic inputs),
``integration/`` (several stages on a simulated dataset), ``cli/`` (the command line: exit codes,
messages, nothing written on bad input), ``realdata/`` (``../shared/data/real``, skipped when
absent). Markers: ``realdata`` and ``slow`` (select with ``-m "not slow"``). Helpers that
generate test data live in ``tests/support`` (on ``sys.path`` through ``pythonpath``), never in
the package.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from support.cli import run_cli as _run_cli
from support.real_data import REAL_DATA


@pytest.fixture
def real_data() -> Path:
    """Folder of the real data in ../shared/data/real; skips the test when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip("../shared/data/real is not present (real-data tests are optional)")
    return REAL_DATA


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., tuple[int, str, str]]:
    """``run_cli(*args)`` runs ``gliopet ARGS`` in-process; returns (exit code, stdout, stderr)."""
    return _run_cli


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under ``tests/realdata/`` carries the ``realdata`` marker."""
    for item in items:
        if "realdata" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.realdata)
