"""Signing in with a passkey, opening a session (for every way in), signing out, removing every way in."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select
from webauthn.helpers import base64url_to_bytes

from portal.config import Settings
from portal.models import LoginSession, Passkey, PasswordLogin, Person, RecoveryCode
from portal.security import passkeys, ratelimit, sessions
from portal.security.passkeys import PasskeyError
from portal.security.sessions import Client
from portal.services.errors import Refused
from portal.services.identity.common import audit_event, rate_limited, role_of


def sign_in_options(session: Session, settings: Settings, *, binding: str, client: Client) -> str | Refused:
    """Options for a discoverable sign-in; each is a stored challenge, so an address may ask only so often."""
    try:
        ratelimit.check(session, settings, ratelimit.CHALLENGES_ADDRESS, client.address)
    except ratelimit.RateLimited as error:
        return rate_limited(session, client, error)
    ratelimit.hit(session, settings, ratelimit.CHALLENGES_ADDRESS, client.address)
    # The sign-in page asks for options on every visit (for autofill): clear out the unanswered ones.
    passkeys.purge_expired(session)
    return passkeys.authentication_options(session, settings, binding=binding, purpose="sign-in")


def finish_sign_in(
    session: Session,
    settings: Settings,
    *,
    binding: str,
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
        return rate_limited(session, client, error)
    try:
        challenge = passkeys.pop_challenge(session, settings, credential, purpose="sign-in", binding=binding)
        passkey = passkeys.verify_assertion(session, settings, credential, challenge)
    except PasskeyError:
        ratelimit.hit(session, settings, ratelimit.SIGN_IN_ADDRESS, client.address)
        if owner is not None:
            ratelimit.hit(session, settings, ratelimit.SIGN_IN_ACCOUNT, str(owner))
        audit_event(session, client, action="sign-in-failed", outcome="denied", actor_person_id=owner)
        return Refused("passkey_failed")
    person = session.get(Person, passkey.person_id)
    if person is None or person.disabled or not _handle_matches(credential, person):
        audit_event(
            session, client, action="sign-in-failed", outcome="denied", actor_person_id=passkey.person_id
        )
        return Refused("passkey_failed")
    return open_login(
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


def open_login(
    session: Session,
    settings: Settings,
    person: Person,
    *,
    method: str,
    client: Client,
    replacing: str | None,
    verified: bool,
) -> LoginSession:
    """A new session for the person (ending the one this browser had, if any), audited as a sign-in."""
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
    audit_event(session, client, action="sign-in", actor_person_id=person.id, actor_role=role_of(person))
    return login


def sign_out(session: Session, *, login_id: str, client: Client) -> None:
    login = session.get(LoginSession, login_id)
    if login is None:
        return
    sessions.revoke(session, login, reason="sign-out")
    audit_event(session, client, action="sign-out", actor_person_id=login.person_id)


def remove_sign_in(session: Session, person_id: int) -> None:
    """Every way the person signs in: passkeys, recovery codes, password, and their live sessions."""
    for model in (Passkey, RecoveryCode, PasswordLogin):
        for row in session.exec(select(model).where(model.person_id == person_id)).all():  # type: ignore[attr-defined]
            session.delete(row)
    sessions.revoke_all(session, person_id, reason="reset")
