"""One place that turns a failure into a page or an htmx fragment, with no internal detail and no PHI."""

from __future__ import annotations

import logging
import traceback
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.templating import render, wants_fragment

log = logging.getLogger("portal.errors")

# Plain words for the person in front of the screen; never the exception's own text.
MESSAGES = {
    400: ("Something in the form was not right", "Please check what you entered and try again."),
    403: (
        "You can't do that here",
        "This page or action is not available to you. If you think it should be, please call the clinic.",
    ),
    404: (
        "We can't find that page",
        "The link may be old or mistyped. Go back, or start again from the start page.",
    ),
    405: ("That didn't work", "Please go back and try again."),
    413: ("That was too large", "What you sent is larger than we accept. Please send something smaller."),
    429: ("Too many tries", "Please wait a few minutes, then try again."),
    500: (
        "Something went wrong on our side",
        "Nothing you did caused this. Please try again in a few "
        "minutes; if it keeps happening, call the clinic.",
    ),
    503: ("The portal is not available right now", "Please try again in a few minutes."),
}


def error_response(request: Request, status_code: int, *, message: str | None = None) -> Response:
    title, default_message = MESSAGES.get(status_code, (HTTPStatus(status_code).phrase, "Please try again."))
    headers = {}
    if wants_fragment(request):
        # htmx does not swap error responses into the target: send them to the one live region.
        headers = {"HX-Retarget": "#alerts", "HX-Reswap": "innerHTML"}
    return render(
        request,
        "errors/page.html",
        {"title": title, "message": message or default_message},
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
