"""Questionnaires at check-in: every answer type, nested groups and enableWhen judged on the server, into a
valid QuestionnaireResponse; required answers; a teen's confidential answers hidden from a limited proxy."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from sqlmodel import select

from portal.models import CheckInAnswer, Encounter, FhirResource, ProxyGrant
from portal.services.registration import questionnaires
from tests.conftest import form_post, log_in, make_patient, make_person
from tests.test_registration import add_row

EVERY_TYPE = {
    "resourceType": "Questionnaire",
    "id": "every-type",
    "url": "https://clinic.test/Questionnaire/every-type",
    "status": "active",
    "item": [
        {
            "linkId": "outer",
            "type": "group",
            "text": "Outer",
            "item": [
                {"linkId": "smoker", "type": "boolean", "text": "Smoke?", "required": True},
                {
                    "linkId": "smoking",
                    "type": "group",
                    "text": "Smoking",
                    "enableWhen": [{"question": "smoker", "operator": "=", "answerBoolean": True}],
                    "item": [
                        {"linkId": "per-day", "type": "integer", "text": "How many a day?", "required": True},
                        {"linkId": "since", "type": "date", "text": "Since when?"},
                    ],
                },
                {"linkId": "weight", "type": "decimal", "text": "Weight"},
            ],
        },
        {
            "linkId": "mood",
            "type": "choice",
            "text": "Mood",
            "required": True,
            "answerOption": [{"valueCoding": {"code": "ok", "display": "OK"}}, {"valueString": "low"}],
        },
        {"linkId": "name", "type": "string", "text": "Name"},
        {"linkId": "notes", "type": "text", "text": "Notes"},
    ],
}


def test_every_answer_type_and_nested_groups_round_trip_to_a_valid_response() -> None:
    Questionnaire.model_validate(EVERY_TYPE)
    form = {
        "p:smoker": "yes",
        "p:per-day": "5",
        "p:since": "2020-01-31",
        "p:weight": "61.5",
        "p:mood": "ok",
        "p:name": "Ana",
        "p:notes": "line one\nline two",
    }

    filled = questionnaires.fill(EVERY_TYPE, form, "p:")
    response = questionnaires.response(
        EVERY_TYPE,
        filled.answers,
        patient_fhir_id="pat-1",
        author="Ana",
        complete=filled.complete,
        authored=datetime.now(UTC),
    )

    assert filled.problems == {}
    QuestionnaireResponse.model_validate(response)
    assert response["status"] == "completed"
    outer = response["item"][0]
    smoking = next(i for i in outer["item"] if i["linkId"] == "smoking")
    assert smoking["item"][0]["answer"] == [{"valueInteger": 5}]
    assert smoking["item"][1]["answer"] == [{"valueDate": "2020-01-31"}]
    assert questionnaires.answers_of(EVERY_TYPE, response)["weight"] == "61.5"


def test_enable_when_is_judged_on_the_server() -> None:
    form = {"p:smoker": "no", "p:per-day": "20", "p:mood": "low"}

    filled = questionnaires.fill(EVERY_TYPE, form, "p:")

    assert "per-day" not in filled.answers  # the group is disabled: its answer is dropped, not required
    assert filled.problems == {}


def test_a_required_answer_left_empty_is_named_and_the_others_are_kept() -> None:
    form = {"p:smoker": "yes", "p:weight": "abc", "p:name": "Ana"}

    filled = questionnaires.fill(EVERY_TYPE, form, "p:")

    assert filled.problems == {"per-day": "required", "weight": "bad_decimal", "mood": "required"}
    assert filled.answers == {"smoker": True, "name": "Ana"}
    assert filled.raw["weight"] == "abc"


def teen_family(session):
    parent = make_person(session, display_name="Rosa Rivera")
    teen_person = make_person(session, display_name="Tina Rivera")
    born = date.today().replace(year=date.today().year - 15) - timedelta(days=10)
    teen = make_patient(
        session, given_name="Tina", family_name="Rivera", birth_date=born, person_id=teen_person.id
    )
    session.add(
        ProxyGrant(proxy_person_id=parent.id, patient_id=teen.id, relationship="parent", starts_on=born)
    )
    session.commit()
    add_row(
        session,
        teen,
        Encounter,
        "Encounter",
        display="Sports physical",
        status="planned",
        start_at=datetime.now(UTC) + timedelta(days=2),
    )
    return parent, teen_person, teen


def test_a_teens_confidential_answers_are_hidden_from_a_limited_proxy(client, session) -> None:
    parent, teen_person, teen = teen_family(session)
    log_in(client, session, teen_person)
    page = client.get(f"/p/{teen.public_id}/checkin/forms").text
    fields = set(re.findall(r'name="(q\d+:phq\.\d)"', page))
    assert len(fields) == 9
    answers = dict.fromkeys(fields, "2")
    form_post(client, f"/p/{teen.public_id}/checkin/forms", answers)

    log_in(client, session, parent)
    seen = client.get(f"/p/{teen.public_id}/checkin/forms")

    assert seen.status_code == 200
    assert "This form is private" in seen.text
    assert "Little interest or pleasure" not in seen.text
    stored = session.exec(select(CheckInAnswer).where(CheckInAnswer.confidential.is_(True))).one()
    assert json.loads(stored.response_json)["item"][0]["item"][0]["answer"][0]["valueCoding"]["code"] == "2"


def test_a_required_answer_left_empty_gets_a_message_next_to_it_over_http(client, session) -> None:
    _, teen_person, teen = teen_family(session)
    log_in(client, session, teen_person)
    page = client.get(f"/p/{teen.public_id}/checkin/forms").text
    fields = sorted(set(re.findall(r'name="(q\d+:phq\.\d)"', page)))

    response = form_post(client, f"/p/{teen.public_id}/checkin/forms", dict.fromkeys(fields[1:], "1"))

    assert response.status_code == 400
    assert f'id="{fields[0]}-error">Please answer this question.' in response.text
    assert response.text.count('value="1" checked') == len(fields) - 1  # the other answers are kept


def test_sent_confidential_answers_are_labelled_for_the_fhir_download(client, session) -> None:
    _, teen_person, teen = teen_family(session)
    log_in(client, session, teen_person)
    page = client.get(f"/p/{teen.public_id}/checkin/forms").text
    form_post(
        client,
        f"/p/{teen.public_id}/checkin/forms",
        {name: "0" for name in set(re.findall(r'name="(q\d+:[a-z.\-0-9]+)"', page)) if "phq" in name}
        | {"q0:general.rating": "good", "q0:general.hospital": "no"},
    )
    form_post(client, f"/p/{teen.public_id}/checkin/details", {"given_name": "Tina"})
    form_post(client, f"/p/{teen.public_id}/checkin/insurance", {"no_insurance": "yes"})
    form_post(client, f"/p/{teen.public_id}/checkin/review", {})
    form_post(
        client,
        f"/p/{teen.public_id}/checkin/consents",
        {
            f"{k}:{d}": ("Tina Rivera" if k == "name" else "yes")
            for d in ("treatment", "privacy", "financial", "portal")
            for k in ("name", "agree")
        },
    )

    sent = form_post(client, f"/p/{teen.public_id}/checkin/submit")

    assert sent.status_code == 200
    rows = session.exec(
        select(FhirResource).where(FhirResource.resource_type == "QuestionnaireResponse")
    ).all()
    labels = {
        json.loads(r.resource_json)["questionnaire"].rsplit("/", 1)[1]: r.confidential_reason for r in rows
    }
    assert labels["phq-9-teen"] == "teen-confidential"
    assert labels["health-history"] is None
