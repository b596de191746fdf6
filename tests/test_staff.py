"""Staff accounts: `portal staff add`, the single-use enrolment link, and the front desk's screen."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlmodel import select

from portal.cli import main
from portal.models import AuditEvent, LoginSession, OneTimeCode, Passkey, Patient, Person
from portal.models.base import utcnow
from tests.conftest import ORIGIN, form_post, log_in, make_patient, make_person, reload
from tests.identity_helpers import activate, issue_code, json_post
from tests.webauthn_authenticator import SoftAuthenticator

BIRTH = date(1990, 12, 10)


def cli(settings, *args: str):
    env = {
        "DATABASE_URL": settings.database_url,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": str(settings.secret_key),
        "PORTAL_ORIGIN": ORIGIN,
    }
    return CliRunner().invoke(main, list(args), env=env)


def staff_link(settings, email: str = "nurse@clinic.example", role: str = "clinician") -> str:
    result = cli(settings, "staff", "add", email, "--role", role)
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[-1]


def enrol(client, link: str, authenticator: SoftAuthenticator | None = None):
    path = link.removeprefix(ORIGIN)
    options = json_post(client, path + "/options")
    if options.status_code != 200:
        return options
    credential = (authenticator or SoftAuthenticator()).create(options.json(), origin=ORIGIN)
    return json_post(client, "/enrol-finish", {"credential": credential})


def test_staff_add_prints_a_single_use_enrolment_link(settings, session) -> None:
    link = staff_link(settings)

    assert re.fullmatch(rf"{ORIGIN}/enrol/[2-9A-HJ-NP-Z]{{24}}", link)
    person = session.exec(select(Person)).one()
    assert person.staff_role == "clinician" and person.email == "nurse@clinic.example"


def test_enrolment_link_lasts_72_hours(settings, session) -> None:
    staff_link(settings)

    stored = session.exec(select(OneTimeCode)).one()

    assert timedelta(hours=71, minutes=59) < stored.expires_at - utcnow() <= timedelta(hours=72)


def test_staff_add_refuses_an_unknown_role(settings) -> None:
    result = cli(settings, "staff", "add", "x@clinic.example", "--role", "superuser")

    assert result.exit_code != 0 and "front_desk" in result.output


def test_staff_add_refuses_an_email_already_in_use(settings) -> None:
    staff_link(settings)

    result = cli(settings, "staff", "add", "nurse@clinic.example", "--role", "billing")

    assert result.exit_code != 0 and "already exists" in result.output


def test_enrolment_creates_a_passkey_and_signs_in(client, settings, session) -> None:
    link = staff_link(settings)

    response = enrol(client, link)

    assert response.json() == {"redirect": "/?welcome=1"}  # a new account lands on its family or summary
    assert "nurse" in client.get("/account").text
    assert len(session.exec(select(Passkey)).all()) == 1


def test_enrolment_link_works_once(client, settings, session) -> None:
    link = staff_link(settings)
    enrol(client, link)
    client.cookies.clear()

    response = enrol(client, link)

    assert response.status_code == 400
    assert "can't be used" in response.json()["error"]


def test_expired_enrolment_link_is_refused(client, settings, session) -> None:
    link = staff_link(settings)
    stored = session.exec(select(OneTimeCode)).one()
    stored.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()

    response = enrol(client, link)

    assert response.status_code == 400
    assert session.exec(select(LoginSession)).all() == []


def test_enrolment_page_offers_the_passkey_button(client, settings) -> None:
    link = staff_link(settings)

    page = client.get(link.removeprefix(ORIGIN)).text

    assert "Create your passkey</button>" in page


# ---------------------------------------------------------------------------------------- front desk


@pytest.mark.parametrize("role", ["front_desk", "admin"])
def test_front_desk_issues_an_activation_code_that_works(client, session, role) -> None:
    patient = make_patient(
        session, fhir_id="pat-7", given_name="Noor", family_name="Inayat", birth_date=BIRTH
    )
    log_in(client, session, make_person(session, staff_role=role, email=f"{role}@clinic.example"))

    page = form_post(client, "/front-desk/activation-code", {"patient": "pat-7"}).text
    code = re.search(r'<p class="code">([A-Z0-9-]+)</p>', page).group(1)
    client.cookies.clear()

    assert "Noor Inayat" in page
    assert activate(client, code, BIRTH).status_code == 200
    assert reload(session, Patient, patient.id).person_id is not None


def test_front_desk_issuing_is_audited_with_the_staff_member(client, session) -> None:
    patient = make_patient(session, fhir_id="pat-8")
    staff = make_person(session, staff_role="front_desk", email="desk@clinic.example")
    log_in(client, session, staff)

    form_post(client, "/front-desk/activation-code", {"patient": "pat-8"})

    event = session.exec(select(AuditEvent).where(AuditEvent.action == "code-issued")).one()
    assert (event.actor_person_id, event.patient_id, event.actor_role) == (staff.id, patient.id, "front_desk")


def test_front_desk_says_clearly_when_no_patient_has_the_id(client, session) -> None:
    log_in(client, session, make_person(session, staff_role="front_desk"))

    response = form_post(client, "/front-desk/activation-code", {"patient": "nobody"})

    assert response.status_code == 400 and "No patient has that ID" in response.text


@pytest.mark.parametrize("action", ["activation-code", "reset"])
def test_front_desk_offers_a_deceased_patient_no_activation_code(client, session, action) -> None:
    make_patient(session, fhir_id="pat-late", deceased=True)
    log_in(client, session, make_person(session, staff_role="front_desk"))

    response = form_post(client, f"/front-desk/{action}", {"patient": "pat-late"})

    assert response.status_code == 400 and "recorded as deceased" in response.text
    assert 'class="code"' not in response.text
    assert session.exec(select(OneTimeCode)).all() == []


@pytest.mark.parametrize("role", ["clinician", "billing", None])
def test_front_desk_is_only_for_front_desk_and_admin(client, session, role) -> None:
    make_patient(session, fhir_id="pat-9")
    log_in(client, session, make_person(session, staff_role=role))

    response = form_post(client, "/front-desk/activation-code", {"patient": "pat-9"})

    assert response.status_code == 403
    assert session.exec(select(OneTimeCode)).all() == []


def test_staff_reset_removes_sign_in_and_issues_a_new_code(client, session) -> None:
    patient = make_patient(session, fhir_id="pat-10", birth_date=BIRTH)
    staff = make_person(session, staff_role="front_desk", email="desk@clinic.example")
    log_in(client, session, staff)
    first = form_post(client, "/front-desk/activation-code", {"patient": "pat-10"}).text
    code = re.search(r'<p class="code">([A-Z0-9-]+)</p>', first).group(1)
    client.cookies.clear()
    activate(client, code, BIRTH)
    patient_login = reload(session, Patient, patient.id)
    log_in(client, session, staff)

    page = form_post(client, "/front-desk/reset", {"patient": "pat-10"}).text

    new_code = re.search(r'<p class="code">([A-Z0-9-]+)</p>', page).group(1)
    assert new_code != code
    owned = session.exec(select(Passkey).where(Passkey.person_id == patient_login.person_id)).all()
    live = session.exec(
        select(LoginSession).where(
            LoginSession.person_id == patient_login.person_id, LoginSession.revoked_at.is_(None)
        )
    ).all()
    assert owned == [] and live == []
    assert (
        session.exec(select(AuditEvent).where(AuditEvent.action == "staff-reset")).one().actor_person_id
        == staff.id
    )


def test_after_a_reset_the_new_code_adds_a_passkey_to_the_same_person(client, session) -> None:
    patient = make_patient(session, fhir_id="pat-11", birth_date=BIRTH)
    staff = make_person(session, staff_role="admin", email="admin@clinic.example")
    activate(client, issue_code(session, patient), BIRTH)
    person_id = reload(session, Patient, patient.id).person_id
    log_in(client, session, staff)
    page = form_post(client, "/front-desk/reset", {"patient": "pat-11"}).text
    code = re.search(r'<p class="code">([A-Z0-9-]+)</p>', page).group(1)
    client.cookies.clear()

    response = activate(client, code, BIRTH)

    assert response.status_code == 200
    assert reload(session, Patient, patient.id).person_id == person_id


def test_front_desk_finds_a_patient_by_family_name_and_birth_date(client, session) -> None:
    make_patient(session, fhir_id="pat-12", given_name="Mae", family_name="Jemison", birth_date=BIRTH)
    make_patient(session, fhir_id="pat-13", given_name="Sally", family_name="Ride", birth_date=BIRTH)
    make_patient(
        session, fhir_id="pat-14", given_name="Mae", family_name="Jemison", birth_date=date(2001, 1, 1)
    )
    staff = make_person(session, staff_role="front_desk", email="desk@clinic.example")
    log_in(client, session, staff)

    page = form_post(client, "/front-desk/search", {"family": "jem", "birth_date": str(BIRTH)}).text

    assert "pat-12" in page and "pat-13" not in page and "pat-14" not in page
    views = session.exec(select(AuditEvent).where(AuditEvent.action == "view")).all()
    assert [(v.actor_person_id, v.resource_id) for v in views] == [(staff.id, "pat-12")]


def test_front_desk_search_needs_both_fields(client, session) -> None:
    log_in(client, session, make_person(session, staff_role="front_desk"))

    response = form_post(client, "/front-desk/search", {"family": "", "birth_date": str(BIRTH)})

    assert response.status_code == 400 and "family name and date of birth" in response.text


def test_front_desk_search_is_for_front_desk_only(client, session) -> None:
    make_patient(session, fhir_id="pat-15", family_name="Jemison", birth_date=BIRTH)
    log_in(client, session, make_person(session))

    response = form_post(client, "/front-desk/search", {"family": "jem", "birth_date": str(BIRTH)})

    assert response.status_code == 403 and "pat-15" not in response.text


def test_staff_reset_removes_passkeys_and_prints_a_new_link(client, settings, session) -> None:
    enrol(client, staff_link(settings))

    result = cli(settings, "staff", "reset", "nurse@clinic.example")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith(f"{ORIGIN}/enrol/")
    assert client.get("/account", follow_redirects=False).status_code == 303
    assert session.exec(select(Passkey)).all() == []


def test_staff_reset_refuses_an_unknown_email(settings) -> None:
    result = cli(settings, "staff", "reset", "nobody@clinic.example")

    assert result.exit_code != 0 and "no staff account" in result.output
