"""CPU time of one signed-in page, in process: where a page's cost comes from, without a load generator.

The app is called directly as an ASGI application (no HTTP, no test client) for each page of a patient
with the sample records, a few hundred times, and the script prints per page: CPU milliseconds, the SQL
statements and transactions it runs, its gzipped size, and the time spent in Python's garbage collector,
first with the interpreter's default collector settings and then as a served worker runs them
(`serving.settle_garbage_collector`). CPU time is what a busy server runs out of: 2 cores at 4 ms a page
serve 500 pages/s.

    PYTHONPATH=. .venv/bin/python bench/page_cpu.py [--repeat 200] [--bundles 4] [PAGE ...]

PAGE is a path under /p/{patient}/ (summary, results, medications, visits, ... by default), or a path
starting with / for any other page (/account).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))

import load  # noqa: E402
from sqlalchemy import event  # noqa: E402
from starlette.datastructures import Secret  # noqa: E402

from portal import serving  # noqa: E402
from portal.app import create_app  # noqa: E402
from portal.config import Settings  # noqa: E402
from portal.security import sessions  # noqa: E402

PAGES = ["summary", "results", "medications", "visits", "immunizations", "problems", "/account"]


@dataclass
class Reply:
    status: int = 0
    size: int = 0


class Collector:
    """Time spent in the garbage collector, from its start/stop callbacks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.runs = 0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.runs += 1

    def reset(self) -> None:
        self.seconds, self.runs = 0.0, 0


async def ask(app: Any, path: str, cookie: str) -> Reply:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"accept-encoding", b"gzip"),
            (b"cookie", f"{sessions.COOKIE}={cookie}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    reply = Reply()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
        elif message["type"] == "http.response.body":
            reply.size += len(message.get("body", b""))

    await app(scope, receive, send)
    return reply


async def measure(app: Any, paths: list[str], cookie: str, repeat: int, collector: Collector) -> None:
    statements = {"sql": 0, "transactions": 0}

    def count(name: str) -> Any:
        return lambda *_args, **_kwargs: statements.__setitem__(name, statements[name] + 1)

    event.listen(app.state.engine, "before_cursor_execute", count("sql"))
    event.listen(app.state.engine, "commit", count("transactions"))
    for path in paths:
        reply = await ask(app, path, cookie)
        if reply.status != 200:
            raise SystemExit(f"{path} answered {reply.status}")
        for _ in range(10):
            await ask(app, path, cookie)
        statements.update(sql=0, transactions=0)
        collector.reset()
        started = time.process_time()
        for _ in range(repeat):
            await ask(app, path, cookie)
        cpu_ms = (time.process_time() - started) / repeat * 1000
        name = path.split("/")[-1] if path.startswith("/p/") else path
        print(
            f"  {name:<15} {cpu_ms:6.2f} ms CPU  {statements['sql'] / repeat:4.1f} statements"
            f" {statements['transactions'] / repeat:3.1f} transactions  {reply.size:6,} B gzipped"
            f"  collector {collector.seconds / repeat * 1000:5.2f} ms ({collector.runs / repeat:.2f} runs)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pages", nargs="*", default=PAGES)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--bundles", type=int, default=4)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="portal-page-cpu-"))
    settings = Settings(
        secret_key=Secret(load.SECRET),
        database_url=f"sqlite:///{folder}/portal.db",
        data_dir=folder,
        origin="http://127.0.0.1",
    )
    users, described = load.prepare(settings, bundles=args.bundles, users=4)
    user = next(u for u in users if u.patients)
    patient = user.patients[0]
    paths = [page if page.startswith("/") else f"/p/{patient}/{page}" for page in args.pages]
    print(f"{described}; one patient's pages, {args.repeat} times each, SQLite, in process")
    app = create_app(settings)
    collector = Collector()
    print("the interpreter's default garbage collector:")
    asyncio.run(measure(app, paths, user.cookie, args.repeat, collector))
    serving.settle_garbage_collector()
    print(f"as a served worker runs it (frozen heap, young generation {serving.GC_YOUNG_THRESHOLD}):")
    asyncio.run(measure(app, paths, user.cookie, args.repeat, collector))


if __name__ == "__main__":
    main()
