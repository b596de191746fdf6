"""One log line per request: id, method, route name, status and time. Never a path value, query,
form field, name or date of birth: the route's name says what was asked without saying about whom."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from re import Pattern

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("portal.request")


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            name = route.name if isinstance(route, Route) else "-"
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info(
                "request_id=%s method=%s route=%s status=%d ms=%.1f",
                request_id,
                scope["method"],
                name,
                status,
                elapsed_ms,
            )


class CanonicalHost:
    """Serve only the configured origin's host: WebAuthn, cookies and the Origin check all depend on it.

    In development a visit to 127.0.0.1 is sent on to localhost (WebAuthn refuses IP addresses)."""

    def __init__(self, app: ASGIApp, *, origin: str, netloc: str) -> None:
        self.app = app
        self.origin = origin
        self.netloc = netloc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if host == self.netloc or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD"):
            location = self.origin + scope["path"]
            headers = [(b"location", location.encode()), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 308, "headers": headers})
        else:
            await send({"type": "http.response.start", "status": 400, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


class Compress:
    """Starlette's GZip, letting the test client's template-debug message through (GZip drops it).

    Level 6, not Starlette's 9: these pages compress nearly as well at a fraction of the CPU."""

    def __init__(self, app: ASGIApp, *, minimum_size: int = 500, compresslevel: int = 6) -> None:
        self.app = app
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def app_with_debug_passthrough(scope: Scope, receive: Receive, gzip_send: Send) -> None:
            async def route(message: Message) -> None:
                await (send if message["type"] == "http.response.debug" else gzip_send)(message)

            await self.app(scope, receive, route)

        await GZipMiddleware(
            app_with_debug_passthrough, minimum_size=self.minimum_size, compresslevel=self.compresslevel
        )(scope, receive, send)


class BodyTooLarge(Exception):
    """Raised from `receive` once a request body passes the limit; BodyLimit turns it into a 413."""


Refuse = Callable[[Request, int], Response]
RouteLimit = tuple[Pattern[str], int]


def route_body_limits(routes: Iterable[object], by_name: Mapping[str, int]) -> tuple[RouteLimit, ...]:
    """The paths of the routes named in `by_name` (route name -> largest body), for BodyLimit: a route
    that takes a file up to a size needs a little more than the file for the rest of its form."""
    limits = tuple(
        (route.path_regex, by_name[route.name])
        for route in routes
        if isinstance(route, Route) and route.name in by_name
    )
    missing = set(by_name) - {route.name for route in routes if isinstance(route, Route)}
    if missing:
        raise ValueError(f"body limits for routes that do not exist: {sorted(missing)}")
    return limits


class BodyLimit:
    """413 for a body over `max_bytes`, whether it says its length up front or arrives in chunks.

    It sits inside the security headers (so the 413 carries them) and inside the error catcher, which
    would otherwise turn the exception from `receive` into a 500."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, refuse: Refuse, route_limits: Sequence[RouteLimit] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refuse = refuse
        self.route_limits = route_limits

    def limit_for(self, path: str) -> int:
        """The largest body this path takes: its route's own limit (see `route_body_limits`), or the
        app-wide one."""
        return next((limit for pattern, limit in self.route_limits if pattern.match(path)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope["path"])
        length = Headers(scope=scope).get("content-length", "")
        if length and (not length.isdigit() or int(length) > max_bytes):
            await self._refuse(scope, receive, send, 413 if length.isdigit() else 400)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, 413)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int) -> None:
        response = self.refuse(Request(scope), status)
        response.headers["Connection"] = "close"  # the rest of the body is not read
        await response(scope, receive, send)
