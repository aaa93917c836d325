"""Fixtures of the reader-study tests: a small synthetic dataset and a study made from it."""

from __future__ import annotations

import pytest

from support.reader_study import MadeStudy, make_study


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> MadeStudy:
    """A crossed two-arm study of 6 cases and 3 readers (shared by a module's tests)."""
    return make_study(tmp_path_factory.mktemp("study"))
