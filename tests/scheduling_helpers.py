"""Shared set-up for the scheduling tests: the demo calendar, a family, a clock."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from portal.models.access import ProxyGrant
from portal.services.scheduling.seed import seed_calendar
from tests.conftest import make_patient, make_person


def calendar(session: Session, settings) -> None:
    seed_calendar(
        session, tz=settings.timezone, today=settings.today(), video_url="https://video.example/room"
    )
    session.commit()


def family(session: Session, *, child_born: date = date(2019, 5, 1)):
    """A parent with full access to a child, as the clinic sets it up."""
    parent = make_person(session, display_name="Pat Parent", email="pat.parent@example.org")
    child = make_patient(session, given_name="Kit", family_name="Child", birth_date=child_born)
    session.add(
        ProxyGrant(
            proxy_person_id=parent.id, patient_id=child.id, relationship="parent", starts_on=child_born
        )
    )
    session.commit()
    return parent, child
