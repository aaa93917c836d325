"""`gliopet reader create-study`: a study from a BIDS dataset and a model's predictions.

Writes the de-identified case images (`gliopet.reader.cases`) into the study's image folder
under random case codes, and in one database transaction: the study, its cases, the
reference standard (table ``reference``, never read by the web application's reader routes),
the accounts (readers with site, and one administrator) and every reader's case order per arm
(`gliopet.reader.design`). The image folder is built under a temporary name and moved into
place only when the database transaction has committed.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from gliopet.errors import InputError, ParameterError
from gliopet.reader import cases as c
from gliopet.reader.design import assignments
from gliopet.reader.models import (
    ARMS,
    DESIGNS,
    Assignment,
    AuditEntry,
    Case,
    Reader,
    Reference,
    Study,
)
from gliopet.reader.security import hash_password, new_password
from gliopet.reader.store import session_factory, upgrade

ADMIN = "admin"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


@dataclass
class StudyOptions:
    """Everything `gliopet reader create-study` takes (see the command's help)."""

    bids_dir: Path
    predictions: Path
    name: str
    database: str
    images: Path | None = None
    design: str = "crossed"
    arms: tuple[str, ...] = ("unaided", "aided")
    washout_days: float = 28.0
    readers: Path | None = None
    n_readers: int = 3
    groups: int = 2
    seed: int | None = None
    truth_column: str = "outcome"
    model: str | None = None


@dataclass
class Account:
    """An account of the study; `generated`: its password was made here (shown once)."""

    username: str
    site: str
    is_admin: bool
    password: str | None
    generated: bool = False


@dataclass
class StudySummary:
    """What `create_study` made."""

    name: str
    n_cases: int
    image_dir: Path
    accounts: list[Account] = field(default_factory=list)


def check_options(opts: StudyOptions) -> None:
    """Refuse bad parameters before any work."""
    if opts.design not in DESIGNS:
        raise ParameterError("--design", opts.design, f"one of {', '.join(DESIGNS)}")
    if not opts.arms or opts.arms[0] != "unaided" or len(set(opts.arms)) != len(opts.arms) \
            or any(a not in ARMS for a in opts.arms) or "aided" not in opts.arms:
        raise ParameterError("--arms", ",".join(opts.arms),
                             "unaided first, then aided and optionally probability-only, e.g. "
                             "unaided,aided or unaided,probability-only,aided")
    if opts.washout_days < 0:
        raise ParameterError("--washout-days", opts.washout_days, "0 or more")
    if not _NAME.match(opts.name):
        raise ParameterError("--name", opts.name, "letters, digits, '.', '_' or '-' (max 80)")
    if opts.n_readers < 1 or opts.groups < 1:
        raise ParameterError("--n-readers/--groups", (opts.n_readers, opts.groups), "at least 1")


def image_root(opts: StudyOptions) -> Path:
    """The study's image folder: --images, else ``<database file>-images/<name>`` for SQLite."""
    if opts.images is not None:
        return Path(opts.images).absolute() / opts.name
    url = opts.database
    if "://" not in url or url.startswith("sqlite:///"):
        db = Path(url.split(":///", 1)[-1])
        return db.absolute().with_name(db.name + "-images") / opts.name
    raise InputError("a PostgreSQL study needs --images DIR (where the case images are kept)",
                     fix="give --images with a folder the server can read")


def read_accounts(opts: StudyOptions) -> list[Account]:
    """Readers from readers.tsv (username, site[, password][, role]) or `n_readers` generated
    ones, plus the administrator (role admin) when the table names none."""
    if opts.readers is None:
        accounts = [Account(f"reader{i + 1:02d}", "n/a", False, None)
                    for i in range(opts.n_readers)]
    else:
        accounts = _accounts_table(opts.readers)
    if not any(a.is_admin for a in accounts):
        accounts.append(Account(ADMIN, "n/a", True, None))
    if not any(not a.is_admin for a in accounts):
        raise InputError("the study has no reader", path=opts.readers,
                         fix="list at least one reader (role reader)")
    return accounts


def _accounts_table(path: Path) -> list[Account]:
    table = c.read_text_table(path)
    if not {"username", "site"} <= set(table.columns):
        raise InputError("readers table needs the columns username and site", path=path,
                         fix="one row per reader: username<TAB>site[<TAB>password][<TAB>role]")
    accounts = []
    for row in table.to_dict("records"):
        name = str(row["username"]).strip()
        if not _NAME.match(name):
            raise InputError(f"username {name!r} is not allowed", path=path,
                             fix="letters, digits, '.', '_' or '-'")
        given = row.get("password")
        password = None if given is None or pd.isna(given) or not str(given) else str(given)
        if password is not None and len(password) < 10:
            raise InputError(f"the password of {name} is shorter than 10 characters", path=path,
                             fix="give longer passwords or leave the column empty")
        role = str(row.get("role") or "reader").strip().lower()
        accounts.append(Account(name, str(row["site"]), role == "admin", password))
    names = [a.username for a in accounts]
    if len(set(names)) != len(names):
        raise InputError("a username appears twice", path=path, fix="make usernames unique")
    return accounts


def create_study(opts: StudyOptions) -> StudySummary:
    """Create the study (images, database rows); returns the accounts with new passwords."""
    from gliopet.atomic import staged_directory
    from gliopet.config import package_defaults

    check_options(opts)
    seed = package_defaults().seed if opts.seed is None else int(opts.seed)
    predictions = c.read_predictions(opts.predictions, opts.model)
    sources = c.case_sources(opts.bids_dir, predictions,
                             c.truth_labels(opts.bids_dir, opts.truth_column), opts.predictions)
    accounts = read_accounts(opts)
    root = image_root(opts)
    upgrade(opts.database)
    maker = session_factory(opts.database)
    with maker() as session:
        if session.scalar(select(Study).where(Study.name == opts.name)) is not None:
            raise InputError(f"the database already holds a study named {opts.name!r}",
                             path=opts.database, fix="choose another --name")
    if root.exists():
        raise InputError("the study's image folder exists already", path=root,
                         fix="remove it or give another --name / --images")
    with staged_directory(root) as staging, maker() as session:
        study = Study(name=opts.name, design=opts.design, arms=",".join(opts.arms),
                      washout_days=float(opts.washout_days), image_dir=str(root), seed=seed)
        session.add(study)
        session.flush()
        case_ids = _add_cases(session, study, sources, opts.bids_dir, staging)
        _add_readers(session, study, accounts, case_ids, opts, seed)
        session.add(AuditEntry(study_id=study.id, action="create-study",
                               detail=f"{len(case_ids)} cases, {len(accounts)} accounts"))
        session.commit()
    return StudySummary(opts.name, len(sources), root, accounts)


def _add_cases(session: object, study: Study, sources: list[c.CaseSource], bids_dir: Path,
               staging: Path) -> list[int]:
    from gliopet.progress import track

    ids = []
    codes: set[str] = set()
    for source in track(sources, description="case images"):
        code = secrets.token_hex(5).upper()
        while code in codes:
            code = secrets.token_hex(5).upper()
        codes.add(code)
        has = c.write_case_images(bids_dir, source, staging / code)
        case = Case(study_id=study.id, code=code, has_frames=has["frames"],
                    has_flair=has["flair"], has_saliency=has["saliency"],
                    ai_probability=source.probability, ai_threshold=source.threshold)
        session.add(case)
        session.flush()
        session.add(Reference(case_id=case.id, truth=source.truth, subject=source.subject,
                              session=source.session))
        ids.append(case.id)
    return ids


def _add_readers(session: object, study: Study, accounts: list[Account], case_ids: list[int],
                 opts: StudyOptions, seed: int) -> None:
    readers = []
    for account in accounts:
        if account.password is None:
            account.password, account.generated = new_password(), True
        reader = Reader(study_id=study.id, username=account.username, site=account.site,
                        password_hash=hash_password(account.password),
                        is_admin=account.is_admin)
        session.add(reader)
        readers.append(reader)
    session.flush()
    plain = [r for r in readers if not r.is_admin]
    by_id = {r.id: r for r in plain}
    for reader_id, case_id, arm, position, group in assignments(
            case_ids, [r.id for r in plain], list(opts.arms), opts.design, opts.groups, seed):
        by_id[reader_id].group = group
        session.add(Assignment(reader_id=reader_id, case_id=case_id, arm=arm,
                               position=position))
