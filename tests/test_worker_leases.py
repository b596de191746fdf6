"""A worker that dies (kill -9) mid-job: what it claimed is claimed again once its lease runs out, and
never while the lease holds."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import Session

from portal.models.base import utcnow
from portal.models.identity import OutboxMail
from portal.models.printing import PrintJob
from portal.services import mail
from portal.services.printing import staff
from tests.conftest import make_person


def _running_job(session: Session, claimed_minutes_ago: float) -> int:
    owner = make_person(session, display_name="Front Desk", staff_role="front_desk")
    job = PrintJob(
        owner_person_id=owner.id,
        day=date(2026, 3, 2),
        status="running",
        done=2,
        claimed_at=utcnow() - timedelta(minutes=claimed_minutes_ago),
    )
    session.add(job)
    session.commit()
    assert job.id is not None
    return job.id


def test_a_print_job_whose_worker_died_is_claimed_again_after_the_lease(app, session) -> None:
    job_id = _running_job(session, claimed_minutes_ago=staff.LEASE_SECONDS / 60 + 1)

    claimed = staff.claim_print_job(app.state.engine)

    assert claimed is not None and claimed.id == job_id
    assert claimed.status == "running" and claimed.done == 0  # it starts over
    assert staff.claim_print_job(app.state.engine) is None  # the new claim holds


def test_a_print_job_within_its_lease_is_not_claimed_by_a_second_worker(app, session) -> None:
    _running_job(session, claimed_minutes_ago=1)

    assert staff.claim_print_job(app.state.engine) is None


def test_a_worker_whose_job_was_taken_over_stops_without_writing(app, session) -> None:
    job_id = _running_job(session, claimed_minutes_ago=staff.LEASE_SECONDS / 60 + 1)
    stale = session.get(PrintJob, job_id)
    assert stale is not None
    session.expunge(stale)  # what the silent worker still holds
    session.commit()
    assert staff.claim_print_job(app.state.engine) is not None  # a live worker takes it over

    with pytest.raises(staff.LeaseLost), Session(app.state.engine) as other, other.begin():
        staff._still_ours(other, stale, done=3)  # the first worker wakes up and reports progress

    session.expire_all()
    job = session.get(PrintJob, job_id)
    assert job is not None and job.done == 0
    session.commit()


def _claimed_mail(session: Session, until_minutes: float) -> int:
    row = OutboxMail(
        to_address="someone@example.test",
        subject="Your sign-in code",
        body="hello",
        claimed_until=utcnow() + timedelta(minutes=until_minutes),
    )
    session.add(row)
    session.commit()
    assert row.id is not None
    return row.id


def test_mail_claimed_by_a_worker_that_died_is_claimed_again_once_the_claim_expires(app, session) -> None:
    mail_id = _claimed_mail(session, until_minutes=-1)

    claimed = mail.claim_next(app.state.engine)

    assert claimed is not None and claimed.id == mail_id
    assert mail.claim_next(app.state.engine) is None  # the new claim holds


def test_mail_within_its_claim_is_not_claimed_by_a_second_worker(app, session) -> None:
    _claimed_mail(session, until_minutes=mail.CLAIM_SECONDS / 60 - 1)

    assert mail.claim_next(app.state.engine) is None
