"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "real"


@pytest.fixture
def real_data() -> Path:
    """Folder of the real data in ../shared/data/real; skips the test when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip("../shared/data/real is not present (real-data tests are optional)")
    return REAL_DATA


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run the gliopet CLI in-process; return (exit status, stdout, stderr)."""
    import contextlib
    import io

    from gliopet.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()
