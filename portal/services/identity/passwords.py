"""For a device without passkeys: a password (argon2id), then a one-time code mailed to the person.

The mail carries only the code and the clinic's name and phone number: nothing about the patient.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from importlib import resources

from sqlmodel import Session, select

from portal.config import Settings
from portal.models import LoginSession, OneTimeCode, PasswordLogin, Person
from portal.models.base import utcnow
from portal.security import hashing, ratelimit
from portal.security.sessions import Client
from portal.services import mail
from portal.services.errors import Refused
from portal.services.identity import notices
from portal.services.identity.codes import count_wrong_try, expire_codes, live
from portal.services.identity.common import audit_event, rate_limited
from portal.services.identity.people import clean_email
from portal.services.identity.signin import open_login

MAIL_CODE_MINUTES = 10
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256


def _common_passwords() -> frozenset[str]:
    text = resources.files("portal").joinpath("data/common-passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


COMMON_PASSWORDS = _common_passwords()


def password_problem(password: str) -> Refused | None:
    """Why a new password is not good enough, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return Refused("password_too_short", num=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        return Refused("password_too_long", num=MAX_PASSWORD_LENGTH)
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 4:
        return Refused("password_common")
    return None


def set_password(
    session: Session, settings: Settings, *, person_id: int, email: str, password: str, client: Client
) -> None:
    """Set the person's fallback password and the address that gets their one-time codes; raises Refused
    (and changes nothing) when either is not good enough. The owner is told by mail: at the old address
    too, when the address changes."""
    problem = password_problem(password)
    if problem:
        raise problem
    address = clean_email(email)
    taken = session.exec(select(Person).where(Person.email == address, Person.id != person_id)).first()
    if taken is not None:
        raise Refused("email_taken")
    person = session.get(Person, person_id)
    assert person is not None
    old_address = person.email
    if old_address and old_address != address:
        notices.sign_in_changed(session, settings, person=person, change="email-changed", to=old_address)
    person.email = address
    row = session.exec(select(PasswordLogin).where(PasswordLogin.person_id == person_id)).first()
    if row is None:
        row = PasswordLogin(person_id=person_id, password_hash="")
        session.add(row)
    row.password_hash = hashing.hash_password(password)
    audit_event(session, client, action="update", actor_person_id=person_id, resource_type="Password")
    notices.sign_in_changed(session, settings, person=person, change="password-set", to=old_address)


def has_password(session: Session, person_id: int) -> bool:
    return (
        session.exec(select(PasswordLogin.id).where(PasswordLogin.person_id == person_id)).first() is not None
    )


def password_sign_in(
    session: Session, settings: Settings, *, email: str, password: str, client: Client
) -> int | Refused:
    """Check email and password; if right, mail a one-time code and return its id (kept in a cookie)."""
    address = email.strip().lower()
    try:
        ratelimit.check(session, settings, ratelimit.PASSWORD_ADDRESS, client.address)
        ratelimit.check(session, settings, ratelimit.PASSWORD_ACCOUNT, address)
    except ratelimit.RateLimited as error:
        return rate_limited(session, client, error)
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
        audit_event(
            session,
            client,
            action="sign-in-failed",
            outcome="denied",
            actor_person_id=person.id if person else None,
        )
        return Refused("bad_password")
    if hashing.needs_rehash(row.password_hash):
        row.password_hash = hashing.hash_password(password)
    expire_codes(session, kind="mail", person_id=person.id)
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


def mail_code_sign_in(
    session: Session,
    settings: Settings,
    *,
    pending_id: int,
    code: str,
    client: Client,
    replacing: str | None = None,
) -> LoginSession | Refused:
    """The mailed code (of the pending sign-in `pending_id`) finishes a password sign-in."""
    row = session.get(OneTimeCode, pending_id)
    if row is None or row.kind != "mail" or row.person_id is None:
        return Refused("bad_mail_code")
    try:
        ratelimit.check(session, settings, ratelimit.PASSWORD_ADDRESS, client.address)
        ratelimit.check(session, settings, ratelimit.MAIL_CODE_ACCOUNT, str(row.person_id))
    except ratelimit.RateLimited as error:
        return rate_limited(session, client, error)
    typed = "".join(c for c in code if c.isdigit())
    ok = hashing.verify_code(row.code_hash if live(row) else None, typed)
    person = session.get(Person, row.person_id)
    if not ok or person is None or person.disabled:
        count_wrong_try(session, client, row)
        ratelimit.hit(session, settings, ratelimit.PASSWORD_ADDRESS, client.address)
        ratelimit.hit(session, settings, ratelimit.MAIL_CODE_ACCOUNT, str(row.person_id))
        audit_event(session, client, action="sign-in-failed", outcome="denied", actor_person_id=row.person_id)
        return Refused("bad_mail_code")
    row.used_at = utcnow()
    return open_login(
        session, settings, person, method="password", client=client, replacing=replacing, verified=False
    )
