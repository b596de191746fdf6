"""CSRF protection for every unsafe request: an Origin check plus a token bound to a signed cookie.

The token travels in a hidden form field (`csrf_token`) or, for htmx and fetch, the `X-CSRF-Token`
header that base.html sets with `hx-headers`. A request that fails either check gets 403 and never
reaches a view, so nothing changes.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.config import Settings
from portal.security import cookies, signing

COOKIE = "portal_csrf"  # the base name: `cookie_name(settings)` is what the browser holds
FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Paths a processor posts to, verified by its own signature instead (no browser, so no token or Origin).
SIGNED_ELSEWHERE = frozenset({"/billing/webhook/stripe"})
MAX_AGE = 60 * 60 * 24 * 30

Refuse = Callable[[Request, str], Awaitable[Response]]


def new_token(settings: Settings) -> str:
    return signing.sign(settings, "csrf", secrets.token_urlsafe(24))


def token_is_genuine(settings: Settings, token: str) -> bool:
    return signing.unsign(settings, "csrf", token, max_age=MAX_AGE) is not None


def cookie_name(settings: Settings) -> str:
    return cookies.name(settings, COOKIE)


def cookie_header(settings: Settings, token: str) -> str:
    return cookies.header(settings, COOKIE, token)


class CSRFMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings, refuse: Refuse) -> None:
        self.app = app
        self.settings = settings
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        cookie_token = request.cookies.get(cookie_name(self.settings), "")
        fresh = not (cookie_token and token_is_genuine(self.settings, cookie_token))
        token = new_token(self.settings) if fresh else cookie_token
        scope.setdefault("state", {})["csrf_token"] = token

        if request.method not in SAFE_METHODS and request.url.path not in SIGNED_ELSEWHERE:
            problem = self._origin_problem(request)
            if problem is None:
                body = await _read_body(receive)
                receive = _replay(body, receive)
                sent = await _sent_token(scope, body, receive) if not fresh else None
                if fresh or not sent or not hmac.compare_digest(sent, cookie_token):
                    problem = "missing or wrong CSRF token"
            if problem is not None:
                response = await self.refuse(request, problem)
                response.headers.append("set-cookie", cookie_header(self.settings, token))
                await response(scope, receive, send)
                return

        async def send_with_cookie(message: Message) -> None:
            if fresh and message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", cookie_header(self.settings, token))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _origin_problem(self, request: Request) -> str | None:
        origin = request.headers.get("origin")
        if origin is not None:
            return None if origin == self.settings.origin else "cross-origin request"
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return "cross-site request"
        return None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _sent_token(scope: Scope, body: bytes, receive: Receive) -> str | None:
    headers = Request(scope).headers
    if HEADER in headers:
        return headers[HEADER]
    content_type = headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    # Parse a private copy of the body; the view gets the replayed original.
    probe = Request(scope, _replay(body, receive))
    try:
        async with probe.form(max_files=20, max_fields=200) as form:
            value = form.get(FIELD)
    except Exception:  # a malformed body simply carries no token
        return None
    return value if isinstance(value, str) else None
