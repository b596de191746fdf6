"""The start page and static files."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.assets import Assets
from portal.conditional import revalidated
from portal.templating import render


async def home(request: Request) -> Response:
    return RedirectResponse(request.url_for("login_page"), status_code=303)


async def login_page(request: Request) -> Response:
    return revalidated(request, render(request, "home/login.html"))


async def static_asset(request: Request) -> Response:
    assets: Assets = request.app.state.assets
    response = assets.response(request, request.path_params["name"])
    if response is None:
        raise HTTPException(404)
    return response


routes = [
    Route("/", home, name="home"),
    Route("/login", login_page, name="login_page"),
    Route("/static/{name}", static_asset, name="static"),
]
