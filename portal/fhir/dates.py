"""Moving a patient's record in time, for the demo: every date moves by the same whole number of days.

Real imports never shift dates; the demo does, so that sample patients generated years ago have an infant,
young children and a teenager today. Only strings that are entirely a FHIR date, dateTime or instant with
at least a day (YYYY-MM-DD...) move; a year or year-month alone stays as it is, and so does any text that
merely contains a date.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))?")
# Keys whose strings are identifiers, codes, addresses or text, never dates of care.
_NOT_DATES = frozenset({"id", "reference", "url", "system", "code", "value", "div", "data", "fullUrl"})


def _date_of(text: str) -> date | None:
    match = _DATE.fullmatch(text)
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _dates(node: Any) -> list[date]:
    found = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(value, str):
                    if key not in _NOT_DATES and (day := _date_of(value)):
                        found.append(day)
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(item, list):
            for value in item:
                if isinstance(value, str):
                    if day := _date_of(value):
                        found.append(day)
                elif isinstance(value, dict | list):
                    stack.append(value)
    return found


def newest_date(resources: list[dict[str, Any]]) -> date | None:
    """The latest full date anywhere in the resources."""
    days = [day for resource in resources for day in _dates(resource)]
    return max(days) if days else None


def shift(node: Any, days: int) -> Any:
    """A copy of a resource (or any JSON value) with every full date moved by `days` days."""
    if isinstance(node, dict):
        return {
            key: value if key in _NOT_DATES and isinstance(value, str) else shift(value, days)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [shift(value, days) for value in node]
    if isinstance(node, str) and (day := _date_of(node)):
        return (day + timedelta(days=days)).isoformat() + node[10:]
    return node


def days_to_recent(resources: list[dict[str, Any]], today: date, *, weeks_ago: int = 3) -> int:
    """The whole number of days that brings the newest date to `weeks_ago` weeks before today."""
    newest = newest_date(resources)
    if newest is None:
        return 0
    return (today - timedelta(weeks=weeks_ago) - newest).days


def shift_to_recent(resources: list[dict[str, Any]], today: date) -> None:
    """Shift, in place, one patient's resources so that the newest of them is a few weeks old."""
    days = days_to_recent(resources, today)
    resources[:] = [shift(resource, days) for resource in resources]
