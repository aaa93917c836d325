"""The same code on PostgreSQL: migrations = models, and concurrent readers lose no answer.

Starts a throw-away cluster with `benchmarks/reader_load.py`'s helper (initdb in a temporary
folder, a free port); skipped when initdb/pg_ctl are not on PATH.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gliopet.reader.app import create_app
from gliopet.reader.models import Base, Reading
from gliopet.reader.setup import StudyOptions, create_study
from gliopet.reader.store import engine_for, session_factory
from support.reader_study import log_in, make_reader_dataset, read_case

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "reader_load.py"
CODE = re.compile(r'href="/case/([0-9A-F]{10})"')

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (shutil.which("initdb") and shutil.which("pg_ctl")),
                       reason="PostgreSQL server binaries (initdb, pg_ctl) are not on PATH"),
]


def _bench() -> object:
    spec = importlib.util.spec_from_file_location("reader_load", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_postgresql_study_with_concurrent_readers(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with _bench().postgres_cluster() as url:
        data = make_reader_dataset(tmp_path / "bids", n_cases=3)
        summary = create_study(StudyOptions(data.root, data.predictions, "pg", url,
                                            images=tmp_path / "images", n_readers=5,
                                            washout_days=0.0, seed=2))
        with engine_for(url).connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        passwords = {a.username: a.password for a in summary.accounts}
        app = create_app(url)
        statuses: list[int] = []

        def reader(name: str) -> None:
            client = TestClient(app)
            csrf = log_in(client, name, passwords[name])
            for _ in range(2):
                for code in CODE.findall(client.get("/").text):
                    statuses.append(read_case(client, code, csrf).status_code)

        threads = [threading.Thread(target=reader, args=(f"reader{i:02d}",))
                   for i in range(1, 6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with session_factory(url)() as s:
            stored = s.scalar(select(func.count()).select_from(Reading))
        engine_for(url).dispose()
    assert sorted(statuses) == [303] * 30
    assert stored == 30
