"""The demo from a fresh clone: `portal demo` with the project's own sample patients, its in-process worker,
and the mailbox page that exists only in demo mode."""

from __future__ import annotations

import logging
import re
import threading
from datetime import date

import pytest
from click.testing import CliRunner
from sqlmodel import select
from starlette.testclient import TestClient

from portal import cli, db, worker
from portal.app import create_app
from portal.config import ConfigError
from portal.models import Patient
from portal.models.people import StaffRole
from portal.services import access, families
from portal.services.identity import people
from tests.conftest import ORIGIN

CODE = r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}"


def cli_env(settings) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": str(settings.secret_key),
    }


def age(birth: str, today: date) -> int:
    return access.age_on(date.fromisoformat(birth), today)


def test_portal_demo_prints_every_persons_way_in_from_the_projects_own_data(
    settings, session, monkeypatch
) -> None:
    served, worked = [], []
    worker_started = threading.Event()

    def fake_server(host: str, port: int, workers: int, app=None) -> None:
        served.append(app)

    def fake_worker(worker_settings, *, once: bool, interval: float) -> None:
        worked.append(worker_settings)
        worker_started.set()

    monkeypatch.setattr(cli, "run_server", fake_server)
    monkeypatch.setattr(worker, "run_worker", fake_worker)

    result = CliRunner().invoke(cli.main, ["demo"], env=cli_env(settings), catch_exceptions=False)

    assert result.exit_code == 0, result.output
    out = result.stdout
    today = settings.today()
    assert re.search(r"^Sample records: \d+ resources for 19 new or updated patients$", out, re.M)
    children = re.findall(r"^  (.+), born (\d{4}-\d{2}-\d{2}) \(front desk: search by this date\)", out, re.M)
    assert len(children) == 3
    assert [age(born, today) < 1 for _, born in children] == [True, False, False]
    assert 3 <= age(children[1][1], today) < settings.full_proxy_until_age
    assert settings.full_proxy_until_age <= age(children[2][1], today) < settings.adult_at_age
    assert re.search(
        rf"^  {children[2][0]}, born .*; has a confidential result, hidden from the parent$", out, re.M
    )
    assert re.search(r"^Enrolment link for the parent: http://localhost:8000/enrol/\S+$", out, re.M)
    for role in StaffRole:
        label = role.replace("_", " ")
        assert re.search(
            rf"^Enrolment link for staff \({label}\): http://localhost:8000/enrol/\S+$", out, re.M
        )
    codes = re.findall(
        rf"^Activation code for (the teen|an adult patient), (.+) \(date of birth to type: (\S+)\): {CODE}$",
        out,
        re.M,
    )
    assert [who for who, _, _ in codes] == ["the teen", "an adult patient"]
    assert codes[0][1:] == children[2]  # the teen's own code, with the date the front desk searches by
    assert 25 <= age(codes[1][2], today) <= 65
    for name, born in [*children, *[code[1:] for code in codes]]:
        stored = session.exec(select(Patient).where(Patient.family_name == name.rpartition(" ")[2])).one()
        assert (stored.birth_date.isoformat(), stored.deceased) == (born, False)
    (deceased,) = re.findall(r"^Deceased: (.+), born \S+; never offered an activation code$", out, re.M)
    assert session.exec(select(Patient).where(Patient.deceased)).one().display_name == deceased
    assert deceased not in "".join(line for line in out.splitlines() if line.startswith("Activation"))
    day, visits = re.findall(r"^Visits to print \(staff, Print\): (\S+) has (\d+) visits", out, re.M)[0]
    assert int(visits) > 1 and date.fromisoformat(day) <= today
    assert re.search(r"^  .+ saw \d+ of them", out, re.M)
    assert "Mail the portal sends (enrolment links, invitations): http://localhost:8000/demo/mail" in out
    # ...then serves the demo-mode app with the worker running beside it in the same process.
    assert worker_started.wait(timeout=10)
    (app,), (worker_settings,) = served, worked
    assert app.state.settings.demo and worker_settings.demo
    assert app.url_path_for("demo_mail") == "/demo/mail"
    app.state.engine.dispose()


def test_the_demos_worker_starts_again_after_a_failed_round(settings, monkeypatch, caplog) -> None:
    calls: list[float] = []

    def flaky_worker(worker_settings, *, once: bool, interval: float) -> None:
        calls.append(interval)
        if len(calls) == 1:
            raise OSError("disk full")

    monkeypatch.setattr(worker, "run_worker", flaky_worker)

    with caplog.at_level(logging.ERROR, logger="portal.worker"):
        worker.keep_worker_running(settings, interval=0.01)

    assert calls == [0.01, 0.01]
    assert "worker stopped (OSError); starting again" in caplog.text


# -------------------------------------------------------------------------------------- the demo mailbox


@pytest.fixture
def demo_client(settings):
    app = create_app(settings.with_overrides(demo=True))
    with TestClient(app, base_url=ORIGIN) as client:
        yield client
    app.state.engine.dispose()


def test_the_demo_mailbox_shows_an_enrolment_mail_with_its_link_once_the_worker_sent_it(
    settings, demo_client
) -> None:
    with db.transaction(demo_client.app.state.engine) as session:
        _, link = people.add_person(session, settings, email="newcomer@demo.test", display_name="Newcomer")
        families.send_enrolment(session, to="newcomer@demo.test", link=link)
    before = demo_client.get("/demo/mail")

    sent = CliRunner().invoke(cli.main, ["worker", "--once"], env=cli_env(settings), catch_exceptions=False)
    page = demo_client.get("/demo/mail")

    assert before.status_code == 200 and "No mail yet" in before.text and link not in before.text
    assert sent.exit_code == 0
    assert page.status_code == 200
    assert "newcomer@demo.test" in page.text
    assert f'<a href="{link}">{link}</a>' in page.text


def test_the_mailbox_does_not_exist_outside_demo_mode(settings, client) -> None:
    (settings.data_dir / "outbox").mkdir()
    (settings.data_dir / "outbox" / "00000001.eml").write_text("To: a@b.test\nSubject: Hi\n\nhello\n")

    page = client.get("/demo/mail")

    assert page.status_code == 404
    assert "hello" not in page.text


def test_production_refuses_demo_mode(settings) -> None:
    production = settings.with_overrides(env="production", origin="https://portal.example.org", demo=True)

    with pytest.raises(ConfigError, match="PORTAL_DEMO"):
        production.check()
