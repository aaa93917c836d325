"""Fixtures of the reader-study tests: a small synthetic dataset and a study made from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from support.reader_study import ReaderDataset, make_reader_dataset


@dataclass
class MadeStudy:
    """A created study: its dataset, database URL and accounts (username -> password)."""

    dataset: ReaderDataset
    url: str
    passwords: dict[str, str]
    image_dir: Path


def make_study(tmp: Path, *, n_cases: int = 6, **options: object) -> MadeStudy:
    """Create a study named ``pilot`` in ``tmp/study.db`` (no wash-out unless given)."""
    from gliopet.reader.setup import StudyOptions, create_study

    dataset = make_reader_dataset(tmp / "bids", n_cases=n_cases)
    url = f"sqlite:///{tmp / 'study.db'}"
    opts = StudyOptions(dataset.root, dataset.predictions, "pilot", url,
                        **{"seed": 7, "washout_days": 0.0, **options})
    summary = create_study(opts)
    return MadeStudy(dataset, url, {a.username: a.password for a in summary.accounts},
                     summary.image_dir)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> MadeStudy:
    """A crossed two-arm study of 6 cases and 3 readers (shared by a module's tests)."""
    return make_study(tmp_path_factory.mktemp("study"))
