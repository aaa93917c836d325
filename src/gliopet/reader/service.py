"""What a reader may do, independent of HTTP: current arm, worklist, reading, rating, SUS.

Every function takes an open SQLAlchemy session and the reader, and checks the rules itself
(the web routes only translate the result): a reader sees only their own assignments; an arm
opens when the previous one is complete and its wash-out (days after the last answer of the
previous arm) has passed; an answer is final (a second one raises `Refused` with status 409);
the model's output is shown only in the arms that show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gliopet.reader.models import (
    DIAGNOSES,
    Assignment,
    AuditEntry,
    Case,
    Reader,
    Reading,
    Study,
    SusAnswer,
    utcnow,
)
from gliopet.reader.store import as_utc

#: Arms that show the model's probability / its saliency overlay.
SHOWS_PROBABILITY = ("probability-only", "aided")
SHOWS_SALIENCY = ("aided",)
#: The System Usability Scale (Brooke 1996), items 1-10 (answers 1 = strongly disagree ... 5).
SUS_ITEMS = (
    "I think that I would like to use this system frequently.",
    "I found the system unnecessarily complex.",
    "I thought the system was easy to use.",
    "I think that I would need the support of a technical person to be able to use this system.",
    "I found the various functions in this system were well integrated.",
    "I thought there was too much inconsistency in this system.",
    "I would imagine that most people would learn to use this system very quickly.",
    "I found the system very cumbersome to use.",
    "I felt very confident using the system.",
    "I needed to learn a lot of things before I could get going with this system.",
)


class Refused(Exception):
    """An action the rules do not allow; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class ArmState:
    """Where a reader stands: the open arm (None: waiting or done), when the next opens."""

    arm: str | None
    done: bool
    opens_at: datetime | None = None


def audit(session: Session, reader: Reader | None, action: str, detail: str = "",
          ip: str = "") -> None:
    """Add one audit entry (committed with the caller's transaction)."""
    session.add(AuditEntry(study_id=reader.study_id if reader else None,
                           reader_id=reader.id if reader else None, action=action,
                           detail=detail[:2000], ip=ip[:64]))


def _counts(session: Session, reader: Reader, arm: str) -> tuple[int, int, datetime | None]:
    """(assigned, read, time of the last answer) of a reader in an arm."""
    assigned = session.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.reader_id == reader.id, Assignment.arm == arm)) or 0
    read, last = session.execute(select(func.count(), func.max(Reading.submitted_at)).where(
        Reading.reader_id == reader.id, Reading.arm == arm)).one()
    return assigned, read or 0, None if last is None else as_utc(last)


def arm_state(session: Session, reader: Reader, now: datetime | None = None) -> ArmState:
    """The reader's open arm, or why none is open."""
    now = now or utcnow()
    study = session.get(Study, reader.study_id)
    previous_end: datetime | None = None
    for index, arm in enumerate(study.arm_list()):
        assigned, read, last = _counts(session, reader, arm)
        if read < assigned:
            if index and previous_end is not None:
                opens = previous_end + timedelta(days=study.washout_days)
                if now < opens:
                    return ArmState(None, False, opens)
            return ArmState(arm, False)
        previous_end = last
    return ArmState(None, True)


def worklist(session: Session, reader: Reader, arm: str) -> list[dict[str, object]]:
    """The reader's cases of an arm in reading order: code, read, trust still to give."""
    rows = session.execute(
        select(Case.code, Reading.id, Reading.trust)
        .select_from(Assignment)
        .join(Case, Case.id == Assignment.case_id)
        .outerjoin(Reading, (Reading.case_id == Assignment.case_id)
                   & (Reading.reader_id == reader.id) & (Reading.arm == arm))
        .where(Assignment.reader_id == reader.id, Assignment.arm == arm)
        .order_by(Assignment.position)).all()
    return [{"code": code, "read": rid is not None,
             "trust_due": rid is not None and trust is None and arm in SHOWS_PROBABILITY}
            for code, rid, trust in rows]


def assignment(session: Session, reader: Reader, code: str, arm: str) -> tuple[Case, Assignment]:
    """The reader's case `code` in `arm` (404 when it is not theirs: no hint it exists)."""
    row = session.execute(
        select(Case, Assignment).join(Assignment, Assignment.case_id == Case.id)
        .where(Case.code == code, Assignment.reader_id == reader.id,
               Assignment.arm == arm)).first()
    if row is None:
        raise Refused(404, "no such case in your worklist")
    return row[0], row[1]


def open_case(session: Session, reader: Reader, code: str) -> tuple[Case, str]:
    """The case and the open arm in which the reader may view it now; records the time it was
    first served (the start of the reading time)."""
    state = arm_state(session, reader)
    if state.arm is None:
        raise Refused(403, "no arm is open for you now")
    case, slot = assignment(session, reader, code, state.arm)
    if slot.first_served_at is None:
        slot.first_served_at = utcnow()
    return case, state.arm


def reading_of(session: Session, reader: Reader, case: Case, arm: str) -> Reading | None:
    """The reader's answer for the case in the arm, if given."""
    return session.scalar(select(Reading).where(Reading.reader_id == reader.id,
                                                Reading.case_id == case.id, Reading.arm == arm))


def submit(session: Session, reader: Reader, code: str, diagnosis: str, confidence: int,
           comments: str) -> tuple[Reading, str]:
    """Record the final answer for a case of the open arm; (reading, arm)."""
    if diagnosis not in DIAGNOSES:
        raise Refused(422, f"diagnosis must be one of {', '.join(DIAGNOSES)}")
    if not 0 <= confidence <= 100:
        raise Refused(422, "confidence must be between 0 and 100")
    state = arm_state(session, reader)
    if state.arm is None:
        raise Refused(403, "no arm is open for you now")
    case, slot = assignment(session, reader, code, state.arm)
    if reading_of(session, reader, case, state.arm) is not None:
        raise Refused(409, "this case has been answered already; answers are final")
    if slot.first_served_at is None:
        raise Refused(409, "open the case before answering it")
    now = utcnow()
    reading = Reading(reader_id=reader.id, case_id=case.id, arm=state.arm, diagnosis=diagnosis,
                      confidence=int(confidence), comments=comments[:5000],
                      seconds=(now - as_utc(slot.first_served_at)).total_seconds(),
                      submitted_at=now)
    session.add(reading)
    try:
        session.flush()
    except IntegrityError:  # a concurrent submit of the same answer won the race
        session.rollback()
        raise Refused(409, "this case has been answered already; answers are final") from None
    return reading, state.arm


def rate_trust(session: Session, reader: Reader, code: str, arm: str, trust: int,
               would_use: int) -> None:
    """Record the trust / would-use ratings (1-5) after a read that showed the model output."""
    if arm not in SHOWS_PROBABILITY:
        raise Refused(404, "no rating for this arm")
    if not (1 <= trust <= 5 and 1 <= would_use <= 5):
        raise Refused(422, "ratings must be between 1 and 5")
    case, _ = assignment(session, reader, code, arm)
    reading = reading_of(session, reader, case, arm)
    if reading is None:
        raise Refused(409, "answer the case before rating the AI output")
    if reading.trust is not None:
        raise Refused(409, "this rating has been given already; answers are final")
    reading.trust, reading.would_use = int(trust), int(would_use)


def sus_score(answers: list[int]) -> float:
    """The SUS score (0-100) of 10 answers 1-5: odd items count answer - 1, even items
    5 - answer, the sum times 2.5 (Brooke 1996)."""
    if len(answers) != 10 or any(a not in (1, 2, 3, 4, 5) for a in answers):
        raise Refused(422, "answer all 10 items with 1 to 5")
    return 2.5 * sum((a - 1) if i % 2 == 0 else (5 - a) for i, a in enumerate(answers))


def submit_sus(session: Session, reader: Reader, answers: list[int]) -> float:
    """Record the reader's SUS (once per study, after the last arm); returns the score."""
    if not arm_state(session, reader).done:
        raise Refused(403, "the usability questionnaire opens after your last case")
    if session.scalar(select(SusAnswer).where(SusAnswer.reader_id == reader.id)) is not None:
        raise Refused(409, "the questionnaire has been answered already")
    score = sus_score(answers)
    session.add(SusAnswer(reader_id=reader.id, answers=",".join(map(str, answers)), score=score))
    return score


def sus_done(session: Session, reader: Reader) -> bool:
    """Whether the reader has answered the SUS."""
    return session.scalar(select(SusAnswer.id).where(SusAnswer.reader_id == reader.id)) is not None


def progress(session: Session, study: Study) -> list[dict[str, object]]:
    """Per reader of the study: username, site, read / assigned per arm, SUS done."""
    out = []
    readers = session.scalars(select(Reader).where(Reader.study_id == study.id,
                                                   Reader.is_admin.is_(False))
                              .order_by(Reader.username))
    for reader in readers:
        arms = {}
        for arm in study.arm_list():
            assigned, read, _ = _counts(session, reader, arm)
            arms[arm] = f"{read}/{assigned}"
        out.append({"username": reader.username, "site": reader.site, "arms": arms,
                    "sus": sus_done(session, reader)})
    return out
