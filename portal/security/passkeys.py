"""WebAuthn ceremonies: options with a server-side, single-use challenge, and their verification.

Credentials are discoverable (resident keys) and user verification is required, for patients and staff
alike. The origin and relying-party id come from PORTAL_ORIGIN.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from portal.config import Settings
from portal.models import Passkey, WebAuthnChallenge
from portal.models.base import utcnow

CHALLENGE_MINUTES = 5
TIMEOUT_MS = 120_000
BINDING_COOKIE = "portal_ceremony"  # a random value per browser; see bound_challenge


def bound_challenge(settings: Settings, binding: str) -> bytes:
    """A fresh challenge that only the browser holding `binding` (its ceremony cookie) can finish:
    16 random bytes and an HMAC of them with the binding, so options fetched by one client cannot be
    answered from another, and several ceremonies may be open in one browser at once."""
    head = secrets.token_bytes(16)
    return head + _binding_tag(settings, binding, head)


def _binding_tag(settings: Settings, binding: str, head: bytes) -> bytes:
    key = str(settings.secret_key).encode()
    return hmac.new(key, b"ceremony:" + binding.encode() + b":" + head, hashlib.sha256).digest()[:16]


def is_bound(settings: Settings, challenge: str, binding: str) -> bool:
    try:
        raw = base64url_to_bytes(challenge)
    except ValueError:
        return False
    if not binding or len(raw) != 32:
        return False
    return hmac.compare_digest(raw[16:], _binding_tag(settings, binding, raw[:16]))


class PasskeyError(Exception):
    """The browser's answer could not be verified (never says more to the person than that)."""


def _store(session: Session, challenge: bytes, *, purpose: str, **links: Any) -> None:
    session.add(
        WebAuthnChallenge(
            challenge=bytes_to_base64url(challenge),
            purpose=purpose,
            expires_at=utcnow() + timedelta(minutes=CHALLENGE_MINUTES),
            **links,
        )
    )
    session.flush()


def registration_options(
    session: Session,
    settings: Settings,
    *,
    purpose: str,
    user_handle: str,
    user_name: str,
    display_name: str,
    exclude: list[Passkey] | None = None,
    binding: str,
    **links: Any,
) -> str:
    """Options for navigator.credentials.create(), as JSON; the challenge is kept for `finish`."""
    options = generate_registration_options(
        rp_id=settings.rp_id,
        challenge=bound_challenge(settings, binding),
        rp_name=settings.clinic_name,
        user_id=user_handle.encode(),
        user_name=user_name,
        user_display_name=display_name,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in exclude or []
        ],
    )
    _store(session, options.challenge, purpose=purpose, user_handle=user_handle, **links)
    return options_to_json(options)


def authentication_options(
    session: Session,
    settings: Settings,
    *,
    purpose: str,
    allow: list[Passkey] | None = None,
    person_id: int | None = None,
    binding: str,
) -> str:
    """Options for navigator.credentials.get(); no allow-list means "any of your passkeys here"."""
    options = generate_authentication_options(
        rp_id=settings.rp_id,
        challenge=bound_challenge(settings, binding),
        timeout=TIMEOUT_MS,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in allow or []
        ],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    _store(session, options.challenge, purpose=purpose, person_id=person_id)
    return options_to_json(options)


def pop_challenge(
    session: Session, settings: Settings, credential: dict[str, Any], *, purpose: str, binding: str
) -> WebAuthnChallenge:
    """The stored challenge this answer was made for, deleted so it cannot be used twice; refused when
    it was handed to another browser (`binding` is this browser's ceremony cookie)."""
    try:
        client_data_b64 = credential["response"]["clientDataJSON"]
        client_data = json.loads(
            base64.urlsafe_b64decode(client_data_b64 + "=" * (-len(client_data_b64) % 4))
        )
        challenge = str(client_data["challenge"])
    except (KeyError, TypeError, ValueError) as error:
        raise PasskeyError("malformed credential") from error
    stored = session.exec(
        select(WebAuthnChallenge).where(
            WebAuthnChallenge.challenge == challenge, WebAuthnChallenge.purpose == purpose
        )
    ).first()
    if stored is None:
        raise PasskeyError("unknown or used challenge")
    if not is_bound(settings, stored.challenge, binding):  # another browser cannot even use it up
        raise PasskeyError("challenge of another browser")
    session.delete(stored)
    session.flush()
    if utcnow() >= stored.expires_at:
        raise PasskeyError("expired challenge")
    return stored


def verify_new(
    session: Session, settings: Settings, credential: dict[str, Any], challenge: WebAuthnChallenge
) -> Passkey:
    """A Passkey row (not yet added, no owner) from a verified registration of a credential new to us."""
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge.challenge),
            expected_origin=settings.origin,
            expected_rp_id=settings.rp_id,
            require_user_verification=True,
        )
    except (InvalidRegistrationResponse, KeyError, TypeError, ValueError) as error:
        raise PasskeyError("registration not verified") from error
    credential_id = bytes_to_base64url(verified.credential_id)
    if session.exec(select(Passkey.id).where(Passkey.credential_id == credential_id)).first() is not None:
        raise PasskeyError("credential already registered")
    return Passkey(
        person_id=0,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
    )


def verify_assertion(
    session: Session, settings: Settings, credential: dict[str, Any], challenge: WebAuthnChallenge
) -> Passkey:
    """The stored passkey that signed this assertion, its sign count and last use updated."""
    raw_id = credential.get("rawId") or credential.get("id")
    if not isinstance(raw_id, str):
        raise PasskeyError("malformed credential")
    passkey = session.exec(select(Passkey).where(Passkey.credential_id == raw_id)).first()
    if passkey is None:
        raise PasskeyError("unknown passkey")
    if challenge.person_id is not None and passkey.person_id != challenge.person_id:
        raise PasskeyError("another person's passkey")
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(challenge.challenge),
            expected_origin=settings.origin,
            expected_rp_id=settings.rp_id,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except (InvalidAuthenticationResponse, KeyError, TypeError, ValueError) as error:
        raise PasskeyError("assertion not verified") from error
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = utcnow()
    return passkey


def purge_expired(session: Session) -> int:
    rows = session.exec(select(WebAuthnChallenge).where(col(WebAuthnChallenge.expires_at) < utcnow())).all()
    for row in rows:
        session.delete(row)
    return len(rows)
