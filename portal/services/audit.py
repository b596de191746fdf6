"""Writing the audit log, in the caller's session: the event commits with the action or not at all."""

from __future__ import annotations

from sqlmodel import Session

from portal.models.audit import AuditEvent

ACTIONS = frozenset(
    {
        "view",
        "create",
        "update",
        "delete",
        "download",
        "print",
        "export",
        "sign-in",
        "sign-in-failed",
        "sign-out",
        "switch-patient",
        "grant-proxy",
        "revoke-proxy",
        "code-issued",
        "staff-reset",
        "activate",
        "passkey-added",
        "passkey-removed",
        "session-revoked",
    }
)


def record(
    session: Session,
    *,
    action: str,
    outcome: str = "allowed",
    actor_person_id: int | None = None,
    actor_role: str | None = None,
    on_behalf_of_person_id: int | None = None,
    patient_id: int | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    route: str | None = None,
    client_address: str | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Add one event to the log inside the caller's transaction."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if outcome not in ("allowed", "denied"):
        raise ValueError(f"unknown audit outcome {outcome!r}")
    event = AuditEvent(
        action=action,
        outcome=outcome,
        actor_person_id=actor_person_id,
        actor_role=actor_role,
        on_behalf_of_person_id=on_behalf_of_person_id,
        patient_id=patient_id,
        resource_type=resource_type,
        resource_id=resource_id,
        route=route,
        client_address=client_address,
        request_id=request_id,
    )
    session.add(event)
    session.flush()
    return event
