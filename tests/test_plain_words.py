"""Plain words for what the EHR sends: the medicine parser on Synthea's names, test names, visit types,
ages and where a result falls in its range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from portal import i18n
from portal.services import plain_words
from portal.services.plain_words import medicines


@dataclass
class Item:
    code: str | None
    display: str | None


@pytest.mark.parametrize(
    ("rxnorm", "said"),
    [
        ("NDA020800 0.3 ML Epinephrine 1 MG/ML Auto-Injector", "Epinephrine auto-injector, 0.3 mL"),
        ("Acetaminophen 325 MG Oral Tablet", "Acetaminophen tablet, 325 mg"),
        ("diphenhydrAMINE Hydrochloride 25 MG Oral Tablet", "Diphenhydramine hydrochloride tablet, 25 mg"),
        (
            "120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler",
            "Fluticasone propionate inhaler, 44 mcg per puff, 120 puffs",
        ),
        (
            "Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet",
            "Amoxicillin / clavulanate tablet, 250 mg / 125 mg",
        ),
        (
            "24 HR metoprolol succinate 100 MG Extended Release Oral Tablet [Toprol]",
            "Metoprolol succinate extended-release tablet (Toprol), 100 mg",
        ),
        ("Nitrofurantoin 5 MG/ML Oral Suspension", "Nitrofurantoin liquid, 5 mg/mL"),
        (
            "0.25 ML Leuprolide Acetate 30 MG/ML Prefilled Syringe",
            "Leuprolide acetate prefilled syringe, 0.25 mL",
        ),
        ("Jolivette 28 Day Pack", "Jolivette, 28-day pack"),
        ("Loratadine 5 MG Chewable Tablet", "Loratadine chewable tablet, 5 mg"),
        ("Vitamin B 12 5 MG/ML Injectable Solution", "Vitamin B 12 injection, 5 mg/mL"),
        ("Hydrochlorothiazide 25 MG", "Hydrochlorothiazide, 25 mg"),
    ],
)
def test_synthea_medicine_names_read_as_a_person_says_them(rxnorm, said) -> None:
    assert plain_words.medicine(rxnorm) == said


@pytest.mark.parametrize(
    "unusual", ["Lasix 40mg", "NuvaRing 0.12/0.015 MG per 24HR 21 Day Vaginal Ring", "Aspirin chewing gum"]
)
def test_a_name_that_is_not_rxnorms_pattern_keeps_its_own_words(unusual) -> None:
    assert medicines.parse(unusual) is None
    assert plain_words.medicine(unusual) == unusual


def test_medicine_words_are_spanish_for_a_spanish_reader() -> None:
    with i18n.using("es"):
        said = plain_words.medicine("Acetaminophen 325 MG Oral Tablet")

    assert said == "Tableta de Acetaminophen, 325 mg"


def test_a_known_test_gets_its_short_name_in_the_readers_language() -> None:
    platelet_width = Item(
        "32207-3", "Platelet distribution width [Entitic volume] in Blood by Automated count"
    )

    assert plain_words.test_name(platelet_width) == "Platelet width"
    with i18n.using("es"):
        assert plain_words.test_name(platelet_width) == "Ancho de las plaquetas"
    assert plain_words.test_full_name(platelet_width) == platelet_width.display


def test_an_unknown_test_keeps_the_labs_name_without_the_method_words() -> None:
    item = Item("99999-9", "Ferritin [Mass/\u200bvolume] in Serum or Plasma by Automated count")

    assert plain_words.test_name(item) == "Ferritin in Serum or Plasma"


def test_every_row_of_the_names_table_has_both_languages() -> None:
    names = plain_words.short_names()

    assert len(names) > 80
    assert all(row["en"] and row["es"] for row in names.values())


@pytest.mark.parametrize(
    ("snomed", "said"),
    [
        ("Encounter for check up (procedure)", "Encounter for check up"),
        ("Inpatient stay (finding)", "Inpatient stay"),
        ("Acute bronchitis (disorder)", "Acute bronchitis"),
        ("Prenatal visit", "Prenatal visit"),
    ],
)
def test_visit_types_lose_snomeds_tags(snomed, said) -> None:
    assert plain_words.visit_type(snomed) == said


@pytest.mark.parametrize(
    ("born", "said"),
    [
        (date(2026, 3, 1), "4 days old"),
        (date(2026, 2, 1), "4 weeks old"),
        (date(2025, 10, 5), "5 months old"),
        (date(2024, 3, 6), "23 months old"),
        (date(2019, 3, 5), "7 years old"),
    ],
)
def test_ages_in_weeks_months_then_years(born, said) -> None:
    assert plain_words.age_words(born, date(2026, 3, 5)) == said


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (3.0, plain_words.BELOW),
        (4.2, plain_words.LOW_END),
        (7.0, plain_words.MIDDLE),
        (9.8, plain_words.HIGH_END),
        (12.0, plain_words.ABOVE),
    ],
)
def test_where_a_value_falls_in_its_range(value, words) -> None:
    place = plain_words.range_position(value, 4.0, 10.0)

    assert place is not None and place.words == words
    assert 2 <= place.marker <= 98


def test_no_place_without_both_ends_of_a_range() -> None:
    assert plain_words.range_position(5.0, None, 10.0) is None
    assert plain_words.range_position(None, 1.0, 10.0) is None


def test_a_report_keeps_the_clinics_own_name_but_not_loincs_long_one() -> None:
    own = Item("1975-2", "Newborn bilirubin")
    coded = Item("58410-2", "Complete blood count (hemogram) panel - Blood by Automated count")

    assert plain_words.report_name(own) == "Newborn bilirubin"
    assert plain_words.report_name(coded) == "Complete blood count (CBC)"
