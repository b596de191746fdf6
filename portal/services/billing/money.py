"""Money as integer cents: parsing what people and files write, and showing it back."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from portal.services.errors import Refused

_AMOUNT = re.compile(r"^\$?\s*(\d{1,7})(?:\.(\d{1,2}))?$")
MAX_CENTS = 100_000_000  # a million dollars: beyond any one bill a clinic sends a patient


def cents_from_decimal(value: Decimal | int | float | str) -> int:
    """A FHIR Money value (read with Decimal, never float) in whole cents, rounded half up."""
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def parse_cents(text: str) -> int:
    """ "12", "12.5", "12.50", "$1,234.56" -> cents; refuses anything else ("bad_amount")."""
    cleaned = text.strip().replace(",", "")
    match = _AMOUNT.match(cleaned)
    if match is None:
        raise Refused("bad_amount")
    whole, fraction = match.group(1), (match.group(2) or "").ljust(2, "0")
    try:
        cents = int(whole) * 100 + int(fraction)
    except (ValueError, InvalidOperation):
        raise Refused("bad_amount") from None
    if cents > MAX_CENTS:
        raise Refused("bad_amount")
    return cents


def dollars(cents: int) -> str:
    """Cents as the clinic writes money: $1,234.56 (a credit as -$5.00)."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"
