"""Synthetic FHIR R4 patients made on the fly (random ids and values), so tests check the importer on data
it was never tuned on, plus small helpers to write them as bundles or bulk NDJSON files."""

from __future__ import annotations

import base64
import gzip
import json
import random
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
LABS = [
    ("2339-0", "Glucose", "mg/dL", 70, 140),
    ("2947-0", "Sodium", "mmol/L", 134, 146),
    ("718-7", "Hemoglobin", "g/dL", 11, 17),
]
VITALS = [
    ("29463-7", "Body Weight", "kg", 3, 90),
    ("8302-2", "Body Height", "cm", 50, 190),
    ("39156-5", "BMI", "kg/m2", 14, 35),
]
SAMPLE_DATA = Path(__file__).resolve().parents[1] / "data" / "fhir"  # the sample sets the project ships
SAMPLE_BUNDLE = SAMPLE_DATA / "sample-infant.json"
SYNTHEA = SAMPLE_DATA / "synthea"  # 18 Synthea patients, one gzip-compressed bundle each
USCORE_BULK = SAMPLE_DATA / "uscore-bulk"  # a 10-patient bulk export, gzip-compressed NDJSON


def new_id() -> str:
    return str(uuid.uuid4())


def _day(rng: random.Random) -> str:
    return f"{rng.randint(2001, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _when(rng: random.Random) -> str:
    return f"{_day(rng)}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00+00:00"


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def patient_resources(rng: random.Random, *, visits: int | None = None) -> list[dict[str, Any]]:
    """One made-up patient's record: a random number of visits, each with random findings."""
    org = {"resourceType": "Organization", "id": new_id(), "name": f"Clinic {rng.randint(1, 999)}"}
    doctor = {
        "resourceType": "Practitioner",
        "id": new_id(),
        "identifier": [
            {"system": "http://hl7.org/fhir/sid/us-npi", "value": str(rng.randint(10**9, 10**10 - 1))}
        ],
        "name": [{"family": f"Doc{rng.randint(1, 999)}", "given": ["Pat"], "prefix": ["Dr."]}],
    }
    patient = {
        "resourceType": "Patient",
        "id": new_id(),
        "name": [
            {
                "use": "official",
                "family": f"Family{rng.randint(1, 9999)}",
                "given": [f"Given{rng.randint(1, 99)}"],
            }
        ],
        "gender": rng.choice(["female", "male", "other"]),
        "birthDate": _day(rng),
    }
    subject = {"reference": f"urn:uuid:{patient['id']}"}
    out: list[dict[str, Any]] = [org, doctor, patient]
    for _ in range(visits if visits is not None else rng.randint(1, 4)):
        when = _when(rng)
        encounter = {
            "resourceType": "Encounter",
            "id": new_id(),
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "type": [_concept("http://snomed.info/sct", "185349003", "Check up")],
            "subject": subject,
            "participant": [{"individual": {"reference": f"urn:uuid:{doctor['id']}"}}],
            "period": {"start": when, "end": when},
            "serviceProvider": {"reference": f"urn:uuid:{org['id']}"},
        }
        enc = {"reference": f"urn:uuid:{encounter['id']}"}
        out.append(encounter)
        results = []
        for code, name, unit, low, high in rng.sample(LABS, rng.randint(1, len(LABS))):
            observation = {
                "resourceType": "Observation",
                "id": new_id(),
                "status": "final",
                "category": [{"coding": [{"system": OBS_CATEGORY, "code": "laboratory"}]}],
                "code": _concept(LOINC, code, name),
                "subject": subject,
                "encounter": enc,
                "effectiveDateTime": when,
                "valueQuantity": {
                    "value": round(rng.uniform(low * 0.8, high * 1.2), 1),
                    "unit": unit,
                    "system": UCUM,
                    "code": unit,
                },
                "referenceRange": [
                    {"low": {"value": low, "unit": unit}, "high": {"value": high, "unit": unit}}
                ],
            }
            results.append({"reference": f"urn:uuid:{observation['id']}"})
            out.append(observation)
        out.append(
            {
                "resourceType": "DiagnosticReport",
                "id": new_id(),
                "status": "final",
                "code": _concept(LOINC, "24323-8", "Metabolic panel"),
                "subject": subject,
                "encounter": enc,
                "effectiveDateTime": when,
                "result": results,
            }
        )
        for code, name, unit, low, high in rng.sample(VITALS, rng.randint(1, len(VITALS))):
            out.append(
                {
                    "resourceType": "Observation",
                    "id": new_id(),
                    "status": "final",
                    "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs"}]}],
                    "code": _concept(LOINC, code, name),
                    "subject": subject,
                    "encounter": enc,
                    "effectiveDateTime": when,
                    "valueQuantity": {
                        "value": round(rng.uniform(low, high), 2),
                        "unit": unit,
                        "system": UCUM,
                        "code": unit,
                    },
                }
            )
        out.append(
            {
                "resourceType": "Observation",
                "id": new_id(),
                "status": "final",
                "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs"}]}],
                "code": _concept(LOINC, "85354-9", "Blood pressure panel"),
                "subject": subject,
                "encounter": enc,
                "effectiveDateTime": when,
                "component": [
                    {
                        "code": _concept(LOINC, "8480-6", "Systolic"),
                        "valueQuantity": {"value": rng.randint(95, 150), "unit": "mm[Hg]"},
                    },
                    {
                        "code": _concept(LOINC, "8462-4", "Diastolic"),
                        "valueQuantity": {"value": rng.randint(55, 95), "unit": "mm[Hg]"},
                    },
                ],
            }
        )
        condition = {
            "resourceType": "Condition",
            "id": new_id(),
            "clinicalStatus": _concept(
                "http://terminology.hl7.org/CodeSystem/condition-clinical",
                rng.choice(["active", "resolved"]),
                "status",
            ),
            "code": _concept(
                "http://snomed.info/sct", str(rng.randint(10**6, 10**7)), f"Problem {rng.randint(1, 99)}"
            ),
            "subject": subject,
            "encounter": enc,
            "onsetDateTime": when,
        }
        out.append(condition)
        out.append(
            {
                "resourceType": "MedicationRequest",
                "id": new_id(),
                "status": rng.choice(["active", "stopped", "completed"]),
                "intent": "order",
                "medicationCodeableConcept": _concept(
                    "http://www.nlm.nih.gov/research/umls/rxnorm",
                    str(rng.randint(10**5, 10**6)),
                    f"Medicine {rng.randint(1, 99)}",
                ),
                "subject": subject,
                "encounter": enc,
                "authoredOn": when,
                "requester": {"reference": f"urn:uuid:{doctor['id']}"},
                "reasonReference": [{"reference": f"urn:uuid:{condition['id']}"}],
            }
        )
        out.append(
            {
                "resourceType": "Immunization",
                "id": new_id(),
                "status": "completed",
                "vaccineCode": _concept(
                    "http://hl7.org/fhir/sid/cvx", str(rng.randint(1, 200)), f"Vaccine {rng.randint(1, 99)}"
                ),
                "patient": subject,
                "encounter": enc,
                "occurrenceDateTime": when,
            }
        )
        note = f"Visit note {rng.randint(1, 10**6)}.\nAll well."
        out.append(
            {
                "resourceType": "DocumentReference",
                "id": new_id(),
                "status": "current",
                "type": _concept(LOINC, "11506-3", "Progress note"),
                "subject": subject,
                "date": when,
                "author": [{"reference": f"urn:uuid:{doctor['id']}"}],
                "content": [
                    {
                        "attachment": {
                            "contentType": "text/plain",
                            "data": base64.b64encode(note.encode()).decode(),
                        }
                    }
                ],
                "context": {"encounter": [enc]},
            }
        )
    for _ in range(rng.randint(0, 2)):
        out.append(
            {
                "resourceType": "AllergyIntolerance",
                "id": new_id(),
                "clinicalStatus": _concept(
                    "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"
                ),
                "code": _concept(
                    "http://snomed.info/sct", str(rng.randint(10**6, 10**7)), f"Allergen {rng.randint(1, 99)}"
                ),
                "patient": subject,
                "recordedDate": _when(rng),
            }
        )
    return out


def bundle(resources: list[dict[str, Any]], bundle_type: str = "transaction") -> dict[str, Any]:
    entries = []
    for resource in resources:
        entry: dict[str, Any] = {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
        if bundle_type == "transaction":
            entry["request"] = {"method": "POST", "url": resource["resourceType"]}
        entries.append(entry)
    return {"resourceType": "Bundle", "type": bundle_type, "entry": entries}


def write_bundle(path: Path, resources: list[dict[str, Any]], bundle_type: str = "transaction") -> Path:
    path.write_text(json.dumps(bundle(resources, bundle_type)))
    return path


def as_relative_references(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same resources with `urn:uuid:` references turned into `Type/id`, as a bulk export has them."""
    types = {resource["id"]: resource["resourceType"] for resource in resources}
    text = json.dumps(resources)
    for fhir_id, resource_type in types.items():
        text = text.replace(f'"urn:uuid:{fhir_id}"', f'"{resource_type}/{fhir_id}"')
    converted: list[dict[str, Any]] = json.loads(text)
    return converted


def write_ndjson(folder: Path, resources: list[dict[str, Any]]) -> list[Path]:
    """One NDJSON file per type, as a bulk export writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[str]] = {}
    for resource in as_relative_references(resources):
        by_type.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    paths = []
    for resource_type, lines in by_type.items():
        path = folder / f"{resource_type}.000.ndjson"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def distinct_counts(resources: list[dict[str, Any]]) -> Counter[str]:
    return Counter(resource_type for resource_type, _ in {(r["resourceType"], r["id"]) for r in resources})


def text_of(path: Path) -> str:
    return gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()


def resources_in(path: Path) -> list[dict[str, Any]]:
    """Every resource in a bundle or NDJSON file (either maybe .gz), read with plain json (the source side of
    a count)."""
    if path.name.removesuffix(".gz").endswith(".ndjson"):
        return [json.loads(line) for line in text_of(path).splitlines() if line.strip()]
    data = json.loads(text_of(path))
    return [entry["resource"] for entry in data["entry"]]
