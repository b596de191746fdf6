"""Print p50/p95 latency of a signed-in records page (the test results list) under concurrent clients.

The demo data is imported into a fresh SQLite database, the patient with the most laboratory results gets
an account, and `portal serve --workers 2` answers on loopback while CLIENTS clients, each with its own
session, ask for their results page (pausing `--think` seconds on average between pages, as a person
reading does; 0 asks flat out) until REQUESTS requests have been made. The design's target: p95 <= 50 ms
with 50 concurrent users on 2 cores.

    .venv/bin/python bench/records_latency.py [--clients 50] [--requests 2000] [--think 1] [--sample-only]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import func
from sqlmodel import Session, col, select

from portal import demo
from portal.cli import open_engine
from portal.config import Settings
from portal.fhir import importer
from portal.models.people import Patient, Person
from portal.models.records import Observation
from portal.security import sessions

TARGET_P95_MS = 50.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(settings: Settings, *, clients: int, sample_only: bool) -> tuple[str, list[str], int]:
    """Import the records, give the busiest patient an account, and open one session per client."""
    with open_engine(settings, upgrade=True) as engine:
        if sample_only:
            importer.import_paths(engine, [demo.PROJECT_FHIR])
        else:
            demo.import_sample_records(engine)
        with Session(engine) as session, session.begin():
            patient_id, results = session.exec(
                select(col(Observation.patient_id), func.count())
                .where(col(Observation.category) == "laboratory")
                .group_by(col(Observation.patient_id))
                .order_by(func.count().desc())
            ).first() or (None, 0)
            patient = session.get(Patient, patient_id)
            assert patient is not None, "no laboratory results were imported"
            person = Person(display_name="Benchmark patient")
            session.add(person)
            session.flush()
            patient.person_id = person.id
            tokens = [
                sessions.sign(
                    settings,
                    sessions.open_session(
                        session, person_id=person.id or 0, method="test", settings=settings
                    ).id,
                )
                for _ in range(clients)
            ]
            return f"/p/{patient.public_id}/results", tokens, int(results)


async def load(base: str, path: str, tokens: list[str], total: int, think: float = 0.0) -> list[float]:
    timings: list[float] = []
    remaining = total

    async def client(token: str) -> None:
        nonlocal remaining
        cookies = {sessions.COOKIE: token}
        async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=300) as http:
            while remaining > 0:
                remaining -= 1
                if think:  # a person reads the page before the next tap: exponential, `think` s on average
                    await asyncio.sleep(random.expovariate(1 / think))
                started = time.perf_counter()
                response = await http.get(path, headers={"Accept-Encoding": "gzip"})
                timings.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"unexpected status {response.status_code}")

    await asyncio.gather(*(client(token) for token in tokens))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--sample-only", action="store_true", help="only the project's sample infant")
    parser.add_argument(
        "--think", type=float, default=1.0, help="mean seconds each user waits between pages (0: flat out)"
    )
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "PORTAL_DATA_DIR": str(data_dir),
        "PORTAL_ORIGIN": f"http://127.0.0.1:{port}",
        "SECRET_KEY": "benchmark-secret-key-0123456789-abcdefghijklmnop",
    }
    settings = Settings.from_env(env)
    path, tokens, results = prepare(settings, clients=args.clients, sample_only=args.sample_only)
    portal = Path(sys.executable).with_name("portal")
    server = subprocess.Popen(
        [str(portal), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"], env=env
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        asyncio.run(load(base, path, tokens[:1], 20))  # warm both workers' caches
        started = time.perf_counter()
        timings = asyncio.run(load(base, path, tokens, args.requests, args.think))
        rate = len(timings) / (time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)
    quantiles = statistics.quantiles(timings, n=100)
    p50, p95 = quantiles[49], quantiles[94]
    verdict = "within" if p95 <= TARGET_P95_MS else "over"
    print(
        f"results page ({results} laboratory results): {len(timings)} requests, {args.clients} users "
        f"(think {args.think:g} s), {rate:.0f} requests/s, 2 workers: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
        f"({verdict} the {TARGET_P95_MS:.0f} ms target)"
    )


if __name__ == "__main__":
    main()
