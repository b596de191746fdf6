"""The worker's round: what it does each time it wakes."""

from __future__ import annotations

from sqlmodel import Session, select

from portal import worker
from portal.models import AuditEvent
from tests.audit_helpers import write_events


def test_a_worker_round_links_the_audit_events_that_wait(app) -> None:
    write_events(app.state.engine, 3, link=False)

    worker.run_rounds(app.state.engine, app.state.settings, once=True)

    with Session(app.state.engine) as session:
        seqs = [event.seq for event in session.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert seqs == [1, 2, 3]
