"""Signing in: sessions, passkeys, one-time codes, passwords, rate-limit counters and the mail outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text
from sqlmodel import Field, SQLModel

from portal.models.base import UTCDateTime, new_public_id, utcnow


class LoginSession(SQLModel, table=True):
    """One signed-in browser. The cookie carries `id` (random, signed); the row can be revoked."""

    __tablename__ = "login_session"

    id: str = Field(primary_key=True, max_length=64)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    person_id: int = Field(foreign_key="person.id", index=True)
    method: str = Field(max_length=20)  # passkey, password, recovery, activation, enrolment, test
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)  # the absolute lifetime
    idle_minutes: int
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # last passkey check
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    revoked_reason: str | None = Field(default=None, max_length=20)
    device: str = Field(default="", max_length=80)  # "Chrome on Android", from the User-Agent


class Passkey(SQLModel, table=True):
    """A WebAuthn credential (discoverable, user-verifying) belonging to a person."""

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    person_id: int = Field(foreign_key="person.id", index=True)
    credential_id: str = Field(unique=True, index=True, max_length=1400)  # base64url
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sign_count: int = 0
    name: str = Field(default="Passkey", max_length=60)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebAuthnChallenge(SQLModel, table=True):
    """A challenge handed to the browser, kept server-side and usable once."""

    __tablename__ = "webauthn_challenge"

    id: int | None = Field(default=None, primary_key=True)
    challenge: str = Field(unique=True, index=True, max_length=128)  # base64url
    purpose: str = Field(max_length=20)  # activate, enrol, sign-in, step-up, add-passkey
    person_id: int | None = Field(default=None, foreign_key="person.id")
    one_time_code_id: int | None = Field(default=None, foreign_key="one_time_code.id")
    user_handle: str | None = Field(default=None, max_length=32)  # the person's public id to be
    expires_at: datetime = Field(sa_type=UTCDateTime)


class OneTimeCode(SQLModel, table=True):
    """An activation code, a staff enrolment link, or an emailed sign-in code: argon2id-hashed, used once.

    A code is found by its `selector` (the first characters, not secret) and proven by the hash of the
    whole code, so a lookup needs one hash check whatever the code."""

    __tablename__ = "one_time_code"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20, index=True)  # activation, enrolment, mail
    selector: str = Field(max_length=16, index=True)
    code_hash: str = Field(max_length=200)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    issued_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failed_attempts: int = 0


class RecoveryCode(SQLModel, table=True):
    __tablename__ = "recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    selector: str = Field(max_length=16, index=True)
    code_hash: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PasswordLogin(SQLModel, table=True):
    """The fallback for a device without passkeys: a password, always followed by an emailed code."""

    __tablename__ = "password_login"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", unique=True)
    password_hash: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RateLimitBucket(SQLModel, table=True):
    """Attempts counted per key (an account or an address, hashed) in a fixed window."""

    __tablename__ = "rate_limit_bucket"

    key: str = Field(primary_key=True, max_length=64)
    window_start: datetime = Field(sa_type=UTCDateTime)
    count: int = 0


class OutboxMail(SQLModel, table=True):
    """Mail waiting for `portal worker`. Bodies never carry patient data."""

    __tablename__ = "outbox_mail"

    id: int | None = Field(default=None, primary_key=True)
    to_address: str = Field(max_length=320)
    subject: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=200)
    # A worker's claim: until then no other worker sends it (a worker that died frees it when this passes).
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
