"""One parser per kind of input: bounded text, dates in a supported range, page numbers, ids.

Each raises `InputError` (a 400, or a 404 for a path id) with a code the views turn into words. A value
the database could not store or compare (a NUL byte, a date it cannot add a day to, a number beyond its
integers) never gets past these, so bad input is a clear answer on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

# Dates the portal stores and searches: old enough for any living patient's birth, far enough ahead for
# any appointment or hold, and never at the edges where adding a day overflows.
EARLIEST_DATE = date(1850, 1, 1)
LATEST_DATE = date(2199, 12, 31)
ID_LENGTH = 64  # the longest id column (FHIR ids, public ids, session ids)
MAX_PAGE = 100_000
TEXT_LENGTH = 10_000  # a field with no bound of its own: a message, at most
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# Ids as the portal makes them (token_urlsafe, hex) and as FHIR allows them ([A-Za-z0-9-.]{1,64}).
ID_PATTERN = re.compile(r"[A-Za-z0-9._~-]{1,64}")
LINE_BREAKS = "\t\n\r"


class InputError(ValueError):
    """A value that cannot be taken as it is; `code` says which kind of problem."""

    def __init__(self, code: str, status_code: int = 400) -> None:
        super().__init__(code)
        self.code = code
        self.status_code = status_code


def has_control_characters(value: str, *, allow_line_breaks: bool = False) -> bool:
    """NUL and the rest of C0 and C1 (and DEL); tab, CR and LF only when `allow_line_breaks`."""
    allowed = LINE_BREAKS if allow_line_breaks else ""
    return any(unicodedata.category(c) == "Cc" and c not in allowed for c in value)


def text(value: object, *, max_length: int = TEXT_LENGTH, multiline: bool = False) -> str:
    """A string field: trimmed, at most `max_length` characters, and without control characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError("not_text")
    if has_control_characters(value, allow_line_breaks=multiline):
        raise InputError("control_characters")
    cleaned = value.strip()
    if len(cleaned) > max_length:
        raise InputError("too_long")
    return cleaned


def day(value: object, *, formats: tuple[str, ...] = ("%Y-%m-%d",)) -> date | None:
    """A date from a form or query (None when empty), in the supported range."""
    raw = text(value, max_length=20)
    if not raw:
        return None
    for pattern in formats:
        try:
            parsed = datetime.strptime(raw, pattern).date()
        except ValueError:
            continue
        return in_range(parsed)
    if ISO_DAY.fullmatch(raw):  # looks like a date but is not one: year 0, February 30th
        raise InputError("date_out_of_range")
    raise InputError("not_a_date")


def in_range(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise InputError("date_out_of_range")
    return value


def page_number(value: object) -> int:
    """A page of a list: 1 when absent, a whole number from 1 to MAX_PAGE otherwise."""
    raw = text(value, max_length=6) if value is not None else ""
    if not raw:
        return 1
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise InputError("bad_page")
    return int(raw)


def identifier(value: object) -> str:
    """An id from a path or a form: 404 when it cannot be one of ours (too long, odd characters)."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise InputError("no_such_id", status_code=404)
    return value


def path_value_is_possible(value: object) -> bool:
    """Whether a path parameter could name anything the portal stores (see `identifier`)."""
    if isinstance(value, int):
        return 0 <= value < 2**31  # INTEGER columns on PostgreSQL
    if isinstance(value, str):
        return 0 < len(value) <= ID_LENGTH and not has_control_characters(value)
    return True
