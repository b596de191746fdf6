"""The ceiling for bench/load.py: a bare Starlette page that INSERTs one row per request.

It is served by the same serving layer, on the same database and number of workers as the portal it is
compared with, so the ratio between the two is what the portal's own work costs.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, insert
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from portal import db

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
