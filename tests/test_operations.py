"""Faults an operator meets: a database that goes away or fills up, a server killed mid-burst, backups."""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from portal import db
from portal.app import create_app
from portal.config import Settings
from portal.models import FhirResource, Patient, Person
from portal.security import sessions
from tests.conftest import ORIGIN, POSTGRES_URL, SERVER_URL, create_worker_database, log_in
from tests.process_helpers import (
    PROJECT,
    SECRET_KEY,
    PrivatePostgres,
    free_port,
    portal,
    portal_env,
    start_server,
)

SYNTHEA = PROJECT / "data" / "fhir" / "synthea"
ENGLISH = "Please try again in a minute."
SPANISH = "Vuelva a intentarlo en un minuto."
sqlite_only = pytest.mark.skipif(
    bool(POSTGRES_URL), reason="the SQLite case; the PostgreSQL run stops a server of its own instead"
)
postgres_only = pytest.mark.skipif(not POSTGRES_URL, reason="the PostgreSQL case; SQLite has its own test")


def own_chart(session: Session) -> tuple[Person, Patient]:
    person = Person(display_name="Ada Lovelace")
    session.add(person)
    session.flush()
    patient = Patient(
        fhir_id=f"ops-{person.id}", given_name="Ada", family_name="Lovelace", birth_date=date(1990, 12, 10)
    )
    patient.person_id = person.id
    session.add(patient)
    session.commit()
    return person, patient


def audit_rows(engine, patient_id: int) -> int:
    with engine.connect() as conn:
        query = text("SELECT count(*) FROM audit_event WHERE patient_id = :id")
        return int(conn.execute(query, {"id": patient_id}).scalar_one())


def assert_unavailable(response, words: str) -> None:
    assert response.status_code == 503
    assert response.headers["retry-after"] == "60"
    assert words in response.text
    assert "Traceback" not in response.text and "sqlalchemy" not in response.text.lower()


# ------------------------------------------------------------------------- the database goes away


def away_and_back(client: TestClient, app, patient: Patient, go_away, come_back) -> None:
    """Pages work, then answer 503 (both languages, /healthz too) while the database is away, then work
    again with every event written before still there."""
    chart = f"/p/{patient.public_id}/summary"
    assert client.get(chart).status_code == 200
    before = audit_rows(app.state.engine, patient.id)

    go_away()
    app.state.engine.dispose()  # the pooled connections to a working database go too
    english = client.get(chart)
    spanish = client.get(chart, headers={"Accept-Language": "es"})
    health = client.get("/healthz")
    posted = client.post("/logout", headers={"Origin": ORIGIN})  # a write, refused whole
    come_back()
    again = client.get(chart)

    assert_unavailable(english, ENGLISH)
    assert_unavailable(spanish, SPANISH)
    assert health.status_code == 503 and health.headers["retry-after"] == "60"
    assert posted.status_code in (403, 503)  # the CSRF check may refuse it first: never a 500
    assert again.status_code == 200
    assert audit_rows(app.state.engine, patient.id) == before + 1


@sqlite_only
def test_an_sqlite_database_that_cannot_be_opened_gives_503_and_loses_nothing(tmp_path, migrated_database):
    folder = tmp_path / "store"
    folder.mkdir()
    shutil.copyfile(migrated_database, folder / "portal.db")
    settings = Settings(
        secret_key=Secret(SECRET_KEY),
        database_url=f"sqlite:///{folder / 'portal.db'}",
        data_dir=tmp_path,
        origin=ORIGIN,
    )
    app = create_app(settings)
    with (
        TestClient(app, base_url=ORIGIN) as client,
        Session(app.state.engine, expire_on_commit=False) as session,
    ):
        person, patient = own_chart(session)
        log_in(client, session, person)
        session.close()

        away_and_back(
            client,
            app,
            patient,
            go_away=lambda: folder.rename(tmp_path / "moved"),
            come_back=lambda: (tmp_path / "moved").rename(folder),
        )
    app.state.engine.dispose()


@postgres_only
@pytest.mark.slow
def test_a_stopped_postgresql_gives_503_and_loses_nothing(tmp_path) -> None:
    server = PrivatePostgres()
    server.start()
    try:
        server.create_database()
        settings = Settings(
            secret_key=Secret(SECRET_KEY), database_url=server.url, data_dir=tmp_path, origin=ORIGIN
        )
        app = create_app(settings)
        db.upgrade(app.state.engine)
        with (
            TestClient(app, base_url=ORIGIN) as client,
            Session(app.state.engine, expire_on_commit=False) as session,
        ):
            person, patient = own_chart(session)
            log_in(client, session, person)
            session.close()

            away_and_back(client, app, patient, go_away=server.stop, come_back=server.start)
        app.state.engine.dispose()
    finally:
        server.remove()


# --------------------------------------------------------------------------------------- a full disk


@sqlite_only
def test_a_full_sqlite_database_answers_503_and_keeps_every_acknowledged_write(app, client, session) -> None:
    person, patient = own_chart(session)
    log_in(client, session, person)
    chart = f"/p/{patient.public_id}/summary"
    client.get(chart)
    engine = app.state.engine
    with engine.connect() as conn:
        pages = int(conn.execute(text("PRAGMA page_count")).scalar_one())
    session.close()

    def no_room(dbapi_connection, _record) -> None:  # as if the disk held no more than the file has now
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(engine, "connect", no_room)
    engine.dispose()
    answers = []
    for _ in range(400):
        answers.append(client.get(chart))
        if answers[-1].status_code != 200:
            break
    acknowledged = sum(answer.status_code == 200 for answer in answers)
    event.remove(engine, "connect", no_room)
    engine.dispose()
    with engine.connect() as conn:
        stored = audit_rows(engine, patient.id)
        check = conn.execute(text("PRAGMA integrity_check")).scalar_one()

    assert_unavailable(answers[-1], ENGLISH)
    assert stored == acknowledged + 1  # each page seen wrote its event; the refused one wrote nothing
    assert check == "ok"
    assert client.get(chart).status_code == 200  # room again: the portal carries on


@sqlite_only
def test_reads_do_not_wait_behind_a_long_sqlite_write(app, client, session) -> None:
    """An import holds SQLite's write lock for seconds: the health check and a signed-in person's session
    look-up only read, so they answer meanwhile (with the lock's 30 s wait they would not)."""
    person, _patient = own_chart(session)
    login_id = log_in(client, session, person).id
    session.close()
    writer = app.state.engine.raw_connection()
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE person SET locale = locale")
        started = time.monotonic()
        health = client.get("/healthz")
        looked_up = db.run_reading(app.state.engine, sessions.look_up, login_id, extend=False)
        waited = time.monotonic() - started
    finally:
        writer.rollback()
        writer.close()

    assert health.status_code == 200
    assert isinstance(looked_up, tuple) and looked_up[1].id == person.id
    assert waited < 5, f"the reads waited {waited:.1f} s for the writer"


def test_a_reading_transaction_keeps_nothing_it_writes(app, session) -> None:
    person, _patient = own_chart(session)
    session.close()

    def write(reading: Session) -> None:
        reading.execute(text("UPDATE person SET locale = 'es' WHERE id = :id"), {"id": person.id})

    # PostgreSQL refuses a write in a READ ONLY transaction; SQLite rolls it back.
    with contextlib.suppress(DBAPIError):
        db.run_reading(app.state.engine, write)

    with db.transaction(app.state.engine) as fresh:
        stored = fresh.get(Person, person.id)
        assert stored is not None and stored.locale != "es"


@postgres_only
def test_the_statements_of_signed_in_pages_are_prepared_on_postgresql(app, client, session) -> None:
    """The session look-up's read-only transaction ends with COMMIT: a ROLLBACK would make psycopg forget
    every statement prepared on the connection, and no statement would ever be run prepared."""
    person, patient = own_chart(session)
    log_in(client, session, person)
    session.close()
    app.state.engine.dispose()  # one connection from here on: the pages run one after the other

    for _ in range(8):
        assert client.get(f"/p/{patient.public_id}/visits").status_code == 200

    with app.state.engine.connect() as conn:
        prepared = conn.execute(text("SELECT statement FROM pg_prepared_statements")).scalars().all()
    assert any("login_session" in statement for statement in prepared)
    assert any("FROM encounter" in statement for statement in prepared)


def hold_the_write_turn(engine, seconds: float) -> threading.Thread:
    """A writer of this process that keeps its transaction open for `seconds`."""
    started = threading.Event()

    def write() -> None:
        with db.transaction(engine) as held:
            held.execute(text("UPDATE person SET locale = locale"))
            started.set()
            time.sleep(seconds)

    thread = threading.Thread(target=write)
    thread.start()
    started.wait(5)
    return thread


@sqlite_only
def test_a_write_turn_that_does_not_come_in_time_is_a_503(app, client, session, monkeypatch) -> None:
    """A writer of this process holds the turn too long: the page says to try again, and answers later."""
    person, patient = own_chart(session)
    log_in(client, session, person)
    session.close()
    monkeypatch.setattr(db, "SQLITE_WAIT_SECONDS", 0.2)
    thread = hold_the_write_turn(app.state.engine, 1.5)
    page = client.get(f"/p/{patient.public_id}/summary")
    thread.join()

    assert_unavailable(page, ENGLISH)
    assert client.get(f"/p/{patient.public_id}/summary").status_code == 200  # its turn comes afterwards


# ---------------------------------------------------------------------------- kill -9 mid-burst


def resources_of(path: Path) -> set[tuple[str, str]]:
    bundle = json.loads(gzip.decompress(path.read_bytes()))
    return {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}


@pytest.mark.slow
def test_kill_9_mid_burst_keeps_every_acknowledged_write_and_nothing_half_written(
    database_url, tmp_path
) -> None:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = portal_env(database_url, tmp_path, origin)
    engine = db.make_engine(database_url)
    with Session(engine, expire_on_commit=False) as session:
        person, patient = own_chart(session)
        login = sessions.open_session(session, person_id=person.id, method="test")
        session.commit()
    server = start_server(env, tmp_path / "server.log", port=port)
    settings = Settings(
        secret_key=Secret(SECRET_KEY), database_url=database_url, data_dir=tmp_path, origin=origin
    )
    cookie = sessions.sign(settings, login.id)
    acknowledged = []
    sent = []
    stop = threading.Event()

    def burst() -> None:
        with httpx.Client(base_url=origin, timeout=10) as client:
            client.cookies.set(sessions.COOKIE, cookie)
            while not stop.is_set():
                sent.append(1)
                try:
                    if client.get(f"/p/{patient.public_id}/summary").status_code == 200:
                        acknowledged.append(1)
                except httpx.HTTPError:
                    return  # the server is gone

    importer = subprocess.Popen(
        [sys.executable, "-m", "portal", "import-fhir", str(SYNTHEA)],
        env=env,
        cwd=PROJECT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    threads = [threading.Thread(target=burst) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(4)
    server.kill()
    importer.kill()  # kill -9 the import in the middle of a file too
    importer.wait()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    server = start_server(env, tmp_path / "server.log", port=server.port)
    try:
        stored = audit_rows(engine, patient.id)
        with Session(engine) as session:
            present = {(r.resource_type, r.fhir_id) for r in session.exec(select(FhirResource)).all()}
        verified = portal("audit", "verify", env=env)
    finally:
        server.stop()
        engine.dispose()

    assert len(acknowledged) > 10, "the burst did not get going before the kill"
    assert len(acknowledged) <= stored <= len(sent)  # every acknowledged view kept its event
    files = sorted(SYNTHEA.glob("*.json.gz"))
    contents = {path: resources_of(path) for path in files}
    for path in files:  # a file's own resources are all there, or none (shared ones may come from another)
        elsewhere = set().union(*(c for other, c in contents.items() if other != path))
        own = contents[path] - elsewhere
        kept = own & present
        assert kept in (set(), own), f"{path.name} is half-imported"
    assert verified.returncode == 0, verified.stderr + verified.stdout
    assert "audit chain verified" in verified.stdout


# ---------------------------------------------------------------------------------- backup and restore


@pytest.fixture
def restore_target(tmp_path) -> str:
    """An empty database to restore into: a new SQLite file, or a new database on the test server."""
    if not POSTGRES_URL:
        return f"sqlite:///{tmp_path / 'restored' / 'portal.db'}"
    from sqlalchemy import make_url

    url = make_url(POSTGRES_URL)
    target = url.set(database=f"{url.database}_restored").render_as_string(hide_password=False)
    create_worker_database(SERVER_URL or POSTGRES_URL, target)
    return target


@pytest.mark.slow
def test_backup_then_restore_gives_the_same_record_and_audit_head(
    database_url, restore_target, tmp_path
) -> None:
    original = portal_env(database_url, tmp_path / "a", ORIGIN)
    restored = portal_env(restore_target, tmp_path / "b", ORIGIN)
    first = sorted(SYNTHEA.glob("*.json.gz"))[0]
    patient_id = next(rid for kind, rid in resources_of(first) if kind == "Patient")
    assert portal("import-fhir", str(first), env=original).returncode == 0
    head = portal("audit", "verify", env=original).stdout
    backup_file = tmp_path / "portal.backup"

    made = portal("backup", str(backup_file), env=original)
    back = portal("restore", str(backup_file), env=restored)
    again = portal("restore", str(backup_file), env=restored)
    forced = portal("restore", "--force", str(backup_file), env=restored)

    assert made.returncode == 0 and backup_file.stat().st_size > 0, made.stderr
    assert back.returncode == 0, back.stderr
    assert again.returncode != 0 and "refuses to write over it" in again.stderr
    assert forced.returncode == 0, forced.stderr
    assert "head" in head and portal("audit", "verify", env=restored).stdout == head
    exported = [portal("export-fhir", patient_id, env=env) for env in (original, restored)]
    assert exported[0].returncode == 0 and json.loads(exported[0].stdout)["entry"]
    bundles = [json.loads(export.stdout) for export in exported]
    for bundle in bundles:
        bundle.pop("timestamp", None)  # when the export was made, not what it holds
    assert bundles[0] == bundles[1]


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path) -> None:
    bogus = tmp_path / "not-a-backup"
    bogus.write_bytes(b"hello" * 100)
    target = POSTGRES_URL or f"sqlite:///{tmp_path / 'db' / 'portal.db'}"
    from portal.operations import backup

    with pytest.raises(backup.BackupError):
        backup.restore(target, bogus, force=True)
