"""The reader-study database: migrations, WAL mode, schema = models."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gliopet.errors import InputError
from gliopet.reader import store
from gliopet.reader.models import Base


def test_upgrade_creates_the_schema_in_wal_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert store.current_revision(url) is None
    store.upgrade(url)
    store.upgrade(url)  # idempotent
    assert store.current_revision(url) == "0001"
    con = sqlite3.connect(tmp_path / "a.db")
    assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert set(Base.metadata.tables) <= tables


def test_the_migration_matches_the_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    url = f"sqlite:///{tmp_path / 'b.db'}"
    store.upgrade(url)
    with store.engine_for(url).connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_urls_are_normalised() -> None:
    assert store.normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert store.normalise_url("study.db").startswith("sqlite:////")
    with pytest.raises(InputError, match="unsupported database URL scheme in 'mysql'"):
        store.engine_for("mysql://u@h/db")


def test_opening_a_missing_study_database_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="the study database does not exist"):
        store.open_database(f"sqlite:///{tmp_path / 'none.db'}")


def test_migrations_ship_inside_the_package() -> None:
    files = {p.name for p in store.MIGRATIONS.rglob("*.py")}
    assert {"env.py", "0001_initial.py", "__init__.py"} <= files
