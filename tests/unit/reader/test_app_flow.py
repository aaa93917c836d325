"""The reading flow of the web application: timing, trust, SUS, probability-only arm, admin
export, audit log, and no answer lost with concurrent readers (SQLite)."""

from __future__ import annotations

import csv
import io
import re
import threading
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gliopet.reader.app import create_app
from gliopet.reader.models import AuditEntry, Reading, SusAnswer
from gliopet.reader.service import sus_score
from gliopet.reader.store import session_factory
from support.reader_study import csrf_of, log_in, make_study, read_case

CODE = re.compile(r'href="/case/([0-9A-F]{10})"')
NOTE = "=HYPERLINK(1) <b>x</b>"


def test_sus_score_follows_brooke() -> None:
    assert sus_score([5, 1] * 5) == 100.0
    assert sus_score([1, 5] * 5) == 0.0
    assert sus_score([3] * 10) == 50.0
    assert sus_score([4, 2, 4, 2, 4, 2, 4, 2, 4, 2]) == 75.0


def test_full_reading_with_trust_sus_and_export(tmp_path: Path) -> None:
    made = make_study(tmp_path, n_cases=2, n_readers=1)
    app = create_app(made.url)
    client = TestClient(app)
    csrf = log_in(client, "reader01", made.passwords["reader01"])
    for code in CODE.findall(client.get("/").text):
        first = read_case(client, code, csrf, comments=NOTE)
        assert first.status_code == 303 and first.headers["location"] in (
            "/", *(f"/case/{c}" for c in CODE.findall(client.get("/").text)))
    codes = CODE.findall(client.get("/").text)
    assert len(codes) == 2 and 'data-arm="aided"' in client.get("/").text
    for code in codes:
        response = read_case(client, code, csrf, comments=NOTE)
        assert response.headers["location"] == f"/case/{code}/trust/aided"
        assert client.post(f"/case/{code}/trust/aided",
                           data={"trust": 4, "would_use": 2, "csrf": csrf},
                           follow_redirects=False).status_code == 303
        assert client.post(f"/case/{code}/trust/aided",
                           data={"trust": 1, "would_use": 1, "csrf": csrf}).status_code == 409
    home = client.get("/").text
    assert 'id="finished"' in home and 'id="sus-link"' in home
    answers = {f"q{i}": 4 if i % 2 else 2 for i in range(1, 11)}
    assert client.post("/sus", data={**answers, "csrf": csrf},
                       follow_redirects=False).status_code == 303
    assert client.post("/sus", data={**answers, "csrf": csrf}).status_code == 409
    with session_factory(made.url)() as s:
        readings = s.scalars(select(Reading)).all()
        assert s.scalar(select(SusAnswer.score)) == 75.0
        actions = {a.action for a in s.scalars(select(AuditEntry))}
    assert len(readings) == 4 and all(r.seconds >= 0 for r in readings)
    assert {(r.arm, r.trust, r.would_use) for r in readings} == {("unaided", None, None),
                                                                   ("aided", 4, 2)}
    assert {"login", "case-view", "answer", "trust", "sus", "worklist", "refused"} <= actions
    admin = TestClient(app)
    log_in(admin, "admin", made.passwords["admin"])
    assert "2/2" in admin.get("/admin").text
    exported = admin.get("/admin/export/imrmc.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 2 + 4 and rows[0]["readerID"] == "truth"
    results = list(csv.DictReader(io.StringIO(admin.get("/admin/export/results.csv").text)))
    assert {r["trust"] for r in results if r["modality"] == "aided"} == {"4"}
    assert {r["comments"] for r in results} == {"'=HYPERLINK(1) <b>x</b>"}


def test_reading_time_is_measured_from_the_page_to_the_submit(tmp_path: Path) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from gliopet.reader.models import Assignment

    made = make_study(tmp_path, n_cases=1, n_readers=1)
    client = TestClient(create_app(made.url))
    csrf = log_in(client, "reader01", made.passwords["reader01"])
    code = CODE.findall(client.get("/").text)[0]
    assert client.post(f"/case/{code}", data={"diagnosis": "progression", "confidence": 9,
                                             "csrf": csrf}).status_code == 409  # not opened
    client.get(f"/case/{code}")
    with session_factory(made.url)() as s:  # pretend the page was served 42 s ago
        served = s.scalar(select(Assignment.first_served_at))
        s.execute(update(Assignment).values(first_served_at=served - timedelta(seconds=42)))
        s.commit()
    client.get(f"/case/{code}")  # a reload does not restart the clock
    client.post(f"/case/{code}", data={"diagnosis": "progression", "confidence": 9,
                                       "csrf": csrf})
    with session_factory(made.url)() as s:
        seconds = s.scalar(select(Reading.seconds))
    assert 42.0 <= seconds < 52.0


def test_probability_only_arm_shows_the_probability_without_saliency(tmp_path: Path) -> None:
    made = make_study(tmp_path, n_cases=1, n_readers=1,
                      arms=("unaided", "probability-only", "aided"))
    client = TestClient(create_app(made.url))
    csrf = log_in(client, "reader01", made.passwords["reader01"])
    code = CODE.findall(client.get("/").text)[0]
    read_case(client, code, csrf)
    assert 'data-arm="probability-only"' in client.get("/").text
    page = client.get(f"/case/{code}").text
    assert 'id="ai-probability"' in page and "saliency" not in page
    assert client.get(f"/images/{code}/saliency.nii.gz").status_code == 403
    assert read_case(client, code, csrf).headers["location"] == \
        f"/case/{code}/trust/probability-only"


def test_five_concurrent_readers_lose_no_answer(tmp_path: Path) -> None:
    made = make_study(tmp_path, n_cases=3, n_readers=5)
    app = create_app(made.url)
    statuses: list[int] = []
    lock = threading.Lock()

    def reader(name: str) -> None:
        client = TestClient(app)
        csrf = log_in(client, name, made.passwords[name])
        for _ in range(2):
            for code in CODE.findall(client.get("/").text):
                status = read_case(client, code, csrf).status_code
                with lock:
                    statuses.append(status)

    threads = [threading.Thread(target=reader, args=(f"reader{i:02d}",)) for i in range(1, 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with session_factory(made.url)() as s:
        stored = s.scalar(select(func.count()).select_from(Reading))
    assert statuses == [303] * 30
    assert stored == 5 * 3 * 2


def test_the_login_page_has_a_csrf_field() -> None:
    assert csrf_of('<input type="hidden" name="csrf" value="abc">') == "abc"
