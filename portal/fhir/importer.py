"""FHIR R4 import: transaction/collection bundles and bulk-export NDJSON, one transaction per file.

Each file is read and validated whole (every resource through its fhir.resources R4B model, every
reference resolved to a resource in the file or already in the database) before anything is written; a
file with any problem is refused whole with a message naming the file, the entry and the problem.
Importing the same content again writes nothing; a newer version of a resource replaces the older one.
Nothing here opens a network connection: URLs found in the data are only ever compared as strings.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import IO, Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import defer
from sqlmodel import Session, col

from portal import db
from portal.fhir import confidentiality, projections
from portal.fhir.references import (
    Key,
    Resolver,
    identifier_pairs,
    parse_reference,
    reference_strings,
    rewrite_references,
)
from portal.models.base import new_public_id, utcnow
from portal.models.people import Patient
from portal.models.records import FhirIdentifier, FhirResource, Observation, ObservationComponent
from portal.services import audit

# The types the portal knows what to do with (others are kept as received and reported as unknown).
SUPPORTED_TYPES = (
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "DiagnosticReport",
    "AllergyIntolerance",
    "Immunization",
    "MedicationRequest",
    "Procedure",
    "DocumentReference",
    "CarePlan",
    "Claim",
    "ExplanationOfBenefit",
)
# The order bulk files are imported in, so that each file's references point back at files already in;
# a type not listed goes just before the billing files.
FILE_ORDER = (
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "Patient",
    "RelatedPerson",
    "Device",
    "Medication",
    "Encounter",
    "Condition",
    "Observation",
    "DiagnosticReport",
    "AllergyIntolerance",
    "Immunization",
    "MedicationRequest",
    "Procedure",
    "DocumentReference",
    "Goal",
    "CarePlan",
    "Coverage",
    "Claim",
    "ExplanationOfBenefit",
)
LABELLED_TYPES = frozenset({"Organization", "Location", "Practitioner", "Medication"})
PATIENT_FIELDS = ("subject", "patient", "beneficiary")
MAX_MESSAGE_ERRORS = 3

Transform = Callable[[list[dict[str, Any]]], None]


class FileRefused(Exception):
    """The file cannot be imported; `problem` says where and why, without quoting the data."""

    def __init__(self, problem: str, *, dangling: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        self.dangling = dangling  # only a reference to nothing (yet): worth trying after the other files


@dataclass
class FileResult:
    path: Path
    resources: Counter[str] = field(default_factory=Counter)  # every resource in the file, by type
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)  # types the portal does not show
    skipped: Counter[str] = field(default_factory=Counter)  # not FHIR R4 resource types: not kept
    error: str | None = None
    dangling: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str:
        return f"{self.path}: {self.error}"


@dataclass
class ImportSummary:
    files: list[FileResult] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        return [result for result in self.files if not result.ok]

    def total(self, name: str) -> Counter[str]:
        counts: Counter[str] = Counter()
        for result in self.files:
            if result.ok:
                counts.update(getattr(result, name))
        return counts


@dataclass
class Entry:
    label: str  # "entry 3" or "line 12": where the resource is in its file
    full_url: str | None
    raw: dict[str, Any]
    bundle_confidential: bool = False  # the Bundle it came in is labelled restricted or sensitive


@dataclass
class Parsed:
    entry: Entry
    model: Any
    key: Key
    content_hash: str
    version_id: str | None
    last_updated: datetime | None
    references: list[str] = field(default_factory=list)  # every reference string in it

    @property
    def resource_type(self) -> str:
        return self.key[0]

    @property
    def text(self) -> str:
        """The resource as received, as compact JSON: what is stored and exported."""
        return json.dumps(self.entry.raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# Reading files ---------------------------------------------------------------------------------------


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """The .json and .ndjson files (or their .gz) named or found in folders, ordered so references point
    backwards."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p for p in sorted(path.rglob("*")) if _kind(p) in (".json", ".ndjson") and p.is_file()
            )
        else:
            files.append(path)
    return sorted(files, key=_file_rank)


def _kind(path: Path) -> str:
    """What a file is read as, ".json" or ".ndjson", whether gzip-compressed or not."""
    return Path(path.stem).suffix if path.suffix == ".gz" else path.suffix


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return path.open(encoding="utf-8-sig")  # tolerate a byte-order mark


def _file_rank(path: Path) -> int:
    if _kind(path) != ".ndjson":
        return -1  # bundles hold whole patients; import them first
    try:
        with _open_text(path) as handle:
            first = json.loads(handle.readline())
        resource_type = first.get("resourceType")
    except (OSError, EOFError, zlib.error, ValueError, AttributeError, RecursionError):
        return len(FILE_ORDER)  # refused later with a proper message
    if resource_type in FILE_ORDER:
        return FILE_ORDER.index(resource_type)
    return FILE_ORDER.index("Coverage")


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise FileRefused(f"{where}JSON nested too deeply") from None
    except ValueError as error:
        raise FileRefused(
            f"{where}not valid JSON ({error.__class__.__name__} at {_position(error)})"
        ) from None


def _position(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"line {error.lineno} column {error.colno}"
    return "unknown position"


def read_entries(path: Path) -> list[Entry]:
    """The resources in a bundle, a single-resource file or an NDJSON file; refuses anything else."""
    try:
        with _open_text(path) as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise FileRefused("not UTF-8 text") from None
    except (gzip.BadGzipFile, EOFError, zlib.error):
        raise FileRefused("not a complete gzip file (truncated or corrupt)") from None
    except OSError as error:
        raise FileRefused(f"cannot be read ({error.strerror})") from None
    if _kind(path) == ".ndjson":
        entries = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            data = _loads(line, f"line {number}: ")
            if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
                raise FileRefused(f"line {number}: not a FHIR resource (no resourceType)")
            entries.append(Entry(f"line {number}", None, data))
        if not entries:
            raise FileRefused("holds no resources")
        return entries
    data = _loads(text, "")
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise FileRefused("not a FHIR resource or Bundle (no resourceType)")
    if data["resourceType"] != "Bundle":
        return [Entry("the resource", None, data)]
    items = data.get("entry", [])
    if not isinstance(items, list):
        raise FileRefused("Bundle.entry is not a list")
    meta = data.get("meta")
    restricted = isinstance(meta, dict) and confidentiality.labels_confidential(meta.get("security"))
    entries = []
    for index, item in enumerate(items):
        resource = item.get("resource") if isinstance(item, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise FileRefused(f"entry {index}: holds no FHIR resource")
        full_url = item.get("fullUrl")
        entries.append(
            Entry(f"entry {index}", full_url if isinstance(full_url, str) else None, resource, restricted)
        )
    return entries


# Validating -----------------------------------------------------------------------------------------


@cache
def model_class(resource_type: str) -> type[Resource] | None:
    """The R4B model for a resource type, or None when FHIR R4 has no such resource."""
    try:
        cls = get_fhir_model_class(resource_type)
    except ValueError:
        return None
    return cls if isinstance(cls, type) and issubclass(cls, Resource) else None


def describe(entry: Entry) -> str:
    resource_id = entry.raw.get("id")
    shown = f"/{resource_id}" if isinstance(resource_id, str) and len(resource_id) <= 64 else ""
    return f"{entry.label} ({entry.raw.get('resourceType')}{shown})"


def parse(entry: Entry) -> Parsed | None:
    """Validate one resource with its R4B model; None when its type is not a FHIR R4 resource."""
    cls = model_class(entry.raw["resourceType"])
    if cls is None:
        return None
    try:
        model = cls.model_validate(entry.raw)
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in problem['loc']) or 'resource'}: {problem['msg']}"
            for problem in error.errors(include_input=False, include_url=False)
        ]
        more = len(problems) - MAX_MESSAGE_ERRORS
        shown = "; ".join(problems[:MAX_MESSAGE_ERRORS]) + (f" (and {more} more)" if more > 0 else "")
        raise FileRefused(f"{describe(entry)} is not valid FHIR R4: {shown}") from None
    except (ValueError, TypeError, RecursionError) as error:
        raise FileRefused(f"{describe(entry)} is not valid FHIR R4 ({error.__class__.__name__})") from None
    if not model.id:
        raise FileRefused(f"{describe(entry)} has no id")
    meta = model.meta
    return Parsed(
        entry=entry,
        model=model,
        key=(entry.raw["resourceType"], model.id),
        content_hash="",  # set once its references are resolved
        version_id=meta.versionId if meta else None,
        last_updated=projections.instant(meta.lastUpdated) if meta else None,
    )


def is_newer(incoming: Parsed, stored: FhirResource) -> bool:
    """Whether the incoming content should replace what is stored (which differs from it)."""
    if incoming.version_id and stored.version_id:
        if incoming.version_id.isdigit() and stored.version_id.isdigit():
            return int(incoming.version_id) > int(stored.version_id)
        if incoming.version_id == stored.version_id:
            return False
    if incoming.last_updated and stored.last_updated:
        return incoming.last_updated > stored.last_updated
    return True  # without versions, the latest import is the truth


# Writing --------------------------------------------------------------------------------------------


class _Links:
    """Reference lookups for the projections, once the file's own rows have ids."""

    def __init__(self, resolver: Resolver, resolved: dict[str, Key]) -> None:
        self.resolver = resolver
        self.resolved = resolved

    def key(self, reference: Any) -> Key | None:
        if reference is None or not reference.reference:
            return None
        return self.resolved.get(reference.reference)

    def row_id(self, reference: Any) -> int | None:
        key = self.key(reference)
        return self.resolver.row_ids.get(key) if key else None

    def name(self, reference: Any) -> str | None:
        if reference is None:
            return None
        if reference.display:
            return str(reference.display)
        key = self.key(reference)
        return self.resolver.labels.get(key) if key else None


def import_file(engine: Engine, path: Path, *, transform: Transform | None = None) -> FileResult:
    """Import one file in its own transaction; a refused file leaves the database as it was."""
    result = FileResult(path)
    try:
        entries = read_entries(path)
        if transform is not None:
            raws = [entry.raw for entry in entries]
            transform(raws)
            for entry, raw in zip(entries, raws, strict=True):
                entry.raw = raw
        parsed: dict[Key, Parsed] = {}
        for entry in entries:
            item = parse(entry)
            if item is None:
                result.skipped[entry.raw["resourceType"]] += 1
                continue
            parsed[item.key] = item  # a later copy of the same resource in one file wins
        with db.transaction(engine) as session:
            _write(session, list(parsed.values()), result)
    except FileRefused as refused:
        return FileResult(path, error=refused.problem, dangling=refused.dangling)
    except SQLAlchemyError as error:  # rolled back: the file is refused like any other bad file
        return FileResult(path, error=f"could not be stored ({error.__class__.__name__})")
    return result


def _resolve(session: Session, items: list[Parsed]) -> tuple[Resolver, dict[str, Key]]:
    resolver = Resolver()
    for item in items:
        resolver.add(item.key, item.entry.raw, item.entry.full_url)
        if item.resource_type in LABELLED_TYPES:
            name = projections.resource_label(item.model)
            if name:
                resolver.labels[item.key] = name
    references: dict[str, list[Parsed]] = {}
    for item in items:
        item.references = list(reference_strings(item.entry.raw))
        for reference in item.references:
            references.setdefault(reference, []).append(item)
    resolved: dict[str, Key] = {}
    missing = []
    for reference in references:
        key = resolver.resolve_local(reference)
        if key is not None:
            resolved[reference] = key
        elif (target := parse_reference(reference)) is None or target.kind != "local":
            missing.append(reference)
    if missing:
        resolver.load_from_database(session, missing)
    for reference in missing:
        key = resolver.resolve_local(reference)
        if key is None:
            target = parse_reference(reference)
            what = (
                "points at nothing in the file (URLs are never fetched)"
                if target is None
                else "points at nothing in the file or the database"
            )
            shown = _shown(reference)
            raise FileRefused(
                f"{describe(references[reference][0].entry)}: reference {shown!r} {what}", dangling=True
            )
        resolved[reference] = key
    return resolver, resolved


def _hash_contents(items: list[Parsed], resolved: dict[str, Key]) -> None:
    """Hash each resource with its references in the resolved `Type/id` form, so that the same content
    sent with `urn:uuid:` references (a transaction bundle) or `Type/id` ones (our own export) is the same."""
    mapping = {reference: f"{key[0]}/{key[1]}" for reference, key in resolved.items()}
    for item in items:
        canonical = rewrite_references(item.entry.raw, mapping)
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        item.content_hash = hashlib.sha256(text.encode()).hexdigest()


def _shown(reference: str) -> str:
    """A reference as a refusal message may quote it: never an identifier's value (it may be an SSN)."""
    target = parse_reference(reference)
    if target is not None and target.kind == "identifier":
        return f"{target.resource_type}?identifier={target.system + '|' if target.system else ''}..."
    return reference if len(reference) <= 100 else reference[:100] + "..."


def _patient_key(item: Parsed, resolved: dict[str, Key]) -> Key | None:
    if item.resource_type == "Patient":
        return item.key
    for name in PATIENT_FIELDS:
        value = item.entry.raw.get(name)
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            key = resolved.get(value["reference"])
            if key and key[0] == "Patient":
                return key
    return None


def _existing(session: Session, keys: list[Key]) -> dict[Key, FhirResource]:
    by_type: dict[str, list[str]] = {}
    for resource_type, fhir_id in keys:
        by_type.setdefault(resource_type, []).append(fhir_id)
    found: dict[Key, FhirResource] = {}
    for resource_type, ids in by_type.items():
        for start in range(0, len(ids), 500):
            rows = session.scalars(
                select(FhirResource)
                .options(defer(FhirResource.resource_json))  # type: ignore[arg-type]
                .where(col(FhirResource.resource_type) == resource_type)
                .where(col(FhirResource.fhir_id).in_(ids[start : start + 500]))
            )
            for row in rows:
                found[(row.resource_type, row.fhir_id)] = row
    return found


def _write(session: Session, items: list[Parsed], result: FileResult) -> None:
    resolver, resolved = _resolve(session, items)
    _hash_contents(items, resolved)
    existing = _existing(session, [item.key for item in items])
    changed: list[Parsed] = []
    relabelled: set[int] = set()  # patients of unchanged resources that now arrived in a restricted bundle
    for item in items:
        result.resources[item.resource_type] += 1
        if item.resource_type not in SUPPORTED_TYPES:
            result.unknown[item.resource_type] += 1
        stored = existing.get(item.key)
        if stored is None:
            result.created[item.resource_type] += 1
            changed.append(item)
        elif stored.content_hash != item.content_hash and is_newer(item, stored):
            result.updated[item.resource_type] += 1
            changed.append(item)
        else:
            result.unchanged[item.resource_type] += 1
            if item.entry.bundle_confidential and stored.confidential_reason is None:
                stored.confidential_reason = confidentiality.BUNDLE_SECURITY
                if stored.patient_id is not None:
                    relabelled.add(stored.patient_id)
    if not changed:
        confidentiality.refresh_patients(session, relabelled)
        return
    now = utcnow()
    patient_ids = _write_patients(session, changed, resolved, now)
    new_rows = []
    for item in changed:
        patient_key = _patient_key(item, resolved)
        columns: dict[str, Any] = {
            "patient_id": patient_ids.get(patient_key) if patient_key else None,
            "version_id": projections.clip(item.version_id, 64),
            "last_updated": item.last_updated,
            "content_hash": item.content_hash,
            "label": resolver.labels.get(item.key) if item.resource_type in LABELLED_TYPES else None,
            "confidential_reason": confidentiality.own_reason(
                item.entry.raw, bundle_confidential=item.entry.bundle_confidential
            ),
            "resource_json": item.text,
            "updated_at": now,
        }
        row = existing.get(item.key)
        if row is None:
            new_rows.append(
                {"resource_type": item.key[0], "fhir_id": item.key[1], "created_at": now, **columns}
            )
        else:
            for name, value in columns.items():
                setattr(row, name, value)
            assert row.id is not None
            resolver.row_ids[item.key] = row.id
    session.flush()
    # Bulk INSERT ... RETURNING: building thousands of ORM objects costs more than the database work.
    if new_rows:
        returned = session.execute(
            insert(FhirResource).returning(
                col(FhirResource.id),
                col(FhirResource.resource_type),
                col(FhirResource.fhir_id),
                sort_by_parameter_order=True,
            ),
            new_rows,
        )
        for row_id, resource_type, fhir_id in returned:
            resolver.row_ids[(resource_type, fhir_id)] = row_id
    _write_identifiers(session, changed, resolver.row_ids, existing)
    links = _Links(resolver, resolved)
    _write_projections(session, changed, resolver.row_ids, patient_ids, links)
    replaced = [resolver.row_ids[item.key] for item in changed if item.key in existing]
    _refresh_confidentiality(session, changed, resolver.row_ids, patient_ids, links, relabelled, replaced)
    _audit(
        session,
        changed,
        resolved,
        patient_ids,
        new_patients={i.key for i in changed if i.key not in existing},
    )


def _refresh_confidentiality(
    session: Session,
    changed: list[Parsed],
    row_ids: dict[Key, int],
    patient_ids: dict[Key, int],
    links: _Links,
    relabelled: set[int],
    replaced: list[int],
) -> None:
    """Store what each changed resource points at, then set the flags of every patient the file touched,
    and of every patient pointing at a changed resource that has no patient (a Medication)."""

    def resolve(reference: str) -> tuple[Key, int] | None:
        key = links.resolved.get(reference)
        row_id = row_ids.get(key) if key else None
        return (key, row_id) if key and row_id is not None else None

    touched = set(relabelled)
    stored_links: dict[int, tuple[int, set[int]]] = {}
    without_patient = []
    for item in changed:
        patient_key = _patient_key(item, links.resolved)
        patient_id = patient_ids.get(patient_key) if patient_key else None
        if patient_id is None:
            without_patient.append(row_ids[item.key])
            continue
        touched.add(patient_id)
        if item.resource_type not in confidentiality.UNLINKED_SOURCES:
            stored_links[row_ids[item.key]] = (
                patient_id,
                confidentiality.link_targets(item.references, resolve),
            )
    confidentiality.replace_links(session, stored_links, replaced=replaced)
    if without_patient:
        touched |= confidentiality.patients_linking_to(session, without_patient)
    confidentiality.refresh_patients(session, touched)


def _audit(
    session: Session,
    changed: list[Parsed],
    resolved: dict[str, Key],
    patient_ids: dict[Key, int],
    *,
    new_patients: set[Key],
) -> None:
    """One audit event per patient whose record the file changed, in the file's transaction."""
    touched = {key for item in changed if (key := _patient_key(item, resolved)) in patient_ids}
    for key in sorted(touched):
        audit.record(
            session,
            action="create" if key in new_patients else "update",
            patient_id=patient_ids[key],
            resource_type="Patient",
            resource_id=key[1],
        )


def _write_patients(
    session: Session, changed: list[Parsed], resolved: dict[str, Key], now: datetime
) -> dict[Key, int]:
    wanted = {key for item in changed if (key := _patient_key(item, resolved))}
    stored = {
        patient.fhir_id: patient
        for patient in session.scalars(
            select(Patient).where(col(Patient.fhir_id).in_(sorted(fhir_id for _, fhir_id in wanted)))
        )
    }
    for item in changed:
        if item.resource_type != "Patient":
            continue
        columns = {
            **projections.patient_columns(item.model),
            "version_id": projections.clip(item.version_id, 64),
            "last_updated": item.last_updated,
            "resource_json": item.text,
            "updated_at": now,
        }
        patient = stored.get(item.key[1])
        if patient is None:
            patient = Patient(fhir_id=item.key[1], created_at=now, **columns)
            session.add(patient)
            stored[item.key[1]] = patient
        else:
            for name, value in columns.items():
                setattr(patient, name, value)
    session.flush()
    return {("Patient", fhir_id): patient.id for fhir_id, patient in stored.items() if patient.id is not None}


def _write_identifiers(
    session: Session, changed: list[Parsed], row_ids: dict[Key, int], existing: dict[Key, FhirResource]
) -> None:
    replaced = [row_ids[item.key] for item in changed if item.key in existing]
    if replaced:
        session.execute(delete(FhirIdentifier).where(col(FhirIdentifier.resource_id).in_(replaced)))
    rows = [
        {
            "resource_id": row_ids[item.key],
            "resource_type": item.resource_type,
            "system": system,
            "value": value,
        }
        for item in changed
        for system, value in identifier_pairs(item.entry.raw)
    ]
    if rows:
        session.execute(insert(FhirIdentifier), rows)


def _write_projections(
    session: Session,
    changed: list[Parsed],
    row_ids: dict[Key, int],
    patient_ids: dict[Key, int],
    links: _Links,
) -> None:
    by_type: dict[str, list[Parsed]] = {}
    for item in changed:
        if item.resource_type in projections.PROJECTIONS:
            by_type.setdefault(item.resource_type, []).append(item)
    observations: dict[int, Parsed] = {}  # by fhir_resource.id
    reports: list[tuple[Parsed, int]] = []
    for resource_type, items in by_type.items():
        table, project = projections.PROJECTIONS[resource_type]
        wanted = [row_ids[item.key] for item in items]
        current = {
            projection.resource_id: projection  # type: ignore[attr-defined]
            for projection in session.scalars(
                select(table).where(col(table.resource_id).in_(wanted))  # type: ignore[attr-defined]
            )
        }
        new_rows = []
        for item in items:
            patient_key = _patient_key(item, links.resolved)
            patient_id = patient_ids.get(patient_key) if patient_key else None
            resource_id = row_ids[item.key]
            if patient_id is None:
                continue  # a record about no patient has no page to appear on; its JSON is kept
            columns = {**project(item.model, links), "patient_id": patient_id}
            projection = current.get(resource_id)
            if projection is None:
                new_rows.append({"resource_id": resource_id, "public_id": new_public_id(), **columns})
            else:
                for name, value in columns.items():
                    setattr(projection, name, value)
            if resource_type == "Observation":
                observations[resource_id] = item
            elif resource_type == "DiagnosticReport":
                reports.append((item, resource_id))
        if new_rows:
            session.execute(insert(table), new_rows)
    session.flush()
    _write_components(session, observations)
    for item, report_row_id in reports:
        results = [links.row_id(result) for result in item.model.result or []]
        result_ids = [row_id for row_id in results if row_id is not None]
        if result_ids:
            session.execute(
                update(Observation)
                .where(col(Observation.resource_id).in_(result_ids))
                .values(report_resource_id=report_row_id)
            )


def _write_components(session: Session, observations: dict[int, Parsed]) -> None:
    with_parts = {row_id: item for row_id, item in observations.items() if item.model.component}
    if not with_parts:
        return
    ids = dict(
        session.execute(
            select(col(Observation.resource_id), col(Observation.id)).where(
                col(Observation.resource_id).in_(list(with_parts))
            )
        ).all()
    )
    session.execute(
        delete(ObservationComponent).where(col(ObservationComponent.observation_id).in_(ids.values()))
    )
    rows = [
        {"observation_id": ids[row_id], **component}
        for row_id, item in with_parts.items()
        for component in projections.observation_components(item.model)
    ]
    session.execute(insert(ObservationComponent), rows)


def import_files(
    engine: Engine, files: list[Path], *, transform: Transform | None = None
) -> Iterator[FileResult]:
    """Import each file in its own transaction, yielding one result per file.

    A file refused only for a reference to nothing is tried again once the others are in, as long as
    that helps: a patient's bundle may come before the bundle of the practitioners it points at.
    """
    waiting: list[FileResult] = []
    for path in files:
        result = import_file(engine, path, transform=transform)
        if result.dangling:
            waiting.append(result)
        else:
            yield result
    while waiting:
        retried = [import_file(engine, result.path, transform=transform) for result in waiting]
        if all(result.dangling for result in retried):
            yield from retried
            return
        yield from (result for result in retried if not result.dangling)
        waiting = [result for result in retried if result.dangling]


def import_paths(
    engine: Engine, paths: Iterable[Path], *, transform: Transform | None = None
) -> ImportSummary:
    """Import every file found under the paths, each in its own transaction."""
    return ImportSummary(list(import_files(engine, collect_files(paths), transform=transform)))
