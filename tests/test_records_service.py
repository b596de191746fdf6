"""The record queries the pages call, against the project's sample infant and generated patients."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from portal.fhir import importer
from portal.models import Patient
from portal.services import lab_results, records
from tests.fhir_bundles import SAMPLE_BUNDLE, patient_resources, write_bundle
from tests.scopes import limited_scope, operator_scope

SAMPLE_PATIENT = "Sample"  # the family name in data/fhir/sample-infant.json


@pytest.fixture
def infant(app, session) -> int:
    importer.import_paths(app.state.engine, [SAMPLE_BUNDLE])
    patient_id = session.scalars(select(Patient.id).where(Patient.family_name == SAMPLE_PATIENT)).one()
    session.rollback()  # end the read: SQLite's BEGIN IMMEDIATE would keep the write lock
    return patient_id


@pytest.fixture
def stranger(app, session, tmp_path) -> int:
    resources = patient_resources(random.Random(), visits=2)
    importer.import_paths(app.state.engine, [write_bundle(tmp_path / "other.json", resources)])
    fhir_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    patient_id = session.scalars(select(Patient.id).where(Patient.fhir_id == fhir_id)).one()
    session.rollback()
    return patient_id


def test_results_are_grouped_by_report_with_their_observations(session, infant) -> None:
    groups = lab_results.results_by_report(session, operator_scope(session, infant))

    by_report = {group.report.display: [o.code for o in group.results] for group in groups if group.report}
    assert by_report == {"Newborn bilirubin": ["1975-2"], "Hepatitis B screen": ["5195-3"]}


def test_confidential_results_are_hidden_unless_asked_for(session, infant) -> None:
    groups = lab_results.results_by_report(session, limited_scope(session, infant))

    codes = [o.code for group in groups for o in group.results]
    assert codes == ["1975-2"]
    assert all(not group.report or not group.report.confidential for group in groups)


def test_result_history_for_a_code_is_oldest_first(session, infant) -> None:
    history = lab_results.result_history(session, operator_scope(session, infant), "9843-4")

    assert [round(o.value, 1) for o in history] == [35.0, 38.6, 40.9, 42.6]
    assert [o.effective_at for o in history] == sorted(o.effective_at for o in history)


def test_a_result_is_found_only_for_its_own_patient(session, infant, stranger) -> None:
    (group, *_) = lab_results.results_by_report(session, operator_scope(session, infant))
    public_id = group.results[0].public_id

    mine = lab_results.result(session, operator_scope(session, infant), public_id)
    theirs = lab_results.result(session, operator_scope(session, stranger), public_id)

    assert mine is not None and theirs is None


def test_report_detail_holds_its_results_and_reference_range(session, infant) -> None:
    groups = lab_results.results_by_report(session, operator_scope(session, infant))
    report_id = next(g.report.public_id for g in groups if g.report and g.report.code == "1975-2")

    detail = lab_results.report(session, operator_scope(session, infant), report_id)

    (bilirubin,) = detail.results
    assert (bilirubin.value, bilirubin.unit, bilirubin.reference_low, bilirubin.reference_high) == (
        9.8,
        "mg/dL",
        0.1,
        12.0,
    )
    assert detail.report.conclusion == "Within the expected range for age."


def test_medications_are_split_into_current_and_past(session, infant) -> None:
    lists = records.medications(session, operator_scope(session, infant))

    assert [m.display for m in lists.current] == ["Vitamin D drops 400 units/mL"]
    assert [m.display for m in lists.past] == ["Famotidine oral suspension"]
    assert (
        lists.current[0].dosage == "1 mL by mouth once a day"
        and lists.current[0].requester == "Dr. Ada Okafor"
    )


def test_immunizations_are_newest_first(session, infant) -> None:
    shots = records.immunizations(session, operator_scope(session, infant))

    assert len(shots) == 8
    assert [s.occurred_at for s in shots] == sorted((s.occurred_at for s in shots), reverse=True)


def test_allergies_and_conditions(session, infant) -> None:
    allergies = records.allergies(session, operator_scope(session, infant))
    conditions = records.conditions(session, operator_scope(session, infant))

    assert [(a.display, a.reactions, a.criticality) for a in allergies.current] == [
        ("Amoxicillin", "Rash", "low")
    ]
    assert conditions.current == [] and [c.display for c in conditions.past] == ["Reflux in infancy"]


def test_encounter_detail_brings_notes_diagnoses_vitals_and_results(session, infant) -> None:
    visits = records.encounters(session, operator_scope(session, infant))
    first_visit = visits[-1]

    detail = records.encounter_detail(session, operator_scope(session, infant), first_visit.public_id)

    assert len(visits) == 4 and first_visit.practitioner == "Dr. Ada Okafor"
    assert [n.text.splitlines()[0] for n in detail.notes] == ["Well child visit at 1 week."]
    assert [c.display for c in detail.diagnoses] == ["Reflux in infancy"]
    assert {v.code for v in detail.vitals} == {"29463-7", "8302-2", "9843-4"}
    assert {r.code for r in detail.results} == {"1975-2", "5195-3"}


def test_encounter_detail_hides_confidential_results_when_asked(session, infant) -> None:
    first_visit = records.encounters(session, limited_scope(session, infant))[-1]

    detail = records.encounter_detail(session, limited_scope(session, infant), first_visit.public_id)

    assert {r.code for r in detail.results} == {"1975-2"}


def test_another_patients_encounter_is_not_found(session, infant, stranger) -> None:
    theirs = records.encounters(session, operator_scope(session, stranger))[0]

    assert records.encounter_detail(session, operator_scope(session, infant), theirs.public_id) is None


def test_documents_list_and_one_document_with_its_text(session, infant) -> None:
    notes = records.documents(session, operator_scope(session, infant))

    note = records.document(session, operator_scope(session, infant), notes[0].public_id)

    assert len(notes) == 4
    assert note.text.startswith("Well child visit at 6 months.") and note.author == "Dr. Ada Okafor"


def test_growth_measurements_include_head_circumference_in_metric_units(session, infant) -> None:
    growth = records.growth_measurements(session, operator_scope(session, infant))

    assert [round(p.value, 2) for p in growth["weight"]] == [3.45, 5.1, 6.4, 7.3]
    assert [p.unit for p in growth["head_circumference"]] == ["cm"] * 4
    assert len(growth["height"]) == 4 and growth["bmi"] == []


def test_growth_measurements_convert_grams_and_inches(app, session, tmp_path) -> None:
    resources = patient_resources(random.Random(), visits=1)
    weight = next(r for r in resources if r["resourceType"] == "Observation" and "valueQuantity" in r)
    weight["code"] = {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}
    weight["valueQuantity"] = {"value": 3500, "unit": "g", "code": "g"}
    importer.import_paths(app.state.engine, [write_bundle(tmp_path / "g.json", resources)])
    patient_id = session.scalars(select(Patient.id)).one()

    growth = records.growth_measurements(session, operator_scope(session, patient_id))

    assert 3.5 in [round(p.value, 3) for p in growth["weight"]]


def test_blood_pressure_components_are_kept(app, session, tmp_path) -> None:
    resources = patient_resources(random.Random(), visits=1)
    panel = next(r for r in resources if r.get("component"))
    importer.import_paths(app.state.engine, [write_bundle(tmp_path / "bp.json", resources)])
    patient_id = session.scalars(select(Patient.id)).one()
    visit = records.encounters(session, operator_scope(session, patient_id))[0]
    detail = records.encounter_detail(session, operator_scope(session, patient_id), visit.public_id)
    observation = next(v for v in detail.vitals if v.code == "85354-9")

    parts = lab_results.components(session, observation)

    assert [(p.code, p.value) for p in parts] == [
        (c["code"]["coding"][0]["code"], c["valueQuantity"]["value"]) for c in panel["component"]
    ]


def test_resource_counts_per_patient(session, infant, stranger) -> None:
    counts = records.resource_counts(session, infant)

    assert counts["Immunization"] == 8 and counts["Patient"] == 1


def test_resources_of_type_returns_the_json_as_sent_for_that_patient_only(
    app, session, tmp_path, stranger
) -> None:
    resources = patient_resources(random.Random(), visits=1)
    claim = {
        "resourceType": "Claim",
        "id": "claim-1",
        "status": "active",
        "type": {"text": "professional"},
        "use": "claim",
        "patient": {"reference": f"urn:uuid:{resources[2]['id']}"},
        "created": "2024-01-01",
        "provider": {"reference": f"urn:uuid:{resources[0]['id']}"},
        "priority": {"text": "normal"},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Self pay"}}],
        "total": {"value": 125.5, "currency": "USD"},
    }
    importer.import_paths(app.state.engine, [write_bundle(tmp_path / "claim.json", [*resources, claim])])
    patient_id = session.scalars(select(Patient.id).where(Patient.fhir_id == resources[2]["id"])).one()

    claims = records.resources_of_type(session, operator_scope(session, patient_id), "Claim")

    assert claims == [claim]
    assert records.resources_of_type(session, operator_scope(session, stranger), "Claim") == []


def test_result_histories_for_the_codes_of_a_report(app, session, tmp_path) -> None:
    rng = random.Random()
    resources = patient_resources(rng, visits=4)
    importer.import_paths(app.state.engine, [write_bundle(tmp_path / "p.json", resources)])
    patient_id = session.scalars(select(Patient.id)).one()
    expected = {}
    for r in resources:
        if r["resourceType"] == "Observation" and r["category"][0]["coding"][0]["code"] == "laboratory":
            expected.setdefault(r["code"]["coding"][0]["code"], []).append(r["valueQuantity"]["value"])

    histories = lab_results.result_histories(session, operator_scope(session, patient_id), sorted(expected))

    assert {code: sorted(o.value for o in rows) for code, rows in histories.items()} == {
        code: sorted(values) for code, values in expected.items()
    }
    assert all(
        [o.effective_at for o in rows] == sorted(o.effective_at for o in rows) for rows in histories.values()
    )
