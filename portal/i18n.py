"""Translations: Babel catalogues compiled in memory at start-up, a locale chosen per request.

English is the source language; portal/locale/<lang>/LC_MESSAGES/messages.po holds each translation.
The locale is chosen, in order, from an explicit choice (the `portal_lang` cookie, or what a signed-in
person saved, set with `activate()`), from the browser's Accept-Language, else English. It lives in a
context variable for the length of the request, so templates and Python code ask `gettext()` without
passing the request around; `request.state.locale` carries the same value.
"""

from __future__ import annotations

import gettext as gettext_module
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from babel import Locale, UnknownLocaleError, dates, numbers, units
from babel.messages.catalog import Catalog
from babel.messages.catalog import Message as CatalogMessage
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "en"
# Each language offered, with its name written in that language (as the switcher shows it).
LANGUAGES = {"en": "English", "es": "Español"}
# Dates, numbers and money follow the language as it is written where the clinic is (es_US: 1,234.5).
REGION = "US"
COOKIE = "portal_lang"
COOKIE_MAX_AGE = 60 * 60 * 24 * 365

_current: ContextVar[str] = ContextVar("portal_locale", default=DEFAULT)

Number = int | float | Decimal


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (it is translated when shown)."""
    return message


def catalog(lang: str) -> Catalog:
    """One language's translations: messages.po, then each feature's own .po file beside it.

    Features keep their words in their own file (say messaging.po) so that they can be written side by
    side; a message translated in any file is translated, the first translation found wins.
    """
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    merged: Catalog | None = None
    for po in sorted(folder.glob("*.po"), key=lambda path: (path.name != "messages.po", path.name)):
        with po.open("rb") as f:
            part = read_po(f, locale=lang)
        if merged is None:
            merged = part
            continue
        for message in part:
            if not message.id:
                continue
            known = merged.get(message.id, message.context)
            if known is None or not _translated(known):
                if known is not None:
                    merged.delete(message.id, message.context)  # setting over it would keep its string
                merged[message.id] = message
    return merged if merged is not None else Catalog(locale=lang)


def _translated(message: CatalogMessage) -> bool:
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return not message.fuzzy and all(strings)


@cache
def catalogues() -> dict[str, gettext_module.NullTranslations]:
    """Every language's compiled catalogue; English, the source, needs none."""
    found: dict[str, gettext_module.NullTranslations] = {DEFAULT: gettext_module.NullTranslations()}
    for lang in LANGUAGES:
        if lang == DEFAULT or not (LOCALE_DIR / lang / "LC_MESSAGES").is_dir():
            continue
        buffer = io.BytesIO()
        write_mo(buffer, catalog(lang))  # fuzzy entries are left out, so they fall back to English
        buffer.seek(0)
        found[lang] = gettext_module.GNUTranslations(buffer)
    return found


def current_locale() -> str:
    return _current.get()


def gettext(message: str) -> str:
    return catalogues()[_current.get()].gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return catalogues()[_current.get()].ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return catalogues()[_current.get()].pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return catalogues()[_current.get()].npgettext(context, singular, plural, n)


def supported(lang: str | None) -> str | None:
    """The offered language a tag like "es-MX" or "ES" stands for, or None."""
    if not lang:
        return None
    base = lang.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def negotiate(accept_language: str) -> str | None:
    """The best offered language for an Accept-Language header, honouring its q-values."""
    preferred: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            preferred.append((-quality, position, tag.strip()))
    tags = [tag.replace("_", "-") for _, _, tag in sorted(preferred)]
    if not tags:
        return None
    if "*" in tags:
        tags = tags[: tags.index("*")] or [DEFAULT]
    best = Locale.negotiate(tags, list(LANGUAGES), sep="-")
    return str(best) if best is not None else None


def choose(*, cookie: str | None, accept_language: str) -> str:
    """The request's locale: this browser's explicit choice, else its preference, else English."""
    return supported(cookie) or negotiate(accept_language) or DEFAULT


def activate(scope: Scope, lang: str) -> None:
    """Switch the current request to `lang` (e.g. once a signed-in person's saved choice is known)."""
    chosen = supported(lang) or DEFAULT
    scope.setdefault("state", {})["locale"] = chosen
    _current.set(chosen)


@contextmanager
def using(lang: str | None) -> Iterator[str]:
    """Translate and format in `lang` inside the block (mail, PDFs, the worker: no request there)."""
    chosen = supported(lang) or DEFAULT
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def cookie_header(lang: str, *, secure: bool) -> str:
    flags = "; Secure" if secure else ""
    return f"{COOKIE}={lang}; Path=/; Max-Age={COOKIE_MAX_AGE}; HttpOnly; SameSite=Lax{flags}"


def safe_next(target: str | None) -> str:
    """A local path to send the reader back to; anything that could leave the site becomes "/"."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


class LocaleMiddleware:
    """Chooses the locale for each request; pages (not immutable static files) vary on what chose it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        lang = choose(
            cookie=request.cookies.get(COOKIE),
            accept_language=request.headers.get("accept-language", ""),
        )
        scope.setdefault("state", {})["locale"] = lang
        token = _current.set(lang)

        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "immutable" not in headers.get("cache-control", ""):
                    headers.add_vary_header("Accept-Language")
                    headers.add_vary_header("Cookie")
                    if headers.get("content-type", "").startswith("text/html"):
                        headers["Content-Language"] = scope["state"].get("locale", lang)
            await send(message)

        try:
            await self.app(scope, receive, send_with_vary)
        finally:
            _current.reset(token)


class SavedLocale:
    """Runs after the session is loaded: a signed-in person's saved language (`Person.locale`) applies
    unless this browser made its own choice. It reads the person from `scope["state"]["person"]`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            saved = supported(getattr(scope.get("state", {}).get("person"), "locale", None))
            if saved and COOKIE not in Request(scope).cookies:
                activate(scope, saved)
        await self.app(scope, receive, send)


# Formatting in the reader's locale, for templates (as filters) and Python code alike.


@cache
def _parse(lang: str) -> Locale:
    try:
        return Locale.parse(f"{lang}_{REGION}")
    except (UnknownLocaleError, ValueError):
        return Locale.parse(lang)


def _locale() -> Locale:
    return _parse(_current.get())


@cache
def _zone(name: str) -> tzinfo:
    # A list of dates names the same zone (the clinic's) on every line; Babel looks it up on each call.
    return dates.get_timezone(name)


def format_date(value: date | datetime | None, format: str = "medium", tz: str | tzinfo | None = None) -> str:
    """A date such as "Mar 4, 2026" / "4 mar 2026"; format is short, medium, long, full or a pattern.

    An aware datetime is first moved into `tz` (a zone name), so a late-evening time keeps its local day."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is not None and tz is not None:
            value = value.astimezone(_zone(tz) if isinstance(tz, str) else tz)
        value = value.date()
    return _date(value, format, _current.get())


@lru_cache(maxsize=4096)
def _date(value: date, format: str, locale: str) -> str:
    # A record page shows the same few hundred days again and again; Babel walks its data on each call.
    return str(dates.format_date(value, format=format, locale=_parse(locale)))


def format_datetime(value: datetime | None, format: str = "medium", tz: str | tzinfo | None = None) -> str:
    """A date and time, shown in `tz` (a zone name) or, if none, the value's own zone."""
    if value is None:
        return ""
    zone = _zone(tz) if isinstance(tz, str) else tz
    return str(dates.format_datetime(value, format=format, tzinfo=zone, locale=_locale()))


def format_time(value: time | datetime | None, format: str = "short", tz: str | tzinfo | None = None) -> str:
    if value is None:
        return ""
    zone = _zone(tz) if isinstance(tz, str) else tz
    return str(dates.format_time(value, format=format, tzinfo=zone, locale=_locale()))


def format_number(value: Number | None, digits: int | None = None) -> str:
    """A number with the reader's separators: 1,234.5 / 1234,5; `digits` fixes the decimals shown."""
    if value is None:
        return ""
    pattern = None if digits is None else "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return _decimal(value, pattern, _current.get())


@lru_cache(maxsize=4096)
def _decimal(value: Number, pattern: str | None, lang: str) -> str:
    # Babel parses the pattern and walks the locale's data on each call; a results page formats the same
    # few hundred values on every view. Keyed by the language, not str(Locale), which Babel builds anew.
    return str(numbers.format_decimal(value, format=pattern, locale=_parse(lang)))


def format_percent(value: Number | None) -> str:
    return "" if value is None else str(numbers.format_percent(value, locale=_locale()))


def format_currency(value: Number | None, currency: str = "USD") -> str:
    return "" if value is None else str(numbers.format_currency(value, currency, locale=_locale()))


def format_unit(value: Number | None, unit: str, length: Literal["short", "long", "narrow"] = "short") -> str:
    """A measurement with its unit in the reader's words: format_unit(12.5, "mass-kilogram") -> "12.5 kg"."""
    if value is None:
        return ""
    return str(units.format_unit(value, unit, length=length, locale=_locale()))


FILTERS = {
    "date": format_date,
    "datetime": format_datetime,
    "time": format_time,
    "number": format_number,
    "percent": format_percent,
    "currency": format_currency,
    "unit": format_unit,
}


def other_languages() -> Iterator[tuple[str, str]]:
    """(code, name) of each language the reader could switch to."""
    current = _current.get()
    return ((code, name) for code, name in LANGUAGES.items() if code != current)
