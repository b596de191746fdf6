"""The audit log: one append-only table, one row per look at or change of patient data.

Each event is written sealed (`mac`: an HMAC of its content, see portal/services/audit/chain.py) and
waiting; the sequencer then makes it a link in a keyed hash chain, once: `seq` increases by exactly one
from link to link, `prev_hash` repeats the previous link's `hash`, and `hash` is an HMAC over the event's
content, `seq` and `prev_hash`. Retention purges only whole old prefixes of the chain and leaves an
`AuditCheckpoint` naming the last purged link, so what remains still verifies. On PostgreSQL the table is
partitioned by month (portal/services/audit/partitions.py), so old months go as whole partitions.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index
from sqlmodel import Field, SQLModel

from portal.models.base import UTCDateTime, utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    # "Who has viewed my record" and the admin's search by patient: one patient's events, newest first;
    # the search by person reads the actor's and the represented person's events, newest first.
    # On PostgreSQL the table is partitioned by month of `occurred_at` (migration 0019), so there the
    # primary key and the unique indexes on `seq` and `mac` also hold `occurred_at`.
    __table_args__ = (
        Index("ix_audit_event_patient_id_id", "patient_id", "id"),
        Index("ix_audit_event_actor_person_id_id", "actor_person_id", "id"),
        Index("ix_audit_event_on_behalf_of_person_id_id", "on_behalf_of_person_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Position in the chain: dense, from 1; None while the event waits for the sequencer.
    seq: int | None = Field(default=None, sa_type=BigInteger, unique=True, index=True)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_person_id: int | None = None  # None: the system, or signed out
    actor_role: str | None = Field(default=None, max_length=20)  # patient, proxy, front_desk, clinician...
    on_behalf_of_person_id: int | None = None  # set when a proxy acts for a patient
    patient_id: int | None = None
    action: str = Field(max_length=40, index=True)  # view, create, update, download, sign-in, ...
    resource_type: str | None = Field(default=None, max_length=40)
    resource_id: str | None = Field(default=None, max_length=64)  # a public or FHIR id, never PHI
    route: str | None = Field(default=None, max_length=80)  # the route's name, not its path
    outcome: str = Field(default="allowed", max_length=10)  # allowed / denied
    client_address: str | None = Field(default=None, max_length=45)
    request_id: str | None = Field(default=None, max_length=32)
    prev_hash: str | None = Field(default=None, max_length=64)  # set by the sequencer, with seq and hash
    hash: str | None = Field(default=None, max_length=64)
    # "nonce:HMAC" over the content, written with the event; unique, so a copied row is refused.
    mac: str | None = Field(default=None, max_length=81, unique=True, index=True)


class AuditCheckpoint(SQLModel, table=True):
    """The last link of a purged prefix of the chain: verification of what remains starts here."""

    __tablename__ = "audit_checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    through_seq: int = Field(
        sa_type=BigInteger, unique=True
    )  # every event up to and including this one was purged
    through_hash: str = Field(max_length=64)  # that event's hash: the next event's prev_hash
    purged_count: int
    cutoff: datetime = Field(sa_type=UTCDateTime)  # every purged event happened before this
    mac: str = Field(max_length=64)  # HMAC over the fields above, so a forged checkpoint shows
