"""One-time codes, and activation: a patient's code plus date of birth lets them create their passkey.

A code is stored hashed, found by a short selector, works once, expires, and stops after five wrong tries.
Activation codes belong to a patient, enrolment links and invitations to a person; `claim_code` is the one
step that activation and enrolment share: take the ceremony's challenge, lock its code, verify the passkey.
A deceased patient is never offered an account: no code is issued, and an old one no longer works.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, col, select

from portal.config import Settings
from portal.models import LoginSession, OneTimeCode, Passkey, Patient, Person, WebAuthnChallenge
from portal.models.base import new_public_id, utcnow
from portal.security import hashing, passkeys, ratelimit
from portal.security.passkeys import PasskeyError
from portal.security.sessions import Client
from portal.services.errors import Refused
from portal.services.identity.common import audit_event, rate_limited
from portal.services.identity.devices import add_passkey_and_sign_in

ACTIVATION_DAYS = 30
ACTIVATION_LENGTH = 16  # 80 bits in 4 groups of 4
MAX_WRONG_TRIES = 5


def _new_one_time_code(session: Session, *, kind: str, length: int, lifetime: timedelta, **links: Any) -> str:
    """A fresh code whose selector no other live code of its kind has."""
    now = utcnow()
    while True:
        code = hashing.new_code(length)
        clash = session.exec(
            select(OneTimeCode.id).where(
                OneTimeCode.kind == kind,
                OneTimeCode.selector == hashing.selector(code),
                col(OneTimeCode.used_at).is_(None),
                OneTimeCode.expires_at > now,
            )
        ).first()
        if clash is None:
            break
    session.add(
        OneTimeCode(
            kind=kind,
            selector=hashing.selector(code),
            code_hash=hashing.hash_code(code),
            expires_at=now + lifetime,
            **links,
        )
    )
    session.flush()
    return code


def issue_code(
    session: Session, *, kind: str, length: int, lifetime: timedelta, replace: bool = False, **links: Any
) -> str:
    """A single-use code of `kind` (stored hashed) linked to a patient, person or issuer; `replace` first
    ends the person's earlier live codes of the same kind."""
    if replace and links.get("person_id") is not None:
        expire_codes(session, kind=kind, person_id=links["person_id"])
    return _new_one_time_code(session, kind=kind, length=length, lifetime=lifetime, **links)


def live(code: OneTimeCode) -> bool:
    """Not used, not expired, not worn out by wrong tries."""
    return code.used_at is None and utcnow() < code.expires_at and code.failed_attempts < MAX_WRONG_TRIES


def count_wrong_try(
    session: Session, client: Client | None, code: OneTimeCode, *, patient_id: int | None = None
) -> None:
    """One more wrong try on a code; the try that wears it out is an audit event of its own."""
    code.failed_attempts += 1
    if code.failed_attempts == MAX_WRONG_TRIES:
        audit_event(
            session,
            client,
            action="code-locked",
            outcome="denied",
            actor_person_id=code.person_id,
            patient_id=patient_id if patient_id is not None else code.patient_id,
            resource_type="OneTimeCode",
            resource_id=code.kind,
        )


def find_code(session: Session, *, kind: str, typed: str) -> OneTimeCode | None:
    """The live code of `kind` matching what was typed or followed, after exactly one hash check whatever
    happens; or None."""
    code = hashing.normalize(typed)
    candidates = session.exec(
        select(OneTimeCode)
        .where(OneTimeCode.kind == kind, OneTimeCode.selector == hashing.selector(code))
        .order_by(col(OneTimeCode.id).desc())
    ).all()
    candidate = next((c for c in candidates if live(c)), None)
    matches = hashing.verify_code(candidate.code_hash if candidate else None, code)
    return candidate if matches else None


def expire_codes(
    session: Session, *, kind: str, patient_id: int | None = None, person_id: int | None = None
) -> None:
    """End the patient's or person's unused codes of `kind`."""
    query = select(OneTimeCode).where(OneTimeCode.kind == kind, col(OneTimeCode.used_at).is_(None))
    if patient_id is not None:
        query = query.where(OneTimeCode.patient_id == patient_id)
    if person_id is not None:
        query = query.where(OneTimeCode.person_id == person_id)
    for old in session.exec(query).all():
        old.expires_at = min(old.expires_at, utcnow())


def claim_code(
    session: Session,
    settings: Settings,
    credential: dict[str, Any],
    *,
    binding: str,
    purpose: str,
    owner: str,
) -> tuple[WebAuthnChallenge, OneTimeCode, Passkey]:
    """The ceremony's challenge, its one-time code locked for this transaction (one use, even at once) and
    naming its `owner` ("patient_id" or "person_id"), and the verified new passkey; PasskeyError when any
    of them is not good, before anything is stored."""
    challenge = passkeys.pop_challenge(session, settings, credential, purpose=purpose, binding=binding)
    code = session.get(OneTimeCode, challenge.one_time_code_id, with_for_update=True)
    if code is None or not live(code) or getattr(code, owner) is None:
        raise PasskeyError("code no longer usable")
    return challenge, code, passkeys.verify_new(session, settings, credential, challenge)


# ----------------------------------------------------------------------------------------- activation


def find_patient(session: Session, fhir_id: str) -> Patient | None:
    return session.exec(select(Patient).where(Patient.fhir_id == fhir_id)).first()


def issue_activation_code(
    session: Session, *, patient: Patient, issued_by: Person | None = None, client: Client | None = None
) -> str:
    """A new activation code for the patient (older unused ones stop working), grouped for printing.
    Raises Refused("patient_deceased") for a deceased patient, who is never offered an account."""
    assert patient.id is not None
    if patient.deceased:
        raise Refused("patient_deceased")
    expire_codes(session, kind="activation", patient_id=patient.id)
    code = _new_one_time_code(
        session,
        kind="activation",
        length=ACTIVATION_LENGTH,
        lifetime=timedelta(days=ACTIVATION_DAYS),
        patient_id=patient.id,
        issued_by_person_id=issued_by.id if issued_by else None,
    )
    audit_event(
        session,
        client,
        action="code-issued",
        actor_person_id=issued_by.id if issued_by else None,
        actor_role=issued_by.staff_role if issued_by else "system",
        patient_id=patient.id,
        resource_type="Patient",
        resource_id=patient.fhir_id,
    )
    return hashing.group(code)


def activation_options(
    session: Session, settings: Settings, *, binding: str, code: str, birth_date: date | None, client: Client
) -> str | Refused:
    """Check the code and date of birth together; only then hand out options to create a passkey."""
    try:
        ratelimit.check(session, settings, ratelimit.ACTIVATION_ADDRESS, client.address)
    except ratelimit.RateLimited as error:
        return rate_limited(session, client, error)
    found = find_code(session, kind="activation", typed=code)
    patient = session.get(Patient, found.patient_id) if found and found.patient_id else None
    if (
        found is None
        or patient is None
        or patient.deceased
        or birth_date is None
        or patient.birth_date != birth_date
    ):
        if found is not None:
            count_wrong_try(session, client, found, patient_id=patient.id if patient else None)
        ratelimit.hit(session, settings, ratelimit.ACTIVATION_ADDRESS, client.address)
        audit_event(
            session,
            client,
            action="activate",
            outcome="denied",
            patient_id=patient.id if patient else None,
        )
        return Refused("bad_activation")
    person = session.get(Person, patient.person_id) if patient.person_id else None
    return passkeys.registration_options(
        session,
        settings,
        binding=binding,
        purpose="activate",
        user_handle=person.public_id if person else new_public_id(),
        user_name=patient.display_name,
        display_name=patient.display_name,
        one_time_code_id=found.id,
    )


def finish_activation(
    session: Session,
    settings: Settings,
    *,
    binding: str,
    credential: dict[str, Any],
    client: Client,
    replacing: str | None = None,
) -> LoginSession | Refused:
    """Store the new passkey, create (or reuse) the person, use up the code and sign them in."""
    try:
        challenge, code, new_key = claim_code(
            session, settings, credential, purpose="activate", owner="patient_id", binding=binding
        )
    except PasskeyError:
        audit_event(session, client, action="activate", outcome="denied")
        return Refused("passkey_failed")
    assert code.patient_id is not None
    patient = session.get(Patient, code.patient_id)
    assert patient is not None and challenge.user_handle is not None
    if patient.deceased:  # died between the code's check and the passkey: the same answer as a wrong code
        audit_event(session, client, action="activate", outcome="denied", patient_id=patient.id)
        return Refused("bad_activation")
    person = session.get(Person, patient.person_id) if patient.person_id else None
    if person is None:
        person = Person(public_id=challenge.user_handle, display_name=patient.display_name)
        session.add(person)
        session.flush()
        patient.person_id = person.id
    code.used_at = utcnow()
    code.person_id = person.id
    login = add_passkey_and_sign_in(
        session, settings, person, new_key, method="activation", client=client, replacing=replacing
    )
    audit_event(
        session,
        client,
        action="activate",
        actor_person_id=person.id,
        actor_role="patient",
        patient_id=patient.id,
    )
    return login
