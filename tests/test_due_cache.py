"""The remembered forecast: each record, dose list and day has its own answer, a new dose is seen the same
day, and nobody can change an answer another page will be given. Also the check-up read from the visits."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from portal import forecast as cdsi
from portal.models import Patient
from portal.services.due import outcome
from portal.services.due.vaccines import RecordedDose, Timing, groups_of, vaccine_forecast
from tests.conftest import log_in
from tests.test_due import clinician, due_section, immunization, import_record, page_text

MMR = "03"
BIRTH = date(2020, 3, 1)
TODAY = date(2026, 6, 1)
FIRST_MMR = cdsi.DoseGiven(date(2021, 3, 15), MMR)
SECOND_MMR = cdsi.DoseGiven(date(2024, 4, 1), MMR)


@pytest.fixture(autouse=True)
def nothing_remembered():
    outcome.forget()
    yield
    outcome.forget()


def fresh(patient: cdsi.Patient, doses: tuple[cdsi.DoseGiven, ...], today: date) -> outcome.Outcome:
    """The engine's answer computed anew, for comparison with the remembered one."""
    return outcome.summarize(cdsi.forecast(patient, doses, today), len(doses))


def mmr(answer: outcome.Outcome) -> outcome.GroupOutcome:
    return next(group for group in answer.groups if group.name == "MMR")


def test_each_record_dose_list_and_day_gets_its_own_answer() -> None:
    cases = [
        (cdsi.Patient(BIRTH, "F"), (FIRST_MMR,), TODAY),
        (cdsi.Patient(BIRTH, "F"), (FIRST_MMR, SECOND_MMR), TODAY),  # a new dose
        (cdsi.Patient(BIRTH, "F"), (FIRST_MMR,), date(2020, 9, 1)),  # another day (before the dose)
        (cdsi.Patient(date(2025, 12, 1), "M"), (), TODAY),  # another child, nothing given yet
        (cdsi.Patient(date(1950, 1, 1), "M"), (FIRST_MMR,), TODAY),  # born before 1957: immune to measles
    ]
    for _ in range(2):  # the second round is answered from memory
        for patient, doses, today in cases:
            assert outcome.outcome(patient, doses, today) == fresh(patient, doses, today)
    assert outcome._remembered.cache_info().hits == len(cases)

    one_dose, two_doses, earlier, baby, elder = (outcome.outcome(*case) for case in cases)
    assert mmr(one_dose).status is cdsi.ForecastStatus.NOT_COMPLETE and mmr(one_dose).valid_doses == 1
    assert mmr(two_doses).status is cdsi.ForecastStatus.COMPLETE and mmr(two_doses).valid_doses == 2
    assert earlier.not_evaluated == ((0, cdsi.Reason.AFTER_ASSESSMENT),)
    assert mmr(baby).valid_doses == 0 and mmr(baby).recommended != mmr(one_dose).recommended
    assert mmr(elder).status is cdsi.ForecastStatus.IMMUNE


def test_a_caller_cannot_change_a_remembered_answer() -> None:
    patient = cdsi.Patient(BIRTH, "F")
    answer = outcome.outcome(patient, (FIRST_MMR,), TODAY)

    with pytest.raises(dataclasses.FrozenInstanceError):
        answer.groups = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        mmr(answer).status = cdsi.ForecastStatus.COMPLETE  # type: ignore[misc]
    for part in (answer.groups, answer.not_evaluated, answer.not_valid, *answer.not_valid):
        assert isinstance(part, tuple)
    with pytest.raises(AttributeError):
        groups_of(MMR).add("Polio")  # type: ignore[attr-defined]
    assert outcome.outcome(patient, (FIRST_MMR,), TODAY) == fresh(patient, (FIRST_MMR,), TODAY)


def test_what_a_page_is_given_is_its_own_to_change() -> None:
    doses = [RecordedDose("MMR", True, MMR, FIRST_MMR.given_on)]
    first = vaccine_forecast(doses, BIRTH, "female", TODAY, limited=False, staff=True)
    due_now = [item for item in first.items if item.timing is Timing.DUE_NOW]
    assert any(item.name.startswith("Measles") for item in due_now)

    first.items.clear()

    again = vaccine_forecast(doses, BIRTH, "female", TODAY, limited=False, staff=True)
    outcome.forget()
    anew = vaccine_forecast(doses, BIRTH, "female", TODAY, limited=False, staff=True)
    assert again == anew and again.items


def test_a_limited_view_and_staff_share_the_answer_but_not_what_they_are_shown() -> None:
    doses = [
        RecordedDose("MMR", True, MMR, FIRST_MMR.given_on),
        RecordedDose("HPV private", False, "62", date(2026, 1, 5)),
        RecordedDose("Mystery", True, "9999", date(2025, 1, 5)),
    ]
    staff = vaccine_forecast(doses, BIRTH, "female", TODAY, limited=False, staff=True)
    limited = vaccine_forecast(doses, BIRTH, "female", TODAY, limited=True, staff=False)

    assert outcome._remembered.cache_info().hits == 1
    assert "HPV" in limited.hidden_groups
    assert not any(item.key.startswith("HPV") for item in limited.items)
    assert [n.vaccine for n in staff.not_counted] == ["Mystery"] and limited.not_counted == []


# Through the pages -----------------------------------------------------------------------------------


def visit(patient_id: str, code: tuple[str, str], on: date, status: str = "finished") -> dict[str, Any]:
    system, value = code
    start = datetime.combine(on, time(10), tzinfo=UTC).isoformat()
    return {
        "resourceType": "Encounter",
        "id": uuid.uuid4().hex,
        "status": status,
        "class": {"code": "AMB"},
        "type": [{"coding": [{"system": system, "code": value}]}],
        "subject": {"reference": f"urn:uuid:{patient_id}"},
        "period": {"start": start, "end": start},
    }


def test_two_children_seen_in_turn_each_get_their_own_list_and_a_new_dose_shows_at_once(
    app, client, session, tmp_path
) -> None:
    birth = date.today() - timedelta(days=6 * 366)
    one_dose = import_record(
        app, session, tmp_path, birth, lambda p: immunization(p, MMR, birth + timedelta(days=400))
    )
    two_doses = import_record(
        app,
        session,
        tmp_path,
        birth,
        lambda p: immunization(p, MMR, birth + timedelta(days=400)),
        lambda p: immunization(p, MMR, birth + timedelta(days=5 * 366)),
    )
    log_in(client, session, clinician(session))

    for _ in range(2):
        assert "Measles, mumps and rubella: 2nd dose" in due_section(page_text(client, one_dose, "summary"))
        assert "Measles, mumps and rubella:" not in due_section(page_text(client, two_doses, "summary"))

    add_dose(app, session, tmp_path, one_dose, birth + timedelta(days=5 * 366))
    assert "Measles, mumps and rubella:" not in due_section(page_text(client, one_dose, "summary"))


def add_dose(app, session, tmp_path, patient: Patient, given: date) -> None:
    """The EHR sends the record again with one more dose."""
    from portal.fhir import importer
    from tests.fhir_bundles import write_bundle

    fhir_id, birth = patient.fhir_id, patient.birth_date
    session.commit()  # the test's own read ends before the import writes
    resources = [
        {
            "resourceType": "Patient",
            "id": fhir_id,
            "name": [{"given": ["Kim"], "family": "Case"}],
            "gender": "female",
            "birthDate": birth.isoformat() if birth else None,
        },
        immunization(fhir_id, MMR, given),
    ]
    summary = importer.import_paths(app.state.engine, [write_bundle(tmp_path / "again.json", resources)])
    assert not summary.failed, summary


SNOMED_WELL_CHILD = ("http://snomed.info/sct", "410620009")
CPT_ESTABLISHED = ("http://www.ama-assn.org/go/cpt", "99393")
SNOMED_OTHER = ("http://snomed.info/sct", "185345009")  # an ordinary visit, not a check-up


@pytest.mark.parametrize(
    ("visits", "expected"),
    [
        ([], "Yearly check-up: due now"),
        ([(SNOMED_WELL_CHILD, -30, "finished")], "Up to date"),
        ([(CPT_ESTABLISHED, -320, "finished")], "Yearly check-up: due"),  # due soon, within two months
        (
            [(SNOMED_WELL_CHILD, -400, "finished"), (SNOMED_OTHER, -10, "finished")],
            "Yearly check-up: due now",
        ),
        ([(SNOMED_WELL_CHILD, -400, "finished"), (CPT_ESTABLISHED, -10, "cancelled")], "check-up: due now"),
        ([(SNOMED_WELL_CHILD, 20, "planned")], "Yearly check-up: due now"),  # not yet happened
    ],
)
def test_the_check_up_counts_only_check_up_visits_that_took_place(
    app, client, session, tmp_path, visits, expected
) -> None:
    birth = date.today() - timedelta(days=8 * 366)
    child = import_record(
        app,
        session,
        tmp_path,
        birth,
        *(
            lambda p, code=code, days=days, status=status: visit(
                p, code, date.today() + timedelta(days=days), status
            )
            for code, days, status in visits
        ),
    )
    log_in(client, session, clinician(session))

    due = due_section(page_text(client, child, "summary"))

    if expected == "Up to date":
        assert "check-up: due" not in due and "check-up" in due[due.index("Up to date") :]
    else:
        assert expected in due
