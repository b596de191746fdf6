"""Refill requests through HTTP: the medications page's offers, the form, one pending request per
medicine, the clinician's decisions, mail without PHI, and a limited proxy who never sees a confidential
medicine's refill."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from portal.models import AuditEvent, FhirResource, OutboxMail, RefillEvent, RefillRequest
from tests.conftest import form_post, log_in
from tests.refill_helpers import REQUEST, RXNORM, family, make_medication


@pytest.fixture
def fam(session, settings):
    return family(session, settings.today())


def rows(session: Session, model, *conditions):
    session.commit()
    with Session(session.get_bind(), expire_on_commit=False) as fresh:
        found = fresh.exec(select(model).where(*conditions)).all()
        fresh.commit()
        return found


def ask(client, patient, medication, **fields):
    return form_post(
        client, f"/p/{patient.public_id}/medications/{medication.public_id}/refill", {**REQUEST, **fields}
    )


def the_request(session, medication) -> RefillRequest:
    (found,) = rows(session, RefillRequest, RefillRequest.medication_id == medication.id)
    return found


# --------------------------------------------------------------------------- the medications page


def test_each_current_medicine_offers_a_refill(client, session, fam) -> None:
    log_in(client, session, fam["parent"])

    page = client.get(f"/p/{fam['child'].public_id}/medications")

    assert page.status_code == 200
    assert f"/medications/{fam['inhaler'].public_id}/refill" in page.text
    assert "Request a refill" in page.text


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"code": "1049221", "display": "Oxycodone and acetaminophen"}, "controlled medicine"),  # clinic list
        (
            {"extra": {"extension": [{"url": "http://example.org/fhir/dea-schedule", "valueCode": "CII"}]}},
            "controlled",
        ),
        (
            {
                "extra": {
                    "contained": [
                        {
                            "resourceType": "Medication",
                            "id": "m1",
                            "code": {
                                "coding": [{"system": "urn:oid:2.16.840.1.113883.3.26.1.1", "code": "C48677"}]
                            },
                        }
                    ]
                }
            },
            "controlled",
        ),
        ({"extra": {"dispenseRequest": {"numberOfRepeatsAllowed": 0}}}, "no refills left"),
        ({"code": "389221", "display": "Etonogestrel implant"}, "given at the clinic"),
        ({"status": "on-hold"}, "on hold"),
    ],
)
def test_a_medicine_not_refilled_online_says_why_and_gives_the_phone(
    client, session, settings, fam, fields, words
) -> None:
    medicine = make_medication(session, fam["child"], **fields)
    log_in(client, session, fam["parent"])

    page = client.get(f"/p/{fam['child'].public_id}/medications")
    form = client.get(f"/p/{fam['child'].public_id}/medications/{medicine.public_id}/refill")
    posted = ask(client, fam["child"], medicine)

    assert words in page.text and settings.clinic_phone in page.text
    assert words in form.text and 'name="days_left"' not in form.text
    assert posted.status_code == 400
    assert rows(session, RefillRequest, RefillRequest.medication_id == medicine.id) == []


def test_each_medicine_on_the_page_gets_its_own_offer(client, session, fam) -> None:
    """The page reads every medicine's offer at once: each keeps its own reason, request or link."""
    session.add(
        FhirResource(
            resource_type="Medication",
            fhir_id="oxy-tabs",
            patient_id=fam["child"].id,
            content_hash="1" * 64,
            resource_json=json.dumps(
                {
                    "resourceType": "Medication",
                    "id": "oxy-tabs",
                    "code": {"coding": [{"system": RXNORM, "code": "1049221"}]},
                }
            ),
        )
    )
    session.commit()
    pointing = make_medication(
        session,
        fam["child"],
        code="0",
        display="Pain tablets",
        extra={"medicationReference": {"reference": "Medication/oxy-tabs"}},
    )
    asked = make_medication(session, fam["child"], code="895994", display="Fluticasone inhaler")
    log_in(client, session, fam["parent"])
    ask(client, fam["child"], asked)

    page = client.get(f"/p/{fam['child'].public_id}/medications").text

    assert page.count("controlled medicine") == 1
    assert page.count("Refill asked for: see its status") == 1
    assert f'/medications/{asked.public_id}/refill">Refill asked for' in page
    assert f'/medications/{fam["inhaler"].public_id}/refill">Request a refill' in page
    assert f"/medications/{pointing.public_id}/refill" not in page


# --------------------------------------------------------------------------- asking


def test_a_parent_asks_for_a_childs_refill_and_sees_it_sent(client, session, fam) -> None:
    log_in(client, session, fam["parent"])

    response = ask(client, fam["child"], fam["inhaler"], note="Running low")

    assert response.status_code == 200 and response.url.path == f"/p/{fam['child'].public_id}/refills"
    assert "Sent to the clinic" in response.text and "Albuterol inhaler" in response.text
    (stored,) = rows(session, RefillRequest)
    assert (stored.days_left, stored.note, stored.pharmacy_id) == (5, "Running low", "riverside-main")
    assert [e.status for e in rows(session, RefillEvent)] == ["pending"]


def test_the_request_is_kept_as_a_valid_fhir_task(client, session, fam) -> None:
    from fhir.resources.R4B.task import Task

    log_in(client, session, fam["parent"])
    ask(client, fam["child"], fam["inhaler"])

    (stored,) = rows(session, RefillRequest)
    (row,) = rows(session, FhirResource, FhirResource.id == stored.task_resource_id)
    task = Task.model_validate(json.loads(row.resource_json))
    assert (task.status, task.intent) == ("requested", "order")
    assert task.focus.reference == f"MedicationRequest/{fam['inhaler'].fhir_id}"
    assert task.owner is not None and row.patient_id == fam["child"].id


def test_the_last_pharmacy_is_remembered(client, session, fam) -> None:
    second = make_medication(session, fam["child"], code="895994", display="Fluticasone inhaler")
    log_in(client, session, fam["parent"])
    ask(client, fam["child"], fam["inhaler"], pharmacy="other", pharmacy_other="Corner Drugs, 9 Elm St")

    form = client.get(f"/p/{fam['child'].public_id}/medications/{second.public_id}/refill")

    assert 'value="other" checked' in form.text and "Corner Drugs, 9 Elm St" in form.text


def test_a_second_request_shows_the_first_ones_status(client, session, fam) -> None:
    log_in(client, session, fam["parent"])
    ask(client, fam["child"], fam["inhaler"])

    again = ask(client, fam["child"], fam["inhaler"])
    page = client.get(f"/p/{fam['child'].public_id}/medications")

    assert again.status_code == 409
    assert "already asked" in again.text and "Sent to the clinic" in again.text
    assert len(rows(session, RefillRequest)) == 1
    assert "Refill asked for: see its status" in page.text


@pytest.mark.parametrize(
    "fields",
    [
        {"days_left": "lots"},
        {"days_left": "-1"},
        {"days_left": "9999"},
        {"pharmacy": ""},
        {"pharmacy": "not-a-pharmacy"},
        {"pharmacy": "other", "pharmacy_other": ""},
        {"note": "x" * 1001},
    ],
)
def test_bad_input_is_refused_with_words_and_stores_nothing(client, session, fam, fields) -> None:
    log_in(client, session, fam["parent"])

    response = ask(client, fam["child"], fam["inhaler"], **fields)

    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert rows(session, RefillRequest) == []


def test_the_form_is_in_spanish_too(client, session, fam) -> None:
    log_in(client, session, fam["parent"])
    client.cookies.set("lang", "es")

    form = client.get(
        f"/p/{fam['child'].public_id}/medications/{fam['inhaler'].public_id}/refill",
        headers={"Accept-Language": "es"},
    )

    assert "farmacia" in form.text.lower()


# --------------------------------------------------------------------------- confidential medicines


def test_a_limited_proxy_never_sees_nor_asks_for_a_confidential_medicines_refill(
    client, session, fam
) -> None:
    teen, private = fam["teen"], fam["teen_private"]
    log_in(client, session, fam["teen_person"])
    assert ask(client, teen, private).status_code == 200  # the teen asks for themself
    log_in(client, session, fam["parent"])

    meds = client.get(f"/p/{teen.public_id}/medications")
    history = client.get(f"/p/{teen.public_id}/refills")
    form = client.get(f"/p/{teen.public_id}/medications/{private.public_id}/refill")
    posted = ask(client, teen, private)

    assert "Private teen medicine" not in meds.text + history.text
    assert "No refill requests yet." in history.text
    assert (form.status_code, posted.status_code) == (404, 404)
    assert len(rows(session, RefillRequest)) == 1


def test_a_limited_proxys_fhir_download_leaves_out_the_confidential_task(client, session, fam) -> None:
    from portal.fhir.export import patient_bundle
    from tests.scopes import limited_scope, person_scope

    log_in(client, session, fam["teen_person"])
    ask(client, fam["teen"], fam["teen_private"])
    ask(client, fam["teen"], fam["teen_pill"])

    limited = patient_bundle(session, limited_scope(session, fam["teen"]))
    own = patient_bundle(session, person_scope(session, fam["teen_person"], fam["teen"]))

    def tasks(bundle):
        return [
            e["resource"]["focus"]["display"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Task"
        ]

    assert tasks(limited) == ["Cetirizine 10 MG"]
    assert sorted(tasks(own)) == ["Cetirizine 10 MG", "Private teen medicine 9c1e"]


# --------------------------------------------------------------------------- the clinician


@pytest.fixture
def asked(client, session, fam):
    """The parent asked for the child's inhaler, then the teen for their own pill."""
    log_in(client, session, fam["parent"])
    ask(client, fam["child"], fam["inhaler"])
    log_in(client, session, fam["teen_person"])
    ask(client, fam["teen"], fam["teen_pill"])
    return {
        "inhaler": the_request(session, fam["inhaler"]),
        "pill": the_request(session, fam["teen_pill"]),
    }


def decide_url(fam, patient, refill) -> str:
    return f"/p/{fam[patient].public_id}/refills/{refill.public_id}/decide"


def test_the_queue_shows_the_oldest_first_with_what_a_decision_needs(client, session, fam, asked) -> None:
    log_in(client, session, fam["clinician"])

    page = client.get("/clinic/refills")

    assert page.status_code == 200
    assert page.text.index("Albuterol inhaler") < page.text.index("Cetirizine 10 MG")
    for words in ("Last prescribed", "Last visit", "Next booked visit", "Days left", "Riverside Pharmacy"):
        assert words in page.text
    looks = rows(session, AuditEvent, AuditEvent.route == "refill_queue_page")
    assert sorted(e.patient_id for e in looks) == sorted([fam["child"].id, fam["teen"].id])


@pytest.mark.parametrize("who", ["front_desk", "parent"])
def test_only_clinicians_open_the_queue(client, session, fam, asked, who) -> None:
    log_in(client, session, fam[who])

    assert client.get("/clinic/refills").status_code in (403, 404)


def test_an_approval_becomes_a_draft_prescription_and_is_not_called_sent(client, session, fam, asked) -> None:
    from fhir.resources.R4B.medicationrequest import MedicationRequest as FhirMedicationRequest

    log_in(client, session, fam["clinician"])

    response = form_post(
        client,
        decide_url(fam, "child", asked["inhaler"]),
        {"decision": "approved", "quantity": "1", "refills": "2"},
    )

    assert response.status_code == 200 and "Decision recorded." in response.text
    (stored,) = rows(session, RefillRequest, RefillRequest.id == asked["inhaler"].id)
    assert (stored.status, stored.quantity, stored.refills, stored.sent_to_pharmacy) == (
        "approved",
        1,
        2,
        False,
    )
    (draft,) = rows(session, FhirResource, FhirResource.id == stored.draft_resource_id)
    parsed = FhirMedicationRequest.model_validate(json.loads(draft.resource_json))
    assert (parsed.status, parsed.dispenseRequest.numberOfRepeatsAllowed) == ("draft", 2)
    log_in(client, session, fam["parent"])
    seen = client.get(f"/p/{fam['child'].public_id}/refills").text
    assert "Approved. Not yet sent to the pharmacy." in seen
    assert "Approved and sent to the pharmacy" not in seen


def test_a_denial_needs_a_reason_and_the_patient_reads_it(client, session, fam, asked) -> None:
    log_in(client, session, fam["clinician"])
    url = decide_url(fam, "teen", asked["pill"])

    refused = form_post(client, url, {"decision": "denied"})
    done = form_post(client, url, {"decision": "denied", "reason": "Please try the nasal spray instead."})

    assert refused.status_code == 400
    assert done.status_code == 200
    log_in(client, session, fam["teen_person"])
    seen = client.get(f"/p/{fam['teen'].public_id}/refills").text
    assert "Not approved" in seen and "Please try the nasal spray instead." in seen


def test_needs_a_visit_tells_the_patient_how_to_book(client, session, settings, fam, asked) -> None:
    log_in(client, session, fam["clinician"])

    form_post(client, decide_url(fam, "teen", asked["pill"]), {"decision": "needs_visit"})

    log_in(client, session, fam["teen_person"])
    seen = client.get(f"/p/{fam['teen'].public_id}/refills").text
    assert "needs to see you first" in seen and settings.clinic_phone in seen
    assert f'href="/p/{fam["teen"].public_id}/messages/new"' in seen  # or write to the care team


def test_a_request_is_decided_once_and_the_second_clinician_is_told(client, session, fam, asked) -> None:
    url = decide_url(fam, "child", asked["inhaler"])
    log_in(client, session, fam["clinician"])
    form_post(client, url, {"decision": "approved", "quantity": "1", "refills": "0"})
    log_in(client, session, fam["other_clinician"])

    second = form_post(client, url, {"decision": "denied", "reason": "No."})

    assert second.status_code == 409 and "already decided" in second.text
    (stored,) = rows(session, RefillRequest, RefillRequest.id == asked["inhaler"].id)
    assert (stored.status, stored.decided_by_person_id) == ("approved", fam["clinician"].id)
    assert [e.status for e in rows(session, RefillEvent, RefillEvent.request_id == stored.id)] == [
        "pending",
        "approved",
    ]


def test_a_patient_cannot_decide(client, session, fam, asked) -> None:
    log_in(client, session, fam["parent"])

    response = form_post(
        client,
        decide_url(fam, "child", asked["inhaler"]),
        {"decision": "approved", "quantity": "1", "refills": "0"},
    )

    assert response.status_code in (403, 404)
    assert rows(session, RefillRequest, RefillRequest.status != "pending") == []


def test_the_status_change_mail_carries_no_health_information(client, session, fam, asked) -> None:
    log_in(client, session, fam["clinician"])

    form_post(client, decide_url(fam, "teen", asked["pill"]), {"decision": "denied", "reason": "Too soon."})

    (sent,) = rows(session, OutboxMail, OutboxMail.to_address == "teen@example.org")
    assert sent.subject == "There is an update in your portal"
    for secret in ("Cetirizine", "Too soon", "refill", "Tess", "denied"):
        assert secret.lower() not in (sent.subject + sent.body).lower()
    assert rows(session, OutboxMail, OutboxMail.to_address == "parent@example.org") == []
