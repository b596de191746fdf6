"""Driving the passkey endpoints as passkeys.js does, with the software authenticator."""

from __future__ import annotations

from datetime import date

from portal.services.identity import codes
from tests.conftest import ORIGIN, csrf_token
from tests.webauthn_authenticator import SoftAuthenticator


def json_post(client, url: str, data: dict | None = None, **kwargs):
    headers = {"X-CSRF-Token": csrf_token(client), "Origin": ORIGIN, **kwargs.pop("headers", {})}
    if "content" not in kwargs:
        kwargs["json"] = data or {}
    return client.post(url, headers=headers, **kwargs)


def issue_code(session, patient) -> str:
    code = codes.issue_activation_code(session, patient=patient)
    session.commit()
    return code


def activate(client, code: str, birth_date: date | str, authenticator: SoftAuthenticator | None = None):
    """The whole activation: options (code + date of birth), create, finish. The last response."""
    authenticator = authenticator or SoftAuthenticator()
    options = json_post(client, "/activate/options", {"code": code, "birth_date": str(birth_date)})
    if options.status_code != 200:
        return options
    credential = authenticator.create(options.json(), origin=ORIGIN)
    return json_post(client, "/activate/finish", {"credential": credential})


def sign_in(client, authenticator: SoftAuthenticator, *, origin: str = ORIGIN, next_path: str | None = None):
    options = json_post(client, "/login/options").json()
    credential = authenticator.get(options, origin=origin)
    return json_post(client, "/login/finish", {"credential": credential, "next": next_path})
