"""A stand-in app for tests/test_serving.py: it answers with the garbage collector's state of the process
that serves it."""

from __future__ import annotations

import gc

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def collector_state(_request: Request) -> JSONResponse:
    return JSONResponse({"frozen": gc.get_freeze_count(), "threshold": list(gc.get_threshold())})


def create_app() -> Starlette:
    return Starlette(routes=[Route("/gc", collector_state)])
