"""Alembic environment of the reader-study database.

`gliopet.reader.store.upgrade` passes an open connection in ``config.attributes``; there is no
alembic.ini (the script location is set in code), and offline (SQL script) mode is not used.
"""

from __future__ import annotations

from alembic import context

from gliopet.reader.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the programmatic path is supported
    raise RuntimeError("run the reader-study migrations through gliopet.reader.store.upgrade")
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
