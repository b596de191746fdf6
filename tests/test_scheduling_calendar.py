"""The calendar: weekly hours across a daylight-saving change, holidays, blocks, the EHR's busy slots,
and appointments out to the EHR and back."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from sqlmodel import select

from portal.models import Appointment, ClinicLocation, ImportedSlot, Provider, VisitType, WeeklyHours
from portal.services.scheduling import fhir_in, fhir_out
from portal.services.scheduling.calendar import open_times
from portal.services.scheduling.seed import whole_day_block
from tests.conftest import make_patient

NEW_YORK = ZoneInfo("America/New_York")
BEFORE_CHANGE = datetime(2026, 3, 2, 5, tzinfo=UTC)  # Monday; clocks go forward on Sunday 8 March 2026


def one_provider(session, *, weekdays=(0, 1, 2, 3, 4)):
    provider, place = Provider(name="Dr Chen"), ClinicLocation(name="Main Street")
    session.add_all([provider, place])
    session.flush()
    for weekday in weekdays:
        session.add(
            WeeklyHours(
                provider_id=provider.id, location_id=place.id, weekday=weekday, starts="09:00", ends="10:00"
            )
        )
    visit = VisitType(code="sick", name="Sick visit", minutes=20, min_notice_hours=0, horizon_days=14)
    session.add(visit)
    session.flush()
    return provider, visit


def test_a_week_across_the_daylight_saving_change_keeps_local_times(session) -> None:
    _, visit = one_provider(session)

    times = open_times(session, visit, now=BEFORE_CHANGE, tz=NEW_YORK, days=12)

    local = {(t.start_at.astimezone(NEW_YORK).date(), t.start_at.astimezone(NEW_YORK).time()) for t in times}
    assert {clock for _, clock in local} == {time(9, 0), time(9, 20), time(9, 40)}
    utc_hours = {t.start_at.astimezone(NEW_YORK).date(): t.start_at.hour for t in times}
    assert utc_hours[date(2026, 3, 6)] == 14 and utc_hours[date(2026, 3, 9)] == 13  # EST, then EDT
    assert len(times) == 3 * 10  # ten weekdays in the twelve days
    session.commit()


def test_a_holiday_gives_no_times_that_day(session) -> None:
    _, visit = one_provider(session)
    session.add(whole_day_block(date(2026, 3, 4), NEW_YORK, kind="holiday", reason="Closed"))
    session.flush()

    times = open_times(session, visit, now=BEFORE_CHANGE, tz=NEW_YORK, days=4)

    days = {t.start_at.astimezone(NEW_YORK).date() for t in times}
    assert date(2026, 3, 4) not in days and date(2026, 3, 3) in days and date(2026, 3, 5) in days
    session.commit()


def slot_bundle(status_by_id):
    start = datetime(2026, 3, 3, 15, tzinfo=UTC)
    entries = [
        {
            "resource": {
                "resourceType": "Schedule",
                "id": "sch-1",
                "actor": [{"reference": "Practitioner/pr-9", "display": "Dr Ehr"}],
            }
        }
    ]
    for number, (slot_id, status) in enumerate(status_by_id.items()):
        begins = start + timedelta(minutes=20 * number)
        entries.append(
            {
                "resource": {
                    "resourceType": "Slot",
                    "id": slot_id,
                    "schedule": {"reference": "Schedule/sch-1"},
                    "status": status,
                    "start": begins.isoformat().replace("+00:00", "Z"),
                    "end": (begins + timedelta(minutes=20)).isoformat().replace("+00:00", "Z"),
                }
            }
        )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def test_imported_busy_slots_are_never_offered(session, tmp_path) -> None:
    visit = VisitType(code="sick", name="Sick visit", minutes=20, min_notice_hours=0)
    session.add(visit)
    path = tmp_path / "slots.json"
    path.write_text(
        json.dumps(slot_bundle({"s1": "free", "s2": "busy", "s3": "free", "s4": "busy-unavailable"}))
    )

    fhir_in.import_calendar(session, fhir_in.read_file(path))
    times = open_times(session, visit, now=BEFORE_CHANGE, tz=NEW_YORK, days=5)

    offered = {t.start_at for t in times}
    slots = {s.fhir_id: s.start_at for s in session.exec(select(ImportedSlot))}
    assert offered == {slots["s1"], slots["s3"]}
    session.commit()


def test_importing_the_slots_again_changes_nothing(session, tmp_path) -> None:
    path = tmp_path / "slots.json"
    path.write_text(json.dumps(slot_bundle({"s1": "free", "s2": "busy"})))

    first = fhir_in.import_calendar(session, fhir_in.read_file(path))
    again = fhir_in.import_calendar(session, fhir_in.read_file(path))

    assert first["Slot"] == 2 and again["Slot"] == 0
    session.commit()


def test_an_exported_appointment_validates_and_reimports_unchanged(session) -> None:
    patient = make_patient(session)
    provider, visit = one_provider(session)
    booked = Appointment(
        patient_id=patient.id,
        provider_id=provider.id,
        visit_type_id=visit.id,
        start_at=datetime(2026, 3, 3, 14, tzinfo=UTC),
        end_at=datetime(2026, 3, 3, 14, 20, tzinfo=UTC),
    )
    row = fhir_out.store(session, booked, visit)

    exported = fhir_out.changed_since(session, datetime(2000, 1, 1, tzinfo=UTC))
    FhirAppointment.model_validate(exported[0])
    counts = fhir_in.import_calendar(session, exported)

    assert [r["id"] for r in exported] == [booked.fhir_id]
    assert counts["Appointment"] == 0
    assert json.loads(row.resource_json) == exported[0]
    session.commit()
