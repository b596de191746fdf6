"""Notices to an account's owner when a way to sign in changes, so a takeover cannot stay quiet.

New recovery codes, a passkey added or removed, a password set or changed, the e-mail address changed:
each sends the owner a short mail (for a new address, to the old one). The mail says what changed and
whom to call; it never carries patient data, a code or a link.
"""

from __future__ import annotations

from sqlmodel import Session

from portal.config import Settings
from portal.models import Person
from portal.models.base import utcnow
from portal.services import mail

CHANGES = {
    "recovery-codes": "new recovery codes were made (the old ones no longer work)",
    "passkey-added": "a passkey was added",
    "passkey-removed": "a passkey was removed",
    "password-set": "a password was set or changed",
    "email-changed": "the e-mail address for sign-in codes was changed",
}


def sign_in_changed(
    session: Session, settings: Settings, *, person: Person, change: str, to: str | None = None
) -> None:
    """Queue the notice of `change` (a key of CHANGES) to `to`, or the person's address; none without one."""
    address = to or person.email
    if not address:
        return
    when = utcnow().strftime("%Y-%m-%d %H:%M UTC")
    mail.enqueue(
        session,
        to=address,
        subject=f"Your {settings.clinic_name} sign-in was changed",
        body=(
            f"On {when}, a change was made to how you sign in to the {settings.clinic_name} patient "
            f"portal: {CHANGES[change]}.\n\n"
            f"If this was you, there is nothing to do. If it was not, call {settings.clinic_name} at "
            f"{settings.clinic_phone} straight away.\n"
        ),
    )
