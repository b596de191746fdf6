"""Two `portal serve` processes behind HAProxy, one PostgreSQL: whatever one server or worker does, the
other sees, and two workers never both take the same mail or print job."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session, SQLModel, col, select
from starlette.datastructures import Secret

from portal import db
from portal.config import Settings
from portal.models import OutboxMail, Patient, Person
from portal.models.printing import PrintJob
from portal.security import csrf, ratelimit, sessions
from portal.services import mail
from tests.conftest import POSTGRES_URL
from tests.process_helpers import PROJECT, SECRET_KEY, free_port, portal_env, start_haproxy, start_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not POSTGRES_URL,
        reason="PostgreSQL only: many app servers share one PostgreSQL (SQLite is one machine's database)",
    ),
]

WRONG_CODE = "ZZZZ-ZZZZ-ZZZZ-ZZZZ"


@pytest.fixture(scope="module")
def cluster(migrated_database: str, tmp_path_factory: pytest.TempPathFactory):
    """Two app servers and a load balancer in front of them, on the run's PostgreSQL database."""
    folder = tmp_path_factory.mktemp("cluster")
    balancer_port = free_port()
    origin = f"http://127.0.0.1:{balancer_port}"
    servers = []
    try:
        for name in ("a", "b"):
            (folder / name).mkdir()
            env = portal_env(migrated_database, folder / name, origin)
            servers.append(start_server(env, folder / name / "server.log"))
        balancer = start_haproxy(folder, balancer_port, [server.port for server in servers])
        engine = db.make_engine(migrated_database)
        settings = Settings(
            secret_key=Secret(SECRET_KEY), database_url=migrated_database, data_dir=folder, origin=origin
        )
        yield {
            "servers": servers,
            "balancer": balancer,
            "engine": engine,
            "settings": settings,
            "folder": folder,
        }
        balancer.stop()
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        with engine.begin() as conn:  # the next module's tests start from empty tables
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
    finally:
        for server in servers:
            server.stop()


def direct(cluster, index: int) -> httpx.Client:
    """A client that talks to one server directly, as the load balancer would (same Host header)."""
    port = cluster["servers"][index].port
    host = f"127.0.0.1:{cluster['balancer'].port}"
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Host": host}, timeout=30)


def signed_in_patient(cluster) -> tuple[str, str]:
    """A patient with an account and an open session: (the chart's public id, the signed cookie)."""
    with Session(cluster["engine"], expire_on_commit=False) as session:
        person = Person(display_name="Ada Lovelace")
        session.add(person)
        session.flush()
        patient = Patient(
            fhir_id=f"many-{person.id}",
            given_name="Ada",
            family_name="Lovelace",
            birth_date=date(1990, 12, 10),
            person_id=person.id,
        )
        session.add(patient)
        login = sessions.open_session(session, person_id=person.id, method="test")
        session.commit()
        return patient.public_id, sessions.sign(cluster["settings"], login.id)


def form_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def test_a_session_opened_on_one_server_is_honoured_by_the_other_and_through_the_balancer(cluster) -> None:
    chart, cookie = signed_in_patient(cluster)
    origin = cluster["settings"].origin

    answers = []
    for index in (0, 1):
        with direct(cluster, index) as client:
            client.cookies.set(sessions.COOKIE, cookie)
            answers.append(client.get(f"/p/{chart}/summary"))
    with httpx.Client(base_url=origin, timeout=30) as through_balancer:
        through_balancer.cookies.set(sessions.COOKIE, cookie)
        balanced = [through_balancer.get(f"/p/{chart}/summary").status_code for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200]
    assert all("Ada Lovelace" in answer.text for answer in answers)
    assert balanced == [200, 200, 200, 200]


def test_a_csrf_token_from_one_server_signs_out_on_the_other_and_both_then_refuse(cluster) -> None:
    chart, cookie = signed_in_patient(cluster)
    with direct(cluster, 0) as first, direct(cluster, 1) as second:
        first.cookies.set(sessions.COOKIE, cookie)
        page = first.get(f"/p/{chart}/summary")
        token = form_token(page.text)
        second.cookies.set(sessions.COOKIE, cookie)
        second.cookies.set(csrf.COOKIE, first.cookies[csrf.COOKIE])

        signed_out = second.post(
            "/logout", data={"csrf_token": token}, headers={"Origin": cluster["settings"].origin}
        )
        first.cookies.set(sessions.COOKIE, cookie)  # the old cookie, replayed on the first server
        after = first.get(f"/p/{chart}/summary")

    assert page.status_code == 200
    assert signed_out.status_code == 303
    assert after.status_code in (302, 303) and "/login" in after.headers["location"]


def test_a_forged_post_is_refused_by_either_server(cluster) -> None:
    chart, cookie = signed_in_patient(cluster)
    with direct(cluster, 1) as client:
        client.cookies.set(sessions.COOKIE, cookie)
        client.get(f"/p/{chart}/summary")

        forged = client.post(
            "/logout", data={"csrf_token": "forged"}, headers={"Origin": "https://evil.example"}
        )

    assert forged.status_code == 403


def test_a_rate_limit_used_up_through_one_server_holds_on_the_other(cluster) -> None:
    origin = cluster["settings"].origin
    with direct(cluster, 0) as first, direct(cluster, 1) as second:
        first.get("/login")
        headers = {"X-CSRF-Token": first.cookies[csrf.COOKIE], "Origin": origin}
        answers = [
            first.post(
                "/activate/options", json={"code": WRONG_CODE, "birth_date": "2000-01-01"}, headers=headers
            )
            for _ in range(ratelimit.ACTIVATION_ADDRESS.attempts)
        ]
        second.cookies.set(csrf.COOKIE, first.cookies[csrf.COOKIE])

        refused = second.post(
            "/activate/options", json={"code": WRONG_CODE, "birth_date": "2000-01-01"}, headers=headers
        )

    assert {answer.status_code for answer in answers} == {400}
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0


def run_two_workers(cluster, name: str) -> list[tuple[Path, str]]:
    """`portal worker --once` twice at the same time, each with its own data folder; (folder, log)."""
    runs = []
    for index in (0, 1):
        folder = cluster["folder"] / f"{name}-{index}"
        folder.mkdir()
        env = portal_env(cluster["settings"].database_url, folder, cluster["settings"].origin)
        command = [sys.executable, "-m", "portal", "worker", "--once"]
        process = subprocess.Popen(
            command, env=env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        runs.append((folder, process))
    finished = []
    for folder, process in runs:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output
        finished.append((folder, output))
    return finished


def test_two_workers_at_once_never_send_the_same_mail_twice(cluster) -> None:
    with Session(cluster["engine"]) as session:
        for number in range(60):
            mail.enqueue(session, to=f"person{number}@example.org", subject="Hello", body="A new message")
        session.commit()

    runs = run_two_workers(cluster, "mail")

    sent_by = [sorted(path.name for path in (folder / "outbox").glob("*.eml")) for folder, _ in runs]
    with Session(cluster["engine"]) as session:
        rows = session.exec(select(OutboxMail)).all()
    assert len(sent_by[0]) + len(sent_by[1]) == 60
    assert not set(sent_by[0]) & set(sent_by[1]), "a message was sent by both workers"
    assert all(row.sent_at is not None and row.attempts == 1 for row in rows)


def test_each_print_job_is_run_by_exactly_one_of_two_workers(cluster) -> None:
    with Session(cluster["engine"], expire_on_commit=False) as session:
        owner = Person(display_name="Front Desk")
        session.add(owner)
        session.flush()
        jobs = [
            PrintJob(owner_person_id=owner.id, day=date(2020, 1, 1) + timedelta(days=n)) for n in range(120)
        ]
        session.add_all(jobs)
        session.commit()
        ids = [job.id for job in jobs]

    runs = run_two_workers(cluster, "print")

    logs = "\n".join(output for _, output in runs)
    for job_id in ids:
        # A day without visits fails ("nothing to print"): what counts is that one worker ran it, once.
        runs_of_job = re.findall(rf"print job (?:done|failed) id={job_id}\b", logs)
        assert len(runs_of_job) == 1, f"job {job_id} ran {len(runs_of_job)} times"
    with Session(cluster["engine"]) as session:
        left = session.exec(select(PrintJob).where(col(PrintJob.status).in_(("queued", "running")))).all()
    assert left == []
