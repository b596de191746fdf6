"""`portal refills export` and `portal refills import`: pending requests leave as valid FHIR R4 Tasks, and a
Task sent back with a new status changes what the patient sees; only a completed Task says "sent to the
pharmacy"."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fhir.resources.R4B.task import Task
from sqlmodel import Session, select

from portal.cli import main
from portal.models import AuditEvent, OutboxMail, RefillRequest
from tests.conftest import form_post, log_in
from tests.refill_helpers import REQUEST, family


def cli_env(settings) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": str(settings.secret_key),
    }


def rows(session: Session, model, *conditions):
    session.commit()
    with Session(session.get_bind(), expire_on_commit=False) as fresh:
        found = fresh.exec(select(model).where(*conditions)).all()
        fresh.commit()
        return found


@pytest.fixture
def asked(client, session, settings):
    fam = family(session, settings.today())
    log_in(client, session, fam["parent"])
    form_post(client, f"/p/{fam['child'].public_id}/medications/{fam['inhaler'].public_id}/refill", REQUEST)
    log_in(client, session, fam["teen_person"])
    form_post(client, f"/p/{fam['teen'].public_id}/medications/{fam['teen_pill'].public_id}/refill", REQUEST)
    return fam


def export(settings, *args: str) -> list[dict]:
    result = CliRunner().invoke(
        main, ["refills", "export", *args], env=cli_env(settings), catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_every_pending_request_is_a_valid_r4_task(session, settings, asked) -> None:
    tasks = export(settings, "--status", "pending")

    assert len(tasks) == 2
    for task in tasks:
        parsed = Task.model_validate(task)
        assert (parsed.status, parsed.intent) == ("requested", "order")
        assert parsed.focus.reference.startswith("MedicationRequest/")
    assert len(rows(session, AuditEvent, AuditEvent.route == "cli:refills_export")) == 2


def test_export_since_a_later_day_lists_nothing(settings, asked) -> None:
    assert export(settings, "--status", "pending", "--since", "2999-01-01") == []


def reimport(settings, tmp_path, task: dict):
    path = tmp_path / "tasks.ndjson"
    path.write_text(json.dumps(task) + "\n")
    return CliRunner().invoke(main, ["refills", "import", str(path)], env=cli_env(settings))


def test_a_completed_task_tells_the_patient_it_reached_the_pharmacy(
    client, session, settings, tmp_path, asked
) -> None:
    task = next(t for t in export(settings) if t["focus"]["display"] == "Albuterol inhaler")
    log_in(client, session, asked["parent"])
    before = client.get(f"/p/{asked['child'].public_id}/refills").text

    result = reimport(settings, tmp_path, {**task, "status": "completed"})

    assert result.exit_code == 0, result.output
    assert "1 changed" in result.output
    after = client.get(f"/p/{asked['child'].public_id}/refills").text
    assert "sent to the pharmacy" not in before.lower()
    assert "Approved and sent to the pharmacy" in after
    assert rows(session, OutboxMail, OutboxMail.to_address == "parent@example.org")


def test_a_rejected_task_shows_the_clinics_reason(client, session, settings, tmp_path, asked) -> None:
    task = next(t for t in export(settings) if t["focus"]["display"] == "Cetirizine 10 MG")

    reimport(
        settings,
        tmp_path,
        {**task, "status": "rejected", "statusReason": {"text": "Ask at your next visit."}},
    )

    log_in(client, session, asked["teen_person"])
    page = client.get(f"/p/{asked['teen'].public_id}/refills").text
    assert "Not approved" in page and "Ask at your next visit." in page


def test_an_invalid_task_is_refused_whole_and_changes_nothing(session, settings, tmp_path, asked) -> None:
    task = export(settings)[0]

    result = reimport(settings, tmp_path, {**task, "status": "not-a-status"})

    assert result.exit_code != 0 and "tasks.ndjson" in result.output
    assert {r.status for r in rows(session, RefillRequest)} == {"pending"}
