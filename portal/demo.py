"""The demo clinic: what `portal demo` (and `make run`) puts in the embedded database."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Engine

from portal.config import Settings


def create(settings: Settings, engine: Engine) -> Iterator[str]:
    """Fill the database with the demo clinic, yielding lines that tell the operator how to sign in."""
    yield f"Demo clinic: {settings.clinic_name}"
    yield f"Database: {engine.url.render_as_string(hide_password=True)}"
    yield f"Open {settings.origin}/login in a browser (use localhost, not 127.0.0.1: passkeys need a name)."
