"""Security of the reader-study web application (fastapi TestClient)."""

from __future__ import annotations

import gzip
import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gliopet.reader.app import create_app
from gliopet.reader.models import AuditEntry, LoginSession, Reading, utcnow
from gliopet.reader.store import session_factory
from support.reader_study import PATIENT_NAME, MadeStudy, csrf_of, log_in, make_study, read_case

CODE = re.compile(r'href="/case/([0-9A-F]{10})"')


def _client(study: MadeStudy) -> TestClient:
    return TestClient(create_app(study.url))


def _codes(client: TestClient) -> list[str]:
    return CODE.findall(client.get("/").text)


def _finish_unaided(client: TestClient, csrf: str) -> None:
    for code in _codes(client):
        assert read_case(client, code, csrf).status_code == 303


def test_unauthenticated_requests_are_refused(study: MadeStudy) -> None:
    client = _client(study)
    page = client.get("/", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    code = study.image_dir.iterdir().__next__().name
    for method, url in [("get", f"/images/{code}/pet.nii.gz"), ("get", f"/case/{code}"),
                        ("post", f"/case/{code}"), ("get", "/admin"),
                        ("get", "/admin/export/imrmc.csv"), ("get", "/sus")]:
        assert getattr(client, method)(url).status_code == 401, url
    for url in ("/docs", "/openapi.json", "/redoc"):
        assert client.get(url).status_code in (401, 404)


def test_login_sets_a_strict_httponly_cookie_and_security_headers(study: MadeStudy) -> None:
    client = _client(study)
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": "reader01", "csrf": token,
                                           "password": study.passwords["reader01"]},
                           follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "gliopet_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = client.get("/")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_a_reader_reaches_only_their_own_cases(tmp_path: Path) -> None:
    made = make_study(tmp_path, n_cases=6, design="split-plot", n_readers=2, groups=2)
    one, two = _client(made), _client(made)
    csrf_one = log_in(one, "reader01", made.passwords["reader01"])
    log_in(two, "reader02", made.passwords["reader02"])
    mine, theirs = set(_codes(one)), set(_codes(two))
    assert len(mine) == len(theirs) == 3 and not mine & theirs
    other = sorted(theirs)[0]
    assert one.get(f"/case/{other}").status_code == 404
    assert one.get(f"/images/{other}/pet.nii.gz").status_code == 404
    response = read_case(two, other, csrf_of(two.get("/").text))
    assert response.status_code == 303
    assert one.post(f"/case/{other}", data={"diagnosis": "progression", "confidence": 5,
                                           "csrf": csrf_one}).status_code == 404
    assert one.get("/admin").status_code == 403
    assert one.get("/admin/export/results.csv").status_code == 403
    assert one.get("/admin/export/imrmc.csv").status_code == 403


def test_no_ai_output_in_the_unaided_arm_then_shown_in_the_aided_arm(tmp_path: Path) -> None:
    made = make_study(tmp_path, n_cases=3)
    client = _client(made)
    csrf = log_in(client, "reader01", made.passwords["reader01"])
    code = _codes(client)[0]
    page = client.get(f"/case/{code}").text
    assert "ai-output" not in page and "probability of progression" not in page.lower()
    assert "saliency" not in page
    assert client.get(f"/images/{code}/saliency.nii.gz").status_code == 403
    _finish_unaided(client, csrf)
    assert 'data-arm="aided"' in client.get("/").text
    page = client.get(f"/case/{code}").text
    assert 'id="ai-output"' in page and "saliency.nii.gz" in page
    assert client.get(f"/images/{code}/saliency.nii.gz").status_code == 200


def test_a_submitted_answer_cannot_be_changed(tmp_path: Path) -> None:
    made = make_study(tmp_path, n_cases=2)
    client = _client(made)
    csrf = log_in(client, "reader01", made.passwords["reader01"])
    code = _codes(client)[0]
    assert read_case(client, code, csrf, confidence=80).status_code == 303
    again = client.post(f"/case/{code}", data={"diagnosis": "treatment_change",
                                              "confidence": 5, "csrf": csrf})
    assert again.status_code == 409 and "final" in again.text
    with session_factory(made.url)() as s:
        readings = s.scalars(select(Reading)).all()
    assert [(r.confidence, r.diagnosis) for r in readings] == [(80, "progression")]
    assert 'id="answered"' in client.get(f"/case/{code}").text


def test_image_paths_cannot_leave_the_case_folder(study: MadeStudy) -> None:
    client = _client(study)
    log_in(client, "reader02", study.passwords["reader02"])
    code = _codes(client)[0]
    assert client.get(f"/images/{code}/pet.nii.gz").status_code == 200
    for name in ("..%2F..%2Fstudy.db", "%2e%2e%2f%2e%2e%2fstudy.db", "tac.json",
                 "..%2Fpet.nii.gz", "pet.nii.gz%00", "PET.NII.GZ"):
        assert client.get(f"/images/{code}/{name}").status_code == 404, name
    assert client.get(f"/images/..%2F{code}/pet.nii.gz").status_code == 404
    assert client.get(f"/images/{code}/../../etc/passwd").status_code == 404


def test_no_patient_name_or_id_reaches_the_browser(tmp_path: Path) -> None:
    made = make_study(tmp_path, n_cases=2)
    client = _client(made)
    csrf = log_in(client, "reader01", made.passwords["reader01"])
    bodies = [client.get("/").content]
    for arm in ("unaided", "aided"):
        for code in _codes(client):
            bodies.append(client.get(f"/case/{code}").content)
            for name in ("pet", "mri", "flair", "frames") + (("saliency",) if arm == "aided"
                                                              else ()):
                bodies.append(gzip.decompress(client.get(f"/images/{code}/{name}.nii.gz")
                                              .content))
            bodies.append(client.post(f"/case/{code}", data={
                "diagnosis": "progression", "confidence": 60, "csrf": csrf},
                follow_redirects=True).content)
    forbidden = [PATIENT_NAME.encode(), b"DOE", b"recurrence",
                 *(s.encode() for s, _ in made.dataset.sessions)]
    assert len(bodies) > 10
    for body in bodies:
        assert not any(word in body for word in forbidden)


def test_posts_without_the_csrf_token_are_refused(study: MadeStudy) -> None:
    client = _client(study)
    client.get("/login")
    response = client.post("/login", data={"username": "reader03",
                                           "password": study.passwords["reader03"]})
    assert response.status_code == 403
    csrf = log_in(client, "reader03", study.passwords["reader03"])
    code = _codes(client)[0]
    client.get(f"/case/{code}")
    assert client.post(f"/case/{code}", data={"diagnosis": "progression",
                                             "confidence": 50}).status_code == 403
    assert client.post(f"/case/{code}", data={"diagnosis": "progression", "confidence": 50,
                                              "csrf": csrf + "x"}).status_code == 403
    assert client.post("/logout").status_code == 403


def test_failed_logins_are_rate_limited(study: MadeStudy) -> None:
    client = _client(study)
    token = csrf_of(client.get("/login").text)
    for _ in range(5):
        wrong = client.post("/login", data={"username": "reader02", "password": "wrong-one",
                                            "csrf": token})
        assert wrong.status_code == 401
    right = client.post("/login", data={"username": "reader02", "csrf": token,
                                        "password": study.passwords["reader02"]})
    assert right.status_code == 429
    with session_factory(study.url)() as s:
        actions = [a.action for a in s.scalars(select(AuditEntry))]
    assert actions.count("login-failed") >= 5 and "login-rate-limited" in actions


def test_expired_sessions_are_refused(tmp_path: Path) -> None:
    made = make_study(tmp_path, n_cases=2)
    client = _client(made)
    log_in(client, "reader01", made.passwords["reader01"])
    assert client.get("/").status_code == 200
    with session_factory(made.url)() as s:
        s.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    assert client.get("/", headers={"accept": "application/json"}).status_code == 401


def test_the_aided_arm_waits_for_the_washout(tmp_path: Path) -> None:
    made = make_study(tmp_path, n_cases=2, washout_days=28.0)
    client = _client(made)
    csrf = log_in(client, "reader01", made.passwords["reader01"])
    codes = _codes(client)
    _finish_unaided(client, csrf)
    page = client.get("/").text
    assert 'id="washout"' in page and not CODE.findall(page)
    assert client.get(f"/case/{codes[0]}").status_code == 403


@pytest.mark.parametrize("diagnosis, confidence", [("maybe", 50), ("progression", 101)])
def test_bad_answers_are_refused(tmp_path: Path, diagnosis: str, confidence: int) -> None:
    made = make_study(tmp_path, n_cases=1)
    client = _client(made)
    csrf = log_in(client, "reader01", made.passwords["reader01"])
    code = _codes(client)[0]
    assert read_case(client, code, csrf, confidence, diagnosis).status_code == 422


def test_reader_routes_never_read_the_reference_standard() -> None:
    """Only the administrator's export (gliopet.reader.export) joins the reference table."""
    import gliopet.reader.app as app_module
    import gliopet.reader.pages as pages_module
    import gliopet.reader.service as service_module

    for module in (app_module, pages_module, service_module):
        source = Path(module.__file__).read_text()
        assert "Reference" not in source and '"reference"' not in source, module.__name__
    export_source = Path(app_module.__file__).read_text()
    assert export_source.count("results_frame(") == 1  # inside the admin-only export route
