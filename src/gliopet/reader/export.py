"""Results of a reader study as tables: the long ratings table and the iMRMC layout.

`ratings_long` is what `gliopet reader analyze --study` analyses: one row per reading with
``reader``, ``modality`` (the arm), ``case`` (the case code), ``truth`` (1 progression, 0
treatment change, from the server-side reference standard) and ``rating`` (the reader's
confidence of progression, 0-100). `imrmc_table` is the same data in the layout of the iMRMC
software (FDA/DIDSR; its R data frame ``dfMRMC``): columns ``readerID, caseID, modalityID,
score`` with one truth row per case (reader ``truth``, modality ``truth``, score 0/1).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from gliopet.errors import InputError
from gliopet.reader.models import Case, Reader, Reading, Reference, Study
from gliopet.reader.store import open_database

LONG_COLUMNS = ("reader", "modality", "case", "truth", "rating")
IMRMC_COLUMNS = ("readerID", "caseID", "modalityID", "score")
#: Columns of the full results export (admin page), one row per reading.
RESULT_COLUMNS = ("reader", "site", "modality", "case", "truth", "diagnosis", "rating",
                  "seconds", "trust", "would_use", "submitted_at", "comments")
#: First characters that make a spreadsheet read a cell as a formula (CSV injection).
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe_text(text: str) -> str:
    """Free text for a CSV opened in a spreadsheet: a leading formula character is quoted
    with an apostrophe (OWASP's advice against CSV injection)."""
    text = str(text or "")
    return "'" + text if text.startswith(_FORMULA) else text


def _find_study(session: Session, study: str) -> Study:
    found = session.scalar(select(Study).where(Study.name == str(study)))
    if found is None and str(study).isdigit():
        found = session.get(Study, int(study))
    if found is None:
        names = ", ".join(session.scalars(select(Study.name))) or "none"
        raise InputError(f"no study {study!r} in the database (studies: {names})",
                         fix="give the --name used with `gliopet reader create-study`")
    return found


def results_table(database_url: str, study: str) -> pd.DataFrame:
    """Every reading of the study with its reader, site, arm, case code, truth and answers."""
    with open_database(database_url)() as session:
        return results_frame(session, study)


def results_frame(session: Session, study: str) -> pd.DataFrame:
    """`results_table` from an open session."""
    found = _find_study(session, study)
    rows = session.execute(
        select(Reader.username, Reader.site, Reading.arm, Case.code, Reference.truth,
               Reading.diagnosis, Reading.confidence, Reading.seconds, Reading.trust,
               Reading.would_use, Reading.submitted_at, Reading.comments)
        .join(Reader, Reading.reader_id == Reader.id)
        .join(Case, Reading.case_id == Case.id)
        .join(Reference, Reference.case_id == Case.id)
        .where(Case.study_id == found.id)
        .order_by(Reader.username, Reading.arm, Case.code)).all()
    table = pd.DataFrame([tuple(r) for r in rows], columns=list(RESULT_COLUMNS))
    table["submitted_at"] = table["submitted_at"].astype(str)
    table["comments"] = [safe_text(c) for c in table["comments"]]
    for column in ("trust", "would_use"):  # ratings 1-5, empty when not asked
        table[column] = table[column].astype("Int64")
    return table


def ratings_long(database_url: str, study: str) -> pd.DataFrame:
    """The study's ratings in long form: reader, modality (arm), case, truth (0/1), rating
    (confidence of progression, 0-100). Raises InputError when the study has no reading."""
    table = results_table(database_url, study)
    if table.empty:
        raise InputError(f"study {study!r} has no submitted reading yet",
                         fix="analyse once the readers have read their cases")
    long = table[list(LONG_COLUMNS)].copy()
    long["truth"] = long["truth"].astype(int)
    long["rating"] = long["rating"].astype(float)
    return long.reset_index(drop=True)


def imrmc_table(long: pd.DataFrame) -> pd.DataFrame:
    """A long ratings table in the iMRMC layout (truth rows first, then one row per rating)."""
    truth = long.drop_duplicates("case")[["case", "truth"]]
    truth_rows = pd.DataFrame({"readerID": "truth", "caseID": truth["case"],
                               "modalityID": "truth", "score": truth["truth"].astype(int)})
    ratings = pd.DataFrame({"readerID": long["reader"], "caseID": long["case"],
                            "modalityID": long["modality"], "score": long["rating"]})
    if long.empty:
        return pd.DataFrame(columns=list(IMRMC_COLUMNS))
    return pd.concat([truth_rows, ratings], ignore_index=True)[list(IMRMC_COLUMNS)]


def imrmc_csv(database_url: str, study: str) -> str:
    """The study's ratings as iMRMC CSV text."""
    return imrmc_table(ratings_long(database_url, study)).to_csv(index=False,
                                                                lineterminator="\n")
