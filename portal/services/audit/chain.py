"""The audit chain: its key, the canonical form of an event, the seal and the hash, and the sequencer.

Two MACs protect an event, both keyed with `chain_key` (derived from SECRET_KEY for this purpose alone,
so that someone with database access but without the secret can compute neither):

- its **seal**, written with the event, in the request's own transaction:

      mac = nonce ":" HMAC-SHA256(key, ["audit-event-v1", content..., nonce])

  where the content is every column the chain covers except `seq`, and the nonce is random, so that two
  events alike to the microsecond still differ, and a copied row collides with its original on the
  unique `mac` index. A changed or forged event that waits to be linked shows as a seal that does not
  match.
- its **link**, set later by the sequencer:

      hash = HMAC-SHA256(key, canonical(event) + "\\n" + prev_hash)

  where `canonical` covers the content and `seq`, the event's position, which grows by exactly one from
  link to link. A change, removal or insertion anywhere in the linked chain breaks it.

Why a sequencer. Requests used to lock the head of the chain for the rest of their transaction, so no two
audited requests could run at once. Now a request only INSERTs its sealed event (seq, prev_hash and hash
NULL): the event still commits or rolls back with what it records, and requests never wait on each other.
`sequence_pending` (run by the worker each round, and by `portal audit verify` and `portal audit
sequence`) links the committed, unlinked events in batches; only sequencers (and the purge) take the
chain's lock, never a request.

The order rule. Ids come from a sequence taken at INSERT, and transactions commit in another order: on
PostgreSQL an event with a lower id may commit after one with a higher id has been linked. The sequencer
does not wait for id order. Each batch takes every committed event that has no `seq` yet, in id order,
and appends it after the head; an event that commits late (a lower id) is simply in a later batch. So
the chain's order is the order in which events became visible to the sequencer (commit order, to within
a batch), every committed event is linked exactly once (the lock makes sequencers take turns, and a
batch reads the head afresh after taking it), and nothing is skipped waiting for an id that may never
come (a rolled-back transaction leaves a hole in the ids, never in `seq`). Time in the chain is the
events' own `occurred_at`, which need not grow along `seq`.

What covers a waiting event. Between its commit and its link (a worker round: seconds), an event is
covered by its seal (change, forgery, copy) and, on PostgreSQL, by the triggers that refuse UPDATE and
DELETE; `portal audit verify` links what is waiting first and reports how many still wait. An event whose
seal does not match is never linked: it stays waiting, and verify names it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, text, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from portal.models.audit import AuditCheckpoint, AuditEvent

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
CONTENT_FIELDS = CHAIN_FIELDS[1:]  # what the seal covers: all but the position, not known yet
CHAIN_VERSION = "audit-chain-v1"
SEAL_VERSION = "audit-event-v1"
KEY_PURPOSE = b"portal.audit-chain"
KEY_OPTION = "portal_audit_key"  # the engine execution option that carries the chain key
# pg_advisory_xact_lock key for the head of the chain: the bytes of "auditlog" as a bigint. Only
# sequencers and the purge take it.
CHAIN_LOCK = int.from_bytes(b"auditlog", "big") - 2**63
BATCH = 1000  # events linked per transaction

_table = AuditEvent.__table__  # type: ignore[attr-defined]
HEAD_QUERY = (
    sa_select(_table.c.seq, _table.c.hash)
    .where(_table.c.seq.is_not(None))
    .order_by(_table.c.seq.desc())
    .limit(1)
)
# The sequencer's one UPDATE per event. The event's time is in the WHERE clause so that on PostgreSQL,
# where the table is partitioned by month of `occurred_at`, it reads one partition, not every one.
LINK = (
    update(_table)
    .where(_table.c.id == bindparam("event_id"), _table.c.occurred_at == bindparam("event_at"))
    .values(seq=bindparam("link_seq"), prev_hash=bindparam("link_prev"), hash=bindparam("link_hash"))
)


class AuditKeyMissing(RuntimeError):
    """The engine was never given the chain key: no event can be written (so neither can the action)."""


# -- the key ----------------------------------------------------------------------------------------


def chain_key(secret_key: object) -> bytes:
    """The chain's own key, derived from SECRET_KEY so that it is never the key that signs cookies."""
    return hmac.new(str(secret_key).encode(), KEY_PURPOSE, hashlib.sha256).digest()


def use_chain_key(engine: Engine, secret_key: object) -> None:
    """Give the engine the chain key: every session on it can then write and verify events."""
    engine.update_execution_options(**{KEY_OPTION: chain_key(secret_key)})


def engine_key(engine: Engine) -> bytes:
    """The chain key the engine was given (`use_chain_key`)."""
    return _checked(engine.get_execution_options().get(KEY_OPTION))


def key_for(session: Session) -> bytes:
    return _checked(session.connection().get_execution_options().get(KEY_OPTION))


def _checked(key: object) -> bytes:
    if not isinstance(key, bytes):
        raise AuditKeyMissing("the database engine has no audit chain key: call audit.use_chain_key()")
    return key


# -- the canonical form, the seal, the link -------------------------------------------------------------


def utc_iso(moment: datetime) -> str:
    """The one text form of a time in the chain: UTC, microseconds, as both databases hand it back."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _values(event: AuditEvent, fields: tuple[str, ...]) -> list[Any]:
    values: list[Any] = []
    for name in fields:
        value = getattr(event, name)
        values.append(utc_iso(value) if isinstance(value, datetime) else value)
    return values


def canonical(event: AuditEvent) -> bytes:
    values = [CHAIN_VERSION, *_values(event, CHAIN_FIELDS)]
    return json.dumps(values, separators=(",", ":"), ensure_ascii=True).encode()


def event_hash(key: bytes, event: AuditEvent) -> str:
    prev_hash = event.prev_hash or ""
    return hmac.new(key, canonical(event) + b"\n" + prev_hash.encode(), hashlib.sha256).hexdigest()


def _seal_digest(key: bytes, event: AuditEvent, nonce: str) -> str:
    values = [SEAL_VERSION, *_values(event, CONTENT_FIELDS), nonce]
    message = json.dumps(values, separators=(",", ":"), ensure_ascii=True).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def seal(key: bytes, event: AuditEvent) -> str:
    """A fresh seal for an event's content: `nonce:digest`."""
    nonce = secrets.token_hex(8)
    return f"{nonce}:{_seal_digest(key, event, nonce)}"


def seal_holds(key: bytes, event: AuditEvent) -> bool:
    """Whether the event's content is what was sealed when it was written."""
    nonce, _, digest = (event.mac or "").partition(":")
    return bool(nonce and digest) and hmac.compare_digest(digest, _seal_digest(key, event, nonce))


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


# -- the head and the sequencer -------------------------------------------------------------------------


def lock_chain(session: Session) -> None:
    """Make sequencers (and the purge) take turns until the transaction ends; requests never take it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})
    # SQLite: the engine begins every transaction with BEGIN IMMEDIATE, which already holds the write lock.


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.exec(
        select(AuditCheckpoint).order_by(col(AuditCheckpoint.through_seq).desc()).limit(1)
    ).first()


def chain_head(session: Session) -> tuple[int, str]:
    """(seq, hash) of the newest link: the newest linked event, else the newest checkpoint, else (0, "")."""
    head = session.connection().execute(HEAD_QUERY).first()
    if head is not None:
        return head[0], head[1]
    anchor = latest_checkpoint(session)
    if anchor is not None:
        return anchor.through_seq, anchor.through_hash
    return 0, ""


def link_batch(session: Session, key: bytes, *, after_id: int, limit: int) -> tuple[int, int | None]:
    """Link up to `limit` waiting events with ids above `after_id`, in the caller's (locked) transaction.

    Returns (how many were linked, the last id looked at); an event whose seal does not match is passed
    over and stays waiting, for verify to name.
    """
    waiting = list(
        session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.seq).is_(None), col(AuditEvent.id) > after_id)
            .order_by(col(AuditEvent.id))
            .limit(limit)
        )
    )
    if not waiting:
        return 0, None
    session.expunge_all()  # the rows are changed below as plain values: the ORM must not flush them
    seq, prev_hash = chain_head(session)
    links: list[dict[str, Any]] = []
    for event in waiting:
        if not seal_holds(key, event):
            continue
        seq += 1
        event.seq, event.prev_hash = seq, prev_hash
        prev_hash = event_hash(key, event)
        links.append(
            {
                "event_id": event.id,
                "event_at": event.occurred_at,
                "link_seq": seq,
                "link_prev": event.prev_hash,
                "link_hash": prev_hash,
            }
        )
    if links:
        # Only these three columns change, once per event: the PostgreSQL trigger allows exactly that.
        session.connection().execute(LINK, links)
    return len(links), waiting[-1].id


def sequence_pending(engine: Engine, *, key: bytes, limit: int = 100_000) -> int:
    """Link the committed events that wait, oldest id first, in batches; returns how many were linked.

    Run it each worker round. Each batch is one short transaction under the chain's lock, so several
    workers may run it at once; requests never wait for it.
    """
    linked, after_id = 0, 0
    while linked < limit:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            lock_chain(session)
            count, last_id = link_batch(session, key, after_id=after_id, limit=min(BATCH, limit - linked))
        if last_id is None:
            break
        linked, after_id = linked + count, last_id
    return linked


def waiting_count(session: Session) -> int:
    """How many committed events wait to be linked."""
    return session.exec(
        select(func.count()).select_from(AuditEvent).where(col(AuditEvent.seq).is_(None))
    ).one()
