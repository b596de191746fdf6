"""The language switcher: a plain link on every page, remembered in a cookie, works without JavaScript.

The link carries no return address (so no page's path is echoed into another page): the reader goes back
to the page named by a local `next`, else by the same-origin Referer, else to the start page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal import i18n
from portal.db import run_db
from portal.services import language


async def language_set(request: Request) -> Response:
    settings = request.app.state.settings
    lang = i18n.supported(request.query_params.get("lang"))
    response = RedirectResponse(_back(request, settings.origin), status_code=303)
    if lang is not None:
        secure = settings.https or settings.rp_id == "localhost"
        response.headers.append("set-cookie", i18n.cookie_header(lang, secure=secure))
        person = request.scope.get("state", {}).get("person")
        if person is not None:
            await run_db(request, language.remember, person_id=person.id, lang=lang)
    return response


def _back(request: Request, origin: str) -> str:
    target = request.query_params.get("next")
    if target is None:
        referer = urlsplit(request.headers.get("referer", ""))
        if f"{referer.scheme}://{referer.netloc}" != origin:
            return "/"
        target = referer.path + ("?" + referer.query if referer.query else "")
    return i18n.safe_next(target)


routes = [Route("/language", language_set, name="language_set")]
