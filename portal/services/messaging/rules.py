"""The one visibility rule for messages, and the words that say who wrote or read one.

Every output (the list, a thread, an attachment, a count, the mail, the FHIR download) asks `visible`:
a thread of the patient, hidden from a view that does not see the patient's own messages (a limited
proxy of a 12-17-year-old, staff whose role does not read confidential threads) when it is confidential.
Internal notes are for staff alone.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_
from sqlmodel import col

from portal.models.messaging import Message, MessageThread
from portal.services.access import PatientScope


def visible(scope: PatientScope) -> ColumnElement[bool]:
    """The threads this scope may see: the condition every messaging query of a patient uses."""
    condition = col(MessageThread.patient_id) == scope.patient_id
    if not scope.sees_patient_messages:
        condition = and_(condition, col(MessageThread.confidential).is_(False))
    return condition


def shown_messages(scope: PatientScope) -> ColumnElement[bool]:
    """The messages of a visible thread this scope may read: internal notes only for staff."""
    if scope.staff:
        return col(Message.id).is_not(None)
    return col(Message.internal).is_(False)


def sees_thread(scope: PatientScope, thread: MessageThread) -> bool:
    """`visible` for one thread already loaded."""
    return thread.patient_id == scope.patient_id and (scope.sees_patient_messages or not thread.confidential)
