"""Rate limits kept in the database, so they hold across every app process.

Each limit counts attempts for a key (an account or an address) in a fixed window. Keys are hashed with
the secret key before they are stored: an email address or a client address never sits in the table.
Count in a transaction of its own (or one that commits): a refused attempt must still be counted.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from portal.config import Settings
from portal.models import RateLimitBucket
from portal.models.base import utcnow


@dataclass(frozen=True)
class Limit:
    name: str
    attempts: int
    window: timedelta


# Failed attempts allowed per window. Addresses get more room than accounts: a clinic's waiting room
# or a family can share one address.
SIGN_IN_ADDRESS = Limit("sign-in:address", 20, timedelta(minutes=15))
SIGN_IN_ACCOUNT = Limit("sign-in:account", 10, timedelta(minutes=15))
ACTIVATION_ADDRESS = Limit("activation:address", 20, timedelta(hours=1))
GUEST_PAY_ADDRESS = Limit("guest-pay:address", 20, timedelta(hours=1))  # statement code + birth date
PASSWORD_ADDRESS = Limit("password:address", 20, timedelta(minutes=15))
PASSWORD_ACCOUNT = Limit("password:account", 5, timedelta(minutes=15))
MAIL_CODE_ACCOUNT = Limit("mail-code:account", 5, timedelta(minutes=15))
CHALLENGES_ADDRESS = Limit("challenges:address", 300, timedelta(minutes=15))  # every request, not failures
RECOVERY_ADDRESS = Limit("recovery:address", 10, timedelta(minutes=15))
RECOVERY_ACCOUNT = Limit("recovery:account", 5, timedelta(minutes=15))


class RateLimited(Exception):
    def __init__(self, until: datetime, limit: Limit) -> None:
        super().__init__("rate limited")
        self.until = until
        self.limit = limit


def _key(settings: Settings, limit: Limit, subject: str) -> str:
    message = f"{limit.name}:{subject}".encode()
    return hmac.new(str(settings.secret_key).encode(), message, hashlib.sha256).hexdigest()


def _bucket(session: Session, key: str, limit: Limit) -> RateLimitBucket | None:
    bucket = session.get(RateLimitBucket, key, with_for_update=True)
    if bucket is not None and utcnow() >= bucket.window_start + limit.window:
        bucket.window_start = utcnow()
        bucket.count = 0
    return bucket


def check(session: Session, settings: Settings, limit: Limit, subject: str) -> None:
    """Raise RateLimited when `subject` has used up its attempts for now."""
    bucket = _bucket(session, _key(settings, limit, subject), limit)
    if bucket is not None and bucket.count >= limit.attempts:
        raise RateLimited(bucket.window_start + limit.window, limit)


def hit(session: Session, settings: Settings, limit: Limit, subject: str) -> None:
    """Count one failed attempt."""
    key = _key(settings, limit, subject)
    bucket = _bucket(session, key, limit)
    if bucket is None:
        try:
            with session.begin_nested():  # another process may be counting the same key right now
                session.add(RateLimitBucket(key=key, window_start=utcnow(), count=1))
            return
        except IntegrityError:
            bucket = _bucket(session, key, limit)
            assert bucket is not None
    bucket.count += 1
    session.flush()


def clear(session: Session, settings: Settings, limit: Limit, subject: str) -> None:
    """Forget the count after a success (used for per-account limits)."""
    bucket = session.get(RateLimitBucket, _key(settings, limit, subject))
    if bucket is not None:
        session.delete(bucket)
