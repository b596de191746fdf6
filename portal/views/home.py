"""The start page and static files."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.assets import Assets
from portal.security.sessions import current_person


async def home(request: Request) -> Response:
    """Signed out: the sign-in page. Patients and proxies: their records (a parent's family, a patient's
    own summary). Staff: their role's tools. A new account's first landing keeps the welcome prompt."""
    person = current_person(request)
    target = "login_page" if person is None else "staff_home" if person.staff_role else "switcher_page"
    url = str(request.url_for(target))
    if person is not None and request.query_params.get("welcome") == "1":
        url += "?welcome=1"
    return RedirectResponse(url, status_code=303)


async def static_asset(request: Request) -> Response:
    assets: Assets = request.app.state.assets
    response = assets.response(request, request.path_params["name"])
    if response is None:
        raise HTTPException(404)
    return response


routes = [
    Route("/", home, name="home"),
    Route("/static/{name}", static_asset, name="static"),
]
