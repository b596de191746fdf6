"""Plain-language education links: MedlinePlus Connect pages chosen by a problem's, medicine's or test's code.

The link carries only the code system, the code and its name, never anything about the patient; pages
open it with rel="noopener noreferrer" and the portal's Referrer-Policy keeps its own address private.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlencode

MEDLINEPLUS_CONNECT = "https://connect.medlineplus.gov/application"

# FHIR code-system URIs and the HL7 OIDs MedlinePlus Connect expects for them.
CODE_SYSTEM_OIDS = {
    "http://snomed.info/sct": "2.16.840.1.113883.6.96",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "2.16.840.1.113883.6.88",
    "http://loinc.org": "2.16.840.1.113883.6.1",
    "http://hl7.org/fhir/sid/icd-10-cm": "2.16.840.1.113883.6.90",
    "http://hl7.org/fhir/sid/icd-9-cm": "2.16.840.1.113883.6.103",
}
LANGUAGES = {"en": "en", "es": "es"}


@lru_cache(maxsize=4096)  # a page asks for the same few codes again and again; each is URL-encoded once
def learn_more_url(
    system: str | None, code: str | None, display: str = "", *, language: str = "en"
) -> str | None:
    """The MedlinePlus Connect address for a coded item, or None when its code system is not covered."""
    if not system or not code:
        return None
    oid = CODE_SYSTEM_OIDS.get(system.rstrip("/"))
    if oid is None:
        return None
    query = {
        "mainSearchCriteria.v.cs": oid,
        "mainSearchCriteria.v.c": code,
        "informationRecipient.languageCode.c": LANGUAGES.get(language.split("-")[0].lower(), "en"),
    }
    if display:
        query["mainSearchCriteria.v.dn"] = display
    return f"{MEDLINEPLUS_CONNECT}?{urlencode(query)}"
