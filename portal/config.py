"""Settings, read once from the environment; nothing here has side effects until `from_env` is called."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.config import Config
from starlette.datastructures import Secret

from portal import branding

# Values that must never be accepted as a real secret in production.
KNOWN_BAD_SECRETS = frozenset({"", "secret", "change-me", "changeme", "dev", "development", "test"})
MIN_SECRET_LENGTH = 32


class ConfigError(RuntimeError):
    """The settings are unsafe or inconsistent; the portal refuses to start."""


@dataclass(frozen=True)  # not slots=True: it turns class attributes into descriptors
class Settings:
    secret_key: Secret
    database_url: str
    data_dir: Path = Path("data")
    env: str = "development"  # "production" turns on the refusals in `check()`
    origin: str = "http://localhost:8000"  # must equal the browser's origin (WebAuthn checks it)
    debug: bool = False
    demo: bool = False  # `portal demo`: the demo's mailbox page, never in production
    clinic_name: str = "Riverside Family Clinic"
    clinic_phone: str = "555-0100"
    clinic_logo_svg: str = branding.DEFAULT_LOGO_SVG
    accent_color: str = "#1d6b57"
    paper_size: str = "Letter"  # "A4" or "Letter"
    clinic_office_hours: str = "Monday to Friday, 8 am to 5 pm"  # shown before a message is sent
    message_reply_days: int = 2  # the reply time the clinic promises, in working days
    clinic_timezone: str = "America/New_York"  # the clinic's own day: ages, "today", printed dates
    full_proxy_until_age: int = 12  # a parent sees everything until this birthday...
    adult_at_age: int = 18  # ...a limited view until this one, then nothing
    patient_idle_minutes: int = 15
    staff_idle_minutes: int = 30
    session_absolute_hours: int = 12
    smtp_url: str = ""
    mail_from: str = "portal@localhost"
    checkin_opens_days: int = 7  # online check-in is offered from this many days before a visit
    audit_retention_years: int = 6  # how long audit events are kept before `portal audit purge` removes them
    # the shortest period `portal audit retain` may keep, and its default: never below HIPAA's six years
    audit_retention_months: int = 72
    # Reverse proxies whose X-Forwarded-For is believed (addresses or networks); none: the socket's address.
    trusted_proxies: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic_timezone)

    def today(self) -> date:
        """The date at the clinic now: ages and the proxy rules turn over at the clinic's midnight."""
        return datetime.now(self.timezone).date()

    @property
    def rp_id(self) -> str:
        """WebAuthn relying-party id: the bare host of the origin."""
        return urlsplit(self.origin).hostname or "localhost"

    @property
    def https(self) -> bool:
        return urlsplit(self.origin).scheme == "https"

    @property
    def accent(self) -> branding.Accent:
        return branding.accessible_accent(self.accent_color)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        config = Config(
            ".env" if environ is None and os.path.exists(".env") else None, environ=environ or os.environ
        )
        data_dir = Path(config("PORTAL_DATA_DIR", default="data"))
        env = config("PORTAL_ENV", default="development")
        secret = config("SECRET_KEY", default="")
        if not secret and env != "production":
            secret = load_or_create_secret(data_dir)
        logo_path = config("PORTAL_CLINIC_LOGO", default="")
        settings = cls(
            secret_key=Secret(secret),
            database_url=config("DATABASE_URL", default=f"sqlite:///{data_dir / 'portal.db'}"),
            data_dir=data_dir,
            env=env,
            origin=config("PORTAL_ORIGIN", default=cls.origin).rstrip("/"),
            debug=config("PORTAL_DEBUG", cast=bool, default=False),
            demo=config("PORTAL_DEMO", cast=bool, default=False),
            clinic_name=config("PORTAL_CLINIC_NAME", default=cls.clinic_name),
            clinic_phone=config("PORTAL_CLINIC_PHONE", default=cls.clinic_phone),
            clinic_logo_svg=_logo(logo_path),
            accent_color=config("PORTAL_ACCENT_COLOR", default=cls.accent_color),
            paper_size=config("PORTAL_PAPER_SIZE", default=cls.paper_size),
            clinic_office_hours=config("PORTAL_OFFICE_HOURS", default=cls.clinic_office_hours),
            message_reply_days=config("PORTAL_MESSAGE_REPLY_DAYS", cast=int, default=cls.message_reply_days),
            clinic_timezone=config("PORTAL_CLINIC_TIMEZONE", default=cls.clinic_timezone),
            full_proxy_until_age=config("PORTAL_FULL_PROXY_UNTIL_AGE", cast=int, default=12),
            adult_at_age=config("PORTAL_ADULT_AT_AGE", cast=int, default=18),
            patient_idle_minutes=config("PORTAL_PATIENT_IDLE_MINUTES", cast=int, default=15),
            staff_idle_minutes=config("PORTAL_STAFF_IDLE_MINUTES", cast=int, default=30),
            session_absolute_hours=config("PORTAL_SESSION_HOURS", cast=int, default=12),
            smtp_url=config("SMTP_URL", default=""),
            mail_from=config("PORTAL_MAIL_FROM", default=cls.mail_from),
            audit_retention_years=config("PORTAL_AUDIT_RETENTION_YEARS", cast=int, default=6),
            audit_retention_months=config("PORTAL_AUDIT_RETENTION_MONTHS", cast=int, default=72),
            checkin_opens_days=config("PORTAL_CHECKIN_OPENS_DAYS", cast=int, default=7),
            trusted_proxies=_proxies(config("PORTAL_TRUSTED_PROXIES", default="")),
        )
        settings.check()
        return settings

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def check(self) -> None:
        """Refuse settings that would be unsafe for a clinic to run."""
        if self.paper_size not in ("A4", "Letter"):
            raise ConfigError("PORTAL_PAPER_SIZE must be A4 or Letter")
        try:
            ZoneInfo(self.clinic_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"PORTAL_CLINIC_TIMEZONE {self.clinic_timezone!r} is not a known time zone"
            ) from None
        if not 0 < self.full_proxy_until_age <= self.adult_at_age <= 21:
            raise ConfigError(
                "proxy ages must satisfy 0 < PORTAL_FULL_PROXY_UNTIL_AGE <= PORTAL_ADULT_AT_AGE <= 21"
            )
        try:
            branding.parse_hex(self.accent_color)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if self.audit_retention_years < 1:
            raise ConfigError("PORTAL_AUDIT_RETENTION_YEARS must be at least 1")
        if self.audit_retention_months < 72:
            raise ConfigError(
                "PORTAL_AUDIT_RETENTION_MONTHS must be at least 72 (six years, as HIPAA requires)"
            )
        if not self.production:
            return
        secret = str(self.secret_key)
        if secret.lower() in KNOWN_BAD_SECRETS or len(secret) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"SECRET_KEY is missing or too weak: production needs a random value of at least "
                f"{MIN_SECRET_LENGTH} characters"
            )
        if not self.https:
            raise ConfigError("PORTAL_ORIGIN must be an https:// address in production")
        if self.debug:
            raise ConfigError("PORTAL_DEBUG must be off in production")
        if self.demo:
            raise ConfigError("PORTAL_DEMO must be off in production")


def _proxies(value: str) -> tuple[str, ...]:
    """The trusted proxies' addresses or networks; refuses anything that is neither."""
    proxies = tuple(item.strip() for item in value.split(",") if item.strip())
    for item in proxies:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"PORTAL_TRUSTED_PROXIES: {item!r} is not an address or network") from None
    return proxies


def _logo(path: str) -> str:
    if not path:
        return branding.DEFAULT_LOGO_SVG
    try:
        return branding.load_logo(Path(path))
    except (OSError, ValueError) as error:
        raise ConfigError(f"PORTAL_CLINIC_LOGO: {error}") from None


def load_or_create_secret(data_dir: Path) -> str:
    """Read the secret kept in the data folder, creating it (readable by the owner only) on first run."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value
