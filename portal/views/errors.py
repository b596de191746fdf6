"""One place that turns a failure into a page or an htmx fragment, with no internal detail and no PHI."""

from __future__ import annotations

import logging
import traceback

from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.i18n import N_, gettext
from portal.templating import render, wants_fragment

log = logging.getLogger("portal.errors")

# Plain words for the person in front of the screen, translated when shown; never the exception's text.
MESSAGES = {
    400: (N_("Something in the form was not right"), N_("Please check what you entered and try again.")),
    403: (
        N_("You can't do that here"),
        N_("This page or action is not open to you. If you think it should be, please call the clinic."),
    ),
    404: (
        N_("We can't find that page"),
        N_("The link may be old or have a typo. Go back, or start again from the start page."),
    ),
    405: (N_("That didn't work"), N_("Please go back and try again.")),
    413: (
        N_("That was too large"),
        N_("What you sent is larger than we accept. Please send something smaller."),
    ),
    429: (N_("Too many tries"), N_("Please wait a few minutes, then try again.")),
    500: (
        N_("Something went wrong on our side"),
        N_(
            "Nothing you did caused this. Please try again in a few minutes. "
            "If it keeps happening, call the clinic."
        ),
    ),
    503: (N_("The portal is not working right now"), N_("Please try again in a few minutes.")),
}
FALLBACK = (N_("That didn't work"), N_("Please try again."))

# The database cannot be reached, or cannot store a write (a full disk): nothing was half-done, since the
# transaction rolled back, so the page says so and asks for a retry; Retry-After tells machines the same.
UNAVAILABLE = (
    N_("The portal is not working right now"),
    N_(
        "Please try again in a minute. "
        "If you were sending something, it was not saved: please send it again then."
    ),
)
RETRY_AFTER_SECONDS = 60
DATABASE_FAILURES = (
    sa_exc.OperationalError,  # refused or dropped connection, unreadable file, full disk, lock timeout
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no connection free in the pool in time
)


def error_response(request: Request, status_code: int, *, message: str | None = None) -> Response:
    """The error page or `#alerts` fragment; `message`, if given, must already be translated."""
    title, default_message = MESSAGES.get(status_code, FALLBACK)
    headers = {}
    if wants_fragment(request):
        # htmx does not swap error responses into the target: send them to the one live region.
        headers = {"HX-Retarget": "#alerts", "HX-Reswap": "innerHTML"}
    return render(
        request,
        "errors/page.html",
        {"title": gettext(title), "message": message or gettext(default_message)},
        fragment="errors/_alert.html",
        status_code=status_code,
        headers=headers,
    )


TOO_LARGE = N_("The largest file we take is 10 MB. Please go back and send a smaller one.")


def body_too_large(request: Request, status_code: int) -> Response:
    """BodyLimit's answer: for a body over the limit (a photo of 20 MB), the page says the largest file we
    take (the app-wide limit, portal.app.MAX_BODY_SIZE); a length that is not a number gets the 400 page."""
    if status_code != 413:
        return error_response(request, status_code)
    return error_response(request, 413, message=gettext(TOO_LARGE))


def database_unavailable(request: Request, error: Exception) -> Response:
    """The 503 page (or `#alerts` fragment) for a database that cannot be reached or cannot store a write;
    the log names the failure for the operator (a full disk says so), never the statement or its values."""
    log.error("database unavailable: %s", describe_database_failure(error))
    response = error_response(request, 503, message=gettext(UNAVAILABLE[1]))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def describe_database_failure(error: Exception) -> str:
    """The driver's error class and code, and "disk full" when it is one: no SQL text, no parameters."""
    original = getattr(error, "orig", None) or error
    name = type(original).__name__
    sqlite_code = getattr(original, "sqlite_errorname", None)  # SQLITE_FULL, SQLITE_CANTOPEN, ...
    sqlstate = getattr(original, "sqlstate", None)  # PostgreSQL's code: 53100 is disk full
    if sqlite_code == "SQLITE_FULL" or sqlstate == "53100":
        return f"{name} ({sqlite_code or sqlstate}): the disk or the database is full; free space, then retry"
    detail = sqlite_code or sqlstate
    return f"{type(error).__name__}/{name}" + (f" ({detail})" if detail else "")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    response = error_response(request, exc.status_code)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def refuse_forgery(request: Request, reason: str) -> Response:
    log.warning("refused unsafe request: %s", reason)
    return error_response(request, 403)


class CatchErrors:
    """Turns an unexpected exception into the 500 page, inside the security headers, logging no values."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def track(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, track)
        except DATABASE_FAILURES as exc:
            if started:
                raise
            await database_unavailable(Request(scope), exc)(scope, receive, send)
        except Exception as exc:
            # The exception's message can quote data (a constraint's values, a name): log its type and
            # where it happened, never its text.
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("unhandled %s\n%s", type(exc).__name__, frames)
            if started:
                raise
            response = error_response(Request(scope), 500)
            await response(scope, receive, send)
