"""What the identity modules share: their audit events, refusals for rate limits, the actor's role."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from portal.models import Person
from portal.provenance import Provenance
from portal.security import ratelimit, sessions
from portal.security.sessions import Client
from portal.services import audit
from portal.services.errors import Refused


def audit_event(session: Session, client: Client | None, *, route: str | None = None, **fields: Any) -> None:
    """An audit event for an identity action, with where the request came from (when there was one)."""
    provenance = Provenance(
        route=route,
        client_address=client.address if client else None,
        request_id=client.request_id if client else None,
    )
    audit.record(session, provenance=provenance, **fields)


def rate_limited(session: Session, client: Client | None, error: ratelimit.RateLimited) -> Refused:
    """The refusal for too many tries, saying how many minutes to wait; the refusal is audited, naming
    the limit (never the account or address it counts)."""
    audit_event(session, client, action="rate-limited", outcome="denied", resource_type=error.limit.name)
    return Refused("rate_limited", minutes=sessions.minutes_until(error.until))


def role_of(person: Person) -> str:
    return person.staff_role or "patient"
