"""Codes a clinic treats as confidential for adolescents: sexual and reproductive health, mental health,
substance use, abuse. A limited (parent of a 12-17 year old) proxy never sees an item carrying one of these
in any coding, nor one the EHR marked restricted or very restricted (meta.security R or V) or labelled with
a sensitivity topic.

The list is data: portal/data/sensitive_codes.csv (its header names the sources). It is read once, on first
use. Systems are the canonical FHIR URIs.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"  # WHO ICD-10: the same chapters and categories as ICD-10-CM
CPT = "http://www.ama-assn.org/go/cpt"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

# meta.security codes (v3-Confidentiality) that hide an item from a limited proxy.
CONFIDENTIAL_SECURITY_CODES = frozenset({"R", "V"})

CODES_FILE = "sensitive_codes.csv"


@dataclass(frozen=True)
class SensitiveCode:
    system: str
    code: str
    display: str
    topic: str
    prefix: bool  # an ICD-10-CM category: matches every code under it


@dataclass(frozen=True)
class SensitiveList:
    entries: tuple[SensitiveCode, ...]
    exact: frozenset[tuple[str, str]]
    prefixes: dict[str, tuple[str, ...]]  # system -> normalised prefixes

    def matches(self, system: str | None, code: str | None) -> bool:
        if not system or not code:
            return False
        if (system, code) in self.exact:
            return True
        prefixes = self.prefixes.get(system)
        return bool(prefixes) and _normalised(code).startswith(prefixes)  # type: ignore[arg-type]


def _normalised(code: str) -> str:
    return code.replace(".", "").strip().upper()


def parse_codes(lines: Iterable[str]) -> SensitiveList:
    """The list from CSV text: '#' lines are comments, then a header row system,code,display,topic,match."""
    rows = csv.DictReader(line for line in lines if line.strip() and not line.startswith("#"))
    entries = []
    for row in rows:
        match = (row.get("match") or "exact").strip()
        if match not in ("exact", "prefix"):
            raise ValueError(f"{CODES_FILE}: match must be exact or prefix, not {match!r}")
        entries.append(
            SensitiveCode(
                system=row["system"].strip(),
                code=row["code"].strip(),
                display=(row.get("display") or "").strip(),
                topic=(row.get("topic") or "").strip(),
                prefix=match == "prefix",
            )
        )
    prefixes: dict[str, list[str]] = {}
    for entry in entries:
        if entry.prefix:
            systems = (ICD10CM, ICD10) if entry.system == ICD10CM else (entry.system,)
            for system in systems:
                prefixes.setdefault(system, []).append(_normalised(entry.code))
    return SensitiveList(
        entries=tuple(entries),
        exact=frozenset((entry.system, entry.code) for entry in entries),
        prefixes={system: tuple(values) for system, values in prefixes.items()},
    )


@cache
def sensitive_list() -> SensitiveList:
    """The clinic's list, read once from the package's data folder."""
    text = resources.files("portal").joinpath("data", CODES_FILE).read_text(encoding="utf-8")
    return parse_codes(text.splitlines())


# (system, code) of every row, prefixes included as written: for code that only compares whole codes.
SENSITIVE_CODES: frozenset[tuple[str, str]] = sensitive_list().exact


def is_sensitive_coding(system: str | None, code: str | None) -> bool:
    return sensitive_list().matches(system, code)


def is_confidential_label(system: str | None, code: str | None) -> bool:
    """A security label that hides an item: v3-Confidentiality R or V, or a sensitivity topic on the list."""
    if code in CONFIDENTIAL_SECURITY_CODES and system in (None, "", CONFIDENTIALITY):
        return True
    return sensitive_list().matches(system or ACT_CODE, code)


def any_sensitive(codings: Iterable[tuple[str | None, str | None]]) -> bool:
    """True when any (system, code) of an item, in any position, is on the clinic's list."""
    listed = sensitive_list()
    return any(listed.matches(system, code) for system, code in codings)


def is_sensitive(codings: list[tuple[str, str]], security_codes: list[str] | None = None) -> bool:
    """True when any (system, code) is on the clinic's list, or the EHR marked the item R or V."""
    if security_codes and CONFIDENTIAL_SECURITY_CODES.intersection(security_codes):
        return True
    return any_sensitive(codings)
