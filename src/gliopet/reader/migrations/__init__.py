"""Alembic migrations of the reader-study database (run by `gliopet.reader.store.upgrade`)."""
