"""Sessions: a random id in a signed cookie, and a database row that says whether it still counts.

The cookie (`__Host-portal_session` over https, `portal_session` on http://localhost) is HttpOnly,
SameSite=Lax and Secure, and carries only the row's id signed with itsdangerous. The row holds who is
signed in, the idle timeout (patients 15 minutes, staff 30, both configurable), the absolute lifetime
(12 hours) and whether it was revoked (sign-out, "sign out everywhere", a staff reset, a passkey
removed). A new id is issued at every sign-in; sign-out revokes the row and sends
`Clear-Site-Data` so the browser drops its cache and storage for the portal.

What keeps a session alive. Only requests that show the person is there extend the idle timeout:
  * an unsafe method (POST, PUT, PATCH, DELETE): a form sent, a button pressed;
  * a top-level page load: `Sec-Fetch-Mode: navigate`, or, from a client that sends no Fetch Metadata,
    a request without `HX-Request`; and htmx's boosted navigation (`HX-Boosted: true`).
Every other GET (htmx swaps and polling, `fetch()`) reads the session without extending it, so no
polling element can keep an unattended screen signed in, whatever its markup says.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NoReturn
from urllib.parse import quote, urlsplit

from sqlalchemy import bindparam
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal import db
from portal.config import Settings
from portal.models import LoginSession, Person
from portal.models.base import utcnow
from portal.models.people import StaffRole
from portal.provenance import NOWHERE, Provenance
from portal.security import cookies, csrf, signing
from portal.services import audit

COOKIE = "portal_session"  # the base name: `cookie_name(settings)` is what the browser holds
PURPOSE = "session"
SAFE_METHODS = csrf.SAFE_METHODS
TOUCH_EVERY = timedelta(minutes=1)  # last-use is written at most this often: an idle timeout needs no more
STEP_UP_MINUTES = 5  # adding or removing a passkey needs a passkey check this recent
STAFF_ROLES = tuple(StaffRole)
CLEAR_SITE_DATA = '"cache", "storage"'
UNGUARDED = ("/static/", "/healthz")  # never about anyone: no session lookup


def sign(settings: Settings, session_id: str) -> str:
    return signing.sign(settings, PURPOSE, session_id)


def unsign(settings: Settings, token: str) -> str | None:
    return signing.unsign(settings, PURPOSE, token, max_age=settings.session_absolute_hours * 3600)


def cookie_name(settings: Settings) -> str:
    return cookies.name(settings, COOKIE)


def cookie_header(settings: Settings, value: str, *, clear: bool = False) -> str:
    return cookies.header(settings, COOKIE, value, max_age=0 if clear else None)


def open_session(
    session: Session,
    *,
    person_id: int,
    method: str,
    settings: Settings | None = None,
    device: str = "",
    verified: bool = False,
) -> LoginSession:
    """Start a new session (a new random id) for the person; the caller sets its cookie."""
    person = session.get(Person, person_id)
    if person is None:
        raise ValueError("no such person")
    if person.staff_role:
        idle = settings.staff_idle_minutes if settings else Settings.staff_idle_minutes
    else:
        idle = settings.patient_idle_minutes if settings else Settings.patient_idle_minutes
    hours = settings.session_absolute_hours if settings else Settings.session_absolute_hours
    now = utcnow()
    login = LoginSession(
        id=secrets.token_urlsafe(32),
        person_id=person_id,
        method=method,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=hours),
        idle_minutes=idle,
        verified_at=now if verified else None,
        device=device[:80],
    )
    session.add(login)
    session.flush()
    return login


# Built once: this runs before every signed-in page, and building a statement costs more than running it.
_UNREVOKED = (
    select(LoginSession, Person)
    .join(Person, col(Person.id) == col(LoginSession.person_id))
    .where(col(LoginSession.id) == bindparam("session_id"), col(LoginSession.revoked_at).is_(None))
)


def _unrevoked(session: Session, session_id: str) -> tuple[LoginSession, Person] | None:
    """The session, if not revoked, and its person, in one statement."""
    found = session.execute(_UNREVOKED, {"session_id": session_id}).first()
    return None if found is None else (found[0], found[1])


def _timed_out(login: LoginSession, now: datetime) -> str | None:
    if now >= login.expires_at:
        return "expired"
    if now >= login.last_seen_at + timedelta(minutes=login.idle_minutes):
        return "idle"
    return None


def _touch_due(login: LoginSession, now: datetime, extend: bool) -> bool:
    return extend and now - login.last_seen_at >= TOUCH_EVERY


def look_up(
    session: Session, session_id: str, *, extend: bool
) -> tuple[LoginSession, Person] | None | Literal[True]:
    """What most requests need, read without writing: the live session and its person, None when there is
    none, or True when `load` must run because something is to be written (a timeout to record, or a
    last-use time older than TOUCH_EVERY to move on)."""
    found = _unrevoked(session, session_id)
    if found is None:
        return None
    login, person = found
    now = utcnow()
    if _timed_out(login, now) is not None or _touch_due(login, now, extend):
        return True
    return None if person.disabled else found


def load(
    session: Session, session_id: str, *, extend: bool, provenance: Provenance = NOWHERE
) -> tuple[LoginSession, Person] | None:
    """The live session and its person, or None. A session found past a timeout is revoked (and the
    timeout audited) here."""
    found = _unrevoked(session, session_id)
    if found is None:
        return None
    login, person = found
    now = utcnow()
    reason = _timed_out(login, now)
    if reason is not None:
        revoke(session, login, reason=reason)
        audit.record(
            session,
            action="session-timeout",
            actor_person_id=login.person_id,
            resource_type="LoginSession",
            resource_id=login.public_id,
            provenance=provenance,
        )
        return None
    if person.disabled:
        return None
    if _touch_due(login, now, extend):
        login.last_seen_at = now
    return login, person


def revoke(session: Session, login: LoginSession, *, reason: str) -> None:
    if login.revoked_at is None:
        login.revoked_at = utcnow()
        login.revoked_reason = reason


def revoke_all(session: Session, person_id: int, *, reason: str, keep: str | None = None) -> int:
    """End every live session of the person (but `keep`, the one asking, if given); how many there were."""
    live = [
        login
        for login in session.exec(
            select(LoginSession).where(
                LoginSession.person_id == person_id, col(LoginSession.revoked_at).is_(None)
            )
        ).all()
        if login.id != keep
    ]
    for login in live:
        revoke(session, login, reason=reason)
    return len(live)


def active_sessions(session: Session, person_id: int) -> list[LoginSession]:
    now = utcnow()
    rows = session.exec(
        select(LoginSession)
        .where(LoginSession.person_id == person_id, col(LoginSession.revoked_at).is_(None))
        .order_by(col(LoginSession.last_seen_at).desc())
    ).all()
    return [
        r for r in rows if now < r.expires_at and now < r.last_seen_at + timedelta(minutes=r.idle_minutes)
    ]


def is_fresh(login: LoginSession | None, *, minutes: int = STEP_UP_MINUTES) -> bool:
    """Whether the person proved their passkey within the last few minutes (step-up)."""
    if login is None or login.verified_at is None:
        return False
    return utcnow() - login.verified_at < timedelta(minutes=minutes)


def counts_as_activity(method: str, headers: dict[str, str]) -> bool:
    """The module docstring's rule: does this request extend the idle timeout?"""
    if method not in SAFE_METHODS:
        return True
    if headers.get("hx-boosted") == "true":
        return True
    mode = headers.get("sec-fetch-mode")
    if mode is not None:
        return mode == "navigate"
    return headers.get("hx-request") != "true"


def device_name(user_agent: str) -> str:
    """A short, coarse description of the browser, for the list of active sessions."""
    browsers = [("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari")]
    systems = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "Mac"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    browser = next((name for token, name in browsers if token in user_agent), "A browser")
    system = next((name for token, name in systems if token in user_agent), "")
    return f"{browser} on {system}" if system else browser


class SessionMiddleware:
    """Sets `request.state.person` and `request.state.login_session` (None when signed out).

    A cookie that is tampered with, too old, revoked or timed out is cleared in the response."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["person"] = None
        state["login_session"] = None
        request = Request(scope)
        name = cookie_name(self.settings)
        token = request.cookies.get(name)
        if not token or scope["path"].startswith(UNGUARDED):
            await self.app(scope, receive, send)
            return
        found = None
        session_id = unsign(self.settings, token)
        client = Client.of(request)
        provenance = Provenance(client_address=client.address, request_id=client.request_id)
        engine = scope["app"].state.engine
        if session_id is not None:
            extend = counts_as_activity(request.method, dict(request.headers))
            looked_up = await run_in_threadpool(db.run_reading, engine, look_up, session_id, extend=extend)
            if looked_up is True:  # a write is due: read again, decide and write in one transaction
                found = await run_in_threadpool(
                    db.run_in_transaction, engine, load, session_id, extend=extend, provenance=provenance
                )
            else:
                found = looked_up
        else:
            await run_in_threadpool(db.run_in_transaction, engine, _cookie_refused, provenance)
        if found is not None:
            state["login_session"], state["person"] = found
            await self.app(scope, receive, send)
            return
        state["session_ended"] = True  # the sign-in page then says why the person is there

        async def send_clearing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if not any(v.startswith(name + "=") for v in headers.getlist("set-cookie")):
                    headers.append("set-cookie", cookie_header(self.settings, "", clear=True))
            await send(message)

        await self.app(scope, receive, send_clearing)


def _cookie_refused(session: Session, provenance: Provenance) -> None:
    """A session cookie that fails its signature: forged, from another key, or older than any session."""
    audit.record(session, action="cookie-refused", outcome="denied", provenance=provenance)


def start_cookies(response: Response, settings: Settings, login: LoginSession) -> None:
    """After sign-in: the new session's cookie, and a fresh CSRF token (the old one dies with the old id)."""
    response.headers.append("set-cookie", cookie_header(settings, sign(settings, login.id)))
    response.headers.append("set-cookie", csrf.cookie_header(settings, csrf.new_token(settings)))


def end_cookies(response: Response, settings: Settings) -> None:
    """After sign-out: no session cookie, a fresh CSRF token, and the browser told to forget the portal."""
    response.headers.append("set-cookie", cookie_header(settings, "", clear=True))
    response.headers.append("set-cookie", csrf.cookie_header(settings, csrf.new_token(settings)))
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA


def current_person(request: Request) -> Person | None:
    person: Person | None = request.scope.get("state", {}).get("person")
    return person


def current_login(request: Request) -> LoginSession | None:
    login: LoginSession | None = request.scope.get("state", {}).get("login_session")
    return login


def safe_next(value: str | None, default: str = "/account") -> str:
    """A local path to go to after sign-in; anything that could leave the site becomes `default`."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if "\\" in value or any(ord(c) < 0x20 for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def _to_sign_in(request: Request) -> NoReturn:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = "/login?next=" + quote(safe_next(path), safe="/")
    if request.scope.get("state", {}).get("session_ended"):
        target += "&ended=1"
    if request.headers.get("hx-request") == "true":
        # An XHR would follow a 303 and swap the sign-in page into a table cell: tell htmx to navigate.
        raise HTTPException(401, headers={"HX-Redirect": target})
    raise HTTPException(303, headers={"Location": target})


def require_person(request: Request) -> Person:
    """The signed-in person, or off to the sign-in page (and back here afterwards)."""
    person = current_person(request)
    if person is None:
        _to_sign_in(request)
    return person


def require_staff(request: Request, *roles: StaffRole) -> Person:
    """A signed-in member of staff with one of `roles` (any staff role when none are named)."""
    person = require_person(request)
    if person.staff_role is None or person.staff_role not in (roles or STAFF_ROLES):
        raise HTTPException(403)
    return person


@dataclass(frozen=True)
class Client:
    """Who is asking, for audit events and rate limits: never anything about the patient."""

    address: str
    request_id: str | None
    device: str

    @classmethod
    def of(cls, request: Request) -> Client:
        return cls(
            address=request.client.host if request.client else "unknown",
            request_id=request.scope.get("state", {}).get("request_id"),
            device=device_name(request.headers.get("user-agent", "")),
        )


def minutes_until(moment: datetime) -> int:
    return max(1, int((moment - utcnow()).total_seconds() + 59) // 60)
