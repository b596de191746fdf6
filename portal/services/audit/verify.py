"""Verifying the audit chain: every linked event in order, then the events that wait to be linked.

`verify` walks the chain from the newest retention checkpoint (or the start) in short transactions and
names the first bad link in words an investigator can act on: changed (its content no longer matches its
hash), deleted (a gap in `seq`), inserted (not an event the portal wrote). Then it checks the seal of
every event still waiting for the sequencer (see chain.py) and counts them: a waiting event that was
changed or forged is named too.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from portal.models.audit import AuditCheckpoint, AuditEvent
from portal.services.audit.chain import checkpoint_mac, event_hash, key_for, latest_checkpoint, seal_holds


@dataclass(frozen=True)
class Verification:
    count: int  # events checked
    first_seq: int | None
    last_seq: int | None
    head_hash: str
    problem: str | None = None  # what is wrong with the first bad event; None when the chain holds
    bad_event_id: int | None = None
    waiting: int = 0  # committed events not linked yet (the sequencer links them within a worker round)

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(engine: Engine, *, head: tuple[int, str] | None = None, chunk: int = 2000) -> Verification:
    """Walk the whole chain in order, then the events waiting to be linked; report the first bad one.

    `head` is a (seq, hash) noted earlier (`verify` prints it): the chain must still contain that link, which
    is how removing the newest events (leaving a shorter chain that is whole) shows.
    """
    linked = verify_links(engine, head=head, chunk=chunk)
    if not linked.ok:
        return linked
    waiting, problem, bad_id = check_waiting(engine, chunk=chunk)
    return replace(linked, waiting=waiting, problem=problem, bad_event_id=bad_id)


def check_waiting(engine: Engine, *, chunk: int = 2000) -> tuple[int, str | None, int | None]:
    """(how many events wait to be linked, what is wrong with the first bad one, its id)."""
    count, after_id = 0, 0
    while True:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            key = key_for(session)
            rows = list(
                session.exec(
                    select(AuditEvent)
                    .where(col(AuditEvent.seq).is_(None), col(AuditEvent.id) > after_id)
                    .order_by(col(AuditEvent.id))
                    .limit(chunk)
                )
            )
        for event in rows:
            if not seal_holds(key, event):
                problem = (
                    f"event id={event.id}, waiting to be linked, was changed or inserted: "
                    "its content does not match its seal"
                )
                return count, problem, event.id
            count += 1
        if len(rows) < chunk:
            return count, None, None
        after_id = rows[-1].id or after_id


def verify_links(engine: Engine, *, head: tuple[int, str] | None = None, chunk: int = 2000) -> Verification:
    """Walk the linked chain in order, in short transactions, and report the first bad link.

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
            # A link that passed link_problem has both: it is in place and genuine.
            expected_seq, prev_hash, previous = (event.seq or 0) + 1, event.hash or "", event
        if len(rows) <= chunk:
            last_seq = expected_seq - 1
            if head is not None and last_seq < head[0]:
                problem = (
                    f"the chain ends at seq {last_seq}, before the head noted earlier at seq {head[0]}: "
                    f"the newest events (seq {last_seq + 1}..{head[0]} at least) are missing (deleted)"
                )
                return Verification(count, first_seq, last_seq if count else None, prev_hash, problem)
            return Verification(count, first_seq, last_seq if count else None, prev_hash)
        after = rows[chunk - 1].seq or after


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
    seq = event.seq or 0  # rows here were selected by seq: never None
    name = f"event id={event.id} (seq {seq})"
    genuine = event.hash is not None and hmac.compare_digest(event.hash, event_hash(key, event))
    after = f"after event id={previous.id} (seq {previous.seq})" if previous else "at the start of the chain"
    in_place = seq == expected_seq and event.prev_hash == prev_hash
    if not genuine:
        if following is not None and following.prev_hash == event.hash:
            return f"{name} was changed: its content no longer matches its hash"
        if in_place and following is None:
            return f"{name}, the newest, was changed or inserted: its content does not match its hash"
        if in_place:
            return f"{name} was inserted or its hash changed: the next event does not link to it"
        return f"{name} was inserted: it is not an event the portal wrote"
    if seq > expected_seq:
        missing = f"seq {expected_seq}" if seq == expected_seq + 1 else f"seq {expected_seq}..{seq - 1}"
        return f"{name}: the event(s) at {missing} {after} are missing (deleted)"
    if seq < expected_seq or event.prev_hash != prev_hash:
        return f"{name} is out of order: it does not follow {after}"
    return None
