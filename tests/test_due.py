"""What is due, through the pages: the CDSi forecast per vaccine group for two sample children checked by
hand, the EHR's own recommendations, the check-up, bad doses shown to staff, and the limited view."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from portal.fhir import importer
from portal.models import Patient, Person, ProxyGrant
from portal.services.due.checkup import checkup_item
from portal.services.due.vaccines import Timing
from tests.conftest import log_in
from tests.fhir_bundles import SYNTHEA, write_bundle

CVX = "http://hl7.org/fhir/sid/cvx"
SECURITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


def import_synthea(app, session, first_name: str) -> Patient:
    path = next(SYNTHEA.glob(f"{first_name}_*.json.gz"))
    importer.import_paths(app.state.engine, [path])
    found = session.scalars(select(Patient).where(Patient.given_name.startswith(first_name))).one()
    session.commit()
    return found


def parent_of(session, patient: Patient) -> Person:
    parent = Person(display_name="Pat Parent", email=f"parent-{uuid.uuid4().hex[:6]}@example.org")
    session.add(parent)
    session.flush()
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


def clinician(session) -> Person:
    person = Person(display_name="Dr Clin", staff_role="clinician")
    session.add(person)
    session.commit()
    return person


def page_text(client, patient: Patient, page: str, **headers: str) -> str:
    response = client.get(f"/p/{patient.public_id}/{page}", headers=headers)
    assert response.status_code == 200
    return " ".join(response.text.split())


def due_section(text: str) -> str:
    start = text.index('<section class="due"')
    return text[start : text.index("</section>", start)]


# Two sample children, checked by hand ----------------------------------------------------------------


def test_a_seven_year_old_with_one_mmr_dose_is_told_the_second_is_late(app, client, session) -> None:
    # Bruno, born 13 June 2019: one MMR and one chickenpox dose at 14 months, four DTaP, three polio, three
    # hepatitis B, three Hib, four pneumococcal, two rotavirus. A clinician expects: the second MMR and
    # chickenpox doses at 4-6 years (late since his 7th birthday), the DTaP and polio boosters at 4-6 years,
    # the second hepatitis A dose (6 months after the first, late); hepatitis B, Hib, pneumococcal and
    # rotavirus done; HPV, meningitis and shingles not yet.
    bruno = import_synthea(app, session, "Bruno")
    log_in(client, session, parent_of(session, bruno))

    due = due_section(page_text(client, bruno, "summary"))

    now = due[: due.index("Up to date")]
    assert "Measles, mumps and rubella: 2nd dose was due by July 9, 2026" in now
    assert "Chickenpox: 2nd dose was due by July 9, 2026" in now
    assert "Hepatitis A: 2nd dose was due by April 15, 2022" in now
    assert "Polio: 4th dose was due by July 9, 2026" in now
    assert "Tetanus, diphtheria and whooping cough: 5th dose was due by June 12, 2026" in now
    assert "Flu shot for this season: due now" in now
    done = due[due.index("Up to date") :]
    for group in ("Hepatitis B", "Hib", "Pneumococcal", "Rotavirus"):
        assert group in done
        assert group + ":" not in now
    for not_yet in ("HPV", "Meningococcal", "Shingles", "RSV"):
        assert not_yet not in due


def test_a_five_year_old_with_only_infant_shots_needs_catching_up(app, client, session) -> None:
    # Luigi, born 20 October 2020: two hepatitis B doses, then Hib, rotavirus, polio, DTaP and
    # pneumococcal at 3 and 5 months, nothing since. A clinician expects: first MMR and chickenpox (late
    # since 17 months), third DTaP and hepatitis B, first hepatitis A; Hib and pneumococcal no longer
    # given at 5 (not shown at all); rotavirus done.
    luigi = import_synthea(app, session, "Luigi")
    log_in(client, session, parent_of(session, luigi))

    due = due_section(page_text(client, luigi, "immunizations"))

    assert "Measles, mumps and rubella: 1st dose was due by March 18, 2022" in due
    assert "Chickenpox: 1st dose was due by March 18, 2022" in due
    assert "Tetanus, diphtheria and whooping cough: 3rd dose was due by June 15, 2021" in due
    assert "Hepatitis B: 3rd dose was due by June 15, 2022" in due
    assert "Hepatitis A: 1st dose was due by November 15, 2022" in due
    assert "Hib" not in due and "Pneumococcal" not in due
    assert "Up to date</h3> <p>Rotavirus</p>" in due
    # his last check-up was at 5 months, years ago
    assert "Yearly check-up: due now" in due


def test_the_forecast_speaks_spanish(app, client, session) -> None:
    bruno = import_synthea(app, session, "Bruno")
    log_in(client, session, parent_of(session, bruno))

    due = due_section(page_text(client, bruno, "summary", **{"Accept-Language": "es"}))

    assert "Lo que le toca" in due
    assert "Sarampión, paperas y rubéola: 2.ª dosis tocaba antes del 9 de julio de 2026" in due
    assert "Al día" in due


# Records built for the case -------------------------------------------------------------------------


def immunization(patient_id: str, cvx: str, given: date, *, display: str = "", confidential: bool = False):
    resource: dict[str, Any] = {
        "resourceType": "Immunization",
        "id": uuid.uuid4().hex,
        "status": "completed",
        "vaccineCode": {"coding": [{"system": CVX, "code": cvx, "display": display or f"Vaccine {cvx}"}]},
        "patient": {"reference": f"urn:uuid:{patient_id}"},
        "occurrenceDateTime": given.isoformat(),
    }
    if confidential:
        resource["meta"] = {"security": [{"system": SECURITY, "code": "R"}]}
    return resource


def import_record(app, session, tmp_path: Path, birth: date, *extra) -> Patient:
    patient_id = uuid.uuid4().hex
    resources = [
        {
            "resourceType": "Patient",
            "id": patient_id,
            "name": [{"given": ["Kim"], "family": "Case"}],
            "gender": "female",
            "birthDate": birth.isoformat(),
        },
    ]
    resources += [make(patient_id) for make in extra]
    summary = importer.import_paths(
        app.state.engine, [write_bundle(tmp_path / f"{patient_id}.json", resources)]
    )
    assert not summary.failed, summary
    found = session.scalars(select(Patient).where(Patient.fhir_id == patient_id)).one()
    session.commit()
    return found


def test_bad_doses_are_never_a_500_and_staff_see_why_they_were_not_counted(app, client, session, tmp_path):
    birth = date.today() - timedelta(days=400)
    child = import_record(
        app,
        session,
        tmp_path,
        birth,
        lambda p: immunization(p, "9999", birth + timedelta(days=60), display="Mystery shot"),
        lambda p: immunization(p, "08", birth - timedelta(days=30), display="Hep B early"),
        lambda p: immunization(p, "03", date.today() + timedelta(days=30), display="MMR later"),
    )
    parent = parent_of(session, child)
    log_in(client, session, clinician(session))

    text = page_text(client, child, "immunizations")

    assert "Doses not counted" in text
    assert "Mystery shot" in text and "Not counted: vaccine code unknown" in text
    assert "Hep B early" in text and "Not valid: dated before birth" in text
    assert "MMR later" in text and "Not counted: dated in the future" in text
    # the hepatitis B dose before birth does not count: the first dose is still due
    assert "Hepatitis B: 1st dose" in due_section(text)

    log_in(client, session, parent)
    family_view = page_text(client, child, "immunizations")
    assert "Doses not counted" not in family_view and "Not counted" not in family_view
    assert "Hepatitis B: 1st dose" in due_section(family_view)


def test_a_limited_proxy_sees_the_forecast_without_the_groups_of_a_confidential_dose(
    app, client, session, tmp_path
) -> None:
    birth = date.today() - timedelta(days=14 * 366)
    teen = import_record(
        app,
        session,
        tmp_path,
        birth,
        lambda p: immunization(
            p, "62", date.today() - timedelta(days=200), display="HPV private", confidential=True
        ),
        lambda p: immunization(p, "115", date.today() - timedelta(days=300), display="Tdap at 13"),
    )
    parent = parent_of(session, teen)
    log_in(client, session, parent)

    for page in ("summary", "immunizations"):
        text = page_text(client, teen, page)
        assert "HPV" not in text
    assert "Tdap at 13" in page_text(client, teen, "immunizations")

    teen_account = Person(display_name="Kim")
    session.add(teen_account)
    session.flush()
    stored = session.get(Patient, teen.id)
    stored.person_id = teen_account.id
    session.commit()
    log_in(client, session, teen_account)
    own = page_text(client, teen, "immunizations")
    assert "HPV private" in own
    assert "HPV: 2nd dose" in due_section(own)


def recommendation(patient_id: str, *, confidential: bool = False) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ImmunizationRecommendation",
        "id": uuid.uuid4().hex,
        "patient": {"reference": f"urn:uuid:{patient_id}"},
        "date": "2026-01-05",
        "recommendation": [
            {
                "vaccineCode": [{"coding": [{"system": CVX, "code": "03"}], "text": "MMR from the EHR"}],
                "forecastStatus": {"text": "Due"},
                "dateCriterion": [
                    {"code": {"text": "Recommended"}, "value": "2026-02-01"},
                ],
            }
        ],
    }
    if confidential:
        resource["meta"] = {"security": [{"system": SECURITY, "code": "R"}]}
    return resource


def test_the_ehrs_recommendations_are_shown_as_they_are_instead_of_the_portals(
    app, client, session, tmp_path
):
    child = import_record(app, session, tmp_path, date(2021, 3, 1), lambda p: recommendation(p))
    log_in(client, session, parent_of(session, child))

    due = due_section(page_text(client, child, "summary"))

    assert "Vaccines your care team suggests" in due
    assert "<strong>MMR from the EHR</strong>: Due" in due and "Recommended: February 1, 2026" in due
    assert "Measles, mumps and rubella" not in due  # the portal's own forecast steps aside


def test_a_confidential_recommendation_is_left_out_of_a_limited_view(app, client, session, tmp_path):
    teen = import_record(
        app,
        session,
        tmp_path,
        date.today() - timedelta(days=13 * 366),
        lambda p: recommendation(p, confidential=True),
    )
    log_in(client, session, parent_of(session, teen))

    due = due_section(page_text(client, teen, "summary"))

    assert "MMR from the EHR" not in due and "Vaccines your care team suggests" not in due


# The check-up ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "last", "today", "timing", "on"),
    [
        (date(2020, 1, 1), None, date(2026, 1, 1), Timing.DUE_NOW, None),
        (date(2020, 1, 1), date(2025, 3, 1), date(2026, 1, 1), Timing.DUE_SOON, date(2026, 3, 1)),
        (date(2020, 1, 1), date(2025, 12, 1), date(2026, 1, 1), Timing.UP_TO_DATE, date(2026, 12, 1)),
        (date(2025, 1, 1), date(2025, 3, 1), date(2025, 6, 1), Timing.DUE_NOW, None),  # 2 months at 2 months
        (date(2025, 1, 1), date(2025, 9, 1), date(2025, 11, 15), Timing.DUE_SOON, date(2025, 12, 1)),
    ],
)
def test_the_next_check_up_follows_the_age(birth, last, today, timing, on) -> None:
    item = checkup_item(birth, last, today)
    assert item.timing is timing
    assert item.due_on == on


def test_the_printed_immunization_record_says_what_is_due(app, client, session, tmp_path) -> None:
    import subprocess

    bruno = import_synthea(app, session, "Bruno")
    log_in(client, session, parent_of(session, bruno))

    response = client.get(f"/p/{bruno.public_id}/print/immunizations")

    assert response.status_code == 200
    path = tmp_path / "record.pdf"
    path.write_bytes(response.content)
    text = " ".join(
        subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout.split()
    )
    today = app.state.settings.today()
    assert f"What is due on {today:%B} {today.day}, {today.year}" in text
    assert "Measles, mumps and rubella: 2nd dose was due by July 9, 2026" in text
    assert "Doses not counted" not in text
