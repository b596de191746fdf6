"""Retention: removing the oldest part of the linked chain, and the checkpoint that keeps the rest whole.

Only a prefix of the chain goes, up to the first event still within the retention period, and a MACed
`AuditCheckpoint` keeps the last removed link; verification of what remains starts there. Events waiting
for the sequencer are never purged. On PostgreSQL the append-only trigger lets the purge's deletes through
because its transaction (and only it) sets `portal.audit_purge_through`; there, where the table is
partitioned by month, a month whose events all belong to the purged prefix is dropped whole instead.

`retain` is the purge by months, with a floor: audit logs are kept at least six years (HIPAA,
45 CFR 164.316(b)(2)(i)), so it refuses a shorter period. Its cutoff is the start of a month, so it drops
whole partitions. Verification after either starts from the checkpoint, so `portal audit verify` passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, text
from sqlmodel import Session, col, func, select

from portal.models.audit import AuditCheckpoint, AuditEvent
from portal.models.base import utcnow
from portal.services.audit import partitions
from portal.services.audit.chain import checkpoint_mac, key_for, lock_chain
from portal.services.audit.writing import record


def retention_cutoff(years: int, now: datetime | None = None) -> datetime:
    """The moment `years` years before now (29 February falls back to the 28th)."""
    now = now or utcnow()
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


LEGAL_MINIMUM_MONTHS = 72  # HIPAA: six years (45 CFR 164.316(b)(2)(i))


class RetentionTooShort(ValueError):
    """A retention period below the minimum the clinic must keep its audit log for."""


def retention_start(months: int, now: datetime | None = None) -> datetime:
    """The first instant of the month `months` months before this one: what `retain` keeps from."""
    return partitions.add_months(partitions.month_start(now or utcnow()), -months)


@dataclass(frozen=True)
class Purge:
    purged: int
    through_seq: int | None  # the last purged position; None when nothing was old enough
    dropped: tuple[str, ...] = ()  # monthly partitions dropped whole (PostgreSQL)


def purge(session: Session, *, before: datetime) -> Purge:
    """Remove the longest prefix of the chain whose events all happened before `before`.

    Only linked events go (run the sequencer first), and only a prefix, so the rest still links up; a MACed
    checkpoint keeps the last removed link, and the purge is itself recorded as an event. On PostgreSQL the
    append-only trigger lets these deletes through because this transaction (and only it) sets
    `portal.audit_purge_through`.
    """
    key = key_for(session)
    lock_chain(session)
    first_kept = session.exec(
        select(func.min(AuditEvent.seq)).where(col(AuditEvent.occurred_at) >= before)
    ).one()
    # Only linked events: one waiting for the sequencer has no place in the chain yet.
    bound = col(AuditEvent.seq) < first_kept if first_kept is not None else col(AuditEvent.seq).is_not(None)
    last = session.exec(select(AuditEvent).where(bound).order_by(col(AuditEvent.seq).desc()).limit(1)).first()
    if last is None or last.seq is None or last.hash is None:
        return Purge(0, None)
    count = session.exec(select(func.count()).select_from(AuditEvent).where(bound)).one()
    dropped = partitions.drop_months_before(session, before, through_seq=last.seq)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT set_config('portal.audit_purge_through', :seq, true)"), {"seq": str(last.seq)}
        )
    session.execute(delete(AuditEvent).where(col(AuditEvent.seq) <= last.seq))
    checkpoint = AuditCheckpoint(
        through_seq=last.seq, through_hash=last.hash, purged_count=count, cutoff=before, mac=""
    )
    checkpoint.mac = checkpoint_mac(key, checkpoint)
    session.add(checkpoint)
    session.flush()
    record(session, action="audit-purge", resource_type="audit_event", resource_id=str(last.seq))
    return Purge(count, last.seq, tuple(dropped))


def retain(
    session: Session, *, months: int, minimum: int = LEGAL_MINIMUM_MONTHS, now: datetime | None = None
) -> Purge:
    """Keep the last `months` whole months (and this one) of the log; purge what is older (see `purge`).

    Refuses (RetentionTooShort) a period below `minimum`, which is never below the legal six years.
    """
    floor = max(minimum, LEGAL_MINIMUM_MONTHS)
    if months < floor:
        raise RetentionTooShort(
            f"audit events must be kept at least {floor} months ({floor // 12} years"
            f"{'' if floor % 12 == 0 else f' {floor % 12} months'}); {months} is too short"
        )
    return purge(session, before=retention_start(months, now))
