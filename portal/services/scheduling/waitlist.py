"""The wait list: a patient with a booked visit asks for an earlier one; when a time of that type opens,
the people waiting are offered it by mail in turn, each offer good for a set time; the first to accept
gets it, and their old appointment is released in the same transaction."""

from __future__ import annotations

from sqlmodel import Session

from portal.models.scheduling import Appointment


def queue_offers_for(session: Session, cancelled: Appointment) -> None:
    """A cancellation opened a time: the worker's next round offers it (see `offer_round`)."""
