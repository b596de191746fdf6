"""The person's passkeys: list, add, rename, remove, and the fresh passkey check (step-up) before a change."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from portal.config import Settings
from portal.models import LoginSession, Passkey, Person
from portal.models.base import utcnow
from portal.security import passkeys, ratelimit, sessions
from portal.security.passkeys import PasskeyError
from portal.security.sessions import Client
from portal.services.errors import Refused
from portal.services.identity import notices, recovery
from portal.services.identity.common import audit_event, rate_limited
from portal.services.identity.signin import open_login

PASSKEY_NAME_LENGTH = 60


def list_passkeys(session: Session, person_id: int) -> list[Passkey]:
    return list(
        session.exec(select(Passkey).where(Passkey.person_id == person_id).order_by(col(Passkey.id))).all()
    )


def passkey_name(session: Session, person_id: int, client: Client) -> str:
    """A new passkey's name: the device it was made on, numbered when the person has others."""
    count = len(session.exec(select(Passkey.id).where(Passkey.person_id == person_id)).all())
    base = client.device or "Passkey"
    return base if count == 0 else f"{base} ({count + 1})"


def add_passkey_and_sign_in(
    session: Session,
    settings: Settings,
    person: Person,
    new_key: Passkey,
    *,
    method: str,
    client: Client,
    replacing: str | None,
) -> LoginSession:
    """Store a just-verified passkey as the person's (audited) and sign them in with it."""
    assert person.id is not None
    new_key.person_id = person.id
    new_key.name = passkey_name(session, person.id, client)
    new_key.last_used_at = utcnow()
    session.add(new_key)
    session.flush()
    audit_event(
        session,
        client,
        action="passkey-added",
        actor_person_id=person.id,
        resource_type="Passkey",
        resource_id=new_key.public_id,
    )
    notices.sign_in_changed(session, settings, person=person, change="passkey-added")
    return open_login(
        session, settings, person, method=method, client=client, replacing=replacing, verified=True
    )


# ------------------------------------------------------------------------------------------- step-up


def step_up_options(session: Session, settings: Settings, *, binding: str, person_id: int) -> str:
    return passkeys.authentication_options(
        session,
        settings,
        binding=binding,
        purpose="step-up",
        allow=list_passkeys(session, person_id),
        person_id=person_id,
    )


def finish_step_up(
    session: Session,
    settings: Settings,
    *,
    binding: str,
    credential: dict[str, Any],
    login_id: str,
    client: Client,
) -> Refused | None:
    """Prove the passkey again (for adding or removing one); a refusal says why not."""
    login = session.get(LoginSession, login_id)
    if login is None:
        return Refused("passkey_failed")
    try:
        ratelimit.check(session, settings, ratelimit.SIGN_IN_ACCOUNT, str(login.person_id))
    except ratelimit.RateLimited as error:
        return rate_limited(session, client, error)
    try:
        challenge = passkeys.pop_challenge(session, settings, credential, purpose="step-up", binding=binding)
        if challenge.person_id != login.person_id:
            raise PasskeyError("another person's challenge")
        passkeys.verify_assertion(session, settings, credential, challenge)
    except PasskeyError:
        ratelimit.hit(session, settings, ratelimit.SIGN_IN_ACCOUNT, str(login.person_id))
        audit_event(
            session, client, action="sign-in-failed", outcome="denied", actor_person_id=login.person_id
        )
        return Refused("passkey_failed")
    login.verified_at = utcnow()
    return None


# ------------------------------------------------------------------------------------------- changes


def add_passkey_options(session: Session, settings: Settings, *, binding: str, person_id: int) -> str:
    person = session.get(Person, person_id)
    assert person is not None
    return passkeys.registration_options(
        session,
        settings,
        binding=binding,
        purpose="add-passkey",
        user_handle=person.public_id,
        user_name=person.email or person.display_name,
        display_name=person.display_name,
        exclude=list_passkeys(session, person_id),
        person_id=person_id,
    )


def finish_add_passkey(
    session: Session,
    settings: Settings,
    *,
    binding: str,
    credential: dict[str, Any],
    login_id: str,
    client: Client,
) -> Passkey | Refused:
    login = session.get(LoginSession, login_id)
    if login is None or not sessions.is_fresh(login):
        return Refused("step_up_needed")
    try:
        challenge = passkeys.pop_challenge(
            session, settings, credential, purpose="add-passkey", binding=binding
        )
        if challenge.person_id != login.person_id:
            raise PasskeyError("another person's challenge")
        new_key = passkeys.verify_new(session, settings, credential, challenge)
    except PasskeyError:
        return Refused("passkey_failed")
    new_key.person_id = login.person_id
    new_key.name = passkey_name(session, login.person_id, client)
    session.add(new_key)
    session.flush()
    audit_event(
        session,
        client,
        action="passkey-added",
        actor_person_id=login.person_id,
        resource_type="Passkey",
        resource_id=new_key.public_id,
    )
    person = session.get(Person, login.person_id)
    assert person is not None
    notices.sign_in_changed(session, settings, person=person, change="passkey-added")
    return new_key


def rename_passkey(session: Session, *, person_id: int, public_id: str, name: str) -> Passkey | None:
    """Rename one of the person's passkeys (None when it is not theirs); raises Refused for an empty name."""
    passkey = session.exec(
        select(Passkey).where(Passkey.public_id == public_id, Passkey.person_id == person_id)
    ).first()
    if passkey is None:
        return None
    cleaned = " ".join(name.split())[:PASSKEY_NAME_LENGTH]
    if not cleaned:
        raise Refused("passkey_name_missing")
    passkey.name = cleaned
    return passkey


def remove_passkey(
    session: Session, settings: Settings, *, person_id: int, public_id: str, login_id: str, client: Client
) -> Refused | None:
    """Remove one of the person's passkeys, ending every other session (one of them may have been opened
    with it) and telling the owner by mail; a refusal says why not."""
    login = session.get(LoginSession, login_id)
    if login is None or not sessions.is_fresh(login):
        return Refused("step_up_needed")
    keys = list_passkeys(session, person_id)
    passkey = next((k for k in keys if k.public_id == public_id), None)
    if passkey is None:
        return Refused("passkey_not_yours")
    if len(keys) == 1 and recovery.unused_recovery_codes(session, person_id) == 0:
        return Refused("only_passkey")
    session.delete(passkey)
    audit_event(
        session,
        client,
        action="passkey-removed",
        actor_person_id=person_id,
        resource_type="Passkey",
        resource_id=public_id,
    )
    sessions.revoke_all(session, person_id, reason="passkey-removed", keep=login_id)
    person = session.get(Person, person_id)
    assert person is not None
    notices.sign_in_changed(session, settings, person=person, change="passkey-removed")
    return None
