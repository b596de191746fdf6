"""The stored `confidential` flag, computed at import: any coding in any position, security labels on the
item or its bundle, links to confidential items (to a fixed point, across files), and the migration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import func, select, text, update
from sqlmodel import Session

from portal import db
from portal.cli import main
from portal.fhir import confidentiality, importer
from portal.models import (
    ClinicalDocument,
    Condition,
    DiagnosticReport,
    Encounter,
    FhirResource,
    Immunization,
    MedicationRequest,
    Observation,
    Patient,
    Procedure,
)
from portal.services import audit, lab_results, records
from portal.services.sensitive_codes import (
    CONFIDENTIAL_SECURITY_CODES,
    SENSITIVE_CODES,
    any_sensitive,
    is_sensitive,
    parse_codes,
)
from tests.fhir_bundles import write_bundle, write_ndjson
from tests.scopes import limited_scope

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
LOCAL = "http://clinic.example.org/codes"
RESTRICTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
TEEN = "teen-conf"
ITEM_TABLES = (ClinicalDocument, Condition, DiagnosticReport, Encounter, Immunization)
ITEM_TABLES += (MedicationRequest, Observation, Procedure)


def concept(*codings: tuple[str, str, str]) -> dict:
    return {"coding": [{"system": s, "code": c, **({"display": d} if d else {})} for s, c, d in codings]}


def ref(resource_type: str, fhir_id: str) -> dict:
    return {"reference": f"{resource_type}/{fhir_id}"}


def patient() -> dict:
    return {
        "resourceType": "Patient",
        "id": TEEN,
        "name": [{"family": "Reyes", "given": ["Lucia"]}],
        "birthDate": "2011-06-15",
    }


def condition(fhir_id: str, code: dict, **extra) -> dict:
    return {
        "resourceType": "Condition",
        "id": fhir_id,
        "clinicalStatus": concept(("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "")),
        "code": code,
        "subject": ref("Patient", TEEN),
        "onsetDateTime": "2026-03-01",
        **extra,
    }


def observation(fhir_id: str, code: dict, **extra) -> dict:
    return {
        "resourceType": "Observation",
        "id": fhir_id,
        "status": "final",
        "category": [
            concept(("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", ""))
        ],
        "code": code,
        "subject": ref("Patient", TEEN),
        "effectiveDateTime": "2026-03-02T10:00:00Z",
        "valueString": "see note",
        **extra,
    }


def medication_request(fhir_id: str, **extra) -> dict:
    return {
        "resourceType": "MedicationRequest",
        "id": fhir_id,
        "status": "active",
        "intent": "order",
        "subject": ref("Patient", TEEN),
        "authoredOn": "2026-03-01",
        **extra,
    }


def procedure(fhir_id: str, code: dict, **extra) -> dict:
    return {
        "resourceType": "Procedure",
        "id": fhir_id,
        "status": "completed",
        "code": code,
        "subject": ref("Patient", TEEN),
        "performedDateTime": "2026-03-01T09:00:00Z",
        **extra,
    }


def encounter(fhir_id: str, **extra) -> dict:
    return {
        "resourceType": "Encounter",
        "id": fhir_id,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [concept((SNOMED, "185349003", "Encounter for check up"))],
        "subject": ref("Patient", TEEN),
        "period": {"start": "2026-03-01T09:00:00Z", "end": "2026-03-01T09:30:00Z"},
        **extra,
    }


DEPRESSION = concept(
    (ICD10CM, "F32.9", "Major depressive disorder, single episode"), (SNOMED, "35489007", "")
)
ASTHMA = concept((ICD10CM, "J45.909", "Asthma"), (SNOMED, "195967001", "Asthma"))
PHARYNGITIS = concept((SNOMED, "195662009", "Acute viral pharyngitis"))
HEIGHT = concept((LOINC, "8302-2", "Body height"))


def teen_record() -> list[dict]:
    """Sensitive codes in second place, security labels, and what points at them; plus plain items."""
    return [
        patient(),
        condition("cond-depression", DEPRESSION),
        condition("cond-restricted", PHARYNGITIS, meta={"security": [RESTRICTED]}),
        condition("cond-asthma", ASTHMA),
        medication_request(
            "rx-pill",
            medicationCodeableConcept=concept(
                (LOCAL, "OC-28", "Birth control pill"), (RXNORM, "748856", "Yaz")
            ),
        ),
        {"resourceType": "Medication", "id": "med-bup", "code": concept((RXNORM, "1819", "Buprenorphine"))},
        medication_request("rx-bup", medicationReference=ref("Medication", "med-bup")),
        medication_request(
            "rx-for-mood",
            medicationCodeableConcept=concept((RXNORM, "310965", "Ibuprofen 200 MG Oral Tablet")),
            reasonReference=[ref("Condition", "cond-depression")],
        ),
        medication_request(
            "rx-plain", medicationCodeableConcept=concept((RXNORM, "314076", "lisinopril 10 MG Oral Tablet"))
        ),
        encounter("enc-mood", reasonReference=[ref("Condition", "cond-depression")]),
        encounter("enc-diagnosed", diagnosis=[{"condition": ref("Condition", "cond-restricted")}]),
        encounter("enc-plain"),
        observation("obs-in-mood-visit", HEIGHT, encounter=ref("Encounter", "enc-mood")),
        observation("obs-chlamydia", concept((LOCAL, "CT-NAAT", "CT by NAA"), (LOINC, "43304-5", ""))),
        observation("obs-plain", HEIGHT, encounter=ref("Encounter", "enc-plain")),
        {
            "resourceType": "DiagnosticReport",
            "id": "rep-sti",
            "status": "final",
            "code": concept((LOINC, "24356-8", "Urinalysis complete panel")),
            "subject": ref("Patient", TEEN),
            "effectiveDateTime": "2026-03-02T10:00:00Z",
            "result": [ref("Observation", "obs-chlamydia")],
        },
        {
            "resourceType": "DocumentReference",
            "id": "doc-diagnosed",
            "status": "current",
            "type": concept((LOINC, "11506-3", "Progress note")),
            "subject": ref("Patient", TEEN),
            "date": "2026-03-01T10:00:00Z",
            "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}],
            "context": {"encounter": [ref("Encounter", "enc-diagnosed")]},
        },
        procedure("proc-therapy", concept((CPT, "90834", "Psychotherapy, 45 minutes"))),
        procedure("proc-plain", concept((SNOMED, "398171003", "Hearing examination"))),
    ]


CONFIDENTIAL = {
    "cond-depression": "sensitive-code",
    "cond-restricted": "security-label",
    "rx-pill": "sensitive-code",
    "rx-bup": "linked",
    "rx-for-mood": "linked",
    "enc-mood": "linked",
    "enc-diagnosed": "linked",
    "obs-in-mood-visit": "linked",
    "obs-chlamydia": "sensitive-code",
    "rep-sti": "linked",
    "doc-diagnosed": "linked",
    "proc-therapy": "sensitive-code",
}
VISIBLE = {"cond-asthma", "rx-plain", "enc-plain", "obs-plain", "proc-plain"}


def flags(engine) -> dict[str, tuple[bool, str | None]]:
    with Session(engine) as session:
        found = {}
        for table in ITEM_TABLES:
            for fhir_id, flag, reason in session.execute(
                select(table.fhir_id, table.confidential, table.confidential_reason)
            ):
                found[fhir_id] = (flag, reason)
        return found


def teen_id(engine) -> int:
    with Session(engine) as session:
        return session.scalars(select(Patient.id).where(Patient.fhir_id == TEEN)).one()


def limited_view(engine) -> set[str]:
    """Every item id the record queries show a limited proxy."""
    patient_id = teen_id(engine)
    with Session(engine) as session:
        scope = limited_scope(session, patient_id)
        shown = [
            *records.conditions(session, scope).current,
            *records.medications(session, scope).current,
            *records.encounters(session, scope),
            *records.procedures(session, scope),
            *records.immunizations(session, scope),
            *records.documents(session, scope),
        ]
        for group in lab_results.results_by_report(session, scope):
            shown.extend(group.results)
            if group.report is not None:
                shown.append(group.report)
        return {item.fhir_id for item in shown}


def expected_flags() -> dict[str, tuple[bool, str | None]]:
    return {
        **{fhir_id: (True, reason) for fhir_id, reason in CONFIDENTIAL.items()},
        **dict.fromkeys(VISIBLE, (False, None)),
    }


def test_every_position_and_every_link_is_confidential_after_a_bundle_import(engine, tmp_path) -> None:
    path = write_bundle(tmp_path / "teen.json", teen_record())

    summary = importer.import_paths(engine, [path])

    assert summary.failed == []
    assert flags(engine) == expected_flags()


def test_the_record_queries_leave_confidential_items_out_of_a_limited_view(engine, tmp_path) -> None:
    importer.import_paths(engine, [write_bundle(tmp_path / "teen.json", teen_record())])

    shown = limited_view(engine)

    assert shown.isdisjoint(CONFIDENTIAL)
    assert shown >= VISIBLE


def test_a_bundle_labelled_restricted_makes_its_items_confidential(engine, tmp_path) -> None:
    importer.import_paths(engine, [write_bundle(tmp_path / "teen.json", [patient()])])
    shot = {
        "resourceType": "Immunization",
        "id": "imm-flu",
        "status": "completed",
        "vaccineCode": concept(("http://hl7.org/fhir/sid/cvx", "140", "Influenza, seasonal")),
        "patient": ref("Patient", TEEN),
        "occurrenceDateTime": "2026-03-01",
    }
    path = tmp_path / "restricted.json"
    path.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "meta": {"security": [RESTRICTED]},
                "entry": [{"fullUrl": "urn:uuid:imm-flu", "resource": shot}],
            }
        )
    )

    importer.import_paths(engine, [path])

    assert flags(engine)["imm-flu"] == (True, "bundle-security-label")
    assert "imm-flu" not in limited_view(engine)


def test_references_split_across_ndjson_files_imported_one_after_another(engine, tmp_path) -> None:
    files = {path.name.split(".")[0]: path for path in write_ndjson(tmp_path / "bulk", teen_record())}
    order = ("Patient", "Medication", "Condition", "Encounter", "Observation", "DiagnosticReport")
    order += ("MedicationRequest", "Procedure", "DocumentReference")

    results = [importer.import_file(engine, files[name]) for name in order]

    assert [r.error for r in results] == [None] * len(order)
    assert flags(engine) == expected_flags()


def test_a_later_file_making_a_condition_restricted_hides_what_points_at_it(engine, tmp_path) -> None:
    first = [
        patient(),
        condition("cond-sore-throat", PHARYNGITIS, meta={"versionId": "1"}),
        encounter("enc-sore-throat", reasonReference=[ref("Condition", "cond-sore-throat")]),
        observation("obs-strep", HEIGHT, encounter=ref("Encounter", "enc-sore-throat")),
    ]
    for name, path in sorted(
        {p.name.split(".")[0]: p for p in write_ndjson(tmp_path / "one", first)}.items(),
        key=lambda pair: ("Patient", "Condition", "Encounter", "Observation").index(pair[0]),
    ):
        assert importer.import_file(engine, path).ok, name
    assert not any(flag for flag, _ in flags(engine).values())
    restricted = condition("cond-sore-throat", PHARYNGITIS, meta={"versionId": "2", "security": [RESTRICTED]})
    (later := tmp_path / "Condition.later.ndjson").write_text(json.dumps(restricted) + "\n")

    assert importer.import_file(engine, later).ok

    assert flags(engine) == {
        "cond-sore-throat": (True, "security-label"),
        "enc-sore-throat": (True, "linked"),
        "obs-strep": (True, "linked"),
    }


def test_importing_the_same_file_again_changes_no_flag_and_no_row(engine, tmp_path) -> None:
    path = write_bundle(tmp_path / "teen.json", teen_record())
    importer.import_paths(engine, [path])
    with Session(engine) as session:
        before = session.scalar(select(func.max(FhirResource.updated_at)))

    summary = importer.import_paths(engine, [path])

    with Session(engine) as session:
        after = session.scalar(select(func.max(FhirResource.updated_at)))
    assert summary.total("updated") == {} and summary.total("created") == {}
    assert after == before
    assert flags(engine) == expected_flags()


def test_reflag_command_restores_flags_from_the_stored_json(engine, settings, tmp_path) -> None:
    importer.import_paths(engine, [write_bundle(tmp_path / "teen.json", teen_record())])
    with engine.begin() as conn:
        for table in ITEM_TABLES:
            conn.execute(update(table).values(confidential=False, confidential_reason=None))
        conn.execute(update(FhirResource).values(confidential_reason=None))
        conn.execute(text("DELETE FROM fhir_link"))
    env = {"DATABASE_URL": settings.database_url, "PORTAL_DATA_DIR": str(settings.data_dir)}

    result = CliRunner().invoke(main, ["records", "reflag"], env=env, catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert f"{len(CONFIDENTIAL)} record items changed" in result.output
    assert flags(engine) == expected_flags()


def test_migration_0009_recomputes_flags_of_a_database_imported_before_it(tmp_path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    audit.use_chain_key(engine, "migration-test-secret-key-0123456789-abcdef")
    db.upgrade(engine)
    importer.import_paths(engine, [write_bundle(tmp_path / "teen.json", teen_record())])
    config = db.alembic_config(engine)
    audit.sequence_pending(engine, key=audit.engine_key(engine))  # an older schema needs every event linked
    command.downgrade(config, "0008_printing")
    with engine.begin() as conn:  # as the importer before 0009 left them: only meta.security counted
        conn.execute(text("UPDATE condition SET confidential = fhir_id = 'cond-restricted'"))
        for table in ("encounter", "observation", "diagnostic_report", "medication_request", "procedure"):
            conn.execute(text(f"UPDATE {table} SET confidential = false"))

    command.upgrade(config, "heads")

    try:
        assert flags(engine) == expected_flags()
    finally:
        engine.dispose()


def test_the_list_is_data_with_prefixes_and_keeps_its_public_names() -> None:
    listed = parse_codes(
        [
            "# a comment naming the source",
            "system,code,display,topic,match",
            f"{ICD10CM},F32,Depressive episode,mental-health,prefix",
            f"{RXNORM},748856,Yaz,reproductive,exact",
        ]
    )

    assert listed.matches(ICD10CM, "F32.9") and listed.matches(ICD10CM, "F329")
    assert not listed.matches(ICD10CM, "F10.1") and not listed.matches(SNOMED, "F32")
    assert listed.matches(RXNORM, "748856") and not listed.matches(RXNORM, "7488560")
    assert (SNOMED, "35489007") in SENSITIVE_CODES and {"R", "V"} == CONFIDENTIAL_SECURITY_CODES
    assert any_sensitive([(LOCAL, "X"), (ICD10CM, "O09.90")])
    assert is_sensitive([(SNOMED, "195967001")], ["R"]) and not is_sensitive([(SNOMED, "195967001")])


@pytest.mark.parametrize(
    ("label", "confidential"),
    [
        (RESTRICTED, True),
        ({"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "V"}, True),
        ({"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"}, True),
        ({"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "ETH"}, True),
        ({"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}, False),
    ],
)
def test_security_labels_that_hide_an_item(label, confidential) -> None:
    resource = condition("c", ASTHMA, meta={"security": [label]})

    reason = confidentiality.own_reason(resource)

    assert (reason == "security-label") is confidential


def test_a_sensitive_code_in_an_observation_component_is_found() -> None:
    resource = observation(
        "panel",
        concept((LOCAL, "SCREEN", "Adolescent screening")),
        component=[{"code": concept((LOINC, "44261-6", "PHQ-9 total score")), "valueInteger": 4}],
    )

    assert confidentiality.own_reason(resource) == "sensitive-code"


def test_the_data_file_names_its_sources() -> None:
    text_of_file = (Path(confidentiality.__file__).parents[1] / "data" / "sensitive_codes.csv").read_text()

    assert "Source" in text_of_file or "sources" in text_of_file
    assert "v3-ActInformationSensitivityPolicy" in text_of_file and "VSAC" in text_of_file
