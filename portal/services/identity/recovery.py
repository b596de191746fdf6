"""Recovery codes: ten single-use codes (stored hashed) that let a person in when their passkey is lost."""

from __future__ import annotations

from sqlmodel import Session, col, select

from portal.config import Settings
from portal.models import LoginSession, Person, RecoveryCode
from portal.models.base import utcnow
from portal.security import hashing, ratelimit, sessions
from portal.security.sessions import Client
from portal.services.errors import Refused
from portal.services.identity import notices
from portal.services.identity.common import audit_event, rate_limited
from portal.services.identity.signin import open_login

RECOVERY_CODES = 10
RECOVERY_LENGTH = 12  # 60 bits in 3 groups of 4


def new_recovery_codes(
    session: Session, settings: Settings, *, login_id: str, client: Client
) -> list[str] | Refused:
    """Ten fresh single-use codes (the old ones stop working), shown once and stored hashed. Like every
    change of a way in, it needs a fresh passkey check, and the owner is told by mail."""
    login = session.get(LoginSession, login_id)
    if login is None or not sessions.is_fresh(login):
        return Refused("step_up_needed")
    person_id = login.person_id
    person = session.get(Person, person_id)
    assert person is not None
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
    audit_event(session, client, action="update", actor_person_id=person_id, resource_type="RecoveryCodes")
    notices.sign_in_changed(session, settings, person=person, change="recovery-codes")
    return codes


def unused_recovery_codes(session: Session, person_id: int) -> int:
    return len(
        session.exec(
            select(RecoveryCode.id).where(
                RecoveryCode.person_id == person_id, col(RecoveryCode.used_at).is_(None)
            )
        ).all()
    )


def recovery_sign_in(
    session: Session, settings: Settings, *, code: str, client: Client, replacing: str | None = None
) -> LoginSession | Refused:
    """Sign in with one recovery code (used up), so the person can add a new passkey straight away."""
    try:
        ratelimit.check(session, settings, ratelimit.RECOVERY_ADDRESS, client.address)
    except ratelimit.RateLimited as error:
        return rate_limited(session, client, error)
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
            return rate_limited(session, client, error)
    if candidate is None or person is None or person.disabled:
        ratelimit.hit(session, settings, ratelimit.RECOVERY_ADDRESS, client.address)
        audit_event(session, client, action="sign-in-failed", outcome="denied")
        return Refused("bad_recovery_code")
    candidate.used_at = utcnow()
    return open_login(
        session, settings, person, method="recovery", client=client, replacing=replacing, verified=True
    )
