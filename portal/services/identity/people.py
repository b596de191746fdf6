"""Accounts the clinic creates: staff, and people who will act for patients; enrolment links give them a
passkey, and an administrator's reset takes every way in away and sends a new link."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from portal.config import Settings
from portal.models import LoginSession, Person
from portal.models.base import utcnow
from portal.models.people import StaffRole
from portal.security import passkeys, ratelimit
from portal.security.passkeys import PasskeyError
from portal.security.sessions import Client
from portal.services.errors import Refused
from portal.services.identity.codes import claim_code, find_code, issue_code
from portal.services.identity.common import audit_event, rate_limited
from portal.services.identity.devices import add_passkey_and_sign_in, list_passkeys
from portal.services.identity.signin import remove_sign_in

ENROLMENT_HOURS = 72
ENROLMENT_LENGTH = 24
MAX_EMAIL_LENGTH = 320


def clean_email(email: str) -> str:
    """The address trimmed and lower-cased; raises Refused("email_invalid") for what is not an address."""
    address = email.strip().lower()
    if "@" not in address or " " in address or len(address) > MAX_EMAIL_LENGTH:
        raise Refused("email_invalid")
    return address


def add_staff(
    session: Session, settings: Settings, *, email: str, role: StaffRole, display_name: str | None = None
) -> str:
    """Create a staff account and return its single-use enrolment link."""
    _, link = add_person(session, settings, email=email, display_name=display_name, staff_role=role)
    return link


def add_person(
    session: Session,
    settings: Settings,
    *,
    email: str,
    display_name: str | None = None,
    staff_role: StaffRole | None = None,
) -> tuple[Person, str]:
    """Create an account (staff, or someone who will act for patients) and its single-use enrolment link."""
    person = create_person(session, email=email, display_name=display_name, staff_role=staff_role)
    return person, enrolment_link(session, settings, person=person)


def create_person(
    session: Session, *, email: str, display_name: str | None = None, staff_role: StaffRole | None = None
) -> Person:
    """A new account with no way to sign in yet: an enrolment link or an invitation gives it a passkey.
    Raises Refused("email_invalid") or Refused("email_taken")."""
    address = clean_email(email)
    if session.exec(select(Person).where(Person.email == address)).first():
        raise Refused("email_taken")
    name = (display_name or "").strip()[:200] or address.split("@")[0]
    role = StaffRole(staff_role).value if staff_role is not None else None
    person = Person(display_name=name, email=address, staff_role=role)
    session.add(person)
    session.flush()
    audit_event(
        session,
        None,
        action="create",
        actor_role="system",
        resource_type="Person",
        resource_id=person.public_id,
    )
    return person


def enrolment_link(session: Session, settings: Settings, *, person: Person) -> str:
    """A new single-use link to create the person's passkey (their earlier links stop working)."""
    assert person.id is not None
    token = issue_code(
        session,
        kind="enrolment",
        length=ENROLMENT_LENGTH,
        lifetime=timedelta(hours=ENROLMENT_HOURS),
        replace=True,
        person_id=person.id,
    )
    return f"{settings.origin}/enrol/{token}"


def enrolment_options(
    session: Session, settings: Settings, *, binding: str, token: str, client: Client
) -> str | Refused:
    try:
        ratelimit.check(session, settings, ratelimit.ACTIVATION_ADDRESS, client.address)
    except ratelimit.RateLimited as error:
        return rate_limited(session, client, error)
    found = find_code(session, kind="enrolment", typed=token)
    person = session.get(Person, found.person_id) if found and found.person_id else None
    if found is None or person is None:
        ratelimit.hit(session, settings, ratelimit.ACTIVATION_ADDRESS, client.address)
        return Refused("bad_enrolment")
    return passkeys.registration_options(
        session,
        settings,
        binding=binding,
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
    binding: str,
    credential: dict[str, Any],
    client: Client,
    replacing: str | None = None,
) -> LoginSession | Refused:
    try:
        _challenge, code, new_key = claim_code(
            session, settings, credential, purpose="enrol", owner="person_id", binding=binding
        )
    except PasskeyError:
        return Refused("passkey_failed")
    assert code.person_id is not None
    person = session.get(Person, code.person_id)
    assert person is not None
    code.used_at = utcnow()
    return add_passkey_and_sign_in(
        session, settings, person, new_key, method="enrolment", client=client, replacing=replacing
    )


def reset_staff(session: Session, settings: Settings, *, email: str) -> str:
    """An administrator's reset of a staff member's sign-in: a new enrolment link (audited).
    Raises Refused("staff_unknown") when no staff account has that address."""
    person = session.exec(select(Person).where(Person.email == email.strip().lower())).first()
    if person is None or person.staff_role is None or person.id is None:
        raise Refused("staff_unknown")
    remove_sign_in(session, person.id)
    audit_event(
        session,
        None,
        action="staff-reset",
        actor_role="system",
        resource_type="Person",
        resource_id=person.public_id,
    )
    return enrolment_link(session, settings, person=person)
