"""`create_study`: de-identified cases, server-side truth, accounts, counterbalanced order;
the long and iMRMC exports."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import nibabel as nib
import pandas as pd
import pytest
from sqlalchemy import select

from gliopet.errors import InputError
from gliopet.reader.design import assignments, reading_order
from gliopet.reader.export import imrmc_table, ratings_long
from gliopet.reader.models import Assignment, Case, Reader, Reading, Reference
from gliopet.reader.security import verify_password
from gliopet.reader.store import session_factory
from support.reader_study import PATIENT_NAME, MadeStudy, make_study


def test_cases_keep_truth_server_side_and_images_carry_no_identity(study: MadeStudy) -> None:
    with session_factory(study.url)() as s:
        cases = s.scalars(select(Case)).all()
        refs = {r.case_id: r for r in s.scalars(select(Reference))}
    assert len(cases) == 6
    truth = {(refs[c.id].subject, refs[c.id].session): refs[c.id].truth for c in cases}
    assert truth == study.dataset.truth
    for case in cases:
        folder = study.image_dir / case.code
        assert {p.name for p in folder.iterdir()} == {"pet.nii.gz", "mri.nii.gz", "flair.nii.gz",
                                                       "frames.nii.gz", "saliency.nii.gz",
                                                       "tac.json"}
        assert nib.load(folder / "frames.nii.gz").shape[-1] == 4
        for path in folder.iterdir():
            raw = path.read_bytes()
            raw = gzip.decompress(raw) if path.suffix == ".gz" else raw
            assert b"DOE" not in raw and PATIENT_NAME.encode() not in raw
            assert refs[case.id].subject.encode() not in raw
        assert case.code not in refs[case.id].subject
        assert case.has_frames and case.has_flair and case.has_saliency


def test_accounts_are_hashed_with_argon2(study: MadeStudy) -> None:
    with session_factory(study.url)() as s:
        readers = {r.username: r for r in s.scalars(select(Reader))}
    assert set(readers) == {"reader01", "reader02", "reader03", "admin"}
    assert readers["admin"].is_admin and not readers["reader01"].is_admin
    for name, reader in readers.items():
        assert reader.password_hash.startswith("$argon2id$")
        assert verify_password(reader.password_hash, study.passwords[name])
        assert not verify_password(reader.password_hash, study.passwords[name] + "x")


def test_every_reader_reads_every_case_once_per_arm_in_a_new_order(study: MadeStudy) -> None:
    with session_factory(study.url)() as s:
        rows = s.scalars(select(Assignment)).all()
    by = {}
    for a in rows:
        by.setdefault((a.reader_id, a.arm), {})[a.position] = a.case_id
    assert len(by) == 3 * 2
    for (reader, arm), order in by.items():
        assert sorted(order) == list(range(6)) and len(set(order.values())) == 6
        other = by[(reader, "aided" if arm == "unaided" else "unaided")]
        assert all(order[p] != other[p] for p in range(6))  # no case at the same position


def test_order_is_seeded_and_counterbalanced_over_readers() -> None:
    cases = list(range(10, 20))
    first = [reading_order(cases, r, 10, 0, 5) for r in range(10)]
    assert first == [reading_order(cases, r, 10, 0, 5) for r in range(10)]
    for position in range(10):  # each case once at each position over 10 readers
        assert Counter(order[position] for order in first) == Counter(cases)


def test_split_plot_reads_disjoint_case_groups() -> None:
    rows = assignments(list(range(8)), [100, 101, 102, 103], ["unaided", "aided"], "split-plot",
                       2, seed=1)
    cases_of = {}
    for reader, case, _, _, group in rows:
        cases_of.setdefault((reader, group), set()).add(case)
    groups = {}
    for (_reader, group), cases in cases_of.items():
        groups.setdefault(group, []).append(cases)
    assert len(groups) == 2
    assert all(len(c) == 4 for cs in groups.values() for c in cs)
    assert not set.intersection(groups[0][0], groups[1][0])


def test_missing_truth_is_refused_with_the_sessions(tmp_path: Path) -> None:
    from gliopet.reader.setup import StudyOptions, create_study
    from support.reader_study import make_reader_dataset
    ds = make_reader_dataset(tmp_path / "bids", n_cases=2)
    sessions = ds.root / "sub-P9001" / "sub-P9001_sessions.tsv"
    sessions.write_text("session_id\toutcome\nses-recurrence\tn/a\n")
    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(InputError, match=r"no reference standard for 1 session\(s\): "
                                         r"sub-P9001_ses-recurrence"):
        create_study(StudyOptions(ds.root, ds.predictions, "x", url))
    assert not (tmp_path / "s.db-images" / "x").exists()


def test_a_second_study_of_the_same_name_is_refused(study: MadeStudy) -> None:
    from gliopet.reader.setup import StudyOptions, create_study
    with pytest.raises(InputError, match="already holds a study named 'pilot'"):
        create_study(StudyOptions(study.dataset.root, study.dataset.predictions, "pilot",
                                  study.url))


def test_ratings_long_and_imrmc_layout(tmp_path: Path) -> None:
    made = make_study(tmp_path, n_cases=4)
    with session_factory(made.url)() as s:
        reader = s.scalar(select(Reader).where(Reader.username == "reader01"))
        for a in s.scalars(select(Assignment).where(Assignment.reader_id == reader.id)):
            s.add(Reading(reader_id=reader.id, case_id=a.case_id, arm=a.arm,
                          diagnosis="progression", confidence=10 * a.position + 5, comments="",
                          seconds=3.0))
        s.commit()
        codes = {c.id: c.code for c in s.scalars(select(Case))}
        truth = {codes[r.case_id]: r.truth for r in s.scalars(select(Reference))}
    long = ratings_long(made.url, "pilot")
    assert list(long.columns) == ["reader", "modality", "case", "truth", "rating"]
    assert len(long) == 8 and set(long["modality"]) == {"unaided", "aided"}
    assert all(truth[c] == t for c, t in zip(long["case"], long["truth"], strict=True))
    table = imrmc_table(long)
    assert list(table.columns) == ["readerID", "caseID", "modalityID", "score"]
    head = table[table["readerID"] == "truth"]
    assert len(head) == 4 and set(head["modalityID"]) == {"truth"}
    assert set(head["score"]) <= {0, 1}
    pd.testing.assert_series_equal(table["score"].iloc[4:].reset_index(drop=True),
                                   long["rating"], check_names=False)
    with pytest.raises(InputError, match="no study 'other' in the database"):
        ratings_long(made.url, "other")
