"""What the `portal` commands (and the worker they start) share: settings from the environment, and an
engine for one command that can write audit events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy import Engine

from portal import db
from portal.config import ConfigError, Settings
from portal.services import audit


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@contextmanager
def open_engine(settings: Settings, *, upgrade: bool = False) -> Iterator[Engine]:
    """An engine for one command, able to write audit events, disposed when the command ends."""
    engine = db.make_engine(settings.database_url)
    audit.use_chain_key(engine, settings.secret_key)
    try:
        if upgrade:
            db.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
