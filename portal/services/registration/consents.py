"""The clinic's consent documents (portal/data/consents/documents.json, each with a version) and signing
them: typing one's full name and ticking agreement, recorded with the time, the version and who signed
(the patient, or a parent for a child), and kept as a FHIR R4 Consent for the EHR."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from portal import forms
from portal.models.base import utcnow
from portal.models.registration import CheckIn, ConsentSignature
from portal.services.access import PatientScope
from portal.services.errors import Refused
from portal.services.registration import steps

DOCUMENTS = Path(__file__).resolve().parents[2] / "data" / "consents" / "documents.json"


@dataclass(frozen=True)
class Document:
    key: str
    version: str
    title: dict[str, str]
    text: dict[str, str]

    def title_in(self, lang: str) -> str:
        return self.title.get(lang) or self.title["en"]

    def text_in(self, lang: str) -> str:
        return self.text.get(lang) or self.text["en"]


@cache
def documents() -> tuple[Document, ...]:
    data = json.loads(DOCUMENTS.read_text(encoding="utf-8"))
    return tuple(Document(d["key"], d["version"], d["title"], d["text"]) for d in data["documents"])


def signatures(session: Session, checkin: CheckIn | None) -> dict[str, ConsentSignature]:
    if checkin is None:
        return {}
    rows = session.exec(select(ConsentSignature).where(ConsentSignature.checkin_id == checkin.id))
    return {row.document: row for row in rows}


def consents_page(session: Session, scope: PatientScope, opens_days: int = steps.DEFAULT_OPENS_DAYS) -> Any:
    """The check-in's progress, the documents and what was signed (a reader)."""
    progress = steps.progress(session, scope, opens_days)
    if progress is None:
        return None
    return progress, documents(), signatures(session, progress.checkin)


def sign(
    session: Session, scope: PatientScope, form: dict[str, str], opens_days: int = steps.DEFAULT_OPENS_DAYS
) -> CheckIn | steps.Closed:
    """Sign every document not yet signed: each needs the signer's full name typed and the box ticked."""
    checkin = steps.open_checkin(session, scope, opens_days)
    if isinstance(checkin, steps.Closed):
        return checkin
    signed = signatures(session, checkin)
    role = steps.progress(session, scope, opens_days)
    signer_role = role.signer_role if role else "self"
    for document in documents():
        if document.key in signed:
            continue
        try:
            name = forms.text(form.get(f"name:{document.key}", ""), max_length=steps.NAME_LENGTH)
        except forms.InputError:
            raise Refused("too_long", field=f"name:{document.key}") from None
        if len(name) < 2 or " " not in name.strip():
            raise Refused("full_name_needed", field=f"name:{document.key}")
        if form.get(f"agree:{document.key}") != "yes":
            raise Refused("tick_to_agree", field=f"agree:{document.key}")
        assert checkin.id is not None
        session.add(
            ConsentSignature(
                checkin_id=checkin.id,
                patient_id=scope.patient_id,
                document=document.key,
                version=document.version,
                typed_name=name,
                signer_person_id=scope.viewer.id,
                signer_role=signer_role,
                signed_at=utcnow(),
            )
        )
    steps.mark_done(checkin, "consents")
    session.add(checkin)
    return checkin


def consent_resource(signature: ConsentSignature, document: Document, patient_fhir_id: str) -> dict[str, Any]:
    """A signature as a FHIR R4 Consent."""
    category = ("59284-0", "Consent Document")  # LOINC: Patient Consent
    return {
        "resourceType": "Consent",
        "id": f"reg-consent-{signature.public_id}".replace("_", "-")[
            :64
        ],  # FHIR ids: letters, digits, - and .
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy" if document.key == "privacy" else "treatment",
                }
            ]
        },
        "category": [
            {"coding": [{"system": "http://loinc.org", "code": category[0], "display": category[1]}]}
        ],
        "patient": {"reference": f"Patient/{patient_fhir_id}"},
        "dateTime": signature.signed_at.isoformat(timespec="seconds"),
        "performer": [{"display": f"{signature.typed_name} ({signature.signer_role})"}],
        "sourceAttachment": {
            "contentType": "text/plain",
            "title": f"{document.title['en']}, version {document.version}",
        },
        "policyRule": {"text": f"{document.key} {document.version}"},
    }
