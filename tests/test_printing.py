"""Visit summaries, record summaries and immunization records on paper: downloads, staff prints, the CLI."""

from __future__ import annotations

import base64
import importlib.util
import random
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlmodel import select

from portal.cli import main
from portal.fhir import importer
from portal.models import AuditEvent, Encounter, Patient, Person, ProxyGrant
from tests.conftest import form_post, log_in, make_person
from tests.fhir_bundles import LOINC, SAMPLE_BUNDLE, _concept, patient_resources, write_bundle

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="needs poppler-utils (make test installs it)"
)

FIRST_VISIT = "b4819bb2-e549-53b5-8fe0-e0ac5a9bea55"  # the infant's visit of 9 March 2026, in data/fhir
INFANT_DOCTOR = "65df8d1b-4fae-58db-bca5-f6a1cec7aa18"
VISIT_DAY = "2026-03-09"
MIGRATION = Path(__file__).resolve().parents[1] / "portal" / "migrations" / "versions" / "0008_printing.py"


def pages_of(tmp_path, pdf: bytes) -> list[str]:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True)
    return out.stdout.split("\f")[:-1]


def page_size(tmp_path, pdf: bytes) -> str:
    path = tmp_path / "size.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return next(line for line in info.splitlines() if line.startswith("Page size"))


def same_day_patient(tmp_path, name: str, *, long_note: bool = False) -> list[dict]:
    """A generated patient with one visit on VISIT_DAY (afternoon at the clinic), seen by their own doctor."""
    resources = patient_resources(random.Random(), visits=1)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    patient["name"] = [{"use": "official", "family": name, "given": ["Test"]}]
    encounter = next(r for r in resources if r["resourceType"] == "Encounter")
    encounter["period"] = {"start": f"{VISIT_DAY}T14:00:00-05:00", "end": f"{VISIT_DAY}T14:30:00-05:00"}
    if long_note:
        note = "\n".join(f"Line {i} of a long plan for the family." for i in range(140))
        resources.append(
            {
                "resourceType": "DocumentReference",
                "id": f"note-{name.lower()}",
                "status": "current",
                "type": _concept(LOINC, "11506-3", "Progress note"),
                "subject": {"reference": f"urn:uuid:{patient['id']}"},
                "content": [
                    {
                        "attachment": {
                            "contentType": "text/plain",
                            "data": base64.b64encode(note.encode()).decode(),
                        }
                    }
                ],
                "context": {"encounter": [{"reference": f"urn:uuid:{encounter['id']}"}]},
            }
        )
    write_bundle(tmp_path / f"{name}.json", resources)
    return resources


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


@pytest.fixture
def day_of_visits(app, tmp_path, infant) -> list[str]:
    """The infant's visit and two other patients' visits on the same day; the last runs to several pages."""
    folder = tmp_path / "day"
    folder.mkdir()
    same_day_patient(folder, "Okonkwo")
    same_day_patient(folder, "Lindqvist", long_note=True)
    importer.import_paths(app.state.engine, [folder])
    return ["Sample", "Okonkwo", "Lindqvist"]


def parent_of(session, patient: Patient, level: str = "full") -> Person:
    parent = make_person(session, display_name="Maria Sample")
    session.add(
        ProxyGrant(
            proxy_person_id=parent.id,
            patient_id=patient.id,
            relationship="parent",
            level=level,
            starts_on=date(2026, 3, 2),
        )
    )
    session.commit()
    return parent


def events(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    found = session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()
    session.commit()
    return list(found)


def cli_env(settings) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": str(settings.secret_key),
    }


# Patients and proxies download ------------------------------------------------------------------


def test_a_visit_summary_shows_name_birth_date_visit_date_and_vitals(
    client, session, tmp_path, infant, first_visit
) -> None:
    log_in(client, session, parent_of(session, infant))

    response = client.get(f"/p/{infant.public_id}/print/visit/{first_visit}")

    text_ = "\n".join(pages_of(tmp_path, response.content))
    assert "Mia Rose Sample" in text_ and "March 2, 2026" in text_
    assert "March 9, 2026" in text_
    assert "3.45 kg" in text_ and "50.5 cm" in text_ and "35 cm" in text_
    assert "Vitamin D drops" in text_ and "Started" in text_


def test_a_download_is_a_no_store_attachment_that_names_no_one(client, session, infant, first_visit) -> None:
    log_in(client, session, parent_of(session, infant))

    response = client.get(f"/p/{infant.public_id}/print/visit/{first_visit}")

    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == 'attachment; filename="visit-summary.pdf"'
    assert response.headers["cache-control"] == "no-store"


def test_each_download_is_audited(client, session, infant, first_visit) -> None:
    parent = parent_of(session, infant)
    log_in(client, session, parent)

    client.get(f"/p/{infant.public_id}/print/visit/{first_visit}")
    client.get(f"/p/{infant.public_id}/print/summary")
    client.get(f"/p/{infant.public_id}/print/immunizations")

    downloads = events(session, "download")
    assert [(e.resource_type, e.patient_id, e.actor_person_id) for e in downloads] == [
        ("Encounter", infant.id, parent.id),
        ("RecordSummary", infant.id, parent.id),
        ("ImmunizationRecord", infant.id, parent.id),
    ]


def test_another_patients_visit_is_not_found_under_this_chart(client, session, tmp_path, app, infant) -> None:
    resources = patient_resources(random.Random(), visits=1)
    importer.import_paths(app.state.engine, [write_bundle(tmp_path / "other.json", resources)])
    other_visit = next(r["id"] for r in resources if r["resourceType"] == "Encounter")
    other_public_id = session.exec(select(Encounter.public_id).where(Encounter.fhir_id == other_visit)).one()
    session.commit()
    log_in(client, session, parent_of(session, infant))

    response = client.get(f"/p/{infant.public_id}/print/visit/{other_public_id}")

    assert response.status_code == 404
    assert [e.outcome for e in events(session, "download")] == ["denied"]


def test_a_limited_proxy_pdf_leaves_out_a_confidential_result(
    client, session, tmp_path, infant, first_visit
) -> None:
    log_in(client, session, parent_of(session, infant, level="limited"))

    visit = pages_of(tmp_path, client.get(f"/p/{infant.public_id}/print/visit/{first_visit}").content)
    summary = pages_of(tmp_path, client.get(f"/p/{infant.public_id}/print/summary").content)

    assert "Bilirubin" in "".join(visit)
    assert "Hepatitis B surface antigen" not in "".join(visit) + "".join(summary)


def test_a_full_proxy_pdf_shows_the_confidential_result(
    client, session, tmp_path, infant, first_visit
) -> None:
    log_in(client, session, parent_of(session, infant))

    visit = pages_of(tmp_path, client.get(f"/p/{infant.public_id}/print/visit/{first_visit}").content)

    assert "Hepatitis B surface antigen" in "".join(visit)


def test_a_patients_own_download_carries_no_activation_code(
    client, session, tmp_path, infant, first_visit
) -> None:
    log_in(client, session, parent_of(session, infant))

    pages = pages_of(tmp_path, client.get(f"/p/{infant.public_id}/print/visit/{first_visit}").content)

    assert "activation code" not in "".join(pages)
    assert events(session, "code-issued") == []


def test_the_immunization_record_lists_each_vaccine_with_its_dates(client, session, tmp_path, infant) -> None:
    log_in(client, session, parent_of(session, infant))

    pages = pages_of(tmp_path, client.get(f"/p/{infant.public_id}/print/immunizations").content)

    text_ = "".join(pages)
    assert "Immunization record" in text_
    assert "IPV" in text_ and "May 4, 2026; July 6, 2026" in text_


def test_the_record_summary_shows_growth_centiles_for_a_child(client, session, tmp_path, infant) -> None:
    log_in(client, session, parent_of(session, infant))

    pages = pages_of(tmp_path, client.get(f"/p/{infant.public_id}/print/summary").content)

    text_ = "".join(pages)
    assert "Amoxicillin" in text_ and "Vitamin D drops" in text_
    assert "Growth" in text_ and "Centile" in text_


def test_the_print_page_links_each_document(client, session, infant, first_visit) -> None:
    log_in(client, session, parent_of(session, infant))

    page = client.get(f"/p/{infant.public_id}/print")

    assert page.status_code == 200
    assert f"/p/{infant.public_id}/print/visit/{first_visit}" in page.text
    assert f"/p/{infant.public_id}/print/immunizations" in page.text
    assert 'aria-current="page"' in page.text


# Staff ----------------------------------------------------------------------------------------------


def staff_member(session, role: str) -> Person:
    return make_person(session, display_name=f"Staff {role}", staff_role=role)


def test_a_days_batch_has_exactly_one_patient_per_page(client, session, tmp_path, day_of_visits) -> None:
    log_in(client, session, staff_member(session, "clinician"))

    response = form_post(client, "/staff/print/day", {"date": VISIT_DAY, "provider": ""})

    pages = pages_of(tmp_path, response.content)
    headers = [page.strip().splitlines()[0] for page in pages]
    assert all(sum(name in header for name in day_of_visits) == 1 for header in headers)
    assert {name for name in day_of_visits if any(name in h for h in headers)} == set(day_of_visits)
    assert len([h for h in headers if "Lindqvist" in h]) >= 3  # the long note runs on


def test_each_patient_in_a_batch_has_their_own_page_n_of_m(client, session, tmp_path, day_of_visits) -> None:
    log_in(client, session, staff_member(session, "clinician"))

    response = form_post(client, "/staff/print/day", {"date": VISIT_DAY})

    pages = pages_of(tmp_path, response.content)
    for name in day_of_visits:
        theirs = [p for p in pages if name in p.strip().splitlines()[0]]
        assert theirs and all(f"Page {n} of {len(theirs)}" in page for n, page in enumerate(theirs, 1))


def test_a_days_batch_is_audited_once_per_patient(client, session, day_of_visits) -> None:
    staff = staff_member(session, "front_desk")
    log_in(client, session, staff)

    form_post(client, "/staff/print/day", {"date": VISIT_DAY})

    prints = events(session, "print")
    assert len(prints) == 3 and len({e.patient_id for e in prints}) == 3
    assert all(e.actor_person_id == staff.id and e.route == "staff_print_day" for e in prints)


def test_a_day_can_be_narrowed_to_one_provider(client, session, tmp_path, day_of_visits) -> None:
    log_in(client, session, staff_member(session, "clinician"))

    page = client.get(f"/staff/print?date={VISIT_DAY}")
    response = form_post(client, "/staff/print/day", {"date": VISIT_DAY, "provider": INFANT_DOCTOR})

    assert "Dr. Ada Okafor" in page.text and page.text.count("<option") == 4
    text_ = "".join(pages_of(tmp_path, response.content))
    assert "Mia Rose Sample" in text_ and "Okonkwo" not in text_ and "Lindqvist" not in text_


def test_a_staff_print_gives_a_patient_without_an_account_an_activation_code(
    client, session, tmp_path, infant
) -> None:
    log_in(client, session, staff_member(session, "front_desk"))

    response = form_post(client, "/staff/print/visit", {"encounter": FIRST_VISIT})

    text_ = "".join(pages_of(tmp_path, response.content))
    assert "activation code" in text_ and "https://localhost:8000/activate" in text_
    assert [e.patient_id for e in events(session, "code-issued")] == [infant.id]


def test_a_staff_print_for_a_patient_with_an_account_has_no_code(client, session, tmp_path, infant) -> None:
    account = make_person(session, display_name="Mia's own account")
    infant.person_id = account.id
    session.add(infant)
    session.commit()
    log_in(client, session, staff_member(session, "front_desk"))

    response = form_post(client, "/staff/print/visit", {"encounter": FIRST_VISIT})

    assert "activation code" not in "".join(pages_of(tmp_path, response.content))
    assert events(session, "code-issued") == []


def test_staff_printing_is_closed_to_other_roles_and_to_patients(client, session, infant) -> None:
    log_in(client, session, staff_member(session, "billing"))

    response = form_post(client, "/staff/print/visit", {"encounter": FIRST_VISIT})

    assert response.status_code == 403
    assert events(session, "print") == []


def test_an_unknown_visit_or_a_bad_date_gets_a_clear_message(client, session, infant) -> None:
    log_in(client, session, staff_member(session, "clinician"))

    unknown = form_post(client, "/staff/print/visit", {"encounter": "no-such-visit"})
    bad_date = form_post(client, "/staff/print/day", {"date": "21/11/2026"})

    assert unknown.status_code == 404 and "No visit has that ID" in unknown.text
    assert bad_date.status_code == 400 and "YYYY-MM-DD" in bad_date.text


@pytest.mark.parametrize(("paper", "expected"), [("A4", "(A4)"), ("Letter", "(letter)")])
def test_the_clinics_paper_size_is_used(app, client, session, tmp_path, infant, paper, expected) -> None:
    app.state.settings = app.state.settings.with_overrides(paper_size=paper)
    log_in(client, session, staff_member(session, "clinician"))

    response = form_post(client, "/staff/print/visit", {"encounter": FIRST_VISIT})

    assert expected in page_size(tmp_path, response.content)


# The command line -----------------------------------------------------------------------------------


def test_cli_prints_one_visit_summary_and_audits_it(settings, session, tmp_path, infant) -> None:
    output = tmp_path / "visit.pdf"

    result = CliRunner().invoke(
        main, ["print", "visit-summary", FIRST_VISIT, "-o", str(output)], env=cli_env(settings)
    )

    assert result.exit_code == 0, result.output
    assert "3.45 kg" in "".join(pages_of(tmp_path, output.read_bytes()))
    assert [(e.route, e.actor_person_id) for e in events(session, "print")] == [
        ("cli:print_visit_summary", None)
    ]


def test_cli_prints_a_providers_day(settings, session, tmp_path, day_of_visits) -> None:
    output = tmp_path / "day.pdf"

    result = CliRunner().invoke(
        main,
        ["print", "day", "--date", VISIT_DAY, "--provider", INFANT_DOCTOR, "-o", str(output)],
        env=cli_env(settings),
    )

    assert result.exit_code == 0, result.output
    headers = {p.strip().splitlines()[0] for p in pages_of(tmp_path, output.read_bytes())}
    assert all("Mia Rose Sample" in h for h in headers)
    assert [e.route for e in events(session, "print")] == ["cli:print_day"]


def test_cli_refuses_an_unknown_visit(settings, tmp_path, infant) -> None:
    result = CliRunner().invoke(
        main, ["print", "visit-summary", "nope", "-o", str(tmp_path / "x.pdf")], env=cli_env(settings)
    )

    assert result.exit_code != 0
    assert "no visit has that FHIR id" in result.output
    assert not (tmp_path / "x.pdf").exists()


def test_cli_refuses_a_malformed_date(settings, tmp_path, infant) -> None:
    result = CliRunner().invoke(
        main, ["print", "day", "--date", "2026-13-01", "-o", str(tmp_path / "x.pdf")], env=cli_env(settings)
    )

    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_cli_says_when_a_day_has_nothing_to_print(settings, tmp_path, infant) -> None:
    result = CliRunner().invoke(
        main, ["print", "day", "--date", "2001-01-01", "-o", str(tmp_path / "x.pdf")], env=cli_env(settings)
    )

    assert result.exit_code == 1
    assert "no visits to print" in result.output


# The practitioner link ------------------------------------------------------------------------------


def test_an_import_links_each_visit_to_its_practitioner(session, infant) -> None:
    linked = session.exec(
        select(Encounter.practitioner_resource_id).where(Encounter.patient_id == infant.id)
    ).all()
    session.commit()

    assert len(linked) == 4 and len(set(linked)) == 1 and linked[0] is not None


def test_the_migration_links_visits_imported_before_it(app, session, infant) -> None:
    spec = importlib.util.spec_from_file_location("printing_migration", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with app.state.engine.begin() as connection:
        connection.execute(text("UPDATE encounter SET practitioner_resource_id = NULL"))

    with app.state.engine.begin() as connection:
        migration.backfill(connection)

    linked = session.exec(select(Encounter.practitioner_resource_id)).all()
    session.commit()
    assert len(linked) == 4 and None not in linked


# Large batches: a job the worker prints --------------------------------------------------------------


@pytest.fixture
def small_batches(monkeypatch):
    from portal.services.printing import staff

    monkeypatch.setattr(staff, "BATCH_IN_REQUEST", 2)


def test_a_large_day_becomes_a_job_with_a_progress_page(
    client, session, day_of_visits, small_batches
) -> None:
    log_in(client, session, staff_member(session, "clinician"))

    response = form_post(client, "/staff/print/day", {"date": VISIT_DAY}, follow_redirects=False)
    page = client.get(response.headers["location"])

    assert response.status_code == 303 and "/staff/print/jobs/" in response.headers["location"]
    assert '<meta http-equiv="refresh"' in page.text and "<progress" in page.text
    assert events(session, "print") == []  # nothing printed until the worker runs


def test_the_worker_prints_the_job_and_staff_download_it(
    app, client, session, tmp_path, day_of_visits, small_batches
) -> None:
    from portal import worker

    staff = staff_member(session, "front_desk")
    log_in(client, session, staff)
    job_url = form_post(client, "/staff/print/day", {"date": VISIT_DAY}, follow_redirects=False).headers[
        "location"
    ]

    worker.run_rounds(app.state.engine, app.state.settings, once=True)
    page = client.get(job_url)
    pdf = client.get(job_url + "/pdf")

    assert "Download the PDF" in page.text and "refresh" not in page.text
    headers = [p.strip().splitlines()[0] for p in pages_of(tmp_path, pdf.content)]
    assert all(sum(name in h for name in day_of_visits) == 1 for h in headers)
    prints = events(session, "print")
    assert len(prints) == 3 and {e.route for e in prints} == {"worker:print_day"}
    assert {e.actor_person_id for e in prints} == {staff.id}


def test_a_job_is_only_for_the_staff_member_who_asked(client, session, day_of_visits, small_batches) -> None:
    log_in(client, session, staff_member(session, "clinician"))
    job_url = form_post(client, "/staff/print/day", {"date": VISIT_DAY}, follow_redirects=False).headers[
        "location"
    ]
    log_in(client, session, make_person(session, display_name="Other", staff_role="clinician"))

    response = client.get(job_url)

    assert response.status_code == 404


def test_a_visit_summary_lists_the_patients_next_visits(
    app, client, session, tmp_path, infant, first_visit
) -> None:
    upcoming = {
        "resourceType": "Encounter",
        "id": "upcoming-visit",
        "status": "planned",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [_concept("http://snomed.info/sct", "410620009", "Well child visit")],
        "subject": {"reference": "Patient/97ee3c8a-7b47-5931-8347-d7917044d7f8"},
        "period": {"start": "2099-01-05T09:00:00-05:00"},
    }
    importer.import_paths(app.state.engine, [write_bundle(tmp_path / "next.json", [upcoming])])
    log_in(client, session, parent_of(session, infant))

    pages = pages_of(tmp_path, client.get(f"/p/{infant.public_id}/print/visit/{first_visit}").content)

    text_ = "".join(pages)
    assert "Your next visits:" in text_ and "January 5, 2099" in text_


def test_a_blood_pressure_prints_as_systolic_over_diastolic(app, client, session, tmp_path) -> None:
    resources = same_day_patient(tmp_path, "Pressure")
    importer.import_paths(app.state.engine, [tmp_path / "Pressure.json"])
    visit = next(r["id"] for r in resources if r["resourceType"] == "Encounter")
    log_in(client, session, staff_member(session, "clinician"))

    response = form_post(client, "/staff/print/visit", {"encounter": visit})

    text_ = "".join(pages_of(tmp_path, response.content))
    assert re.search(r"Blood pressure\s+\d{2,3}/\d{2} mmHg", text_)  # the plain name, not "... panel"


def test_a_clinician_prints_the_summary_from_the_patients_visit_page(
    client, session, tmp_path, infant
) -> None:
    log_in(client, session, staff_member(session, "clinician"))
    visit = session.exec(select(Encounter).where(Encounter.fhir_id == FIRST_VISIT)).one()
    session.commit()
    page = client.get(f"/p/{infant.public_id}/visits/{visit.public_id}")
    form = re.search(
        r'<form method="post" action="(/staff/print/visit)">.*?name="encounter" value="([^"]+)"',
        page.text,
        re.S,
    )

    response = form_post(client, form.group(1), {"encounter": form.group(2)})

    assert "Mia Rose Sample" in page.text[page.text.index("Print visit summary") :]
    assert response.headers["content-type"] == "application/pdf"
    assert "Mia Rose Sample" in "".join(pages_of(tmp_path, response.content))
    assert [e.patient_id for e in events(session, "print")] == [infant.id]


def test_a_patient_sees_no_staff_print_button_on_their_visit_page(client, session, infant) -> None:
    account = make_person(session, display_name="Mia's own account")
    infant.person_id = account.id
    session.add(infant)
    visit = session.exec(select(Encounter).where(Encounter.fhir_id == FIRST_VISIT)).one()
    session.commit()
    log_in(client, session, account)

    page = client.get(f"/p/{infant.public_id}/visits/{visit.public_id}")

    assert page.status_code == 200
    assert "/staff/print/visit" not in page.text and "visit summary (PDF)" in page.text
