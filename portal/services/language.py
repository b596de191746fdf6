"""A signed-in person's language, saved so that it follows them to every device."""

from __future__ import annotations

from sqlmodel import Session

from portal.models.people import Person


def remember(session: Session, *, person_id: int, lang: str) -> None:
    person = session.get(Person, person_id)
    if person is not None:
        person.locale = lang
