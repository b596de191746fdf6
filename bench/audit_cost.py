"""Print what auditing costs: a request that reads a patient, with and without its audit event.

    python bench/audit_cost.py [--requests N] [--database-url URL]

Without --database-url it runs on a fresh SQLite file (the embedded default). "Before" is the chain linked
inside the request's own transaction under the chain's lock (as the portal did before the sequencer);
"after" is today's sealed insert, linked later by the sequencer. Six figures:
1. one transaction that reads a Patient row: without an event, before, after;
2. the same through the whole ASGI stack (a route that calls run_db and answers), p50 / p95;
3. a real page: a signed-in patient's chart summary, with its audit event and with `audit.record`
   swapped for a no-op (so everything else the page does, sign-in check, access decision, template, stays);
4. record() throughput, one event per transaction and a hundred per transaction;
5. transactions per second with several threads at once: without an event, before, after;
6. what the sequencer costs per event it links, and how long `verify` takes per event.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel
from starlette.datastructures import Secret
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from portal import db
from portal.app import create_app
from portal.config import Settings
from portal.models import Patient, Person
from portal.provenance import Provenance
from portal.security import sessions
from portal.services import audit
from portal.services.audit import chain

WHERE = Provenance(route="bench", request_id="0123456789abcdef")


def read_patient(session: Session, patient_id: int) -> str:
    patient = session.get(Patient, patient_id)
    assert patient is not None
    return patient.fhir_id


def read_patient_audited(session: Session, patient_id: int) -> str:
    fhir_id = read_patient(session, patient_id)
    audit.record(
        session,
        action="view",
        actor_person_id=1,
        actor_role="clinician",
        patient_id=patient_id,
        resource_type="Patient",
        resource_id=fhir_id,
        provenance=WHERE,
    )
    return fhir_id


def read_patient_chained_in_request(session: Session, patient_id: int) -> str:
    """Before the sequencer: the event linked in the request's transaction, holding the chain's lock."""
    fhir_id = read_patient_audited(session, patient_id)
    chain.lock_chain(session)
    chain.link_batch(session, chain.key_for(session), after_id=0, limit=1)
    return fhir_id


def link_pending(engine: Engine) -> int:
    """What the worker does each round: link the events that wait."""
    return audit.sequence_pending(engine, key=audit.engine_key(engine), limit=10**9)


def timings(fn: Callable[[], object], n: int) -> list[float]:
    """Milliseconds per call, after a short warm-up."""
    for _ in range(min(50, n)):
        fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(label: str, values: list[float]) -> str:
    values = sorted(values)
    p50 = statistics.median(values)
    p95 = values[int(len(values) * 0.95) - 1]
    return f"{label:<44} mean {statistics.fmean(values):6.3f} ms  p50 {p50:6.3f} ms  p95 {p95:6.3f} ms"


def concurrent_rate(
    engine: Engine, fn: Callable[[Session, int], str], patient_id: int, threads: int, n: int
) -> float:
    """Transactions per second with `threads` callers at once, as a multi-threaded server would run them."""
    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        list(pool.map(lambda _: db.run_in_transaction(engine, fn, patient_id), range(n)))
        return n / (time.perf_counter() - start)


def add_bench_routes(app, patient_id: int) -> None:
    async def plain(request: Request) -> Response:
        return PlainTextResponse(await db.run_db(request, read_patient, patient_id))

    async def audited(request: Request) -> Response:
        return PlainTextResponse(await db.run_db(request, read_patient_audited, patient_id))

    app.router.routes.append(Route("/bench/plain", plain, name="bench_plain"))
    app.router.routes.append(Route("/bench/audited", audited, name="bench_audited"))


def no_record(session: Session, **fields: object) -> None:
    """audit.record's stand-in: the page does everything else, writes no event."""


def chart_page_timings(
    client: TestClient, settings: Settings, engine: Engine, n: int
) -> tuple[list[float], ...]:
    """A signed-in patient's summary page, with its audit event and with audit.record as a no-op."""
    with db.transaction(engine) as session:
        person = Person(display_name="Bench Patient")
        session.add(person)
        session.flush()
        assert person.id is not None
        patient = Patient(fhir_id="bench-own", given_name="Bench", family_name="Own", person_id=person.id)
        session.add(patient)
        login = sessions.open_session(session, person_id=person.id, method="test", settings=settings)
        url, token = f"/p/{patient.public_id}/summary", sessions.sign(settings, login.id)
    client.cookies.set(sessions.COOKIE, token)
    assert client.get(url).status_code == 200
    real_record = audit.record

    def unaudited_get() -> object:
        audit.record = no_record  # type: ignore[assignment]
        try:
            return client.get(url)
        finally:
            audit.record = real_record

    def audited_get() -> object:
        return client.get(url)

    # One of each in turn, so that a busy machine or a growing table weighs on both alike.
    unaudited: list[float] = []
    audited: list[float] = []
    for index in range(n + min(50, n)):
        for get, out in ((unaudited_get, unaudited), (audited_get, audited)):
            start = time.perf_counter()
            get()
            if index >= min(50, n):  # after a short warm-up
                out.append((time.perf_counter() - start) * 1000)
    client.cookies.delete(sessions.COOKIE)
    return unaudited, audited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    n = args.requests
    data_dir = tempfile.mkdtemp()
    url = args.database_url or f"sqlite:///{data_dir}/bench.db"
    settings = Settings(
        secret_key=Secret("bench-secret-" + "x" * 40),
        database_url=url,
        data_dir=Path(data_dir),
        origin="https://localhost:8000",
    )
    app = create_app(settings)
    engine = app.state.engine
    db.upgrade(engine)
    if args.database_url:  # start from empty tables on a database we did not create
        tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    with db.transaction(engine) as session:
        patient = Patient(fhir_id="bench-patient", given_name="Bench", family_name="Patient")
        session.add(patient)
        session.flush()
        patient_id = patient.id
    assert patient_id is not None
    print(f"audit cost on {engine.dialect.name}, {n} calls each")

    plain = timings(lambda: db.run_in_transaction(engine, read_patient, patient_id), n)
    before = timings(lambda: db.run_in_transaction(engine, read_patient_chained_in_request, patient_id), n)
    audited = timings(lambda: db.run_in_transaction(engine, read_patient_audited, patient_id), n)
    print(summary("transaction reading a patient", plain))
    print(summary("before: event linked under the chain lock", before))
    print(summary("after: sealed event, linked later", audited))
    for label, values in (("before", before), ("after", audited)):
        extra = statistics.fmean(values) - statistics.fmean(plain)
        print(f"{f'cost of auditing one transaction, {label}':<44} {extra:+.3f} ms mean")
    link_pending(engine)

    add_bench_routes(app, patient_id)
    with TestClient(app, base_url=settings.origin) as client:
        page_plain = timings(lambda: client.get("/bench/plain"), n)
        page_audited = timings(lambda: client.get("/bench/audited"), n)
    print(summary("request (ASGI, run_db) without audit", page_plain))
    print(summary("request (ASGI, run_db) with audit", page_audited))
    extra = statistics.fmean(page_audited) - statistics.fmean(page_plain)
    print(f"{'cost of auditing one request':<44} {extra:+.3f} ms mean")

    with TestClient(app, base_url=settings.origin) as client:
        page_plain, page_audited = chart_page_timings(client, settings, engine, n)
    print(summary("signed-in chart page, audit.record a no-op", page_plain))
    print(summary("signed-in chart page, audited", page_audited))
    extra = statistics.fmean(page_audited) - statistics.fmean(page_plain)
    print(f"{'cost of auditing one chart page':<44} {extra:+.3f} ms mean")

    link_pending(engine)
    for threads in (4, 16):
        plain_rate = concurrent_rate(engine, read_patient, patient_id, threads, n)
        before_rate = concurrent_rate(engine, read_patient_chained_in_request, patient_id, threads, n)
        audited_rate = concurrent_rate(engine, read_patient_audited, patient_id, threads, n)
        print(
            f"{f'{threads} threads at once, transactions/s':<44} {plain_rate:8.0f} without audit, "
            f"{before_rate:8.0f} before, {audited_rate:8.0f} after"
        )

    for batch in (1, 100):
        transactions = max(1, n // batch)
        start = time.perf_counter()
        for _ in range(transactions):
            with db.transaction(engine) as session:
                for _ in range(batch):
                    audit.record(session, action="view", patient_id=patient_id, resource_type="Patient")
        seconds = time.perf_counter() - start
        rate = transactions * batch / seconds
        print(f"{f'record() throughput, {batch} per transaction':<44} {rate:8.0f} events/s")

    start = time.perf_counter()
    linked = link_pending(engine)
    seconds = time.perf_counter() - start
    print(
        f"{'sequencer':<44} {linked} events in {seconds:.2f} s "
        f"({seconds / max(linked, 1) * 1e6:.1f} µs/event)"
    )

    start = time.perf_counter()
    result = audit.verify(engine)
    seconds = time.perf_counter() - start
    assert result.ok, result.problem
    per_event = seconds / result.count * 1e6
    print(f"{'verify':<44} {result.count} events in {seconds:.2f} s ({per_event:.1f} µs/event)")
    engine.dispose()


if __name__ == "__main__":
    main()
