"""Revisions of the reader-study schema, oldest first."""
