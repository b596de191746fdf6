"""Writing the audit log: one sealed event, in the caller's transaction, without waiting for anyone.

`record` INSERTs the event with its seal (see chain.py) and leaves it to the sequencer to link; it takes
no lock, so audited requests run side by side. If it raises, the caller's transaction (and so the action)
must not commit.
"""

from __future__ import annotations

import unicodedata

from sqlalchemy import insert
from sqlmodel import Session

from portal.models.audit import AuditEvent
from portal.models.base import utcnow
from portal.provenance import NOWHERE, Provenance
from portal.services.audit.chain import key_for, seal

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
        "audit-purge",
        "code-locked",  # an activation code worn out by wrong tries
        "session-timeout",  # a session found past its idle timeout or lifetime
        "cookie-refused",  # a session cookie that failed its signature
        "rate-limited",  # an attempt refused because its limit was reached
        "input-refused",  # a request refused for input no field takes (portal.security.inputs)
        "check-in-sent",  # a patient or parent sent an online check-in to the clinic
        "check-in-decided",  # the front desk accepted or rejected one change of a check-in
        "decide",  # a clinician decides a request (a refill: approve, deny, needs a visit)
        "remind",  # the worker looked at what is due for a reminder, with the recipient's own access
        "check-in-offered",  # the worker decided whether to mail someone that check-in is open for a visit
        "send",  # a message written to or by the care team
        "archive",  # a thread put away from a person's list
        "assign",  # a thread given to a colleague or a pool
        "close",  # a thread's status set by staff
        "move",  # a thread moved to another patient's record (both charts)
        "import",  # bills taken into a patient's ledger from claims or a statement file
        "pay",  # a payment started, taken or recorded
        "refund",
        "write-off",
        "payment-plan",
        "guest-pay",  # a statement code and birth date tried on the guest pay page
    }
)
OUTCOMES = ("allowed", "denied")

# What counts as someone looking at a record, for "Who has viewed my record".
ACCESS_ACTIONS = ("view", "download", "print", "export")


TEXT_FIELDS = ("actor_role", "resource_type", "resource_id", "route", "client_address", "request_id")


def _column_length(name: str) -> int:
    length = getattr(AuditEvent.__table__.c[name].type, "length", None)  # type: ignore[attr-defined]
    assert isinstance(length, int)
    return length


LENGTHS = {name: _column_length(name) for name in TEXT_FIELDS}


def neutral(value: str | None, length: int) -> str | None:
    """The value with control characters (C0, C1, DEL) written out as escapes, cut to `length`: an
    export then has one record per line and nothing a terminal would run, and no write fails on it."""
    if value is None:
        return None
    shown = "".join(c if unicodedata.category(c) != "Cc" else f"\\x{ord(c):02x}" for c in value[: length * 4])
    return shown[:length]


_TABLE = AuditEvent.__table__  # type: ignore[attr-defined]
_COLUMNS = tuple(column.name for column in _TABLE.columns if column.name != "id")
# One INSERT … RETURNING id, built once: an event is written on every page view, and the ORM's unit of work
# for one new row costs more than the rest of the audit together.
_INSERT = insert(_TABLE).returning(_TABLE.c.id)


def _sealed(session: Session, event: AuditEvent) -> AuditEvent:
    for name, length in LENGTHS.items():
        setattr(event, name, neutral(getattr(event, name), length))
    event.seq = event.prev_hash = event.hash = None
    event.mac = seal(key_for(session), event)
    return event


def append(session: Session, event: AuditEvent) -> AuditEvent:
    """Write an event as given (keeping its own time), sealed and waiting to be linked."""
    session.add(_sealed(session, event))
    session.flush()
    return event


def _insert(session: Session, event: AuditEvent) -> AuditEvent:
    """`append` without the ORM: the event comes back with its id but is not in the session."""
    session.flush()  # what the caller added first is written first, as with `append`
    values = {name: getattr(event, name) for name in _COLUMNS}
    event.id = session.execute(_INSERT, values).scalar_one()
    return event


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
    provenance: Provenance = NOWHERE,
) -> AuditEvent:
    """Add one event to the log inside the caller's transaction; the sequencer links it after commit."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    event = AuditEvent(
        occurred_at=utcnow(),
        action=action,
        outcome=outcome,
        actor_person_id=actor_person_id,
        actor_role=actor_role,
        on_behalf_of_person_id=on_behalf_of_person_id,
        patient_id=patient_id,
        resource_type=resource_type,
        resource_id=resource_id,
        route=provenance.route,
        client_address=provenance.client_address,
        request_id=provenance.request_id,
    )
    return _insert(session, _sealed(session, event))
