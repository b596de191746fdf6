"""Load test: signed-in patients and proxies reading their records, against a bare page as the ceiling.

A fresh database gets the sample records (the project's sample infant and the first BUNDLES of the Synthea
bundles it ships in data/fhir/synthea), the demo family (a parent acting for three children) and
an account for every other patient; each simulated user has its own session (a session row and its signed
cookie, as the tests sign in). Then, for each configuration, `portal serve` answers on a loopback port:

- closed loop: USERS users, each asking for a page, reading it (exponential think time, THINK s on
  average), then asking for the next: the saturation throughput;
- open loop: requests arrive at a fixed rate (Poisson, half the closed loop's throughput unless --rate
  says), each timed from when it was due, so queueing shows in the latency;
- the floor: the same users, closed loop, on /floor/{patient} of the portal with one bench route added
  (bench/ceiling_app.py): what every chart page costs before it reads or shows anything; then the
  smallest real chart page (allergies) on the same server;
- the ceiling: a bare Starlette page that INSERTs one row, on the same database and workers, closed loop.

The mix: a record summary 30 %, the results list 25 %, one result's history 15 %, medications 15 %,
visits 13 %, a PDF summary 2 %. Only the public URLs are used (/p/{patient}/summary and so on); result
ids come from the links on the results pages the users read. Configurations: SQLite with 1 worker, and
PostgreSQL with 2 and 4 workers when a URL is given (--postgres, or PORTAL_TEST_DATABASE_URL as
tests/with_postgres.sh sets it): THAT DATABASE IS EMPTIED. Traffic stays on 127.0.0.1, and every phase
stops after --seconds. The load generator runs on the same machine, and takes CPU from the server.

    PYTHONPATH=. .venv/bin/python bench/load.py [--seconds 10] [--users 64] [--think 0.05]
    tests/with_postgres.sh env PYTHONPATH=. .venv/bin/python bench/load.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import text
from sqlmodel import Session, col, select

PROJECT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(PROJECT))

from portal import db, demo  # noqa: E402
from portal.cli import open_engine  # noqa: E402
from portal.config import Settings  # noqa: E402
from portal.fhir import dates, importer  # noqa: E402
from portal.models.people import Patient, Person  # noqa: E402
from portal.security import sessions  # noqa: E402

SECRET = "benchmark-secret-key-0123456789-abcdefghijklmnop"
MIX = {"summary": 30, "results": 25, "result": 15, "medications": 15, "visits": 13, "pdf": 2}


# -- the database: records, accounts, sessions ----------------------------------------------------------


def record_paths(bundles: int) -> list[Path]:
    """The project's sample infant and the first `bundles` of the Synthea patients it ships."""
    return [
        demo.PROJECT_FHIR / "sample-infant.json",
        *sorted((demo.PROJECT_FHIR / "synthea").glob("*.json.gz"))[:bundles],
    ]


@dataclass
class User:
    cookie: str
    patients: list[str]  # public ids this user may open
    result_links: dict[str, list[str]] = field(default_factory=dict)  # patient -> result ids seen


def prepare(settings: Settings, *, bundles: int, users: int) -> tuple[list[User], str]:
    """Import the records, give everyone an account, open `users` sessions; return them and a summary."""
    with open_engine(settings, upgrade=True) as engine:
        summary = importer.import_paths(
            engine,
            record_paths(bundles),
            transform=lambda resources: dates.shift_to_recent(resources, settings.today()),
        )
        family = demo.create_family(settings, engine)
        with Session(engine) as session, session.begin():
            children = {child.id for child in family.children}
            accounts: list[tuple[int, list[str]]] = [
                (family.parent.id or 0, [child.public_id for child in family.children])
            ]
            patients = session.exec(select(Patient).where(col(Patient.deceased).is_(False))).all()
            for patient in patients:
                if patient.id in children:
                    continue
                if patient.person_id is None:
                    person = Person(display_name=f"Benchmark patient {patient.id}")
                    session.add(person)
                    session.flush()
                    patient.person_id = person.id
                accounts.append((patient.person_id or 0, [patient.public_id]))
            made = []
            for number in range(users):
                person_id, opens = accounts[number % len(accounts)]
                login = sessions.open_session(session, person_id=person_id, method="test", settings=settings)
                made.append(User(sessions.sign(settings, login.id), opens))
        engine.dispose()
    resources = sum(summary.total("resources").values())
    return made, f"{resources} resources, {len(accounts)} accounts ({len(family.children)} children by proxy)"


def prepare_ceiling(database_url: str) -> None:
    sys.path.insert(0, str(BENCH))
    from ceiling_app import metadata

    engine = db.make_engine(database_url)
    metadata.create_all(engine)
    engine.dispose()


def empty_postgres(url: str) -> None:
    engine = db.make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


# -- servers ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(
    command: list[str], env: dict[str, str], log: Path, port: int, ready: str = "/healthz"
) -> Iterator[str]:
    with log.open("a") as output:
        process = subprocess.Popen(command, env=env, cwd=PROJECT, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}{ready}", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"the server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        time.sleep(1)  # let every worker finish starting, not only the first to answer
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)


def portal_command(port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "portal", "serve", "--port", str(port), "--workers", str(workers)]


def bench_app_command(port: int, workers: int, factory: str) -> list[str]:
    code = (
        "from portal import serving; "
        f"serving.run('127.0.0.1', {port}, {workers}, app='ceiling_app:{factory}')"
    )
    return [sys.executable, "-c", code]


def only(path: str, base: str, users: list[User], seconds: float, think: float) -> Outcome:
    """A closed loop in which every request is `path` (with {patient}), after a short warm-up."""
    asyncio.run(closed_loop(base, users, min(2.0, seconds), think, seed=4, only=path))
    return asyncio.run(closed_loop(base, users, seconds, think, seed=5, only=path))


# -- load ------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def line(self, label: str) -> str:
        if len(self.latencies_ms) < 2:
            return f"{label}: no responses; errors {dict(self.errors)}"
        q = statistics.quantiles(self.latencies_ms, n=100)
        errors = sum(self.errors.values())
        detail = f" {dict(self.errors)}" if errors else ""
        return (
            f"{label}: {self.rate:.0f} requests/s, p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, "
            f"p99 {q[98]:.1f} ms, {len(self.latencies_ms)} requests, errors {errors}{detail}"
        )


def next_path(user: User, rng: random.Random, only: str = "") -> tuple[str, str, str]:
    """(kind, patient, path) for the user's next page: following the mix, or `only` (a path with
    {patient}) when given."""
    patient = rng.choice(user.patients)
    if only:
        return only, patient, only.format(patient=patient)
    kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
    if kind == "result":
        seen = user.result_links.get(patient)
        if seen:
            return kind, patient, f"/p/{patient}/results/{rng.choice(seen)}"
        kind = "results"  # no result id known yet: read the list first, as a person would
    paths = {
        "summary": f"/p/{patient}/summary",
        "results": f"/p/{patient}/results",
        "medications": f"/p/{patient}/medications",
        "visits": f"/p/{patient}/visits",
        "pdf": f"/p/{patient}/print/summary",
    }
    return kind, patient, paths[kind]


async def visit(
    client: httpx.AsyncClient, user: User, rng: random.Random, outcome: Outcome, due: float, only: str = ""
) -> None:
    kind, patient, path = next_path(user, rng, only)
    try:
        response = await client.get(path, headers={"Accept-Encoding": "gzip"})
    except httpx.HTTPError as error:
        outcome.errors[type(error).__name__] += 1
        return
    outcome.latencies_ms.append((time.perf_counter() - due) * 1000)
    if response.status_code != 200:
        outcome.errors[f"{kind} {response.status_code}"] += 1
    elif kind == "results":
        links = re.findall(rf"/p/{patient}/results/([A-Za-z0-9_-]+)", response.text)
        if links:
            user.result_links[patient] = sorted(set(links))


def clients(base: str, users: list[User]) -> list[httpx.AsyncClient]:
    return [
        httpx.AsyncClient(base_url=base, cookies={sessions.COOKIE: user.cookie}, timeout=30) for user in users
    ]


async def closed_loop(
    base: str, users: list[User], seconds: float, think: float, seed: int, only: str = ""
) -> Outcome:
    outcome = Outcome()
    connections = clients(base, users)
    deadline = time.perf_counter() + seconds

    async def person(client: httpx.AsyncClient, user: User, rng: random.Random) -> None:
        await asyncio.sleep(rng.uniform(0, think or 0.01))  # users do not all start in the same instant
        while time.perf_counter() < deadline:
            await visit(client, user, rng, outcome, time.perf_counter(), only)
            if think:
                await asyncio.sleep(rng.expovariate(1 / think))

    started = time.perf_counter()
    await asyncio.gather(
        *(
            person(c, u, random.Random(seed + n))
            for n, (c, u) in enumerate(zip(connections, users, strict=True))
        )
    )
    outcome.seconds = time.perf_counter() - started
    for client in connections:
        await client.aclose()
    return outcome


async def open_loop(base: str, users: list[User], seconds: float, rate: float, seed: int) -> Outcome:
    outcome = Outcome()
    connections = clients(base, users)
    rng = random.Random(seed)
    started = time.perf_counter()
    due = started
    tasks = []
    while True:
        due += rng.expovariate(rate)
        if due > started + seconds:
            break
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        index = rng.randrange(len(users))
        tasks.append(asyncio.create_task(visit(connections[index], users[index], rng, outcome, due)))
    await asyncio.gather(*tasks)
    outcome.seconds = seconds
    for client in connections:
        await client.aclose()
    return outcome


async def ceiling_loop(base: str, users: int, seconds: float) -> Outcome:
    outcome = Outcome()
    deadline = time.perf_counter() + seconds

    async def person() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.get("/")
                except httpx.HTTPError as error:
                    outcome.errors[type(error).__name__] += 1
                    continue
                outcome.latencies_ms.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    outcome.errors[str(response.status_code)] += 1

    started = time.perf_counter()
    await asyncio.gather(*(person() for _ in range(users)))
    outcome.seconds = time.perf_counter() - started
    return outcome


# -- the run ---------------------------------------------------------------------------------------------


def run_configuration(name: str, database_url: str, workers: int, args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="portal-load-"))
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{PROJECT}{os.pathsep}{BENCH}",
        "PORTAL_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url.replace("{data}", str(data_dir)),
        "PORTAL_ORIGIN": f"http://127.0.0.1:{port}",
        "SECRET_KEY": SECRET,
    }
    try:
        if env["DATABASE_URL"].startswith("postgresql"):
            empty_postgres(env["DATABASE_URL"])
        settings = Settings.from_env(env)
        users, summary = prepare(settings, bundles=args.bundles, users=args.users)
        prepare_ceiling(env["DATABASE_URL"])
        label = f"{name}, {workers} worker{'s' if workers > 1 else ''}"
        print(f"== {label}: {summary}", flush=True)
        log = data_dir / "server.log"
        with server(portal_command(port, workers), env, log, port) as base:
            asyncio.run(closed_loop(base, users, min(3.0, args.seconds), args.think, seed=1))  # warm up
            closed = asyncio.run(closed_loop(base, users, args.seconds, args.think, seed=2))
            print(
                closed.line(f"  portal, closed loop ({len(users)} users, think {args.think:g} s)"), flush=True
            )
            rate = args.rate or max(1.0, closed.rate / 2)
            opened = asyncio.run(open_loop(base, users, args.seconds, rate, seed=3))
            print(opened.line(f"  portal, open loop at {rate:.0f}/s"), flush=True)
        floor_port = free_port()
        env["PORTAL_ORIGIN"] = f"http://127.0.0.1:{floor_port}"
        floor_app = bench_app_command(floor_port, workers, "create_floor_app")
        with server(floor_app, env, log, floor_port) as base:
            floor = only("/floor/{patient}", base, users, args.seconds, args.think)
            print(floor.line("  floor (sign-in, door, switcher, audit event; no record read), closed loop"))
            smallest = only("/p/{patient}/allergies", base, users, args.seconds, args.think)
            print(smallest.line("  the allergies page alone, closed loop"), flush=True)
        ceiling_port = free_port()
        ceiling_app = bench_app_command(ceiling_port, workers, "create_app")
        with server(ceiling_app, env, log, ceiling_port, ready="/") as base:
            asyncio.run(ceiling_loop(base, args.users, min(2.0, args.seconds)))
            ceiling = asyncio.run(ceiling_loop(base, args.users, args.seconds))
            print(ceiling.line(f"  ceiling (bare page, one INSERT), closed loop ({args.users} users)"))
        if ceiling.rate:
            print(
                f"  portal / ceiling: {closed.rate / ceiling.rate:.2f}; "
                f"floor / ceiling: {floor.rate / ceiling.rate:.2f}",
                flush=True,
            )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of each measured phase")
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--think", type=float, default=0.05, help="mean think time in the closed loop (s)")
    parser.add_argument(
        "--rate", type=float, default=0, help="open-loop arrivals/s (default: half the closed)"
    )
    parser.add_argument("--bundles", type=int, default=4, help="Synthea bundles to import besides the sample")
    parser.add_argument("--postgres", default=os.environ.get("PORTAL_TEST_DATABASE_URL"), help="EMPTIED")
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4], help="worker counts on PostgreSQL")
    parser.add_argument(
        "--pdf", type=float, default=MIX["pdf"], help="percent of requests that are PDF summaries (default 2)"
    )
    args = parser.parse_args()
    MIX["pdf"] = args.pdf  # a PDF costs about fifty pages: --pdf 0 shows what the pages alone serve

    mix = ", ".join(f"{kind} {share:g} %" for kind, share in MIX.items())
    print(
        f"load generator and server share this machine ({os.cpu_count()} CPUs); "
        f"each phase {args.seconds:g} s; the mix: {mix}"
    )
    run_configuration("SQLite", "sqlite:///{data}/portal.db", 1, args)
    if args.postgres:
        for workers in args.workers:
            run_configuration("PostgreSQL", args.postgres, workers, args)


if __name__ == "__main__":
    main()
