"""itsdangerous signers: one salt per purpose, so a value signed for one use is refused by every other."""

from __future__ import annotations

from itsdangerous import BadSignature, TimestampSigner

from portal.config import Settings

SALT_PREFIX = "portal."


def signer(settings: Settings, purpose: str) -> TimestampSigner:
    return TimestampSigner(str(settings.secret_key), salt=SALT_PREFIX + purpose)


def sign(settings: Settings, purpose: str, value: str) -> str:
    return signer(settings, purpose).sign(value).decode()


def unsign(settings: Settings, purpose: str, token: str, *, max_age: int) -> str | None:
    """The signed value, or None when the signature is wrong, from another purpose, or too old."""
    try:
        return signer(settings, purpose).unsign(token, max_age=max_age).decode()
    except (BadSignature, UnicodeError):
        return None
