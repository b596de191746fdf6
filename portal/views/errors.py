"""One place that turns a failure into a page or an htmx fragment, with no internal detail and no PHI."""

from __future__ import annotations

import logging
import traceback

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
        except Exception as exc:
            # The exception's message can quote data (a constraint's values, a name): log its type and
            # where it happened, never its text.
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("unhandled %s\n%s", type(exc).__name__, frames)
            if started:
                raise
            response = error_response(Request(scope), 500)
            await response(scope, receive, send)
