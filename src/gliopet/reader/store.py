"""The study database: engine (SQLite in WAL mode by default, PostgreSQL by URL), migrations.

A study lives in one database given by a SQLAlchemy URL: ``sqlite:///study.db`` (embedded; WAL
journal so that readers do not block each other, a busy timeout for concurrent writers) or
``postgresql+psycopg://user@host/db`` for a multi-site study. The schema is made and upgraded
by the Alembic migrations shipped in ``gliopet/reader/migrations`` (`upgrade`), never by
``create_all``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from gliopet.errors import InputError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: SQLite waits this long (ms) for a lock held by another writer before failing.
SQLITE_BUSY_MS = 30_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def normalise_url(url: str) -> str:
    """A database URL as SQLAlchemy takes it: a bare path is a SQLite file; ``postgresql://``
    uses psycopg 3."""
    url = str(url)
    if "://" not in url:
        return f"sqlite:///{Path(url).resolve()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@lru_cache(maxsize=16)
def engine_for(url: str) -> Engine:
    """The (cached) engine of a database URL; SQLite connections get WAL and a busy timeout."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql"):
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    raise InputError(f"unsupported database URL scheme in {url.split('://')[0]!r}",
                     fix="give sqlite:///PATH (default) or postgresql://USER@HOST/DB")


def session_factory(url: str) -> sessionmaker[Session]:
    """A session maker bound to the database (objects stay usable after commit)."""
    return sessionmaker(engine_for(url), expire_on_commit=False)


def upgrade(url: str, revision: str = "head") -> None:
    """Create or upgrade the schema to `revision` with the shipped Alembic migrations."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = engine_for(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(url: str) -> str | None:
    """The schema revision of the database (None: not created)."""
    from alembic.runtime.migration import MigrationContext

    with engine_for(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def open_database(url: str) -> sessionmaker[Session]:
    """A session maker of an existing study database (InputError when it has no schema)."""
    if url.startswith("sqlite") and "://" in url:
        path = Path(url.split(":///", 1)[-1])
        if not path.is_file():
            raise InputError("the study database does not exist", path=path,
                             fix="create it with `gliopet reader create-study`")
    if current_revision(url) is None:
        raise InputError("the database holds no reader study", path=url,
                         fix="create it with `gliopet reader create-study`")
    upgrade(url)
    return session_factory(url)


def as_utc(moment: datetime) -> datetime:
    """A stored time as timezone-aware UTC (SQLite gives naive times back)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
