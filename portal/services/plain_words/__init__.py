"""Plain words for what the EHR sends: test names, medicines, visit types, ages and where a result falls.

Templates use these through filters (`FILTERS`, installed by portal.templating): `test_name`,
`test_full_name`, `report_name`, `medicine`, `visit_type`, `age_words`, `range_position`, and for audit
events `activity_what` and `activity_action`. The short test names are a table the project keeps
(portal/data/lab_names.csv, its sources in its header); a test not in it keeps the lab's own name without
the bracketed method words.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from portal import i18n
from portal.i18n import N_
from portal.services.plain_words import medicines
from portal.services.plain_words.activity import activity_action, activity_what

NAMES_FILE = "lab_names.csv"

# "[Mass/volume]", "[#/volume]": the lab's measuring words, which say nothing to a patient.
BRACKETED = re.compile(r"\s*\[[^\]]*\]")
# How the lab measured it ("by Automated count", "by Test strip", "by calculation").
METHOD = re.compile(r"\s+by\s+(?:automated count|test strip|calculation|manual count)\b", re.IGNORECASE)
# SNOMED's semantic tags: "Encounter for check up (procedure)", "Inpatient stay (finding)".
SEMANTIC_TAG = re.compile(
    r"\s*\((?:procedure|finding|disorder|situation|regime/therapy|observable entity|qualifier value|"
    r"morphologic abnormality|event|environment|person|substance|product)\)\s*$",
    re.IGNORECASE,
)
INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")  # zero-width characters some EHRs put in names


@cache
def short_names() -> dict[str, dict[str, str]]:
    """LOINC code -> {"en": ..., "es": ...}, read once from the project's table."""
    text = resources.files("portal").joinpath("data", NAMES_FILE).read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#"))
    return {row["loinc"].strip(): {"en": row["en"].strip(), "es": row["es"].strip()} for row in rows}


def lab_text(display: str | None) -> str:
    """The lab's own name, tidied: no bracketed method words, no zero-width characters."""
    text = INVISIBLE.sub("", display or "")
    text = METHOD.sub("", BRACKETED.sub("", text))
    return " ".join(text.split())


def test_name(item: Any) -> str:
    """A test's short everyday name in the reader's language (an item with `code` and `display`)."""
    code = getattr(item, "code", None)
    names = short_names().get(code or "")
    if names:
        return names.get(i18n.current_locale()) or names["en"]
    return lab_text(getattr(item, "display", None)) or i18n.gettext("Test")


# What LOINC's long names look like, unlike a name the clinic wrote itself ("Newborn bilirubin").
CODED_LOOK = re.compile(
    r"\[|\bby\b|\bin (?:blood|serum|plasma|urine)\b|\bpanel\b|[a-z]\.[a-z]", re.IGNORECASE
)


def report_name(item: Any) -> str:
    """A report's name: the clinic's own words when it wrote some (in English, the language they are in),
    else the short name of its panel."""
    display = lab_text(getattr(item, "display", None))
    if display and i18n.current_locale() == "en" and not CODED_LOOK.search(display):
        return display
    return test_name(item)


def test_full_name(item: Any) -> str | None:
    """The lab's full name when it says more than the short name, for "one tap away"; else None."""
    full = INVISIBLE.sub("", getattr(item, "display", None) or "").strip()
    return full if full and full != test_name(item) else None


def medicine(display: str | None) -> str:
    """An RxNorm name as a person says it: "Epinephrine auto-injector, 0.3 mL"."""
    if not display:
        return ""
    parsed = medicines.parse(display)
    if parsed is None:
        return medicines.cleaned(display)
    name = parsed.name
    if parsed.form:
        name = i18n.gettext("%(name)s %(form)s") % {"name": name, "form": i18n.gettext(parsed.form)}
    if parsed.brand:
        name = f"{name} ({parsed.brand})"
    details = [part for part in (parsed.amount, parsed.count) if part]
    return ", ".join([name, *details])


def visit_type(display: str | None) -> str:
    """A visit type without SNOMED's "(procedure)"-style tag, its first letter in capitals."""
    text = SEMANTIC_TAG.sub("", INVISIBLE.sub("", display or "")).strip()
    return text[:1].upper() + text[1:]


def months_between(birth_date: date, today: date) -> int:
    """Whole months of age: the day of the month must have come round."""
    months = (today.year - birth_date.year) * 12 + today.month - birth_date.month
    return months - 1 if today.day < birth_date.day else months


def age_words(birth_date: date | None, today: date) -> str:
    """ "3 weeks old" under 2 months, "5 months old" under 2 years, then "7 years old"."""
    if birth_date is None or birth_date > today:
        return ""
    months = months_between(birth_date, today)
    if months < 2:
        weeks = (today - birth_date).days // 7
        if weeks < 1:
            days = (today - birth_date).days
            return i18n.ngettext("%(num)d day old", "%(num)d days old", days) % {"num": days}
        return i18n.ngettext("%(num)d week old", "%(num)d weeks old", weeks) % {"num": weeks}
    if months < 24:
        return i18n.ngettext("%(num)d month old", "%(num)d months old", months) % {"num": months}
    years = months // 12
    return i18n.ngettext("%(num)d year old", "%(num)d years old", years) % {"num": years}


@dataclass(frozen=True)
class RangePosition:
    """Where a value falls against its normal range: words, and a marker on a 0-100 band whose normal
    part runs from `band_low` to `band_high`."""

    words: str  # an English message, translated when shown
    marker: float
    band_low: float
    band_high: float


BELOW, LOW_END, MIDDLE, HIGH_END, ABOVE = (
    N_("Below the normal range"),
    N_("In the normal range, near the low end"),
    N_("In the middle of the normal range"),
    N_("In the normal range, near the high end"),
    N_("Above the normal range"),
)


def range_position(value: float | None, low: float | None, high: float | None) -> RangePosition | None:
    """Where `value` falls in low-high; None without a value or without both ends of the range."""
    if value is None or low is None or high is None or high <= low:
        return None
    span = high - low
    # The normal range fills the middle half of the band; a quarter of the band each side is half a
    # range's width, and anything further sits at the band's end.
    marker = 25 + (value - low) / span * 50
    marker = round(min(max(marker, 2.0), 98.0), 1)
    if value < low:
        words = BELOW
    elif value > high:
        words = ABOVE
    elif value < low + span / 4:
        words = LOW_END
    elif value > high - span / 4:
        words = HIGH_END
    else:
        words = MIDDLE
    return RangePosition(words, marker, 25.0, 75.0)


FILTERS = {
    "test_name": test_name,
    "test_full_name": test_full_name,
    "report_name": report_name,
    "medicine": medicine,
    "visit_type": visit_type,
    "age_words": age_words,
    "range_position": range_position,
    "activity_what": activity_what,
    "activity_action": activity_action,
}
