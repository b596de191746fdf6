"""One log line per request: id, method, route name, status and time. Never a path value, query,
form field, name or date of birth: the route's name says what was asked without saying about whom."""

from __future__ import annotations

import logging
import secrets
import time

from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
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
