"""The first reader-study schema: studies, cases, reference, readers, assignments, readings,
SUS, audit log, login sessions.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table of the first schema."""
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("design", sa.String(20), nullable=False),
        sa.Column("arms", sa.String(120), nullable=False),
        sa.Column("washout_days", sa.Float, nullable=False),
        sa.Column("image_dir", sa.Text, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False,
                  index=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("has_frames", sa.Boolean, nullable=False),
        sa.Column("has_flair", sa.Boolean, nullable=False),
        sa.Column("has_saliency", sa.Boolean, nullable=False),
        sa.Column("ai_probability", sa.Float, nullable=False),
        sa.Column("ai_threshold", sa.Float, nullable=True),
    )
    op.create_table(
        "reference",
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("truth", sa.Integer, nullable=False),
        sa.Column("subject", sa.String(120), nullable=False),
        sa.Column("session", sa.String(120), nullable=False),
    )
    op.create_table(
        "readers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False,
                  index=True),
        sa.Column("username", sa.String(80), nullable=False),
        sa.Column("site", sa.String(120), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("group", sa.Integer, nullable=False),
        sa.UniqueConstraint("study_id", "username"),
    )
    _reading_tables()


def _reading_tables() -> None:
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reader_id", sa.Integer, sa.ForeignKey("readers.id"), nullable=False,
                  index=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("arm", sa.String(20), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("first_served_at", _TIME, nullable=True),
        sa.UniqueConstraint("reader_id", "case_id", "arm"),
        sa.UniqueConstraint("reader_id", "arm", "position"),
    )
    op.create_table(
        "readings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reader_id", sa.Integer, sa.ForeignKey("readers.id"), nullable=False,
                  index=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("arm", sa.String(20), nullable=False),
        sa.Column("diagnosis", sa.String(20), nullable=False),
        sa.Column("confidence", sa.Integer, nullable=False),
        sa.Column("comments", sa.Text, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("submitted_at", _TIME, nullable=False),
        sa.Column("trust", sa.Integer, nullable=True),
        sa.Column("would_use", sa.Integer, nullable=True),
        sa.UniqueConstraint("reader_id", "case_id", "arm"),
    )
    op.create_table(
        "sus",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reader_id", sa.Integer, sa.ForeignKey("readers.id"), nullable=False),
        sa.Column("answers", sa.String(40), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("submitted_at", _TIME, nullable=False),
        sa.UniqueConstraint("reader_id"),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("study_id", sa.Integer, nullable=True),
        sa.Column("reader_id", sa.Integer, nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
    )
    op.create_table(
        "login_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("reader_id", sa.Integer, sa.ForeignKey("readers.id"), nullable=False,
                  index=True),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
    )


def downgrade() -> None:
    """Drop every table (the study is lost)."""
    for table in ("login_sessions", "audit", "sus", "readings", "assignments", "readers",
                  "reference", "cases", "studies"):
        op.drop_table(table)
