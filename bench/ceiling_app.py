"""The ceiling and the floor for bench/load.py.

The ceiling: a bare Starlette page that INSERTs one row per request. The floor: the portal itself with one
more route, /floor/{patient}, which does what every chart page does before it reads or shows anything (the
middleware, the signed-in person, the access decision, the switcher, the audit event and the commit) and
answers "ok". Both are served by the same serving layer, on the same database and number of workers as the
portal they are compared with: the ceiling shows what the portal's own work costs, the floor how much of
that is the work every chart page does whatever it shows.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, insert
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from portal import db
from portal.config import Settings
from portal.services.access import Area, Look, PatientScope

metadata = MetaData()
hits = Table(
    "bench_ceiling_hit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)


def create_app() -> Starlette:
    engine = db.make_engine(os.environ["DATABASE_URL"])

    def write() -> None:
        with engine.begin() as connection:
            connection.execute(insert(hits).values(at=datetime.now(UTC)))

    async def page(request: Request) -> PlainTextResponse:
        await run_in_threadpool(write)
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", page)])


def create_floor_app(settings: Settings | None = None) -> Starlette:
    from portal.app import create_app
    from portal.views.chart import read_chart_or_404

    app = create_app(settings)

    async def floor(request: Request) -> PlainTextResponse:
        await read_chart_or_404(request, Look(Area.DEMOGRAPHICS, "Summary"), read_nothing)
        return PlainTextResponse("ok")

    app.router.routes.insert(0, Route("/floor/{patient}", floor))
    return app


def read_nothing(session: Session, scope: PatientScope) -> bool:
    return True
