"""RxNorm medicine names read as a person would say them.

RxNorm's clinical and branded drug names follow one pattern ("[quantity] ingredient strength[ / ingredient
strength...] dose form [brand]"), so "NDA020800 0.3 ML Epinephrine 1 MG/ML Auto-Injector" becomes
"Epinephrine auto-injector, 0.3 mL" and "24 HR metoprolol succinate 100 MG Extended Release Oral Tablet
[Toprol]" becomes "Metoprolol succinate extended-release tablet (Toprol), 100 mg". A name that does not
follow the pattern ("Lasix 40mg") keeps its own words, with any application number removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portal.i18n import N_, gettext, ngettext

# RxNorm's units, as a person writes them.
UNITS = {
    "MG": "mg",
    "ML": "mL",
    "MCG": "mcg",
    "G": "g",
    "UNT": "units",  # translated when shown
    "MEQ": "mEq",
    "ACTUAT": "puff",
    "HR": "hours",
    "%": "%",
}
UNIT = r"(?:MG|ML|MCG|G|UNT|MEQ|ACTUAT|HR|%)"
# A leading application number (NDA, ANDA, BLA) names the product's approval, not the medicine.
APPLICATION = re.compile(r"^(?:NDA|ANDA|BLA)\d+\s+")
BRAND = re.compile(r"\s*\[(?P<brand>[^\]]+)\]\s*$")
# "0.3 ML" (how much is in the package), "120 ACTUAT" (puffs), "24 HR" (how long a tablet releases).
LEADING_QUANTITY = re.compile(rf"^(?P<amount>\d+(?:\.\d+)?)\s+(?P<unit>{UNIT})\s+(?=[A-Za-z])")
# One ingredient with its strength, and for the last one the dose form after it.
INGREDIENT = re.compile(
    rf"^(?P<name>.*?[A-Za-z].*?)\s+(?P<amount>\d+(?:\.\d+)?)\s+(?P<unit>{UNIT})(?:/(?P<per>{UNIT}))?"
    r"(?:\s+(?P<rest>.*))?$"
)
PACK = re.compile(r"^(?P<name>.+?)\s+(?P<days>\d+)\s+Day\s+Pack$", re.IGNORECASE)

# Dose forms (RxNorm's words, lower case) -> the words a person uses; translated when shown.
FORMS: dict[str, str] = {
    "oral tablet": N_("tablet"),
    "tablet": N_("tablet"),
    "chewable tablet": N_("chewable tablet"),
    "extended release oral tablet": N_("extended-release tablet"),
    "delayed release oral tablet": N_("delayed-release tablet"),
    "oral capsule": N_("capsule"),
    "extended release oral capsule": N_("extended-release capsule"),
    "oral solution": N_("liquid"),
    "oral suspension": N_("liquid"),
    "injection": N_("injection"),
    "injectable solution": N_("injection"),
    "injectable suspension": N_("injection"),
    "auto-injector": N_("auto-injector"),
    "prefilled syringe": N_("prefilled syringe"),
    "metered dose inhaler": N_("inhaler"),
    "dry powder inhaler": N_("inhaler"),
    "inhalation solution": N_("liquid to breathe in"),
    "nasal spray": N_("nasal spray"),
    "topical cream": N_("cream"),
    "topical ointment": N_("ointment"),
    "transdermal system": N_("patch"),
    "drug implant": N_("implant"),
    "intrauterine system": N_("intrauterine device"),
    "vaginal ring": N_("vaginal ring"),
    "ophthalmic solution": N_("eye drops"),
    "otic solution": N_("ear drops"),
    "rectal suppository": N_("suppository"),
}


@dataclass(frozen=True)
class Medicine:
    """A medicine name taken apart: what it is, its form (a FORMS value), how much, and its brand."""

    name: str
    form: str | None = None  # an English form word from FORMS, translated when shown
    amount: str = ""  # "325 mg", "0.3 mL", "250 mg / 125 mg", "44 mcg per puff"
    count: str = ""  # "120 puffs", "28-day pack", in the reader's language
    brand: str = ""


def plain_number(text: str) -> str:
    """'0.30' -> '0.3', '100' -> '100'."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def strength(amount: str, unit: str, per: str | None) -> str:
    """'0.044', 'MG', 'ACTUAT' -> '44 mcg per puff'; small milligram amounts read better in micrograms."""
    value, shown = amount, UNITS[unit]
    if unit == "UNT":
        shown = gettext("units")
    if unit == "MG" and float(amount) < 1:
        value, shown = f"{float(amount) * 1000:g}", "mcg"
    text = f"{plain_number(value)} {shown}"
    if per == "ML":
        text += "/mL"
    elif per == "ACTUAT":
        text = gettext("%(amount)s per puff") % {"amount": text}
    elif per == "HR":
        text = gettext("%(amount)s per hour") % {"amount": text}
    return text


def name_words(name: str) -> str:
    """RxNorm's capitals ("diphenhydrAMINE Hydrochloride", "DOCEtaxel") in ordinary case, first letter up."""
    words = []
    for word in name.split():
        if len(word) > 1 and not word.isdigit():
            word = word.lower()
        words.append(word)
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def parse(display: str) -> Medicine | None:
    """The parts of an RxNorm name; None when the text does not follow RxNorm's pattern."""
    text = APPLICATION.sub("", " ".join(display.split()))
    brand = ""
    found_brand = BRAND.search(text)
    if found_brand:
        brand, text = found_brand["brand"].strip(), text[: found_brand.start()]
    pack = PACK.match(text)
    if pack:
        days = int(pack["days"])
        count = ngettext("%(num)d-day pack", "%(num)d-day pack", days) % {"num": days}
        return Medicine(pack["name"], count=count, brand=brand)
    volume, count = "", ""
    leading = LEADING_QUANTITY.match(text)
    if leading:
        unit = leading["unit"]
        if unit == "ML":
            volume = f"{plain_number(leading['amount'])} mL"
        elif unit == "ACTUAT":
            puffs = int(float(leading["amount"]))
            count = ngettext("%(num)d puff", "%(num)d puffs", puffs) % {"num": puffs}
        elif unit != "HR":  # "24 HR" repeats what "Extended Release" says
            return None
        text = text[leading.end() :]
    parts = [part.strip() for part in text.split(" / ")]
    names, strengths, form_text = [], [], ""
    for index, part in enumerate(parts):
        found = INGREDIENT.match(part)
        if found is None:
            return None
        rest = (found["rest"] or "").strip()
        if rest and index != len(parts) - 1:
            return None
        names.append(name_words(found["name"]))
        strengths.append(strength(found["amount"], found["unit"], found["per"]))
        form_text = rest
    form = FORMS.get(form_text.lower()) if form_text else None
    if form_text and form is None:
        return None
    # Pharmacists write a combination with slashes: "Amoxicillin / clavulanate".
    name = " / ".join([names[0], *(other[:1].lower() + other[1:] for other in names[1:])])
    # With the volume in the package, the concentration says no more to a patient than the volume does.
    amount = volume or " / ".join(strengths)
    return Medicine(name, form, amount, count, brand)


def cleaned(display: str) -> str:
    """The EHR's own text, without an application number and with its spacing tidied."""
    return APPLICATION.sub("", " ".join(display.split()))
