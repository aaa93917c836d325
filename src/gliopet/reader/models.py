"""The reader study's tables (SQLAlchemy 2 declarative models).

One study holds cases (de-identified by a random code), readers (accounts with their site),
the per-reader case order of every arm (`Assignment`), the readings (one per reader x case x
arm, final once written: a unique constraint), the System Usability Scale answers (one per
reader), the audit log and the server-side login sessions. The reference standard and the
link to the source subject/session live in `Reference`, which no web route reads.

The schema is created and upgraded only by the Alembic migrations of
``gliopet/reader/migrations`` (`gliopet.reader.store.upgrade`); a change here needs a new
revision there.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Arms a study may have, in reading order (unaided first).
ARMS = ("unaided", "probability-only", "aided")
#: Diagnoses a reader chooses between (coded 1 / 0 for the analysis).
DIAGNOSES = {"progression": 1, "treatment_change": 0}
#: Designs of `gliopet reader create-study`.
DESIGNS = ("crossed", "split-plot")


def utcnow() -> datetime:
    """The current time, UTC, timezone-aware."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the reader-study tables."""


class Study(Base):
    """A study: its design, arms (comma-separated, reading order) and wash-out."""

    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    design: Mapped[str] = mapped_column(String(20))
    arms: Mapped[str] = mapped_column(String(120))
    washout_days: Mapped[float] = mapped_column(Float, default=0.0)
    image_dir: Mapped[str] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def arm_list(self) -> list[str]:
        """The arms in reading order."""
        return self.arms.split(",")


class Case(Base):
    """A de-identified case: its random code, what images it has, the model's output."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    has_frames: Mapped[bool] = mapped_column(Boolean, default=False)
    has_flair: Mapped[bool] = mapped_column(Boolean, default=False)
    has_saliency: Mapped[bool] = mapped_column(Boolean, default=False)
    ai_probability: Mapped[float] = mapped_column(Float)
    ai_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)


class Reference(Base):
    """The reference standard of a case and its source session: server-side only."""

    __tablename__ = "reference"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    truth: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(120))
    session: Mapped[str] = mapped_column(String(120))


class Reader(Base):
    """An account: a reader (or the study's administrator) with site/hospital."""

    __tablename__ = "readers"
    __table_args__ = (UniqueConstraint("study_id", "username"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    username: Mapped[str] = mapped_column(String(80))
    site: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(Text)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    group: Mapped[int] = mapped_column(Integer, default=0)


class Assignment(Base):
    """Position of a case in a reader's worklist of one arm."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("reader_id", "case_id", "arm"),
                      UniqueConstraint("reader_id", "arm", "position"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reader_id: Mapped[int] = mapped_column(ForeignKey("readers.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    arm: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer)
    first_served_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                             nullable=True)


class Reading(Base):
    """One answer of a reader for a case in an arm (final: unique per reader x case x arm)."""

    __tablename__ = "readings"
    __table_args__ = (UniqueConstraint("reader_id", "case_id", "arm"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reader_id: Mapped[int] = mapped_column(ForeignKey("readers.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    arm: Mapped[str] = mapped_column(String(20))
    diagnosis: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[int] = mapped_column(Integer)
    comments: Mapped[str] = mapped_column(Text, default="")
    seconds: Mapped[float] = mapped_column(Float)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    trust: Mapped[int | None] = mapped_column(Integer, nullable=True)
    would_use: Mapped[int | None] = mapped_column(Integer, nullable=True)


class SusAnswer(Base):
    """The System Usability Scale of a reader (10 items, 1-5) and its score (0-100)."""

    __tablename__ = "sus"
    __table_args__ = (UniqueConstraint("reader_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reader_id: Mapped[int] = mapped_column(ForeignKey("readers.id"))
    answers: Mapped[str] = mapped_column(String(40))
    score: Mapped[float] = mapped_column(Float)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """One action (login, page served, answer, export, refusal) with time, account and IP."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    study_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reader_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str] = mapped_column(String(64), default="")


class LoginSession(Base):
    """A server-side session: the SHA-256 of its cookie token, its CSRF token, its expiry."""

    __tablename__ = "login_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reader_id: Mapped[int] = mapped_column(ForeignKey("readers.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
