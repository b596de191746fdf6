"""MedlinePlus Connect links from codes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from portal.services.education import learn_more_url


@pytest.mark.parametrize(
    ("system", "oid"),
    [
        ("http://snomed.info/sct", "2.16.840.1.113883.6.96"),
        ("http://www.nlm.nih.gov/research/umls/rxnorm", "2.16.840.1.113883.6.88"),
        ("http://loinc.org", "2.16.840.1.113883.6.1"),
    ],
)
def test_link_names_the_code_system_by_its_oid(system, oid) -> None:
    url = learn_more_url(system, "12345", "Something")

    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).netloc == "connect.medlineplus.gov"
    assert query["mainSearchCriteria.v.cs"] == [oid]
    assert query["mainSearchCriteria.v.c"] == ["12345"]
    assert query["mainSearchCriteria.v.dn"] == ["Something"]


def test_link_asks_for_spanish_pages_for_a_spanish_reader() -> None:
    url = learn_more_url("http://snomed.info/sct", "44054006", "Diabetes", language="es-US")

    assert parse_qs(urlsplit(url).query)["informationRecipient.languageCode.c"] == ["es"]


@pytest.mark.parametrize(
    ("system", "code"), [("http://example.org/local", "X1"), (None, "1"), ("http://loinc.org", None)]
)
def test_no_link_for_an_unknown_system_or_a_missing_code(system, code) -> None:
    assert learn_more_url(system, code) is None
