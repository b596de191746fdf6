"""A small software authenticator for unit tests: ES256 keys, "none" attestation, the UV flag, sign counts.

It answers the JSON options the portal sends with the JSON a browser would post back."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    def __init__(self, *, user_verified: bool = True) -> None:
        self.user_verified = user_verified
        self.credentials: dict[bytes, dict] = {}  # credential id -> key, rp id, user handle, count

    @classmethod
    def from_virtual(cls, stored: dict) -> SoftAuthenticator:
        """A copy of a credential read from Chromium's virtual authenticator (CDP WebAuthn.getCredentials)."""
        authenticator = cls()
        key = serialization.load_der_private_key(base64.b64decode(stored["privateKey"]), password=None)
        authenticator.credentials[base64.b64decode(stored["credentialId"])] = {
            "key": key,
            "rp_id": stored["rpId"],
            "user_handle": base64.b64decode(stored.get("userHandle", "")),
            "count": stored["signCount"],
        }
        return authenticator

    def _flags(self, extra: int = 0) -> int:
        return FLAG_UP | (FLAG_UV if self.user_verified else 0) | extra

    def create(self, options: dict, *, origin: str, credential_id: bytes | None = None) -> dict:
        """navigator.credentials.create() for the given options (the portal's JSON)."""
        rp_id = options["rp"]["id"]
        key = ec.generate_private_key(ec.SECP256R1())
        credential_id = credential_id or os.urandom(16)
        self.credentials[credential_id] = {
            "key": key,
            "rp_id": rp_id,
            "user_handle": unb64url(options["user"]["id"]),
            "count": 0,
        }
        numbers = key.public_key().public_numbers()
        cose = cbor2.dumps(
            {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )
        attested = bytes(16) + struct.pack(">H", len(credential_id)) + credential_id + cose
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest() + bytes([self._flags(FLAG_AT)]) + struct.pack(">I", 0)
        )
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data + attested})
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self, options: dict, *, origin: str, credential_id: bytes | None = None, rp_id: str | None = None
    ) -> dict:
        """navigator.credentials.get(): signs with the given (or the only / first allowed) credential."""
        if credential_id is None:
            allowed = [unb64url(c["id"]) for c in options.get("allowCredentials") or []]
            usable = [c for c in self.credentials if not allowed or c in allowed]
            credential_id = usable[0]
        stored = self.credentials[credential_id]
        stored["count"] += 1
        rp_hash = hashlib.sha256((rp_id or options["rpId"]).encode()).digest()
        auth_data = rp_hash + bytes([self._flags()]) + struct.pack(">I", stored["count"])
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        key = stored["key"]
        signature = (
            key.sign(signed)
            if isinstance(key, ed25519.Ed25519PrivateKey)
            else key.sign(signed, ec.ECDSA(hashes.SHA256()))
        )
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(stored["user_handle"]),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
        ).encode()
