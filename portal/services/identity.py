"""Who you are: activation codes, passkeys, sign-in and sign-out, recovery codes, passwords, staff accounts.

Every function takes the caller's session and never commits: `run_db` makes each call one transaction,
so an identity event and its audit event are written together. A failed attempt returns a refusal
instead of raising, so that the counters it bumped (wrong tries, rate limits) are committed too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import Any

from sqlmodel import Session, col, select
from webauthn.helpers import base64url_to_bytes

from portal.config import Settings
from portal.i18n import N_, gettext, ngettext
from portal.models import (
    LoginSession,
    OneTimeCode,
    Passkey,
    PasswordLogin,
    Patient,
    Person,
    RecoveryCode,
    WebAuthnChallenge,
)
from portal.models.base import new_public_id, utcnow
from portal.provenance import Provenance
from portal.security import hashing, passkeys, ratelimit, sessions
from portal.security.passkeys import PasskeyError
from portal.security.sessions import Client
from portal.services import audit, mail

ACTIVATION_DAYS = 30
ACTIVATION_LENGTH = 16  # 80 bits in 4 groups of 4
ENROLMENT_HOURS = 72
ENROLMENT_LENGTH = 24
MAIL_CODE_MINUTES = 10
MAX_WRONG_TRIES = 5
RECOVERY_CODES = 10
RECOVERY_LENGTH = 12  # 60 bits in 3 groups of 4
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
STAFF_ROLES = sessions.STAFF_ROLES


class IdentityError(ValueError):
    """A request the portal refuses, with a message fit to show."""


@dataclass(frozen=True)
class Refused:
    """A failed attempt: the message to show (the same for every reason that must not be told apart)."""

    message: str
    retry_after_minutes: int | None = None


def _refuse_rate_limited(error: ratelimit.RateLimited) -> Refused:
    minutes = sessions.minutes_until(error.until)
    message = ngettext(
        "Too many tries. Please wait %(num)d minute, then try again.",
        "Too many tries. Please wait %(num)d minutes, then try again.",
        minutes,
    ) % {"num": minutes}
    return Refused(message, retry_after_minutes=minutes)


def _audit(session: Session, client: Client | None, *, route: str | None = None, **fields: Any) -> None:
    provenance = Provenance(
        route=route,
        client_address=client.address if client else None,
        request_id=client.request_id if client else None,
    )
    audit.record(session, provenance=provenance, **fields)


# ---------------------------------------------------------------------------------------------- codes


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
        _expire_codes(session, kind=kind, person_id=links["person_id"])
    return _new_one_time_code(session, kind=kind, length=length, lifetime=lifetime, **links)


def find_code(session: Session, *, kind: str, typed: str) -> OneTimeCode | None:
    """The live code of `kind` matching what was typed or followed, or None."""
    return _find_code(session, kind=kind, typed=typed)


def _live(code: OneTimeCode) -> bool:
    return code.used_at is None and utcnow() < code.expires_at and code.failed_attempts < MAX_WRONG_TRIES


def _find_code(session: Session, *, kind: str, typed: str) -> OneTimeCode | None:
    """The live code matching what was typed, after exactly one hash check whatever happens."""
    code = hashing.normalize(typed)
    candidates = session.exec(
        select(OneTimeCode)
        .where(OneTimeCode.kind == kind, OneTimeCode.selector == hashing.selector(code))
        .order_by(col(OneTimeCode.id).desc())
    ).all()
    candidate = next((c for c in candidates if _live(c)), None)
    matches = hashing.verify_code(candidate.code_hash if candidate else None, code)
    return candidate if matches else None


def _expire_codes(
    session: Session, *, kind: str, patient_id: int | None = None, person_id: int | None = None
) -> None:
    query = select(OneTimeCode).where(OneTimeCode.kind == kind, col(OneTimeCode.used_at).is_(None))
    if patient_id is not None:
        query = query.where(OneTimeCode.patient_id == patient_id)
    if person_id is not None:
        query = query.where(OneTimeCode.person_id == person_id)
    for old in session.exec(query).all():
        old.expires_at = min(old.expires_at, utcnow())


# ----------------------------------------------------------------------------------------- activation

BAD_ACTIVATION = N_(
    "That activation code and date of birth don't match a code we can use. Check both and try again. "
    "Codes work once, for 30 days, and stop after five wrong tries: the front desk can give you a new one."
)


def find_patient(session: Session, fhir_id: str) -> Patient | None:
    return session.exec(select(Patient).where(Patient.fhir_id == fhir_id)).first()


SEARCH_LIMIT = 20


def search_patients(
    session: Session, *, family_name: str, birth_date: date, staff: Person, client: Client
) -> list[Patient]:
    """Patients with this birth date whose family name starts as given, for the front desk (audited)."""
    prefix = family_name.strip().lower()
    if not prefix:
        return []
    found = [
        p
        for p in session.exec(
            select(Patient).where(Patient.birth_date == birth_date).order_by(col(Patient.family_name))
        ).all()
        if p.family_name.lower().startswith(prefix)
    ][:SEARCH_LIMIT]
    for patient in found:
        _audit(
            session,
            client,
            action="view",
            actor_person_id=staff.id,
            actor_role=staff.staff_role,
            patient_id=patient.id,
            resource_type="Patient",
            resource_id=patient.fhir_id,
            route="front_desk_search",
        )
    return found


def issue_for_fhir_id(
    session: Session, *, fhir_id: str, staff: Person, client: Client, reset: bool = False
) -> tuple[Patient, str] | None:
    """The front desk's action: a new activation code (after a full reset, if asked) for a patient."""
    patient = find_patient(session, fhir_id)
    if patient is None:
        return None
    if reset:
        return patient, staff_reset(session, patient=patient, staff=staff, client=client)
    return patient, issue_activation_code(session, patient=patient, issued_by=staff, client=client)


def issue_activation_code(
    session: Session, *, patient: Patient, issued_by: Person | None = None, client: Client | None = None
) -> str:
    """A new activation code for the patient (older unused ones stop working), grouped for printing."""
    assert patient.id is not None
    _expire_codes(session, kind="activation", patient_id=patient.id)
    code = _new_one_time_code(
        session,
        kind="activation",
        length=ACTIVATION_LENGTH,
        lifetime=timedelta(days=ACTIVATION_DAYS),
        patient_id=patient.id,
        issued_by_person_id=issued_by.id if issued_by else None,
    )
    _audit(
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
    session: Session, settings: Settings, *, code: str, birth_date: date | None, client: Client
) -> str | Refused:
    """Check the code and date of birth together; only then hand out options to create a passkey."""
    try:
        ratelimit.check(session, settings, ratelimit.ACTIVATION_ADDRESS, client.address)
    except ratelimit.RateLimited as error:
        return _refuse_rate_limited(error)
    found = _find_code(session, kind="activation", typed=code)
    patient = session.get(Patient, found.patient_id) if found and found.patient_id else None
    if found is None or patient is None or birth_date is None or patient.birth_date != birth_date:
        if found is not None:
            found.failed_attempts += 1
        ratelimit.hit(session, settings, ratelimit.ACTIVATION_ADDRESS, client.address)
        _audit(
            session,
            client,
            action="activate",
            outcome="denied",
            patient_id=patient.id if patient else None,
        )
        return Refused(BAD_ACTIVATION)
    person = session.get(Person, patient.person_id) if patient.person_id else None
    return passkeys.registration_options(
        session,
        settings,
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
    credential: dict[str, Any],
    client: Client,
    replacing: str | None = None,
) -> LoginSession | Refused:
    """Store the new passkey, create (or reuse) the person, use up the code and sign them in."""
    try:
        challenge, code, new_key = _claim_code(
            session, settings, credential, purpose="activate", owner="patient_id"
        )
    except PasskeyError:
        _audit(session, client, action="activate", outcome="denied")
        return Refused(PASSKEY_FAILED)
    assert code.patient_id is not None
    patient = session.get(Patient, code.patient_id)
    assert patient is not None and challenge.user_handle is not None
    person = session.get(Person, patient.person_id) if patient.person_id else None
    if person is None:
        person = Person(public_id=challenge.user_handle, display_name=patient.display_name)
        session.add(person)
        session.flush()
        patient.person_id = person.id
    code.used_at = utcnow()
    code.person_id = person.id
    login = _add_passkey_and_sign_in(
        session, settings, person, new_key, method="activation", client=client, replacing=replacing
    )
    _audit(
        session,
        client,
        action="activate",
        actor_person_id=person.id,
        actor_role="patient",
        patient_id=patient.id,
    )
    return login


def _claim_code(
    session: Session, settings: Settings, credential: dict[str, Any], *, purpose: str, owner: str
) -> tuple[WebAuthnChallenge, OneTimeCode, Passkey]:
    """The ceremony's challenge, its one-time code locked for this transaction (one use, even at once) and
    naming its `owner` ("patient_id" or "person_id"), and the verified new passkey; PasskeyError when any
    of them is not good, before anything is stored."""
    challenge = passkeys.pop_challenge(session, credential, purpose=purpose)
    code = session.get(OneTimeCode, challenge.one_time_code_id, with_for_update=True)
    if code is None or not _live(code) or getattr(code, owner) is None:
        raise PasskeyError("code no longer usable")
    return challenge, code, passkeys.verify_new(session, settings, credential, challenge)


PASSKEY_FAILED = N_("We couldn't check that passkey. Please try again, or ask the clinic for help.")


def _add_passkey_and_sign_in(
    session: Session,
    settings: Settings,
    person: Person,
    new_key: Passkey,
    *,
    method: str,
    client: Client,
    replacing: str | None,
) -> LoginSession:
    assert person.id is not None
    new_key.person_id = person.id
    new_key.name = _passkey_name(session, person.id, client)
    new_key.last_used_at = utcnow()
    session.add(new_key)
    session.flush()
    _audit(
        session,
        client,
        action="passkey-added",
        actor_person_id=person.id,
        resource_type="Passkey",
        resource_id=new_key.public_id,
    )
    return _open(session, settings, person, method=method, client=client, replacing=replacing, verified=True)


def _passkey_name(session: Session, person_id: int, client: Client) -> str:
    count = len(session.exec(select(Passkey.id).where(Passkey.person_id == person_id)).all())
    base = client.device or "Passkey"
    return base if count == 0 else f"{base} ({count + 1})"


def _role(person: Person) -> str:
    return person.staff_role or "patient"


# -------------------------------------------------------------------------------------------- sign-in


def sign_in_options(session: Session, settings: Settings, *, client: Client) -> str | Refused:
    """Options for a discoverable sign-in; each is a stored challenge, so an address may ask only so often."""
    try:
        ratelimit.check(session, settings, ratelimit.CHALLENGES_ADDRESS, client.address)
    except ratelimit.RateLimited as error:
        return _refuse_rate_limited(error)
    ratelimit.hit(session, settings, ratelimit.CHALLENGES_ADDRESS, client.address)
    # The sign-in page asks for options on every visit (for autofill): clear out the unanswered ones.
    passkeys.purge_expired(session)
    return passkeys.authentication_options(session, settings, purpose="sign-in")


def finish_sign_in(
    session: Session,
    settings: Settings,
    *,
    credential: dict[str, Any],
    client: Client,
    replacing: str | None = None,
) -> LoginSession | Refused:
    """A verified passkey assertion opens a new session (any session this browser had is ended)."""
    raw_id = credential.get("rawId")
    owner = (
        session.exec(select(Passkey.person_id).where(Passkey.credential_id == raw_id)).first()
        if isinstance(raw_id, str)
        else None
    )
    try:
        ratelimit.check(session, settings, ratelimit.SIGN_IN_ADDRESS, client.address)
        if owner is not None:
            ratelimit.check(session, settings, ratelimit.SIGN_IN_ACCOUNT, str(owner))
    except ratelimit.RateLimited as error:
        return _refuse_rate_limited(error)
    try:
        challenge = passkeys.pop_challenge(session, credential, purpose="sign-in")
        passkey = passkeys.verify_assertion(session, settings, credential, challenge)
    except PasskeyError:
        ratelimit.hit(session, settings, ratelimit.SIGN_IN_ADDRESS, client.address)
        if owner is not None:
            ratelimit.hit(session, settings, ratelimit.SIGN_IN_ACCOUNT, str(owner))
        _audit(session, client, action="sign-in-failed", outcome="denied", actor_person_id=owner)
        return Refused(PASSKEY_FAILED)
    person = session.get(Person, passkey.person_id)
    if person is None or person.disabled or not _handle_matches(credential, person):
        _audit(session, client, action="sign-in-failed", outcome="denied", actor_person_id=passkey.person_id)
        return Refused(PASSKEY_FAILED)
    return _open(
        session, settings, person, method="passkey", client=client, replacing=replacing, verified=True
    )


def _handle_matches(credential: dict[str, Any], person: Person) -> bool:
    """A discoverable credential names its user: it must be the passkey's owner."""
    handle = credential.get("response", {}).get("userHandle")
    if not handle:
        return True
    try:
        return base64url_to_bytes(handle) == person.public_id.encode()
    except (TypeError, ValueError):
        return False


def _open(
    session: Session,
    settings: Settings,
    person: Person,
    *,
    method: str,
    client: Client,
    replacing: str | None,
    verified: bool,
) -> LoginSession:
    assert person.id is not None
    if replacing:
        old = session.get(LoginSession, replacing)
        if old is not None:
            sessions.revoke(session, old, reason="replaced")
    login = sessions.open_session(
        session,
        person_id=person.id,
        method=method,
        settings=settings,
        device=client.device,
        verified=verified,
    )
    _audit(session, client, action="sign-in", actor_person_id=person.id, actor_role=_role(person))
    return login


def sign_out(session: Session, *, login_id: str, client: Client) -> None:
    login = session.get(LoginSession, login_id)
    if login is None:
        return
    sessions.revoke(session, login, reason="sign-out")
    _audit(session, client, action="sign-out", actor_person_id=login.person_id)


def sign_out_everywhere(session: Session, *, person_id: int, client: Client) -> int:
    count = sessions.revoke_all(session, person_id, reason="everywhere")
    _audit(
        session,
        client,
        action="session-revoked",
        actor_person_id=person_id,
        resource_type="LoginSession",
        resource_id="all",
    )
    return count


def revoke_session(session: Session, *, person_id: int, public_id: str, client: Client) -> bool:
    login = session.exec(
        select(LoginSession).where(LoginSession.public_id == public_id, LoginSession.person_id == person_id)
    ).first()
    if login is None or login.revoked_at is not None:
        return False
    sessions.revoke(session, login, reason="revoked")
    _audit(
        session,
        client,
        action="session-revoked",
        actor_person_id=person_id,
        resource_type="LoginSession",
        resource_id=public_id,
    )
    return True


def active_sessions(session: Session, person_id: int) -> list[LoginSession]:
    return sessions.active_sessions(session, person_id)


def account_summary(session: Session, person_id: int) -> dict[str, int | bool]:
    return {
        "passkeys": len(list_passkeys(session, person_id)),
        "recovery_codes": unused_recovery_codes(session, person_id),
        "password": has_password(session, person_id),
        "sessions": len(active_sessions(session, person_id)),
    }


# ------------------------------------------------------------------------------------------- step-up


def step_up_options(session: Session, settings: Settings, *, person_id: int) -> str:
    return passkeys.authentication_options(
        session, settings, purpose="step-up", allow=list_passkeys(session, person_id), person_id=person_id
    )


def finish_step_up(
    session: Session, settings: Settings, *, credential: dict[str, Any], login_id: str, client: Client
) -> Refused | None:
    """Prove the passkey again (for adding or removing one); a refusal says why not."""
    login = session.get(LoginSession, login_id)
    if login is None:
        return Refused(PASSKEY_FAILED)
    try:
        ratelimit.check(session, settings, ratelimit.SIGN_IN_ACCOUNT, str(login.person_id))
    except ratelimit.RateLimited as error:
        return _refuse_rate_limited(error)
    try:
        challenge = passkeys.pop_challenge(session, credential, purpose="step-up")
        if challenge.person_id != login.person_id:
            raise PasskeyError("another person's challenge")
        passkeys.verify_assertion(session, settings, credential, challenge)
    except PasskeyError:
        ratelimit.hit(session, settings, ratelimit.SIGN_IN_ACCOUNT, str(login.person_id))
        _audit(session, client, action="sign-in-failed", outcome="denied", actor_person_id=login.person_id)
        return Refused(PASSKEY_FAILED)
    login.verified_at = utcnow()
    return None


# ------------------------------------------------------------------------------------------- devices


def list_passkeys(session: Session, person_id: int) -> list[Passkey]:
    return list(
        session.exec(select(Passkey).where(Passkey.person_id == person_id).order_by(col(Passkey.id))).all()
    )


def add_passkey_options(session: Session, settings: Settings, *, person_id: int) -> str:
    person = session.get(Person, person_id)
    assert person is not None
    return passkeys.registration_options(
        session,
        settings,
        purpose="add-passkey",
        user_handle=person.public_id,
        user_name=person.email or person.display_name,
        display_name=person.display_name,
        exclude=list_passkeys(session, person_id),
        person_id=person_id,
    )


def finish_add_passkey(
    session: Session, settings: Settings, *, credential: dict[str, Any], login_id: str, client: Client
) -> Passkey | Refused:
    login = session.get(LoginSession, login_id)
    if login is None or not sessions.is_fresh(login):
        return Refused(STEP_UP_NEEDED)
    try:
        challenge = passkeys.pop_challenge(session, credential, purpose="add-passkey")
        if challenge.person_id != login.person_id:
            raise PasskeyError("another person's challenge")
        new_key = passkeys.verify_new(session, settings, credential, challenge)
    except PasskeyError:
        return Refused(PASSKEY_FAILED)
    new_key.person_id = login.person_id
    new_key.name = _passkey_name(session, login.person_id, client)
    session.add(new_key)
    session.flush()
    _audit(
        session,
        client,
        action="passkey-added",
        actor_person_id=login.person_id,
        resource_type="Passkey",
        resource_id=new_key.public_id,
    )
    return new_key


STEP_UP_NEEDED = N_("Please confirm it's you with your passkey first, then try again.")


def rename_passkey(session: Session, *, person_id: int, public_id: str, name: str) -> Passkey | None:
    passkey = session.exec(
        select(Passkey).where(Passkey.public_id == public_id, Passkey.person_id == person_id)
    ).first()
    if passkey is None:
        return None
    cleaned = " ".join(name.split())[:60]
    if not cleaned:
        raise IdentityError(gettext("Please give the passkey a name."))
    passkey.name = cleaned
    return passkey


def remove_passkey(
    session: Session, *, person_id: int, public_id: str, login_id: str, client: Client
) -> Refused | None:
    """Remove one of the person's passkeys; a refusal says why not."""
    login = session.get(LoginSession, login_id)
    if login is None or not sessions.is_fresh(login):
        return Refused(STEP_UP_NEEDED)
    keys = list_passkeys(session, person_id)
    passkey = next((k for k in keys if k.public_id == public_id), None)
    if passkey is None:
        return Refused(N_("That passkey is not on your account."))
    if len(keys) == 1 and unused_recovery_codes(session, person_id) == 0:
        return Refused(
            N_(
                "This is your only passkey. Make recovery codes first, or add another passkey, so you can "
                "still sign in."
            )
        )
    session.delete(passkey)
    _audit(
        session,
        client,
        action="passkey-removed",
        actor_person_id=person_id,
        resource_type="Passkey",
        resource_id=public_id,
    )
    return None


# ------------------------------------------------------------------------------------------ recovery


def new_recovery_codes(session: Session, *, person_id: int, client: Client) -> list[str]:
    """Ten fresh single-use codes (the old ones stop working), shown once and stored hashed."""
    for old in session.exec(select(RecoveryCode).where(RecoveryCode.person_id == person_id)).all():
        session.delete(old)
    session.flush()
    codes = []
    for _ in range(RECOVERY_CODES):
        code = hashing.new_code(RECOVERY_LENGTH)
        session.add(
            RecoveryCode(
                person_id=person_id, selector=hashing.selector(code), code_hash=hashing.hash_code(code)
            )
        )
        codes.append(hashing.group(code))
    _audit(session, client, action="update", actor_person_id=person_id, resource_type="RecoveryCodes")
    return codes


def unused_recovery_codes(session: Session, person_id: int) -> int:
    return len(
        session.exec(
            select(RecoveryCode.id).where(
                RecoveryCode.person_id == person_id, col(RecoveryCode.used_at).is_(None)
            )
        ).all()
    )


BAD_RECOVERY = N_("That recovery code didn't work. Check it and try again; each code works only once.")


def recovery_sign_in(
    session: Session, settings: Settings, *, code: str, client: Client, replacing: str | None = None
) -> LoginSession | Refused:
    """Sign in with one recovery code (used up), so the person can add a new passkey straight away."""
    try:
        ratelimit.check(session, settings, ratelimit.RECOVERY_ADDRESS, client.address)
    except ratelimit.RateLimited as error:
        return _refuse_rate_limited(error)
    typed = hashing.normalize(code)
    candidates = session.exec(
        select(RecoveryCode).where(
            RecoveryCode.selector == hashing.selector(typed), col(RecoveryCode.used_at).is_(None)
        )
    ).all()
    candidate = candidates[0] if len(candidates) == 1 else None
    if len(candidates) > 1:  # selectors of recovery codes may repeat across people: check each
        candidate = next((c for c in candidates if hashing.verify_code(c.code_hash, typed)), None)
        matched = candidate is not None
    else:
        matched = hashing.verify_code(candidate.code_hash if candidate else None, typed)
    person = session.get(Person, candidate.person_id) if candidate and matched else None
    if person is not None:
        try:
            ratelimit.check(session, settings, ratelimit.RECOVERY_ACCOUNT, str(person.id))
        except ratelimit.RateLimited as error:
            return _refuse_rate_limited(error)
    if candidate is None or person is None or person.disabled:
        ratelimit.hit(session, settings, ratelimit.RECOVERY_ADDRESS, client.address)
        _audit(session, client, action="sign-in-failed", outcome="denied")
        return Refused(BAD_RECOVERY)
    candidate.used_at = utcnow()
    return _open(
        session, settings, person, method="recovery", client=client, replacing=replacing, verified=True
    )


# ------------------------------------------------------------------------------------------ password


def _common_passwords() -> frozenset[str]:
    text = resources.files("portal").joinpath("data/common-passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


COMMON_PASSWORDS = _common_passwords()


def password_problem(password: str) -> str | None:
    """Why a new password is not good enough, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return gettext("Please use at least %(num)d characters.") % {"num": MIN_PASSWORD_LENGTH}
    if len(password) > MAX_PASSWORD_LENGTH:
        return gettext("Please use at most %(num)d characters.") % {"num": MAX_PASSWORD_LENGTH}
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 4:
        return gettext("That password is too common or too easy to guess. Please choose another.")
    return None


def set_password(session: Session, *, person_id: int, email: str, password: str, client: Client) -> None:
    """Set the person's fallback password and the address that gets their one-time codes."""
    problem = password_problem(password)
    if problem:
        raise IdentityError(problem)
    address = email.strip().lower()
    if "@" not in address or len(address) > 320 or " " in address:
        raise IdentityError(gettext("Please enter a valid email address."))
    taken = session.exec(select(Person).where(Person.email == address, Person.id != person_id)).first()
    if taken is not None:
        raise IdentityError(gettext("That email address can't be used. Please use another."))
    person = session.get(Person, person_id)
    assert person is not None
    person.email = address
    row = session.exec(select(PasswordLogin).where(PasswordLogin.person_id == person_id)).first()
    if row is None:
        row = PasswordLogin(person_id=person_id, password_hash="")
        session.add(row)
    row.password_hash = hashing.hash_password(password)
    _audit(session, client, action="update", actor_person_id=person_id, resource_type="Password")


def has_password(session: Session, person_id: int) -> bool:
    return (
        session.exec(select(PasswordLogin.id).where(PasswordLogin.person_id == person_id)).first() is not None
    )


BAD_PASSWORD = N_("That email address and password don't match. Please try again.")


def password_sign_in(
    session: Session, settings: Settings, *, email: str, password: str, client: Client
) -> int | Refused:
    """Check email and password; if right, mail a one-time code and return its id (kept in a cookie)."""
    address = email.strip().lower()
    try:
        ratelimit.check(session, settings, ratelimit.PASSWORD_ADDRESS, client.address)
        ratelimit.check(session, settings, ratelimit.PASSWORD_ACCOUNT, address)
    except ratelimit.RateLimited as error:
        return _refuse_rate_limited(error)
    person = session.exec(select(Person).where(Person.email == address)).first() if address else None
    row = (
        session.exec(select(PasswordLogin).where(PasswordLogin.person_id == person.id)).first()
        if person is not None
        else None
    )
    ok = hashing.verify_password(row.password_hash if row else None, password[:MAX_PASSWORD_LENGTH])
    if not ok or person is None or row is None or person.disabled:
        ratelimit.hit(session, settings, ratelimit.PASSWORD_ADDRESS, client.address)
        ratelimit.hit(session, settings, ratelimit.PASSWORD_ACCOUNT, address)
        _audit(
            session,
            client,
            action="sign-in-failed",
            outcome="denied",
            actor_person_id=person.id if person else None,
        )
        return Refused(BAD_PASSWORD)
    if hashing.needs_rehash(row.password_hash):
        row.password_hash = hashing.hash_password(password)
    _expire_codes(session, kind="mail", person_id=person.id)
    digits = "".join(secrets.choice("0123456789") for _ in range(8))
    session.add(
        code := OneTimeCode(
            kind="mail",
            selector="",
            code_hash=hashing.hash_code(digits),
            person_id=person.id,
            expires_at=utcnow() + timedelta(minutes=MAIL_CODE_MINUTES),
        )
    )
    session.flush()
    mail.enqueue(
        session,
        to=address,
        subject=f"Your sign-in code for {settings.clinic_name}",
        body=(
            f"Your one-time sign-in code is {digits[:4]} {digits[4:]}\n\n"
            f"It works once, for {MAIL_CODE_MINUTES} minutes. If you did not try to sign in, "
            f"call {settings.clinic_name} at {settings.clinic_phone}.\n"
        ),
    )
    assert code.id is not None
    return code.id


BAD_MAIL_CODE = N_("That code didn't work. Check the latest email from us and try again.")


def mail_code_sign_in(
    session: Session,
    settings: Settings,
    *,
    pending_id: int,
    code: str,
    client: Client,
    replacing: str | None = None,
) -> LoginSession | Refused:
    row = session.get(OneTimeCode, pending_id)
    if row is None or row.kind != "mail" or row.person_id is None:
        return Refused(BAD_MAIL_CODE)
    try:
        ratelimit.check(session, settings, ratelimit.PASSWORD_ADDRESS, client.address)
        ratelimit.check(session, settings, ratelimit.MAIL_CODE_ACCOUNT, str(row.person_id))
    except ratelimit.RateLimited as error:
        return _refuse_rate_limited(error)
    typed = "".join(c for c in code if c.isdigit())
    ok = hashing.verify_code(row.code_hash if _live(row) else None, typed)
    person = session.get(Person, row.person_id)
    if not ok or person is None or person.disabled:
        row.failed_attempts += 1
        ratelimit.hit(session, settings, ratelimit.PASSWORD_ADDRESS, client.address)
        ratelimit.hit(session, settings, ratelimit.MAIL_CODE_ACCOUNT, str(row.person_id))
        _audit(session, client, action="sign-in-failed", outcome="denied", actor_person_id=row.person_id)
        return Refused(BAD_MAIL_CODE)
    row.used_at = utcnow()
    return _open(
        session, settings, person, method="password", client=client, replacing=replacing, verified=False
    )


# --------------------------------------------------------------------------------------------- staff


def add_staff(
    session: Session, settings: Settings, *, email: str, role: str, display_name: str | None = None
) -> str:
    """Create a staff account and return its single-use enrolment link."""
    if role not in STAFF_ROLES:
        raise IdentityError(f"role must be one of {', '.join(STAFF_ROLES)}")
    _, link = add_person(session, settings, email=email, display_name=display_name, staff_role=role)
    return link


def clean_email(email: str) -> str:
    address = email.strip().lower()
    if "@" not in address or " " in address or len(address) > 320:
        raise IdentityError("that is not an email address")
    return address


def add_person(
    session: Session,
    settings: Settings,
    *,
    email: str,
    display_name: str | None = None,
    staff_role: str | None = None,
) -> tuple[Person, str]:
    """Create an account (staff, or someone who will act for patients) and its single-use enrolment link."""
    person = create_person(session, email=email, display_name=display_name, staff_role=staff_role)
    return person, enrolment_link(session, settings, person=person)


def create_person(
    session: Session, *, email: str, display_name: str | None = None, staff_role: str | None = None
) -> Person:
    """A new account with no way to sign in yet: an enrolment link or an invitation gives it a passkey."""
    address = clean_email(email)
    if session.exec(select(Person).where(Person.email == address)).first():
        raise IdentityError("an account with that email address already exists")
    name = (display_name or "").strip()[:200] or address.split("@")[0]
    person = Person(display_name=name, email=address, staff_role=staff_role)
    session.add(person)
    session.flush()
    _audit(
        session,
        None,
        action="create",
        actor_role="system",
        resource_type="Person",
        resource_id=person.public_id,
    )
    return person


def enrolment_link(session: Session, settings: Settings, *, person: Person) -> str:
    assert person.id is not None
    _expire_codes(session, kind="enrolment", person_id=person.id)
    token = _new_one_time_code(
        session,
        kind="enrolment",
        length=ENROLMENT_LENGTH,
        lifetime=timedelta(hours=ENROLMENT_HOURS),
        person_id=person.id,
    )
    return f"{settings.origin}/enrol/{token}"


BAD_ENROLMENT = N_(
    "This enrolment link can't be used: it may be old or already used. Ask the clinic for a new one."
)


def enrolment_options(session: Session, settings: Settings, *, token: str, client: Client) -> str | Refused:
    try:
        ratelimit.check(session, settings, ratelimit.ACTIVATION_ADDRESS, client.address)
    except ratelimit.RateLimited as error:
        return _refuse_rate_limited(error)
    found = _find_code(session, kind="enrolment", typed=token)
    person = session.get(Person, found.person_id) if found and found.person_id else None
    if found is None or person is None:
        ratelimit.hit(session, settings, ratelimit.ACTIVATION_ADDRESS, client.address)
        return Refused(BAD_ENROLMENT)
    return passkeys.registration_options(
        session,
        settings,
        purpose="enrol",
        user_handle=person.public_id,
        user_name=person.email or person.display_name,
        display_name=person.display_name,
        exclude=list_passkeys(session, person.id or 0),
        one_time_code_id=found.id,
    )


def finish_enrolment(
    session: Session,
    settings: Settings,
    *,
    credential: dict[str, Any],
    client: Client,
    replacing: str | None = None,
) -> LoginSession | Refused:
    try:
        _challenge, code, new_key = _claim_code(
            session, settings, credential, purpose="enrol", owner="person_id"
        )
    except PasskeyError:
        return Refused(PASSKEY_FAILED)
    assert code.person_id is not None
    person = session.get(Person, code.person_id)
    assert person is not None
    code.used_at = utcnow()
    return _add_passkey_and_sign_in(
        session, settings, person, new_key, method="enrolment", client=client, replacing=replacing
    )


def staff_reset(session: Session, *, patient: Patient, staff: Person, client: Client) -> str:
    """Remove every way the patient signs in (passkeys, password, recovery codes, sessions); a new code."""
    if patient.person_id is not None:
        _remove_sign_in(session, patient.person_id)
    _audit(
        session,
        client,
        action="staff-reset",
        actor_person_id=staff.id,
        actor_role=staff.staff_role,
        patient_id=patient.id,
        resource_type="Patient",
        resource_id=patient.fhir_id,
    )
    return issue_activation_code(session, patient=patient, issued_by=staff, client=client)


def _remove_sign_in(session: Session, person_id: int) -> None:
    """Every way the person signs in: passkeys, recovery codes, password, and their live sessions."""
    for model in (Passkey, RecoveryCode, PasswordLogin):
        for row in session.exec(select(model).where(model.person_id == person_id)).all():  # type: ignore[attr-defined]
            session.delete(row)
    sessions.revoke_all(session, person_id, reason="reset")


def reset_staff(session: Session, settings: Settings, *, email: str) -> str:
    """An administrator's reset of a staff member's sign-in: a new enrolment link (audited)."""
    person = session.exec(select(Person).where(Person.email == email.strip().lower())).first()
    if person is None or person.staff_role is None or person.id is None:
        raise IdentityError("no staff account has that email address")
    _remove_sign_in(session, person.id)
    _audit(
        session,
        None,
        action="staff-reset",
        actor_role="system",
        resource_type="Person",
        resource_id=person.public_id,
    )
    return enrolment_link(session, settings, person=person)
