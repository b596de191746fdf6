"""Online check-in before a visit: a parent checks in a child step by step, the front desk reviews each
change, and what is accepted is kept as FHIR for the EHR (`portal registration export`)."""

from __future__ import annotations

import importlib
import io
import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner
from PIL import Image
from sqlmodel import select

from portal.cli import main
from portal.models import (
    Allergy,
    CheckIn,
    CheckInChange,
    CheckInPhoto,
    ConsentSignature,
    Encounter,
    FhirResource,
    MedicationRequest,
    Patient,
    ProxyGrant,
)
from tests.conftest import form_post, log_in, make_patient, make_person, reload


def add_row(session, patient, model, resource_type, **fields):
    resource = FhirResource(
        resource_type=resource_type,
        fhir_id=f"{resource_type.lower()}-{patient.id}-{fields.get('display', 'x')[:8]}",
        patient_id=patient.id,
        content_hash="0" * 64,
        resource_json="{}",
    )
    session.add(resource)
    session.flush()
    row = model(resource_id=resource.id, patient_id=patient.id, fhir_id=resource.fhir_id, **fields)
    session.add(row)
    session.commit()
    return row


@pytest.fixture
def family(session):
    parent = make_person(session, display_name="Rosa Rivera", email="rosa@example.test")
    child = make_patient(session, given_name="Ana", family_name="Rivera", birth_date=date(2024, 6, 2))
    session.add(
        ProxyGrant(
            proxy_person_id=parent.id, patient_id=child.id, relationship="parent", starts_on=date(2024, 6, 2)
        )
    )
    session.commit()
    soon = datetime.now(UTC) + timedelta(days=3)
    add_row(
        session, child, Encounter, "Encounter", display="Well child visit", status="planned", start_at=soon
    )
    add_row(session, child, MedicationRequest, "MedicationRequest", display="Amoxicillin", status="active")
    add_row(session, child, Allergy, "AllergyIntolerance", display="Peanut", status="active")
    desk = make_person(session, display_name="Desk Clerk", staff_role="front_desk")
    return {"parent": parent, "child": child, "desk": desk}


def validate(resource: dict) -> None:
    """Parse with fhir.resources (R4B, which R4 resources validate under): raises when invalid."""
    name = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{name.lower()}")
    getattr(module, name).model_validate(resource)


def url(patient, path=""):
    return f"/p/{patient.public_id}/checkin{path}"


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (64, 40), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "Secret Phone Maker"  # Make
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def fill_all(client, child):
    assert (
        form_post(
            client,
            url(child, "/details"),
            {"given_name": "Ana", "family_name": "Rivera", "phone": "555-0199", "birth_date": "2024-06-02"},
        ).status_code
        == 200
    )
    assert (
        form_post(
            client,
            url(child, "/insurance"),
            {
                "payer": "Acme Health",
                "member_id": "M123",
                "group_number": "G9",
                "subscriber_name": "Rosa Rivera",
                "subscriber_relationship": "child",
            },
        ).status_code
        == 200
    )
    review_page = client.get(url(child, "/review")).text
    med_id = review_page.split('name="stopped" value="')[1].split('"')[0]
    assert (
        form_post(
            client,
            url(child, "/review"),
            {"stopped": med_id, "added_allergies": "bee stings", "added_medicines": ""},
        ).status_code
        == 200
    )
    forms_page = client.get(url(child, "/forms")).text
    answers = dict.fromkeys(set(re.findall(r'name="(q\d+:m\.\d)"', forms_page)), "yes")
    assert answers, "the toddler's milestone checklist is offered"
    general = {"general.rating": "good", "general.hospital": "no"}
    for key, value in general.items():
        prefix = re.search(r'name="(q\d+:)' + key.replace(".", r"\.") + '"', forms_page)
        if prefix:
            answers[prefix.group(1) + key] = value
    saved = form_post(client, url(child, "/forms"), answers)
    assert saved.status_code == 200, (
        sorted(answers),
        re.findall(r"error-text[^<]*<", saved.text),
    )
    signed = {}
    for key in ("treatment", "privacy", "financial", "portal"):
        signed[f"name:{key}"] = "Rosa Rivera"
        signed[f"agree:{key}"] = "yes"
    assert form_post(client, url(child, "/consents"), signed).status_code == 200


def test_a_parent_checks_in_a_child_and_the_front_desk_accepts_or_rejects_each_change(
    client, session, family, app
) -> None:
    child, parent = family["child"], family["parent"]
    log_in(client, session, parent)

    page = client.get(url(child))
    assert page.status_code == 200 and "Check in for your visit" in page.text
    assert "Check in for your visit" in client.get(f"/p/{child.public_id}/summary").text
    details = client.get(url(child, "/details")).text
    assert "Step 1 of 5" in details and 'value="Ana"' in details
    fill_all(client, child)
    sent = form_post(client, url(child, "/submit"))
    assert sent.status_code == 200 and "sent to the clinic" in sent.text

    checkin = session.exec(select(CheckIn)).one()
    assert checkin.status == "submitted"
    changes = session.exec(select(CheckInChange).where(CheckInChange.checkin_id == checkin.id)).all()
    kinds = sorted(c.kind for c in changes)
    assert kinds == ["allergy-add", "detail", "insurance", "medication-stop"]
    assert reload(session, Patient, child.id).resource_json == "{}"  # nothing written before review
    signature = session.exec(select(ConsentSignature).where(ConsentSignature.document == "treatment")).one()
    assert (signature.typed_name, signature.signer_role, signature.version) == (
        "Rosa Rivera",
        "parent",
        "2026-01",
    )

    log_in(client, session, family["desk"])
    queue = client.get("/front-desk/registration")
    assert "Ana Rivera" in queue.text
    review = client.get(f"/front-desk/registration/{child.public_id}")
    assert review.status_code == 200 and "555-0199" in review.text and "bee stings" in review.text
    by_kind = {c.kind: c for c in changes}
    rejected = form_post(
        client,
        f"/front-desk/registration/{child.public_id}/decide",
        {"change": by_kind["allergy-add"].public_id, "decision": "reject", "reason": ""},
    )
    assert rejected.status_code == 400 and "reason" in rejected.text
    for kind in ("detail", "insurance", "medication-stop"):
        response = form_post(
            client,
            f"/front-desk/registration/{child.public_id}/decide",
            {"change": by_kind[kind].public_id, "decision": "accept", "reason": ""},
        )
        assert response.status_code == 200
    form_post(
        client,
        f"/front-desk/registration/{child.public_id}/decide",
        {"change": by_kind["allergy-add"].public_id, "decision": "reject", "reason": "Ask at the visit"},
    )

    patient_json = json.loads(reload(session, Patient, child.id).resource_json)
    assert {"system": "phone", "value": "555-0199"} in patient_json["telecom"]
    log_in(client, session, parent)
    assert "Ask at the visit" in client.get(url(child)).text
    types = {
        row.resource_type
        for row in session.exec(select(FhirResource).where(FhirResource.patient_id == child.id))
    }
    assert {"Patient", "Coverage", "MedicationStatement", "QuestionnaireResponse", "Consent"} <= types

    session.commit()  # end the test's read: the command writes its audit events
    settings = app.state.settings
    env = {"DATABASE_URL": settings.database_url, "PORTAL_DATA_DIR": str(settings.data_dir)}
    result = CliRunner().invoke(main, ["registration", "export", "--since", "2020-01-01"], env=env)
    assert result.exit_code == 0, result.output
    exported = [json.loads(line) for line in result.output.splitlines()]
    assert {r["resourceType"] for r in exported} >= {"Patient", "Coverage", "MedicationStatement", "Consent"}
    for resource in exported:
        validate(resource)


def test_a_photo_is_reencoded_without_its_metadata(client, session, family) -> None:
    log_in(client, session, family["parent"])

    response = form_post(
        client,
        url(family["child"], "/insurance/photo"),
        {"side": "front"},
        files={"photo": ("card.jpg", jpeg_with_exif(), "image/jpeg")},
    )

    assert response.status_code == 200
    photo = session.exec(select(CheckInPhoto)).one()
    assert b"Secret Phone Maker" not in photo.data and photo.data[:2] == b"\xff\xd8"


@pytest.mark.parametrize(
    ("path", "fields", "files", "words"),
    [
        (
            "/insurance/photo",
            {"side": "front"},
            {"photo": ("card.jpg", b"%PDF-1.4 not a photo", "image/jpeg")},
            "not a photo",
        ),
        (
            "/details",
            {"given_name": "Ana", "birth_date": (date.today() + timedelta(days=30)).isoformat()},
            None,
            "cannot be in the future",
        ),
        ("/details", {"given_name": "A" * 10_000}, None, "too long"),
    ],
    ids=["pdf renamed jpg", "future birth date", "10,000-character name"],
)
def test_bad_input_gets_a_clear_message_and_nothing_is_stored(
    client, session, family, path, fields, files, words
):
    log_in(client, session, family["parent"])

    response = form_post(client, url(family["child"], path), fields, files=files)

    assert response.status_code == 400 and words in response.text
    assert session.exec(select(CheckIn)).all() == []


def test_a_20_mb_photo_gets_the_too_large_page_in_english_and_spanish_and_nothing_is_stored(
    client, session, family
) -> None:
    log_in(client, session, family["parent"])
    big = {"photo": ("big.jpg", b"\xff\xd8" + b"0" * (20 * 1024 * 1024), "image/jpeg")}

    english = form_post(client, url(family["child"], "/insurance/photo"), {"side": "front"}, files=big)
    client.cookies.set("portal_lang", "es")
    spanish = form_post(client, url(family["child"], "/insurance/photo"), {"side": "front"}, files=big)

    assert english.status_code == 413 and "The largest file we take is 10 MB" in english.text
    assert spanish.status_code == 413 and "Lo máximo que aceptamos es un archivo de 10 MB" in spanish.text
    assert session.exec(select(CheckInPhoto)).all() == [] and session.exec(select(CheckIn)).all() == []


@pytest.mark.parametrize(
    ("size", "words"),
    [
        (10 * 1024 * 1024 + 1, "This photo is too large: the largest we take is 10 MB"),
        # A file of exactly 10 MB passes the route's limit (the app-wide one is 10 MB for the whole body)
        # and is judged for what it is: these bytes are not a photo.
        (10 * 1024 * 1024, "This file is not a photo we can use"),
    ],
)
def test_a_photo_just_over_10_mb_gets_a_message_next_to_the_field(
    client, session, family, size, words
) -> None:
    log_in(client, session, family["parent"])

    response = form_post(
        client,
        url(family["child"], "/insurance/photo"),
        {"side": "front"},
        files={"photo": ("card.jpg", b"\xff\xd8" + b"0" * (size - 2), "image/jpeg")},
    )

    assert response.status_code == 400
    assert words in response.text and 'aria-describedby="photo-error"' in response.text
    assert session.exec(select(CheckInPhoto)).all() == [] and session.exec(select(CheckIn)).all() == []


def test_the_app_wide_limit_still_holds_on_other_routes(client, session, family) -> None:
    log_in(client, session, family["parent"])

    response = form_post(
        client, url(family["child"], "/details"), {"given_name": "Ana", "city": "x" * (10 * 1024 * 1024 + 10)}
    )

    assert response.status_code == 413 and session.exec(select(CheckIn)).all() == []


def test_check_in_waits_until_seven_days_before_the_visit(client, session, family) -> None:
    encounter = session.exec(select(Encounter).where(Encounter.patient_id == family["child"].id)).one()
    encounter.start_at = datetime.now(UTC) + timedelta(days=20)
    session.add(encounter)
    session.commit()
    log_in(client, session, family["parent"])

    page = client.get(url(family["child"]))
    saved = form_post(client, url(family["child"], "/details"), {"given_name": "Ana"})

    assert "Check-in opens on" in page.text
    assert (
        "Check in for your visit"
        not in client.get(f"/p/{family['child'].public_id}/summary").text.split("</h1>", 1)[1]
    )
    assert saved.status_code == 200 and session.exec(select(CheckIn)).all() == []


def test_a_started_check_in_resumes_on_another_device(app, session, family) -> None:
    from starlette.testclient import TestClient

    from tests.conftest import ORIGIN

    with TestClient(app, base_url=ORIGIN) as phone, TestClient(app, base_url=ORIGIN) as laptop:
        log_in(phone, session, family["parent"])
        form_post(phone, url(family["child"], "/details"), {"given_name": "Ana", "phone": "555-0123"})
        log_in(laptop, session, family["parent"])

        page = laptop.get(url(family["child"], "/details")).text
        overview = laptop.get(url(family["child"])).text

    assert 'value="555-0123"' in page and "(changed)" in page
    assert overview.count("Done") == 1


@pytest.mark.parametrize("path", ["", "/details", "/forms"])
def test_staff_cannot_fill_in_a_check_in(client, session, family, path) -> None:
    clinician = make_person(session, display_name="Dr Who", staff_role="clinician")
    log_in(client, session, clinician)

    page = client.get(url(family["child"], path))
    saved = form_post(client, url(family["child"], path or "/submit"), {"given_name": "X"})

    assert (page.status_code, saved.status_code) == (404, 404)
    assert session.exec(select(CheckIn)).all() == []


def test_accepted_pronouns_prefill_the_next_check_in(client, session, family) -> None:
    child, parent = family["child"], family["parent"]
    log_in(client, session, parent)
    assert (
        form_post(client, url(child, "/details"), {"given_name": "Ana", "pronouns": "she/her"}).status_code
        == 200
    )
    fill_all(client, child)
    assert form_post(client, url(child, "/submit")).status_code == 200
    log_in(client, session, family["desk"])
    changes = session.exec(select(CheckInChange)).all()
    session.commit()  # end the test's read: SQLite lets one writer in at a time
    for change in changes:
        response = form_post(
            client,
            f"/front-desk/registration/{child.public_id}/decide",
            {"change": change.public_id, "decision": "accept", "reason": ""},
        )
        assert response.status_code == 200
    first = session.exec(select(Encounter).where(Encounter.patient_id == child.id)).one()
    first.status = "finished"
    session.add(first)
    session.commit()
    later = datetime.now(UTC) + timedelta(days=5)
    add_row(session, child, Encounter, "Encounter", display="Follow-up", status="planned", start_at=later)

    log_in(client, session, parent)
    session.commit()
    details = client.get(url(child, "/details")).text

    assert 'value="she/her"' in details
    assert session.exec(select(CheckIn).where(CheckIn.status == "started")).all() == []


@pytest.mark.parametrize(
    ("extension", "expected"),
    [
        (
            {
                "url": "http://hl7.org/fhir/StructureDefinition/individual-pronouns",
                "extension": [{"url": "value", "valueCodeableConcept": {"text": "they/them"}}],
            },
            "they/them",
        ),
        (
            {
                "url": "http://hl7.org/fhir/StructureDefinition/individual-pronouns",
                "extension": [
                    {
                        "url": "value",
                        "valueCodeableConcept": {"coding": [{"code": "LA29519-8", "display": "he/him"}]},
                    }
                ],
            },
            "he/him",
        ),
        ({"url": "http://example.test/pronouns", "valueCodeableConcept": {"text": "she/her"}}, "she/her"),
        ({"url": "http://example.test/birthsex", "valueCode": "F"}, ""),
    ],
)
def test_pronouns_are_read_from_the_nested_extension_and_a_flat_one(extension, expected) -> None:
    from portal.services.registration.steps import pronouns_of

    assert pronouns_of({"extension": [extension]}) == expected


def test_accepted_reports_show_as_you_told_us_apart_from_the_clinics_list(client, session, family) -> None:
    child, parent = family["child"], family["parent"]
    log_in(client, session, parent)
    fill_all(client, child)  # adds "bee stings", says Amoxicillin is no longer taken
    assert form_post(client, url(child, "/submit")).status_code == 200
    changes = session.exec(
        select(CheckInChange).where(CheckInChange.kind.in_(["allergy-add", "medication-stop"]))
    ).all()
    session.commit()
    log_in(client, session, family["desk"])
    for change in changes:
        decided = form_post(
            client,
            f"/front-desk/registration/{child.public_id}/decide",
            {"change": change.public_id, "decision": "accept", "reason": ""},
        )
        assert decided.status_code == 200

    log_in(client, session, parent)
    allergies = client.get(f"/p/{child.public_id}/allergies").text
    medications = client.get(f"/p/{child.public_id}/medications").text

    clinic_part, told_part = allergies.split("You told us</h2>")
    assert "Peanut" in clinic_part and "bee stings" not in clinic_part
    assert "bee stings" in told_part and "You told us about this allergy." in told_part
    clinic_part, told_part = medications.split("You told us</h2>")
    assert "Amoxicillin" in clinic_part.split("<h2>Past</h2>")[0]  # still current in the clinic's list
    assert "Amoxicillin" in told_part and "You said you no longer take this." in told_part
    assert session.exec(select(Allergy).where(Allergy.display == "bee stings")).all() == []


def test_a_limited_view_does_not_see_what_was_reported_for_a_confidential_visit(session, family) -> None:
    from portal.services.registration import reported
    from tests.scopes import limited_scope, person_scope

    child = family["child"]
    visit = session.exec(select(Encounter).where(Encounter.patient_id == child.id)).one()
    checkin = CheckIn(
        patient_id=child.id,
        visit_key=f"encounter:{visit.resource_id}",
        encounter_resource_id=visit.resource_id,
        visit_start=visit.start_at,
        status="reviewed",
    )
    session.add(checkin)
    session.flush()
    session.add(
        CheckInChange(checkin_id=checkin.id, kind="medication-add", new_value="Sertraline", status="accepted")
    )
    session.commit()

    assert [
        r.text for r in reported.medications(session, person_scope(session, family["parent"], child)).reported
    ] == ["Sertraline"]
    visit.confidential = True
    session.add(visit)
    session.commit()
    assert reported.medications(session, limited_scope(session, child)).reported == []
    assert len(reported.medications(session, person_scope(session, family["parent"], child)).reported) == 1
