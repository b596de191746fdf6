"""The signed-in person's account: what it holds at a glance, and their sessions (list, revoke, sign out
everywhere)."""

from __future__ import annotations

from sqlmodel import Session, select

from portal.models import LoginSession
from portal.security import sessions
from portal.security.sessions import Client
from portal.services.identity import devices, passwords, recovery
from portal.services.identity.common import audit_event


def sign_out_everywhere(session: Session, *, person_id: int, client: Client) -> int:
    count = sessions.revoke_all(session, person_id, reason="everywhere")
    audit_event(
        session,
        client,
        action="session-revoked",
        actor_person_id=person_id,
        resource_type="LoginSession",
        resource_id="all",
    )
    return count


def revoke_session(session: Session, *, person_id: int, public_id: str, client: Client) -> bool:
    """End one of the person's sessions; False when it is not theirs or already ended."""
    login = session.exec(
        select(LoginSession).where(LoginSession.public_id == public_id, LoginSession.person_id == person_id)
    ).first()
    if login is None or login.revoked_at is not None:
        return False
    sessions.revoke(session, login, reason="revoked")
    audit_event(
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
        "passkeys": len(devices.list_passkeys(session, person_id)),
        "recovery_codes": recovery.unused_recovery_codes(session, person_id),
        "password": passwords.has_password(session, person_id),
        "sessions": len(active_sessions(session, person_id)),
    }
