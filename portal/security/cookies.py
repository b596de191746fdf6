"""The portal's cookie names and attributes: one place, so every reader and writer agrees.

Over https the session, CSRF and ceremony cookies carry the `__Host-` prefix: the browser then accepts
them only with Secure, Path=/ and no Domain, so neither a sibling subdomain nor a plain-http page can
plant or overwrite them. On http://localhost (the demo, the browser tests) the plain names are used,
since browsers refuse `__Host-` cookies from an origin that is not https.
"""

from __future__ import annotations

from portal.config import Settings

HOST_PREFIX = "__Host-"


def name(settings: Settings, base: str) -> str:
    """The cookie's name for this origin: `__Host-<base>` over https, `<base>` otherwise."""
    return HOST_PREFIX + base if settings.https else base


def secure_flag(settings: Settings) -> str:
    # Chromium keeps Secure cookies on http://localhost, so the demo gets them too.
    return "; Secure" if settings.https or settings.rp_id == "localhost" else ""


def header(settings: Settings, base: str, value: str, *, max_age: int | None = None) -> str:
    """A Set-Cookie value: HttpOnly, SameSite=Lax, Path=/, Secure where the origin allows."""
    expiry = f"; Max-Age={max_age}" if max_age is not None else ""
    return f"{name(settings, base)}={value}; Path=/; HttpOnly; SameSite=Lax{secure_flag(settings)}{expiry}"
