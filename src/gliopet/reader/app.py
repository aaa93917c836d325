"""The reader-study web application (FastAPI): login, worklist, case page, answers, admin.

`create_app(database_url)` builds the application; `gliopet reader serve` runs it with uvicorn.
Security (docs/reader-study.md, "Security"): Argon2id passwords; server-side sessions (the
cookie holds a random token, HttpOnly, SameSite=Strict, expiring); a CSRF token in every form,
checked on every POST (the login form by a double-submit cookie); at most 5 failed logins a
minute per account and per address (then 429); a reader reaches only their own cases of the
open arm; images are served by case code and file name from a fixed list, resolved inside
the study's image folder; the reference standard is never read by a reader route; every action
is written to the audit log.
"""

from __future__ import annotations

import asyncio
import weakref
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from gliopet.reader import service as sv
from gliopet.reader.cases import CASE_IMAGES, read_tacs
from gliopet.reader.models import LoginSession, Reader, Study, utcnow
from gliopet.reader.pages import DATA, render, tac_svg
from gliopet.reader.security import (
    RateLimiter,
    hash_password,
    new_token,
    same_token,
    token_hash,
    verify_password,
)
from gliopet.reader.store import as_utc, open_database

#: A form field (text / integer).
FStr = Annotated[str, Form()]
FInt = Annotated[int, Form()]
COOKIE = "gliopet_session"
LOGIN_COOKIE = "gliopet_login_csrf"
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
                               "style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: blob:; connect-src 'self' data: blob:; "
                               "worker-src 'self' blob:; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _Context:
    """The application's state: database, study, settings, login limiter."""

    def __init__(self, url: str, study: str | None, session_hours: float,
                 secure_cookie: bool) -> None:
        self.maker: sessionmaker[Session] = open_database(url)
        with self.maker() as session:
            studies = session.scalars(select(Study)).all()
        chosen = [s for s in studies if study is None or s.name == study]
        if len(chosen) != 1:
            from gliopet.errors import InputError
            names = ", ".join(s.name for s in studies) or "none"
            raise InputError(f"choose one study with --study (studies: {names})", path=url,
                             fix="give --study NAME")
        self.study_id = chosen[0].id
        self.image_dir = Path(chosen[0].image_dir).resolve()
        self.session_time = timedelta(hours=session_hours)
        self.secure = secure_cookie
        self.limiter = RateLimiter(limit=5, window_s=60.0)
        #: Verified for unknown user names, so a login takes as long for them (no enumeration).
        self.dummy_hash = hash_password(new_token())
        sqlite = self.maker.kw["bind"].dialect.name == "sqlite"
        self.turns: weakref.WeakKeyDictionary | None = \
            weakref.WeakKeyDictionary() if sqlite else None


def _ip(request: Request) -> str:
    return request.client.host if request.client else ""


def create_app(database_url: str, *, study: str | None = None, session_hours: float = 8.0,
               secure_cookie: bool = False) -> FastAPI:
    """The web application of the study in `database_url` (the only study, or `study`)."""
    ctx = _Context(database_url, study, session_hours, secure_cookie)
    app = FastAPI(title="gliopet reader study", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.ctx = ctx

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        for key, value in HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    app.mount("/static", StaticFiles(directory=DATA / "static"), name="static")
    _auth_routes(app, ctx)
    _reading_routes(app, ctx)
    _admin_routes(app, ctx)
    return app


# ---------------------------------------------------------------------------- authentication
async def _db(request: Request) -> Any:
    """A database session for the request; with SQLite, the requests of the server take turns
    (one writer at a time, first come first served: no waiting in SQLite's sleeping busy
    handler). The turn is awaited on the event loop, not in a worker thread, so waiting
    requests never hold the threads that the request in turn needs."""
    ctx: _Context = request.app.state.ctx
    if ctx.turns is None:
        with ctx.maker() as session:
            yield session
        return
    loop = asyncio.get_running_loop()
    turn = ctx.turns.setdefault(loop, asyncio.Lock())  # one loop per uvicorn server
    async with turn:
        with ctx.maker() as session:
            yield session


def _login(request: Request, session: DB) -> tuple[Reader, LoginSession]:
    """The logged-in reader and their session (401 without a valid, unexpired session)."""
    ctx: _Context = request.app.state.ctx
    token = request.cookies.get(COOKIE)
    found = session.get(LoginSession, token_hash(token)) if token else None
    if found is None or as_utc(found.expires_at) <= utcnow():
        raise HTTPException(401, "log in first")
    reader = session.get(Reader, found.reader_id)
    if reader is None or reader.study_id != ctx.study_id:
        raise HTTPException(401, "log in first")
    return reader, found


DB = Annotated[Session, Depends(_db)]
Login = Annotated[tuple[Reader, LoginSession], Depends(_login)]


def _csrf(login: tuple[Reader, LoginSession], token: str) -> None:
    if not same_token(login[1].csrf, token):
        raise HTTPException(403, "missing or wrong CSRF token (reload the page)")


def _refuse(session: Session, reader: Reader, exc: sv.Refused, ip: str) -> HTTPException:
    sv.audit(session, reader, "refused", exc.reason, ip)
    session.commit()
    return HTTPException(exc.status, exc.reason)


def _auth_routes(app: FastAPI, ctx: _Context) -> None:
    @app.exception_handler(401)
    async def _to_login(request: Request, exc: HTTPException) -> Response:
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/login", status_code=303)
        return Response(str(exc.detail), status_code=401, media_type="text/plain")

    @app.get("/login", response_class=HTMLResponse)
    def login_page(*, request: Request) -> Response:
        token = new_token()
        response = HTMLResponse(render("login.html", csrf=token, error=None, login_page=True))
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                            secure=ctx.secure, max_age=3600)
        return response

    @app.post("/login")
    def login(*, request: Request, username: FStr, password: FStr,
              csrf: FStr = "", session: DB) -> Response:
        ip = _ip(request)
        if not same_token(request.cookies.get(LOGIN_COOKIE), csrf):
            raise HTTPException(403, "missing or wrong CSRF token (reload the login page)")
        keys = (f"user:{username.lower()}", f"ip:{ip}")
        if ctx.limiter.blocked(*keys):
            sv.audit(session, None, "login-rate-limited", username[:80], ip)
            session.commit()
            raise HTTPException(429, "too many failed logins; wait a minute")
        reader = session.scalar(select(Reader).where(Reader.study_id == ctx.study_id,
                                                     Reader.username == username))
        stored = reader.password_hash if reader is not None else ctx.dummy_hash
        if not verify_password(stored, password) or reader is None:
            ctx.limiter.fail(*keys)
            sv.audit(session, reader, "login-failed", username[:80], ip)
            session.commit()
            return HTMLResponse(render("login.html", csrf=csrf, login_page=True,
                                       error="Wrong user name or "
                                       "password."), status_code=401)
        return _start_session(ctx, session, reader, ip)

    @app.post("/logout")
    def logout(*, request: Request, csrf: FStr = "", login: Login,
               session: DB) -> Response:
        _csrf(login, csrf)
        found = session.get(LoginSession, login[1].token_hash)
        if found is not None:
            session.delete(found)
        sv.audit(session, login[0], "logout", ip=_ip(request))
        session.commit()
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response


def _start_session(ctx: _Context, session: Session, reader: Reader, ip: str) -> Response:
    token = new_token()
    session.execute(delete(LoginSession).where(LoginSession.expires_at <= utcnow()))
    session.add(LoginSession(token_hash=token_hash(token), reader_id=reader.id, csrf=new_token(),
                             expires_at=utcnow() + ctx.session_time))
    sv.audit(session, reader, "login", ip=ip)
    session.commit()
    response = RedirectResponse("/admin" if reader.is_admin else "/", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=ctx.secure,
                        max_age=int(ctx.session_time.total_seconds()))
    response.delete_cookie(LOGIN_COOKIE)
    return response


# ---------------------------------------------------------------------------- reading
def _reader_only(login: Login) -> tuple[Reader,
                                                                               LoginSession]:
    if login[0].is_admin:
        raise HTTPException(403, "the administrator account does not read cases")
    return login


ReaderLogin = Annotated[tuple[Reader, LoginSession], Depends(_reader_only)]


def _next_case(session: Session, reader: Reader, arm: str) -> str:
    """The reader's next unread case of `arm`, else the worklist (which shows what opens)."""
    for item in sv.worklist(session, reader, arm):
        if not item["read"]:
            return f"/case/{item['code']}"
    return "/"


def _reading_routes(app: FastAPI, ctx: _Context) -> None:
    @app.get("/", response_class=HTMLResponse)
    def home(*, request: Request, login: Login,
             session: DB) -> Response:
        reader = login[0]
        if reader.is_admin:
            return RedirectResponse("/admin", status_code=303)
        state = sv.arm_state(session, reader)
        items = sv.worklist(session, reader, state.arm) if state.arm else []
        pending = _pending_trust(session, reader)
        sv.audit(session, reader, "worklist", state.arm or "", _ip(request))
        session.commit()
        return HTMLResponse(render("worklist.html", reader=reader, state=state, items=items,
                                   pending=pending, csrf=login[1].csrf,
                                   sus_due=state.done and not sv.sus_done(session, reader)))

    @app.get("/case/{code}", response_class=HTMLResponse)
    def case_page(*, code: str, request: Request, login: ReaderLogin,
                  session: DB) -> Response:
        reader = login[0]
        try:
            case, arm = sv.open_case(session, reader, code)
        except sv.Refused as exc:
            raise _refuse(session, reader, exc, _ip(request)) from None
        answered = sv.reading_of(session, reader, case, arm) is not None
        sv.audit(session, reader, "case-view", f"{code} {arm}", _ip(request))
        session.commit()
        return HTMLResponse(render(
            "case.html", case=case, arm=arm, csrf=login[1].csrf, answered=answered,
            show_probability=arm in sv.SHOWS_PROBABILITY,
            show_saliency=arm in sv.SHOWS_SALIENCY and case.has_saliency,
            tac=tac_svg(read_tacs(ctx.image_dir / case.code))))

    @app.post("/case/{code}")
    def answer(*, code: str, request: Request, diagnosis: FStr = "",
               confidence: FInt = -1, comments: FStr = "", csrf: FStr = "",
               login: ReaderLogin,
               session: DB) -> Response:
        _csrf(login, csrf)
        reader = login[0]
        try:
            reading, arm = sv.submit(session, reader, code, diagnosis, confidence, comments)
        except sv.Refused as exc:
            raise _refuse(session, reader, exc, _ip(request)) from None
        sv.audit(session, reader, "answer",
                 f"{code} {arm} {diagnosis} {confidence} {reading.seconds:.1f}s", _ip(request))
        session.commit()
        target = f"/case/{code}/trust/{arm}" if arm in sv.SHOWS_PROBABILITY else \
            _next_case(session, reader, arm)
        return RedirectResponse(target, status_code=303)

    _trust_routes(app, ctx)
    _image_routes(app, ctx)
    _sus_routes(app)


def _pending_trust(session: Session, reader: Reader) -> list[tuple[str, str]]:
    """(code, arm) of answers that still wait for their trust rating."""
    from gliopet.reader.models import Case, Reading

    rows = session.execute(select(Case.code, Reading.arm).join(Case, Case.id == Reading.case_id)
                           .where(Reading.reader_id == reader.id, Reading.trust.is_(None),
                                  Reading.arm.in_(sv.SHOWS_PROBABILITY))).all()
    return [(code, arm) for code, arm in rows]


def _trust_routes(app: FastAPI, ctx: _Context) -> None:
    @app.get("/case/{code}/trust/{arm}", response_class=HTMLResponse)
    def trust_page(*, code: str, arm: str, request: Request, login: ReaderLogin,
                   session: DB) -> Response:
        reader = login[0]
        if arm not in sv.SHOWS_PROBABILITY:
            raise HTTPException(404, "no rating for this arm")
        try:
            sv.assignment(session, reader, code, arm)
        except sv.Refused as exc:
            raise _refuse(session, reader, exc, _ip(request)) from None
        return HTMLResponse(render("trust.html", code=code, arm=arm, csrf=login[1].csrf))

    @app.post("/case/{code}/trust/{arm}")
    def trust(*, code: str, arm: str, request: Request, trust: FInt = 0,
              would_use: FInt = 0, csrf: FStr = "",
              login: ReaderLogin,
              session: DB) -> Response:
        _csrf(login, csrf)
        reader = login[0]
        try:
            sv.rate_trust(session, reader, code, arm, trust, would_use)
        except sv.Refused as exc:
            raise _refuse(session, reader, exc, _ip(request)) from None
        sv.audit(session, reader, "trust", f"{code} {arm} {trust} {would_use}", _ip(request))
        session.commit()
        return RedirectResponse(_next_case(session, reader, arm), status_code=303)


def _image_routes(app: FastAPI, ctx: _Context) -> None:
    @app.get("/images/{code}/{name}")
    def image(*, code: str, name: str, request: Request, login: ReaderLogin,
              session: DB) -> Response:
        reader = login[0]
        try:
            if name not in CASE_IMAGES:
                raise sv.Refused(404, "no such image")
            case, arm = sv.open_case(session, reader, code)
            if name == "saliency.nii.gz" and arm not in sv.SHOWS_SALIENCY:
                raise sv.Refused(403, "the model output is not shown in this arm")
        except sv.Refused as exc:
            raise _refuse(session, reader, exc, _ip(request)) from None
        path = (ctx.image_dir / case.code / name).resolve()
        if not path.is_relative_to(ctx.image_dir) or not path.is_file():
            raise HTTPException(404, "no such image")
        sv.audit(session, reader, "image", f"{code} {name}", _ip(request))
        session.commit()
        return FileResponse(path, media_type="application/octet-stream")


def _sus_routes(app: FastAPI) -> None:
    @app.get("/sus", response_class=HTMLResponse)
    def sus_page(*, login: ReaderLogin) -> Response:
        return HTMLResponse(render("sus.html", items=list(enumerate(sv.SUS_ITEMS, start=1)),
                                   csrf=login[1].csrf))

    @app.post("/sus")
    def sus(*, request: Request, q1: FInt = 0, q2: FInt = 0, q3: FInt = 0,
            q4: FInt = 0, q5: FInt = 0, q6: FInt = 0, q7: FInt = 0,
            q8: FInt = 0, q9: FInt = 0, q10: FInt = 0, csrf: FStr = "",
            login: ReaderLogin, session: DB) -> Response:
        _csrf(login, csrf)
        reader = login[0]
        answers = [q1, q2, q3, q4, q5, q6, q7, q8, q9, q10]
        try:
            score = sv.submit_sus(session, reader, answers)
        except sv.Refused as exc:
            raise _refuse(session, reader, exc, _ip(request)) from None
        sv.audit(session, reader, "sus", f"score {score:.1f}", _ip(request))
        session.commit()
        return RedirectResponse("/", status_code=303)


# ---------------------------------------------------------------------------- admin
def _admin(login: Login) -> tuple[Reader, LoginSession]:
    if not login[0].is_admin:
        raise HTTPException(403, "administrators only")
    return login


AdminLogin = Annotated[tuple[Reader, LoginSession], Depends(_admin)]


def _admin_routes(app: FastAPI, ctx: _Context) -> None:
    @app.get("/admin", response_class=HTMLResponse)
    def admin(*, request: Request, login: AdminLogin,
              session: DB) -> Response:
        study = session.get(Study, ctx.study_id)
        rows = sv.progress(session, study)
        sv.audit(session, login[0], "admin-view", ip=_ip(request))
        session.commit()
        return HTMLResponse(render("admin.html", study=study, rows=rows, csrf=login[1].csrf))

    @app.get("/admin/export/{kind}.csv")
    def export(*, kind: str, request: Request, login: AdminLogin,
               session: DB) -> Response:
        from gliopet.reader.export import imrmc_table, results_frame

        study = session.get(Study, ctx.study_id)
        if kind not in ("imrmc", "results"):
            raise HTTPException(404, "no such export")
        table = results_frame(session, study.name)
        if kind == "imrmc":
            table = imrmc_table(table)
        sv.audit(session, login[0], "export", kind, _ip(request))
        session.commit()
        return Response(table.to_csv(index=False, lineterminator="\n"), media_type="text/csv",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{study.name}-{kind}.csv"'})
