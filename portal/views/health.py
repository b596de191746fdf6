"""Health check for load balancers and monitors."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from portal import db
from portal.views.errors import RETRY_AFTER_SECONDS


async def health_check(request: Request) -> PlainTextResponse:
    if await run_in_threadpool(db.ping, request.app.state.engine):
        return PlainTextResponse("ok")
    return PlainTextResponse(
        "database unreachable", status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


routes = [Route("/healthz", health_check, name="health_check")]
