"""Check-in for a booked appointment: offered on the summary page and by mail from seven days before, sent
check-ins mark the visit "checked in online" on the staff day view, and a first visit the front desk books
for a patient without an account shows the patient's activation code on the desk's confirmation."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlmodel import Session, select

from portal import worker
from portal.models import (
    Allergy,
    AuditEvent,
    CheckIn,
    CheckInChange,
    CheckInOffer,
    Encounter,
    MedicationRequest,
    OneTimeCode,
    OutboxMail,
    ProxyGrant,
)
from portal.models.base import utcnow
from portal.models.scheduling import Appointment, ClinicLocation, Provider
from portal.services.due import reminders
from portal.services.identity.codes import find_code
from tests.conftest import form_post, log_in, make_patient, make_person
from tests.scheduling_helpers import booked_visit, calendar
from tests.test_registration import add_row, fill_all
from tests.test_registration_offers import body_of, outbox

OFFER_SUBJECT = "Check in for your visit"
OFFER = 'class="checkin-offer"'  # the summary page's "Check in for your visit" link
CODE = re.compile(r'<p class="code">([A-Z0-9-]+)</p>')


@pytest.fixture(autouse=True)
def no_due_reminders(monkeypatch) -> None:
    """The worker's round also mails "something is due" reminders; these tests read the offers alone."""
    monkeypatch.setattr(reminders, "send_due_reminders", lambda engine, settings: 0)


def years_ago(years: int) -> date:
    today = date.today()
    return today.replace(year=today.year - years, day=min(today.day, 28))


def toddler_family(session: Session):
    """A parent (full access) of a two-year-old with a medicine and an allergy on record."""
    parent = make_person(session, display_name="Rosa Rivera", email="rosa@example.test")
    child = make_patient(session, given_name="Ana", family_name="Rivera", birth_date=years_ago(2))
    session.add(
        ProxyGrant(
            proxy_person_id=parent.id, patient_id=child.id, relationship="parent", starts_on=years_ago(2)
        )
    )
    session.commit()
    add_row(session, child, MedicationRequest, "MedicationRequest", display="Amoxicillin", status="active")
    add_row(session, child, Allergy, "AllergyIntolerance", display="Peanut", status="active")
    return parent, child


def book_first_open_time(client, patient_id: str):
    """Book the soonest open "sick" visit through the booking page, as whoever is signed in."""
    page = client.get(f"/p/{patient_id}/appointments/book?type=sick")
    times = re.findall(r'name="time" value="([^"]+)"', page.text)
    assert times, "no open times offered"
    return form_post(client, f"/p/{patient_id}/appointments/book", {"type": "sick", "time": times[0]})


def only_appointment(session: Session) -> tuple[int, str, str, object]:
    appointment = session.exec(select(Appointment)).one()
    found = (appointment.id, appointment.public_id, appointment.fhir_id, appointment.start_at)
    session.commit()
    return found


def test_a_visit_booked_in_the_portal_is_offered_for_check_in_within_the_window_and_not_before(
    client, session, settings
) -> None:
    calendar(session, settings)
    parent, child = toddler_family(session)
    child_id = child.public_id
    log_in(client, session, parent)
    booked = book_first_open_time(client, child_id)
    assert booked.status_code == 200 and "Your visit is booked" in booked.text
    appointment_id, _, _, start = only_appointment(session)
    assert start - utcnow() < timedelta(days=settings.checkin_opens_days), "the soonest time is this week"

    summary = client.get(f"/p/{child_id}/summary")
    assert summary.status_code == 200 and OFFER in summary.text
    assert "Step 1 of 5" in client.get(f"/p/{child_id}/checkin/details").text

    appointment = session.get(Appointment, appointment_id)
    assert appointment is not None
    appointment.start_at = utcnow() + timedelta(days=settings.checkin_opens_days + 3)
    appointment.end_at = appointment.start_at + timedelta(minutes=20)
    session.add(appointment)
    session.commit()

    later = client.get(f"/p/{child_id}/summary")
    assert later.status_code == 200 and OFFER not in later.text
    too_early = form_post(client, f"/p/{child_id}/checkin/details", {"given_name": "Ana"})
    assert "Check-in opens on" in too_early.text
    assert session.exec(select(CheckIn)).all() == []
    session.commit()


def test_the_worker_offers_check_in_for_an_appointment_once_without_details(app, session, settings) -> None:
    calendar(session, settings)
    parent, child = toddler_family(session)
    appointment = booked_visit(session, child, days_ahead=3, reason="Cough since Tuesday")
    appointment.source = "staff"  # booked by the front desk: offered the same way
    session.add(appointment)
    session.flush()
    # The EHR's Encounter for the same visit (same start) must not make a second offer.
    add_row(
        session,
        child,
        Encounter,
        "Encounter",
        display="Sick visit",
        status="planned",
        start_at=appointment.start_at,
    )
    provider = session.get(Provider, appointment.provider_id)
    assert provider is not None
    provider_name, key = provider.name, f"appointment:{appointment.id}"
    session.commit()

    worker.run_round(app.state.engine, app.state.settings)
    worker.run_round(app.state.engine, app.state.settings)

    offers = [mail for mail in outbox(app) if mail["Subject"] == OFFER_SUBJECT]
    assert [mail["To"] for mail in offers] == ["rosa@example.test"]
    body = body_of(offers[0])
    assert "check in for your visit in your portal" in body
    for detail in ("Cough", "Sick", provider_name, "Ana", "Rivera"):
        assert detail not in body
    assert [row.visit_key for row in session.exec(select(CheckInOffer))] == [key]
    session.commit()


def test_sending_a_check_in_marks_the_appointment_and_the_day_view_says_checked_in_online(
    client, session, settings
) -> None:
    calendar(session, settings)
    parent, child = toddler_family(session)
    child_id = child.public_id
    desk = make_person(session, display_name="Desk Clerk", staff_role="front_desk")
    doctor = make_person(session, display_name="Dr Who", staff_role="clinician")
    log_in(client, session, parent)
    book_first_open_time(client, child_id)
    appointment_id, _, _, start = only_appointment(session)

    fill_all(client, child)
    sent = form_post(client, f"/p/{child_id}/checkin/submit")

    assert sent.status_code == 200 and "sent to the clinic" in sent.text
    checkin = session.exec(select(CheckIn)).one()
    assert (checkin.appointment_id, checkin.visit_key) == (appointment_id, f"appointment:{appointment_id}")
    appointment = session.get(Appointment, appointment_id)
    assert appointment is not None and appointment.checked_in_at is not None
    provider = session.get(Provider, appointment.provider_id)
    place = session.get(ClinicLocation, appointment.location_id)
    assert provider is not None and place is not None
    day = start.astimezone(settings.timezone).date().isoformat()
    day_url = f"/staff/schedule?day={day}&provider={provider.public_id}&location={place.public_id}"
    session.commit()
    assert OFFER not in client.get(f"/p/{child_id}/summary").text  # nothing more to offer

    log_in(client, session, desk)
    view = client.get(day_url)
    assert view.status_code == 200 and "Ana Rivera" in view.text
    assert "checked in online" in view.text
    assert f'href="/front-desk/registration/{child_id}"' in view.text
    log_in(client, session, doctor)
    seen = client.get(day_url)
    assert "checked in online" in seen.text
    assert "/front-desk/registration/" not in seen.text  # a clinician does not review check-ins


def test_a_first_visit_the_desk_books_shows_a_fresh_activation_code_and_none_once_there_is_an_account(
    client, session, settings
) -> None:
    calendar(session, settings)
    desk = make_person(session, display_name="Desk Clerk", staff_role="front_desk")
    new_patient = make_patient(session, given_name="Nina", family_name="Novak", birth_date=date(1990, 3, 4))
    known_person = make_person(session, display_name="Omar Ortiz", email="omar@example.test")
    known = make_patient(
        session,
        given_name="Omar",
        family_name="Ortiz",
        birth_date=date(1985, 1, 2),
        person_id=known_person.id,
    )
    new_id, new_db_id, desk_id = new_patient.public_id, new_patient.id, desk.id
    known_id, known_db_id = known.public_id, known.id
    log_in(client, session, desk)

    confirmation = book_first_open_time(client, new_id)

    assert confirmation.status_code == 200 and "Your visit is booked" in confirmation.text
    assert "Give this code to the patient" in confirmation.text
    assert confirmation.url.path == f"/p/{new_id}/appointments/book"  # shown in the answer, not a URL
    found = CODE.search(confirmation.text)
    assert found is not None
    code = found.group(1)
    session.expire_all()
    issued = find_code(session, kind="activation", typed=code)
    assert issued is not None and issued.patient_id == new_db_id and issued.issued_by_person_id == desk_id
    assert all(code not in mail.body for mail in session.exec(select(OutboxMail)))
    audited = session.exec(
        select(AuditEvent).where(AuditEvent.action == "code-issued", AuditEvent.patient_id == new_db_id)
    ).all()
    assert [event.actor_person_id for event in audited] == [desk_id]
    session.commit()

    other = book_first_open_time(client, known_id)

    assert other.status_code == 200 and "Your visit is booked" in other.text
    assert "Give this code to the patient" not in other.text and CODE.search(other.text) is None
    assert session.exec(select(OneTimeCode).where(OneTimeCode.patient_id == known_db_id)).all() == []
    session.commit()


def test_a_patient_who_booked_online_gets_no_code_and_nor_does_one_who_already_activated(
    client, session, settings
) -> None:
    calendar(session, settings)
    parent, child = toddler_family(session)
    child_id = child.public_id
    log_in(client, session, parent)
    assert "Give this code" not in book_first_open_time(client, child_id).text
    assert session.exec(select(OneTimeCode)).all() == []
    desk = make_person(session, display_name="Desk Clerk", staff_role="front_desk")
    used = make_patient(session, given_name="Uma", family_name="Used", birth_date=date(1970, 1, 1))
    used_id = used.public_id
    session.add(
        OneTimeCode(
            kind="activation",
            selector="x",
            code_hash="x",
            patient_id=used.id,
            expires_at=utcnow(),
            used_at=utcnow(),
        )
    )
    session.commit()
    log_in(client, session, desk)

    booked = book_first_open_time(client, used_id)

    assert booked.status_code == 200 and "Give this code" not in booked.text
    session.commit()


def test_a_limited_proxy_never_sees_a_teens_confidential_visit_or_answers(client, session, settings) -> None:
    calendar(session, settings)
    parent = make_person(session, display_name="Rosa Rivera", email="rosa@example.test")
    teen_person = make_person(session, display_name="Tina Rivera", email="tina@example.test")
    born = years_ago(15) - timedelta(days=10)
    teen = make_patient(
        session, given_name="Tina", family_name="Rivera", birth_date=born, person_id=teen_person.id
    )
    session.add(
        ProxyGrant(proxy_person_id=parent.id, patient_id=teen.id, relationship="parent", starts_on=born)
    )
    session.commit()
    secret = booked_visit(session, teen, days_ahead=2, confidential=True)
    teen_id, secret_id = teen.public_id, secret.id
    session.commit()

    log_in(client, session, teen_person)
    assert OFFER in client.get(f"/p/{teen_id}/summary").text
    page = client.get(f"/p/{teen_id}/checkin/forms").text
    fields = set(re.findall(r'name="(q\d+:phq\.\d)"', page))
    assert len(fields) == 9
    assert form_post(client, f"/p/{teen_id}/checkin/forms", dict.fromkeys(fields, "2")).status_code in (
        200,
        400,
    )
    checkin = session.exec(select(CheckIn)).one()
    assert checkin.appointment_id == secret_id
    session.commit()

    log_in(client, session, parent)
    summary = client.get(f"/p/{teen_id}/summary").text
    assert OFFER not in summary
    checkin_page = client.get(f"/p/{teen_id}/checkin")
    assert checkin_page.status_code == 200 and "no upcoming visit" in checkin_page.text
    forms = client.get(f"/p/{teen_id}/checkin/forms").text
    assert "Little interest or pleasure" not in forms and 'value="2" checked' not in forms

    # An ordinary visit later on is the parent's to check in for; the teen's PHQ-9 stays private.
    ordinary = booked_visit(session, teen, days_ahead=4)
    ordinary_id = ordinary.id
    session.commit()
    forms = client.get(f"/p/{teen_id}/checkin/forms").text
    assert "This form is private" in forms and "Little interest or pleasure" not in forms
    assert ordinary_id != secret_id


def test_a_limited_view_does_not_see_what_was_reported_for_a_confidential_appointment(
    session, settings
) -> None:
    from portal.services.registration import reported
    from tests.scopes import limited_scope, person_scope

    calendar(session, settings)
    parent, child = toddler_family(session)
    visit = booked_visit(session, child, days_ahead=2)
    checkin = CheckIn(
        patient_id=child.id,
        visit_key=f"appointment:{visit.id}",
        appointment_id=visit.id,
        visit_start=visit.start_at,
        status="reviewed",
    )
    session.add(checkin)
    session.flush()
    session.add(
        CheckInChange(checkin_id=checkin.id, kind="medication-add", new_value="Sertraline", status="accepted")
    )
    session.commit()
    full = person_scope(session, parent, child)
    assert [r.text for r in reported.medications(session, full).reported] == ["Sertraline"]
    assert [r.text for r in reported.medications(session, limited_scope(session, child)).reported] == [
        "Sertraline"
    ]

    visit.confidential = True
    session.add(visit)
    session.commit()

    assert reported.medications(session, limited_scope(session, child)).reported == []
    assert len(reported.medications(session, person_scope(session, parent, child)).reported) == 1
    session.commit()


def test_a_check_in_begun_for_the_ehrs_encounter_carries_on_for_its_appointment(
    client, session, settings
) -> None:
    calendar(session, settings)
    parent, child = toddler_family(session)
    child_id = child.public_id
    start = (utcnow() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    add_row(session, child, Encounter, "Encounter", display="Sick visit", status="planned", start_at=start)
    log_in(client, session, parent)
    form_post(client, f"/p/{child_id}/checkin/details", {"given_name": "Ana", "phone": "555-0100"})
    appointment = booked_visit(session, child, days_ahead=3)
    appointment.start_at, appointment.end_at = start, start + timedelta(minutes=20)
    session.add(appointment)
    appointment_id = appointment.id
    session.commit()

    saved = form_post(client, f"/p/{child_id}/checkin/insurance", {"no_insurance": "yes"})

    assert saved.status_code == 200
    checkin = session.exec(select(CheckIn)).one()  # the same visit: one check-in, nothing lost
    assert checkin.appointment_id == appointment_id and checkin.steps_done == "details,insurance"
    assert "555-0100" in checkin.details_json
    session.commit()
