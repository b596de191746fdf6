"""Print how fast the audit log's two readers stay with millions of events on PostgreSQL.

    tests/with_postgres.sh .venv/bin/python bench/audit_scale.py [--events N] [--postgres URL]

Fills a THROWAWAY PostgreSQL database (PORTAL_TEST_DATABASE_URL, as tests/with_postgres.sh sets it, or
--postgres; its public schema is dropped first) at the newest migration, so audit_event is partitioned by
month: 50,000 patients, each with their own account, 10,000 parents or caregivers acting as proxies and 200
staff, and N events (default 10,000,000) spread evenly over the last 24 months with INSERT ... SELECT
generate_series. Half the looks are the patient's own, 35 % staff, 15 % a proxy's; 90 % are views. Events
are written linked, as the sequencer leaves them in steady state: `seq` dense in id order, with stand-in
hashes and seals ("bench:N"), so `portal audit verify` does not pass on this database (it is not meant to).

Then it times, through the service functions the pages call, 200 each of: "Who has viewed my record" for
a random patient (its first page, as the chart shows it), and the admin's audit screen searching by patient
(FHIR id), by person (email) and by a one-day range, and prints p50 and p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, make_url, text
from sqlmodel import Session

from portal import db
from portal.models.base import utcnow
from portal.models.people import Person
from portal.provenance import Provenance
from portal.services import audit
from portal.services.audit import partitions
from portal.services.audit.viewed import who_viewed

PATIENTS = 50_000
PROXIES = 10_000
STAFF = 200
MONTHS = 24
CHUNK = 1_000_000
SAMPLES = 200
WHERE = Provenance(route="audit_search", request_id="bench")

PEOPLE = """
INSERT INTO person (id, public_id, display_name, email, staff_role, locale, disabled, created_at)
SELECT i, 'person-' || i, 'Person ' || i, 'person' || i || '@example.org',
       CASE WHEN i > :patients + :proxies THEN 'clinician' END, NULL, false, now()
FROM generate_series(1, :people) AS i
"""
PATIENT_ROWS = """
INSERT INTO patient (id, public_id, fhir_id, given_name, family_name, birth_date, sex, deceased, person_id,
                     version_id, last_updated, resource_json, created_at, updated_at)
SELECT i, 'patient-' || i, 'pat-' || i, 'Given', 'Family ' || i, DATE '1980-01-01' + (i % 15000), 'female',
       false, i, NULL, NULL, '{}', now(), now()
FROM generate_series(1, :patients) AS i
"""
# Person i owns patient i; proxies and staff come after the patients. `r` picks who looked, `a` what.
EVENTS = """
INSERT INTO audit_event (seq, occurred_at, actor_person_id, actor_role, on_behalf_of_person_id, patient_id,
                         action, resource_type, resource_id, route, outcome, client_address, request_id,
                         prev_hash, hash, mac)
SELECT i,
       CAST(:start AS timestamptz) + (i - 1) * CAST(:step AS interval),
       CASE WHEN r < 0.5 THEN p
            WHEN r < 0.85 THEN :patients + :proxies + 1 + (i % :staff)
            ELSE :patients + 1 + (p % :proxies) END,
       CASE WHEN r < 0.5 THEN 'patient' WHEN r < 0.85 THEN 'clinician' ELSE 'proxy' END,
       CASE WHEN r >= 0.85 THEN p END,
       p,
       CASE WHEN a < 0.9 THEN 'view' WHEN a < 0.95 THEN 'download' ELSE 'update' END,
       'Observation', 'obs-' || (i % 997), 'results', CASE WHEN a < 0.98 THEN 'allowed' ELSE 'denied' END,
       '10.0.0.' || (i % 250), md5(i::text),
       md5((i - 1)::text) || md5((i - 1)::text), md5(i::text) || md5(i::text), 'bench:' || i
FROM (SELECT i, random() AS r, random() AS a, 1 + floor(random() * :patients)::int AS p
      FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) AS i) AS drawn
"""


def database_url(given: str | None) -> str:
    url = given or os.environ.get("PORTAL_TEST_DATABASE_URL")
    if not url or make_url(url).get_backend_name() != "postgresql":
        sys.exit("needs a throwaway PostgreSQL: run under tests/with_postgres.sh or pass --postgres URL")
    return url


def fill(engine: Engine, events: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.upgrade(engine)
    first_month = partitions.add_months(partitions.month_start(utcnow()), 1 - MONTHS)
    partitions.ensure_partitions(engine, now=first_month, ahead=MONTHS)
    span = utcnow() - first_month
    step = f"{span.total_seconds() / events:.6f} seconds"
    counts = {"patients": PATIENTS, "proxies": PROXIES, "staff": STAFF}
    with engine.begin() as conn:
        conn.execute(text(PEOPLE), {**counts, "people": PATIENTS + PROXIES + STAFF})
        conn.execute(text(PATIENT_ROWS), counts)
        conn.execute(text("SELECT setval('person_id_seq', :n)"), {"n": PATIENTS + PROXIES + STAFF})
        conn.execute(text("SELECT setval('patient_id_seq', :n)"), {"n": PATIENTS})
    began = time.perf_counter()
    for low in range(1, events + 1, CHUNK):
        high = min(events, low + CHUNK - 1)
        with engine.begin() as conn:
            conn.execute(
                text(EVENTS), {**counts, "start": first_month, "step": step, "low": low, "high": high}
            )
        rate = high / (time.perf_counter() - began)
        print(f"  {high:>11,} events written ({rate:,.0f}/s)", file=sys.stderr)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE audit_event"))
        conn.execute(text("VACUUM ANALYZE person"))
        conn.execute(text("VACUUM ANALYZE patient"))


def timed(engine: Engine, query: Callable[[Session], object]) -> float:
    with Session(engine) as session:
        began = time.perf_counter()
        query(session)
        elapsed = time.perf_counter() - began
        session.rollback()  # the admin's own look is recorded; keep the database as filled
    return elapsed * 1000


def measure(engine: Engine, name: str, queries: list[Callable[[Session], object]]) -> None:
    for query in queries[:5]:  # warm the connection pool and the statement cache
        timed(engine, query)
    times = sorted(timed(engine, query) for query in queries)
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"{name:<34} p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--postgres", help="a throwaway database's URL (default: PORTAL_TEST_DATABASE_URL)")
    parser.add_argument("--reuse", action="store_true", help="measure the database as an earlier run left it")
    args = parser.parse_args()
    engine = db.make_engine(database_url(args.postgres))
    audit.use_chain_key(engine, "bench-secret-key")
    if not args.reuse:
        began = time.perf_counter()
        fill(engine, args.events)
        print(f"filled {args.events:,} events in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    with engine.connect() as conn:
        total = conn.execute(text("SELECT reltuples::bigint FROM pg_class WHERE relname = 'audit_event'"))
        months = len(partitions.months(conn))
    print(
        f"audit_event: about {args.events if not args.reuse else total.scalar():,} events in {months} months"
    )

    pick = random.Random(20)
    with Session(engine) as session:
        admin = Person(
            display_name="Bench Admin", email=f"admin-{secrets.token_hex(8)}@example.org", staff_role="admin"
        )
        session.add(admin)
        session.commit()
        session.refresh(admin)
        session.expunge(admin)
    patients = [pick.randint(1, PATIENTS) for _ in range(SAMPLES)]
    people = [pick.randint(1, PATIENTS + PROXIES + STAFF) for _ in range(SAMPLES)]
    first_day = utcnow() - timedelta(days=30 * MONTHS - 31)
    days = [first_day + timedelta(days=pick.randint(0, 30 * MONTHS - 32)) for _ in range(SAMPLES)]

    def screen(filters: audit.Filters) -> Callable[[Session], object]:
        return lambda session: audit.screen_search(
            session, filters, page=1, per_page=50, actor=admin, where=WHERE
        )

    def one_day(moment: datetime) -> audit.Filters:
        start = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        return audit.Filters(since=start, until=start + timedelta(days=1))

    measure(
        engine,
        "who viewed my record (page 1)",
        [(lambda session, p=p: who_viewed(session, p, page=1, per_page=25)) for p in patients],
    )
    measure(engine, "admin search: by patient", [screen(audit.Filters(patient=f"pat-{p}")) for p in patients])
    measure(
        engine,
        "admin search: by person",
        [screen(audit.Filters(person=f"person{p}@example.org")) for p in people],
    )
    measure(engine, "admin search: one day", [screen(one_day(day)) for day in days])
    engine.dispose()


if __name__ == "__main__":
    main()
