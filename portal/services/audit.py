"""The audit log: writing it in the caller's transaction, checking its chain, searching and exporting it.

Every event is a link in a keyed hash chain:

    hash = HMAC-SHA256(chain_key, canonical(event) + "\\n" + prev_hash)

where `canonical` is a fixed JSON serialisation of every column except `id` and `hash` (including `seq`,
the event's position, which must grow by exactly one), and `chain_key` is derived from SECRET_KEY with
its own purpose label, so that someone with database access alone cannot recompute the chain after
changing, deleting or inserting a row. A writer takes a lock before reading the head of the chain (on
PostgreSQL a transaction-scoped advisory lock; on SQLite every transaction starts with BEGIN IMMEDIATE),
so writers in several processes queue rather than fork the chain; the unique `seq` refuses a fork anyway.

Retention removes only a whole old prefix of the chain, and records an `AuditCheckpoint` (itself MACed)
holding the last removed link, from which verification of the rest starts.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TextIO

from sqlalchemy import Engine, delete, func, text, true
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from portal.models.audit import AuditCheckpoint, AuditEvent
from portal.models.base import utcnow
from portal.models.people import Patient, Person
from portal.provenance import NOWHERE, Provenance

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
    }
)
OUTCOMES = ("allowed", "denied")

# What counts as someone looking at a record, for "Who has viewed my record".
ACCESS_ACTIONS = ("view", "download", "print", "export")

# The columns the chain covers, in the order they are serialised. Changing this list (or the format in
# `canonical`) breaks every existing chain: add a new version instead.
CHAIN_FIELDS = (
    "seq",
    "occurred_at",
    "actor_person_id",
    "actor_role",
    "on_behalf_of_person_id",
    "patient_id",
    "action",
    "resource_type",
    "resource_id",
    "route",
    "outcome",
    "client_address",
    "request_id",
)
CHAIN_VERSION = "audit-chain-v1"
KEY_PURPOSE = b"portal.audit-chain"
KEY_OPTION = "portal_audit_key"  # the engine execution option that carries the chain key
# pg_advisory_xact_lock key for the head of the chain: the bytes of "auditlog" as a bigint.
CHAIN_LOCK = int.from_bytes(b"auditlog", "big") - 2**63

HEAD_KEY = "portal.audit_head"  # session.info: (transaction, seq, hash) of the event this session last linked
_table = AuditEvent.__table__  # type: ignore[attr-defined]
HEAD_QUERY = sa_select(_table.c.seq, _table.c.hash).order_by(_table.c.seq.desc()).limit(1)

CSV_COLUMNS = (
    "id",
    "seq",
    "occurred_at",
    "actor_person_id",
    "actor_role",
    "on_behalf_of_person_id",
    "patient_id",
    "patient_fhir_id",
    "action",
    "resource_type",
    "resource_id",
    "route",
    "outcome",
    "client_address",
    "request_id",
    "prev_hash",
    "hash",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_PER_PAGE = 500


class AuditKeyMissing(RuntimeError):
    """The engine was never given the chain key: no event can be written (so neither can the action)."""


# -- the key ----------------------------------------------------------------------------------------


def chain_key(secret_key: object) -> bytes:
    """The chain's own key, derived from SECRET_KEY so that it is never the key that signs cookies."""
    return hmac.new(str(secret_key).encode(), KEY_PURPOSE, hashlib.sha256).digest()


def use_chain_key(engine: Engine, secret_key: object) -> None:
    """Give the engine the chain key: every session on it can then write and verify events."""
    engine.update_execution_options(**{KEY_OPTION: chain_key(secret_key)})


def key_for(session: Session) -> bytes:
    key = session.connection().get_execution_options().get(KEY_OPTION)
    if not isinstance(key, bytes):
        raise AuditKeyMissing("the database engine has no audit chain key: call audit.use_chain_key()")
    return key


# -- the chain --------------------------------------------------------------------------------------


def utc_iso(moment: datetime) -> str:
    """The one text form of a time in the chain: UTC, microseconds, as both databases hand it back."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(event: AuditEvent) -> bytes:
    values: list[Any] = [CHAIN_VERSION]
    for name in CHAIN_FIELDS:
        value = getattr(event, name)
        values.append(utc_iso(value) if isinstance(value, datetime) else value)
    return json.dumps(values, separators=(",", ":"), ensure_ascii=True).encode()


def event_hash(key: bytes, event: AuditEvent) -> str:
    return hmac.new(key, canonical(event) + b"\n" + event.prev_hash.encode(), hashlib.sha256).hexdigest()


def checkpoint_mac(key: bytes, checkpoint: AuditCheckpoint) -> str:
    values = [
        CHAIN_VERSION,
        "checkpoint",
        checkpoint.through_seq,
        checkpoint.through_hash,
        checkpoint.purged_count,
        utc_iso(checkpoint.cutoff),
        utc_iso(checkpoint.created_at),
    ]
    return hmac.new(key, json.dumps(values, separators=(",", ":")).encode(), hashlib.sha256).hexdigest()


def lock_chain(session: Session) -> None:
    """Serialise writers of the chain until the caller's transaction ends."""
    if remembered_head(session) is not None:
        return  # this (sub)transaction linked an event, so it already holds the lock
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})
    # SQLite: the engine begins every transaction with BEGIN IMMEDIATE, which already holds the write lock.


def chain_head(session: Session) -> tuple[int, str]:
    """(seq, hash) of the newest link: the newest event, else the newest checkpoint, else (0, "")."""
    # Within one (sub)transaction the chain is locked, so the head this session last wrote is still the
    # head; a savepoint that began or ended since makes the remembered head unsafe, so it is read again.
    remembered = remembered_head(session)
    if remembered is not None:
        return remembered
    head = session.connection().execute(HEAD_QUERY).first()
    if head is not None:
        return head[0], head[1]
    anchor = latest_checkpoint(session)
    if anchor is not None:
        return anchor.through_seq, anchor.through_hash
    return 0, ""


def remembered_head(session: Session) -> tuple[int, str] | None:
    remembered = session.info.get(HEAD_KEY)
    if remembered is not None and remembered[0] is current_transaction(session):
        return remembered[1], remembered[2]
    return None


def current_transaction(session: Session) -> object:
    return session.get_nested_transaction() or session.get_transaction()


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.exec(
        select(AuditCheckpoint).order_by(col(AuditCheckpoint.through_seq).desc()).limit(1)
    ).first()


def append(session: Session, event: AuditEvent) -> AuditEvent:
    """Link an event (keeping its own time) to the head of the chain, inside the caller's transaction."""
    key = key_for(session)
    lock_chain(session)
    return link(session, key, event)


def link(session: Session, key: bytes, event: AuditEvent) -> AuditEvent:
    seq, prev_hash = chain_head(session)
    event.seq = seq + 1
    event.prev_hash = prev_hash
    event.hash = event_hash(key, event)
    session.add(event)
    session.flush()
    session.info[HEAD_KEY] = (current_transaction(session), event.seq, event.hash)
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
    """Add one event to the log inside the caller's transaction.

    The chain is locked from here until the transaction ends, so call it as late in the transaction as
    the action allows. If it raises, the caller's transaction (and so the action) must not commit.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    event = AuditEvent(
        seq=0,  # set when linked
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
    key = key_for(session)
    lock_chain(session)
    event.occurred_at = utcnow()  # after the lock, so that time follows the chain's order
    return link(session, key, event)


# -- verification -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    count: int  # events checked
    first_seq: int | None
    last_seq: int | None
    head_hash: str
    problem: str | None = None  # what is wrong with the first bad event; None when the chain holds
    bad_event_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(engine: Engine, *, head: tuple[int, str] | None = None, chunk: int = 2000) -> Verification:
    """Walk the whole chain in order, in short transactions, and report the first bad link.

    `head` is a (seq, hash) noted earlier (`verify` prints it): the chain must still contain that link, which
    is how removing the newest events (leaving a shorter chain that is whole) shows.
    """
    count = 0
    first_seq: int | None = None
    with Session(engine, expire_on_commit=False) as session, session.begin():
        key = key_for(session)
        anchor = latest_checkpoint(session)
        anchor_problem = checkpoint_problem(session, key)
    if anchor_problem is not None:
        return Verification(0, None, None, "", anchor_problem)
    expected_seq, prev_hash = (anchor.through_seq + 1, anchor.through_hash) if anchor else (1, "")
    if head is not None and anchor is not None and head[0] == anchor.through_seq and head[1] != prev_hash:
        return Verification(
            0, None, None, prev_hash, f"the link at seq {head[0]} is not the head noted earlier"
        )
    after = expected_seq - 1
    previous: AuditEvent | None = None
    while True:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            rows = list(
                session.exec(
                    select(AuditEvent)
                    .where(col(AuditEvent.seq) > after)
                    .order_by(col(AuditEvent.seq))
                    .limit(chunk + 1)  # one more, to look at the link that follows the last
                )
            )
            low = session.exec(select(func.min(AuditEvent.seq))).one() if count == 0 else None
        if count == 0 and low is not None and low < expected_seq:
            stray = first_event_at_or_below(engine, expected_seq - 1)
            stray_problem = (
                f"event id={stray} was inserted: its seq is before the chain's start ({expected_seq})"
            )
            return Verification(0, None, None, prev_hash, stray_problem, stray)
        for index, event in enumerate(rows[:chunk]):
            following = rows[index + 1] if index + 1 < len(rows) else None
            problem = link_problem(key, event, expected_seq, prev_hash, previous, following)
            if problem is None and head is not None and event.seq == head[0] and event.hash != head[1]:
                problem = (
                    f"event id={event.id} (seq {event.seq}) is not the head noted earlier: its hash differs"
                )
            if problem is not None:
                return Verification(count, first_seq, expected_seq - 1, prev_hash, problem, event.id)
            count += 1
            first_seq = event.seq if first_seq is None else first_seq
            expected_seq, prev_hash, previous = event.seq + 1, event.hash, event
        if len(rows) <= chunk:
            last_seq = expected_seq - 1
            if head is not None and last_seq < head[0]:
                problem = (
                    f"the chain ends at seq {last_seq}, before the head noted earlier at seq {head[0]}: "
                    f"the newest events (seq {last_seq + 1}..{head[0]} at least) are missing (deleted)"
                )
                return Verification(count, first_seq, last_seq if count else None, prev_hash, problem)
            return Verification(count, first_seq, last_seq if count else None, prev_hash)
        after = rows[chunk - 1].seq


def checkpoint_problem(session: Session, key: bytes) -> str | None:
    for checkpoint in session.exec(select(AuditCheckpoint).order_by(col(AuditCheckpoint.through_seq))):
        if not hmac.compare_digest(checkpoint.mac, checkpoint_mac(key, checkpoint)):
            return f"retention checkpoint id={checkpoint.id} was changed or forged: its MAC does not match"
    return None


def first_event_at_or_below(engine: Engine, seq: int) -> int | None:
    with Session(engine) as session, session.begin():
        return session.exec(
            select(AuditEvent.id).where(col(AuditEvent.seq) <= seq).order_by(col(AuditEvent.seq)).limit(1)
        ).first()


def link_problem(
    key: bytes,
    event: AuditEvent,
    expected_seq: int,
    prev_hash: str,
    previous: AuditEvent | None,
    following: AuditEvent | None,
) -> str | None:
    """What is wrong with this link of the chain, in words an investigator can act on; None if nothing."""
    name = f"event id={event.id} (seq {event.seq})"
    genuine = hmac.compare_digest(event.hash, event_hash(key, event))
    after = f"after event id={previous.id} (seq {previous.seq})" if previous else "at the start of the chain"
    in_place = event.seq == expected_seq and event.prev_hash == prev_hash
    if not genuine:
        if following is not None and following.prev_hash == event.hash:
            return f"{name} was changed: its content no longer matches its hash"
        if in_place and following is None:
            return f"{name}, the newest, was changed or inserted: its content does not match its hash"
        if in_place:
            return f"{name} was inserted or its hash changed: the next event does not link to it"
        return f"{name} was inserted: it is not an event the portal wrote"
    if event.seq > expected_seq:
        missing = (
            f"seq {expected_seq}" if event.seq == expected_seq + 1 else f"seq {expected_seq}..{event.seq - 1}"
        )
        return f"{name}: the event(s) at {missing} {after} are missing (deleted)"
    if event.seq < expected_seq or event.prev_hash != prev_hash:
        return f"{name} is out of order: it does not follow {after}"
    return None


# -- retention --------------------------------------------------------------------------------------


def retention_cutoff(years: int, now: datetime | None = None) -> datetime:
    """The moment `years` years before now (29 February falls back to the 28th)."""
    now = now or utcnow()
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


@dataclass(frozen=True)
class Purge:
    purged: int
    through_seq: int | None  # the last purged position; None when nothing was old enough


def purge(session: Session, *, before: datetime) -> Purge:
    """Remove the longest prefix of the chain whose events all happened before `before`.

    Only a prefix goes, so the rest still links up; a MACed checkpoint keeps the last removed link, and the
    purge is itself recorded as an event. On PostgreSQL the append-only trigger lets these deletes through
    because this transaction (and only it) sets `portal.audit_purge_through`.
    """
    key = key_for(session)
    lock_chain(session)
    session.info.pop(HEAD_KEY, None)
    first_kept = session.exec(
        select(func.min(AuditEvent.seq)).where(col(AuditEvent.occurred_at) >= before)
    ).one()
    bound = col(AuditEvent.seq) < first_kept if first_kept is not None else true()
    last = session.exec(select(AuditEvent).where(bound).order_by(col(AuditEvent.seq).desc()).limit(1)).first()
    if last is None:
        return Purge(0, None)
    count = session.exec(select(func.count()).select_from(AuditEvent).where(bound)).one()
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
    return Purge(count, last.seq)


# -- search, export, "who has viewed my record" -----------------------------------------------------


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    actor_name: str | None
    patient_fhir_id: str | None
    on_behalf_of_name: str | None = None


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def start_of(day: date | datetime) -> datetime:
    if isinstance(day, datetime):
        if day.tzinfo is None:
            raise ValueError("naive datetime given to an audit search")
        return day
    return datetime.combine(day, time.min, tzinfo=UTC)


def end_of(day: date | datetime) -> datetime:
    """The exclusive end: a date means the whole of that day (UTC)."""
    if isinstance(day, datetime):
        return start_of(day)
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def filtered(
    *,
    patient_id: int | None,
    person_id: int | None,
    action: str | None,
    since: date | datetime | None,
    until: date | datetime | None,
) -> list[Any]:
    conditions: list[Any] = []
    if patient_id is not None:
        conditions.append(col(AuditEvent.patient_id) == patient_id)
    if person_id is not None:
        conditions.append(
            (col(AuditEvent.actor_person_id) == person_id)
            | (col(AuditEvent.on_behalf_of_person_id) == person_id)
        )
    if action is not None:
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        conditions.append(col(AuditEvent.action) == action)
    if since is not None:
        conditions.append(col(AuditEvent.occurred_at) >= start_of(since))
    if until is not None:
        conditions.append(col(AuditEvent.occurred_at) < end_of(until))
    return conditions


def search(
    session: Session,
    *,
    patient_id: int | None = None,
    person_id: int | None = None,
    action: str | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> AuditPage:
    """One page of events, newest first, by patient, by person (as actor or proxy), action and dates.

    Dates are whole UTC days, both ends included; datetimes are exact (since included, until excluded).
    """
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError("page must be at least 1 and per_page between 1 and 500")
    conditions = filtered(patient_id=patient_id, person_id=person_id, action=action, since=since, until=until)
    total = session.exec(select(func.count()).select_from(AuditEvent).where(*conditions)).one()
    on_behalf = aliased(Person)
    statement = (
        select(AuditEvent, Person.display_name, Patient.fhir_id, on_behalf.display_name)
        .outerjoin(Person, col(Person.id) == col(AuditEvent.actor_person_id))
        .outerjoin(Patient, col(Patient.id) == col(AuditEvent.patient_id))
        .outerjoin(on_behalf, col(on_behalf.id) == col(AuditEvent.on_behalf_of_person_id))
        .where(*conditions)
        .order_by(col(AuditEvent.seq).desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    rows = [
        AuditRow(event, name, fhir_id, behalf_name)
        for event, name, fhir_id, behalf_name in session.exec(statement)
    ]
    return AuditPage(rows, total, page, per_page)


def csv_cell(value: object) -> str:
    """One CSV cell, with text that a spreadsheet would run as a formula defused by a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return utc_iso(value)
    cell = str(value)
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def export_rows(
    session: Session,
    *,
    patient_id: int | None = None,
    person_id: int | None = None,
    action: str | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    after_seq: int = 0,
    through_seq: int | None = None,
    limit: int | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """(seq, cells) for each matching event, oldest first, optionally from one stretch of the chain."""
    conditions = filtered(patient_id=patient_id, person_id=person_id, action=action, since=since, until=until)
    conditions.append(col(AuditEvent.seq) > after_seq)
    if through_seq is not None:
        conditions.append(col(AuditEvent.seq) <= through_seq)
    statement = (
        select(AuditEvent, Patient.fhir_id)
        .outerjoin(Patient, col(Patient.id) == col(AuditEvent.patient_id))
        .where(*conditions)
        .order_by(col(AuditEvent.seq))
        .limit(limit)
        .execution_options(yield_per=1000)
    )
    for event, fhir_id in session.exec(statement):
        values = {**event.model_dump(), "patient_fhir_id": fhir_id}
        yield event.seq, [csv_cell(values[name]) for name in CSV_COLUMNS]


def csv_writer(out: TextIO) -> Any:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    return writer


def export_csv(
    session: Session,
    out: TextIO,
    *,
    patient_id: int | None = None,
    person_id: int | None = None,
    action: str | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
) -> int:
    """Write the matching events to `out` as CSV, in the caller's transaction; returns how many."""
    writer = csv_writer(out)
    count = 0
    rows = export_rows(
        session, patient_id=patient_id, person_id=person_id, action=action, since=since, until=until
    )
    for _, cells in rows:
        writer.writerow(cells)
        count += 1
    return count


def export_csv_in_chunks(
    engine: Engine,
    out: TextIO,
    *,
    patient_id: int | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    chunk: int = 5000,
) -> int:
    """The same as export_csv, in short transactions up to the head at the start: a long export of a
    SQLite log then never holds the write lock (and so every audited request) for its whole length."""
    with Session(engine) as session, session.begin():
        through_seq, _ = chain_head(session)
    writer = csv_writer(out)
    count, after = 0, 0
    while True:
        with Session(engine) as session, session.begin():
            rows = list(
                export_rows(
                    session,
                    patient_id=patient_id,
                    since=since,
                    until=until,
                    after_seq=after,
                    through_seq=through_seq,
                    limit=chunk,
                )
            )
        writer.writerows(cells for _, cells in rows)
        count += len(rows)
        if len(rows) < chunk:
            return count
        after = rows[-1][0]


@dataclass(frozen=True)
class Viewing:
    """One look at a patient's record by someone other than the patient."""

    occurred_at: datetime
    actor_name: str
    actor_role: str | None
    action: str
    resource_type: str | None
    resource_id: str | None
    on_behalf: bool  # a proxy acting for the patient
    route: str | None = None  # the page's route name


@dataclass(frozen=True)
class ViewingPage:
    rows: list[Viewing]
    total: int
    page: int
    per_page: int


def who_viewed(session: Session, patient_id: int, *, page: int = 1, per_page: int = 50) -> ViewingPage:
    """Who has viewed this patient's record: staff and proxies, by name and role, newest first.

    Counts the looks that were allowed (views, downloads, prints, exports); leaves out the patient's own.
    """
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError("page must be at least 1 and per_page between 1 and 500")
    own_person_id = session.exec(select(Patient.person_id).where(col(Patient.id) == patient_id)).first()
    conditions: list[Any] = [
        col(AuditEvent.patient_id) == patient_id,
        col(AuditEvent.action).in_(ACCESS_ACTIONS),
        col(AuditEvent.outcome) == "allowed",
        col(AuditEvent.actor_person_id).is_not(None),
    ]
    if own_person_id is not None:
        conditions.append(col(AuditEvent.actor_person_id) != own_person_id)
    total = session.exec(select(func.count()).select_from(AuditEvent).where(*conditions)).one()
    statement = (
        select(AuditEvent, Person.display_name)
        .join(Person, col(Person.id) == col(AuditEvent.actor_person_id))
        .where(*conditions)
        .order_by(col(AuditEvent.seq).desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    rows = [
        Viewing(
            occurred_at=event.occurred_at,
            actor_name=name,
            actor_role=event.actor_role,
            action=event.action,
            resource_type=event.resource_type,
            resource_id=event.resource_id,
            on_behalf=event.on_behalf_of_person_id is not None,
            route=event.route,
        )
        for event, name in session.exec(statement)
    ]
    return ViewingPage(rows, total, page, per_page)


# -- the admin's screen: search and download, each of them audited -----------------------------------

EXPORT_LIMIT = 100_000  # events one download from the screen may hold; `portal audit export` has no limit


@dataclass(frozen=True)
class Filters:
    """What an admin asked the log for: a patient and a person as typed, an action, a span of time."""

    patient: str = ""  # a patient's FHIR id
    person: str = ""  # someone's email, or their name or part of it
    action: str | None = None
    since: datetime | None = None  # included
    until: datetime | None = None  # excluded


@dataclass(frozen=True)
class Found:
    """The filters resolved to rows, or what is wrong with them (by form field)."""

    patient_id: int | None
    person_id: int | None
    problems: dict[str, str]


@dataclass(frozen=True)
class Screen:
    page: AuditPage | None  # None when the filters name someone the portal does not know
    problems: dict[str, str]


@dataclass(frozen=True)
class Download:
    csv: str | None  # None when refused: see problems
    count: int
    problems: dict[str, str]


def people_matching(session: Session, text: str, *, limit: int = 2) -> list[int]:
    """Ids of the people with this email, else this exact name, else a name containing it (case ignored)."""
    text = text.strip()
    if not text:
        return []
    if "@" in text:
        query = select(Person.id).where(func.lower(col(Person.email)) == text.lower())
        return [found for found in session.exec(query.limit(limit)) if found is not None]
    exact = select(Person.id).where(func.lower(col(Person.display_name)) == text.lower())
    found = [found for found in session.exec(exact.limit(limit)) if found is not None]
    if found:
        return found
    partial = select(Person.id).where(col(Person.display_name).icontains(text, autoescape=True))
    return [found for found in session.exec(partial.limit(limit)) if found is not None]


def resolve(session: Session, filters: Filters) -> Found:
    problems: dict[str, str] = {}
    patient_id = person_id = None
    if filters.patient:
        patient_id = session.exec(select(Patient.id).where(col(Patient.fhir_id) == filters.patient)).first()
        if patient_id is None:
            problems["patient"] = "No patient has that FHIR id."
    if filters.person:
        people = people_matching(session, filters.person)
        if not people:
            problems["person"] = "No one has that email or name."
        elif len(people) > 1:
            problems["person"] = "More than one person matches: enter their email instead."
        else:
            person_id = people[0]
    return Found(patient_id, person_id, problems)


def record_look(session: Session, action: str, found: Found, *, actor: Person, where: Provenance) -> None:
    """The admin's own look at the log, as one event: on the patient searched for, if any."""
    record(
        session,
        action=action,
        actor_person_id=actor.id,
        actor_role=actor.staff_role,
        patient_id=found.patient_id,
        resource_type="audit_event",
        provenance=where,
    )


def screen_search(
    session: Session, filters: Filters, *, page: int, per_page: int, actor: Person, where: Provenance
) -> Screen:
    """One page of the log for the admin's screen; the search itself is recorded (action "view")."""
    found = resolve(session, filters)
    result = None
    if not found.problems:
        result = search(
            session,
            patient_id=found.patient_id,
            person_id=found.person_id,
            action=filters.action,
            since=filters.since,
            until=filters.until,
            page=page,
            per_page=per_page,
        )
    record_look(session, "view", found, actor=actor, where=where)
    return Screen(result, found.problems)


def screen_export(session: Session, filters: Filters, *, actor: Person, where: Provenance) -> Download:
    """The events the screen's filters select, as CSV text, recorded (action "export") before any row."""
    found = resolve(session, filters)
    if found.problems:
        return Download(None, 0, found.problems)
    selected: dict[str, Any] = {
        "patient_id": found.patient_id,
        "person_id": found.person_id,
        "action": filters.action,
        "since": filters.since,
        "until": filters.until,
    }
    count = session.exec(select(func.count()).select_from(AuditEvent).where(*filtered(**selected))).one()
    if count >= EXPORT_LIMIT:
        problem = (
            f"{count} events match: a download holds fewer than {EXPORT_LIMIT}. "
            "Narrow the dates, or use `portal audit export` on the server."
        )
        return Download(None, count, {"download": problem})
    record_look(session, "export", found, actor=actor, where=where)
    out = io.StringIO()
    written = export_csv(session, out, **selected)
    return Download(out.getvalue(), written, {})
