"""Turning a message into a request of another feature (a refill, an appointment): a registry of actions.

A feature registers a converter once at import (`register("refill", N_("Make a refill request"), fn)`);
the staff thread page offers one button per registered converter, and `convert` hands the converter
what it needs: the scope of the thread's patient and the thread's visible text. The converter creates its
own request through its own service and returns that request's public id (or None when it cannot).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from portal.models.messaging import Message
from portal.services.access import PatientScope
from portal.services.errors import Refused
from portal.services.messaging.threads import find_thread


@dataclass(frozen=True)
class ThreadText:
    """What a converter gets: the thread's ids, topic and subject, and its messages as the patient sent
    them (oldest first; internal notes left out)."""

    thread_public_id: str
    topic: str
    subject: str
    bodies: list[str]


Converter = Callable[[Session, PatientScope, ThreadText], str | None]


@dataclass(frozen=True)
class Conversion:
    name: str
    label: str  # a staff button's words
    run: Converter


CONVERTERS: dict[str, Conversion] = {}


def register(name: str, label: str, run: Converter) -> None:
    CONVERTERS[name] = Conversion(name, label, run)


def thread_text(session: Session, scope: PatientScope, thread_public_id: str) -> ThreadText | None:
    """The thread as a converter reads it, if the scope may see it."""
    thread = find_thread(session, scope, thread_public_id)
    if thread is None:
        return None
    bodies = session.exec(
        select(Message.body)
        .where(Message.thread_id == thread.id, col(Message.internal).is_(False))
        .order_by(col(Message.created_at), col(Message.id))
    ).all()
    return ThreadText(thread.public_id, thread.topic, thread.subject, list(bodies))


def convert(session: Session, scope: PatientScope, thread_public_id: str, name: str) -> str | None:
    """Run converter `name` on the thread (staff only); the new request's public id, or None."""
    if not scope.staff:
        return None
    conversion = CONVERTERS.get(name)
    if conversion is None:
        raise Refused("no_such_conversion")
    text = thread_text(session, scope, thread_public_id)
    return None if text is None else conversion.run(session, scope, text)
