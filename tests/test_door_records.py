"""Every output of a record goes through the door and the one visibility rule: held results, staff areas,
the summary's single decision, printing and print-job downloads audited, and views that never hold a
database session."""

from __future__ import annotations

import ast
import json
import subprocess
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from portal import worker
from portal.cli import main
from portal.fhir import importer
from portal.models import AuditEvent, Encounter, Observation, Patient, Person, ProxyGrant
from portal.models.base import utcnow
from portal.services import access, results
from portal.services.access import Area, Level
from tests.conftest import form_post, log_in, make_person
from tests.fhir_bundles import SAMPLE_BUNDLE

FIRST_VISIT = "b4819bb2-e549-53b5-8fe0-e0ac5a9bea55"  # the infant's visit of 9 March 2026, with bilirubin
VISIT_DAY = "2026-03-09"
HELD_RESULT = "Bilirubin"  # the visit's laboratory result, in the PDFs
VIEWS = Path(__file__).resolve().parents[1] / "portal" / "views"


def text_of(tmp_path: Path, pdf: bytes) -> str:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def events(session, **where) -> list[AuditEvent]:
    session.expire_all()
    query = select(AuditEvent).order_by(AuditEvent.seq)
    for name, value in where.items():
        query = query.where(getattr(AuditEvent, name) == value)
    found = list(session.exec(query).all())
    session.commit()
    return found


@pytest.fixture
def infant(app, session) -> Patient:
    importer.import_paths(app.state.engine, [SAMPLE_BUNDLE])
    patient = session.exec(select(Patient).where(Patient.family_name == "Sample")).one()
    session.commit()
    return patient


@pytest.fixture
def first_visit(session, infant) -> str:
    public_id = session.exec(select(Encounter.public_id).where(Encounter.fhir_id == FIRST_VISIT)).one()
    session.commit()
    return public_id


def parent_of(session, patient: Patient) -> Person:
    parent = make_person(session, display_name="Maria Sample")
    session.add(
        ProxyGrant(
            proxy_person_id=parent.id,
            patient_id=patient.id,
            relationship="parent",
            starts_on=date(2000, 1, 1),
        )
    )
    session.commit()
    return parent


def staff(session, role: str) -> Person:
    return make_person(session, display_name=f"Staff {role}", staff_role=role)


def hold_laboratory(session) -> None:
    """Laboratory results issued now, and the category held for two days."""
    for observation in session.exec(select(Observation)):
        observation.issued = utcnow()
        session.add(observation)
    results.set_hold(
        session,
        category="laboratory",
        hold_hours=48,
        reason="The pathologist reviews these first",
        set_by_person_id=None,
    )
    session.commit()


# A held category, in every output ------------------------------------------------------------------


def test_a_held_result_is_absent_from_the_visit_page_for_the_family(
    client, session, infant, first_visit
) -> None:
    hold_laboratory(session)
    log_in(client, session, parent_of(session, infant))

    page = client.get(f"/p/{infant.public_id}/visits/{first_visit}").text

    assert "bilirubin" not in page.lower()


def test_a_held_result_is_on_the_visit_page_for_a_clinician_marked(
    client, session, infant, first_visit
) -> None:
    hold_laboratory(session)
    log_in(client, session, staff(session, "clinician"))

    page = client.get(f"/p/{infant.public_id}/visits/{first_visit}").text

    assert "bilirubin" in page.lower() and "Not yet released to the patient" in page


def test_a_held_result_is_absent_from_both_pdfs_for_the_family(
    client, session, tmp_path, infant, first_visit
) -> None:
    hold_laboratory(session)
    log_in(client, session, parent_of(session, infant))

    visit = text_of(tmp_path, client.get(f"/p/{infant.public_id}/print/visit/{first_visit}").content)
    summary = text_of(tmp_path, client.get(f"/p/{infant.public_id}/print/summary").content)

    assert "Mia Rose Sample" in visit and "Mia Rose Sample" in summary
    assert HELD_RESULT not in visit and HELD_RESULT not in summary


def test_a_held_result_is_in_both_pdfs_for_a_clinician_marked(
    client, session, tmp_path, infant, first_visit
) -> None:
    hold_laboratory(session)
    log_in(client, session, staff(session, "clinician"))

    visit = text_of(tmp_path, client.get(f"/p/{infant.public_id}/print/visit/{first_visit}").content)
    summary = text_of(tmp_path, client.get(f"/p/{infant.public_id}/print/summary").content)

    for document in (visit, summary):
        assert HELD_RESULT in document and "Not yet released" in document


def test_a_held_result_is_absent_from_the_fhir_download(client, session, infant) -> None:
    held_ids = {
        o.fhir_id for o in session.exec(select(Observation).where(Observation.category == "laboratory"))
    }
    hold_laboratory(session)
    log_in(client, session, parent_of(session, infant))

    bundle = json.loads(form_post(client, f"/p/{infant.public_id}/download").text)

    observations = {
        e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    }
    assert held_ids and observations and not held_ids & observations


def test_a_released_result_is_in_the_fhir_download(client, session, infant) -> None:
    lab_ids = {
        o.fhir_id for o in session.exec(select(Observation).where(Observation.category == "laboratory"))
    }
    session.commit()
    log_in(client, session, parent_of(session, infant))

    bundle = json.loads(form_post(client, f"/p/{infant.public_id}/download").text)

    assert lab_ids <= {e["resource"]["id"] for e in bundle["entry"]}


def test_a_held_result_is_absent_from_the_summary_for_the_family(client, session, infant) -> None:
    hold_laboratory(session)
    log_in(client, session, parent_of(session, infant))

    page = client.get(f"/p/{infant.public_id}/summary").text

    assert "bilirubin" not in page.lower() and "No test results yet." in page


# Staff areas -----------------------------------------------------------------------------------------


def test_the_front_desk_gets_no_results_through_any_pdf(
    client, session, tmp_path, infant, first_visit
) -> None:
    log_in(client, session, staff(session, "front_desk"))
    base = f"/p/{infant.public_id}/print"

    responses = [
        client.get(f"{base}/visit/{first_visit}"),
        client.get(f"{base}/summary"),
        client.get(f"{base}/immunizations"),
    ]
    texts = [text_of(tmp_path, r.content) for r in responses]
    day = text_of(tmp_path, form_post(client, "/staff/print/day", {"date": VISIT_DAY}).content)

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert all("Mia Rose Sample" in t for t in [*texts, day])
    assert all(HELD_RESULT not in t and "Test results" not in t for t in [*texts, day])


def test_a_clinician_gets_the_results_in_the_same_pdfs(
    client, session, tmp_path, infant, first_visit
) -> None:
    log_in(client, session, staff(session, "clinician"))

    visit = text_of(tmp_path, client.get(f"/p/{infant.public_id}/print/visit/{first_visit}").content)

    assert HELD_RESULT in visit


def test_the_summary_page_writes_exactly_one_audit_event(client, session, infant) -> None:
    log_in(client, session, staff(session, "front_desk"))
    url = f"/p/{infant.public_id}/summary"
    before = len(events(session))

    page = client.get(url)

    after = events(session)[before:]
    assert page.status_code == 200 and "Mia Rose Sample" in page.text
    assert "Current medications" not in page.text  # the banner, not the record
    assert [(e.action, e.outcome, e.resource_type) for e in after] == [("view", "allowed", "Summary")]


def test_the_summary_shows_the_record_to_a_clinician_from_one_decision(client, session, infant) -> None:
    log_in(client, session, staff(session, "clinician"))
    url = f"/p/{infant.public_id}/summary"
    before = len(events(session))

    page = client.get(url).text

    assert "Current medications" in page and len(events(session)) == before + 1


def test_one_decision_knows_every_area_the_viewer_may_use(session, infant) -> None:
    front_desk = staff(session, "front_desk")

    decision = access.decide(
        session, front_desk, infant, Area.DEMOGRAPHICS, today=date.today(), rules=access.AgeRules()
    )

    assert Area.DOCUMENTS in decision.areas and Area.RECORD not in decision.areas


# The scope -------------------------------------------------------------------------------------------


def test_a_patient_scope_cannot_be_made_outside_access(infant) -> None:
    with pytest.raises(TypeError):
        access.PatientScope(
            infant, Person(), Area.RECORD, Level.STAFF, True, True, utcnow(), frozenset(Area), object()
        )


def test_the_operator_reads_only_from_the_command_line(session, infant) -> None:
    from portal.provenance import Provenance

    operator = access.Operator(date.today(), access.AgeRules(), utcnow(), Provenance(route="records_page"))

    with pytest.raises(ValueError):
        access.read_as_operator(session, operator, infant, access.Look(Area.RECORD), lambda s, scope: scope)


def _is_session(annotation: ast.expr) -> bool:
    """`Session`, `sqlmodel.Session`, "Session" or `Session | None`: a database session, not a login."""
    text = ast.unparse(annotation).strip("'\"")
    return any(part.strip().split(".")[-1] == "Session" for part in text.split("|"))


def _session_parameters() -> list[str]:
    found = []
    for path in sorted(VIEWS.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                if any(a.annotation is not None and _is_session(a.annotation) for a in arguments):
                    found.append(f"{path.name}:{node.name}")
            if isinstance(node, ast.Lambda) and any(a.arg == "session" for a in node.args.args):
                found.append(f"{path.name}:lambda:{node.lineno}")
    return found


def test_no_view_takes_a_database_session() -> None:
    assert _session_parameters() == []


def test_the_record_and_printing_views_hold_no_session() -> None:
    found = _session_parameters()

    assert [f for f in found if f.split(":")[0] in ("records.py", "printing.py")] == []


# Printing through the door ---------------------------------------------------------------------------


def test_the_cli_print_is_audited_as_the_operator(settings, session, tmp_path, infant) -> None:
    output = tmp_path / "visit.pdf"
    env = {
        "DATABASE_URL": settings.database_url,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": str(settings.secret_key),
    }

    result = CliRunner().invoke(main, ["print", "visit-summary", FIRST_VISIT, "-o", str(output)], env=env)

    assert result.exit_code == 0, result.output
    (event,) = events(session, action="print")
    assert (event.actor_role, event.actor_person_id, event.route, event.outcome, event.patient_id) == (
        "system",
        None,
        "cli:print_visit_summary",
        "allowed",
        infant.id,
    )


def test_a_staff_print_refused_by_the_door_is_one_denied_event(client, session, infant) -> None:
    log_in(client, session, staff(session, "billing"))

    response = form_post(client, "/staff/print/visit", {"encounter": FIRST_VISIT})

    assert response.status_code in (403, 404)


def test_a_deceased_patient_is_never_printed_an_activation_code(client, session, tmp_path, infant) -> None:
    patient = session.get(Patient, infant.id)
    patient.deceased = True
    session.add(patient)
    session.commit()
    log_in(client, session, staff(session, "front_desk"))

    pdf = form_post(client, "/staff/print/visit", {"encounter": FIRST_VISIT})

    text = text_of(tmp_path, pdf.content)
    assert "Mia Rose Sample" in text and "activation code" not in text.lower()


def test_each_download_of_a_print_job_is_audited_for_each_patient(
    app, client, session, infant, monkeypatch
) -> None:
    from portal.services.printing import staff as printing_staff

    monkeypatch.setattr(printing_staff, "BATCH_IN_REQUEST", 0)
    log_in(client, session, staff(session, "clinician"))
    job_url = form_post(client, "/staff/print/day", {"date": VISIT_DAY}, follow_redirects=False).headers[
        "location"
    ]
    worker.run_rounds(app.state.engine, app.state.settings, once=True)

    first, second = client.get(job_url + "/pdf"), client.get(job_url + "/pdf")

    downloads = events(session, action="download", resource_type="PrintJob")
    assert first.status_code == second.status_code == 200
    assert [(e.patient_id, e.outcome) for e in downloads] == [(infant.id, "allowed")] * 2
    assert [e.patient_id for e in events(session, action="print")] == [infant.id]


def test_the_growth_tables_are_reachable_by_keyboard(client, session, infant) -> None:
    log_in(client, session, parent_of(session, infant))

    page = client.get(f"/p/{infant.public_id}/growth").text

    assert page.count('class="table-wrap" role="region" tabindex="0" aria-label="') >= 1
