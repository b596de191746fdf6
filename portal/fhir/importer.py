"""FHIR R4 import: transaction/collection bundles and bulk-export NDJSON, one transaction per file.

Each file is read and validated whole (every resource through its fhir.resources R4B model, every
reference resolved to a resource in the file or already in the database) before anything is written; a
file with any problem is refused whole with a message naming the file, the entry and the problem.
Importing the same content again writes nothing; a newer version of a resource replaces the older one.
Nothing here opens a network connection: URLs found in the data are only ever compared as strings.
"""

from __future__ import annotations

import gc
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from portal import db
from portal.fhir import confidentiality, projections
from portal.fhir.reading import (
    LABELLED_TYPES,
    SUPPORTED_TYPES,
    FileRefused,
    Parsed,
    Stored,
    canonical_text,
    collect_files,
    describe,
    is_newer,
    parse,
    read_entries,
    reference_replacements,
)
from portal.fhir.references import (
    Key,
    Resolver,
    parse_reference,
)
from portal.fhir.rows import (
    Links,
    insert_rows,
    owner_key,
    write_identifiers,
    write_patients,
    write_projections,
)
from portal.models.base import utcnow
from portal.models.records import FhirResource
from portal.services import audit

Transform = Callable[[list[dict[str, Any]]], None]


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
    not_stored: bool = False  # the database refused the write (a duplicate, a lock): worth a try alone

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


# Writing --------------------------------------------------------------------------------------------


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while one file is read and written. The file's thousands
    of validated models all live until it is written, so each automatic collection would walk them (and
    every fhir.resources class) again for nothing: about a sixth of the import's CPU. Reference counting
    frees memory as usual; whatever cycles there are wait for the next collection after the file."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def import_file(
    engine: Engine,
    path: Path,
    *,
    transform: Transform | None = None,
    write_turn: AbstractContextManager[object] | None = None,
) -> FileResult:
    """Import one file in its own transaction; a refused file leaves the database as it was.

    The file is read and validated first; `write_turn`, when given, is held from the transaction's start
    to its end (processes importing side by side take turns to write, see portal.fhir.parallel)."""
    with _cycle_collector_paused():
        return _import_file(engine, path, transform, write_turn or nullcontext())


def _import_file(
    engine: Engine, path: Path, transform: Transform | None, write_turn: AbstractContextManager[object]
) -> FileResult:
    result = FileResult(path)
    try:
        items = _read(path, transform, result)
        with write_turn, db.transaction(engine) as session:
            _write(session, items, result)
    except FileRefused as refused:
        return FileResult(path, error=refused.problem, dangling=refused.dangling)
    except SQLAlchemyError as error:  # rolled back: the file is refused like any other bad file
        return FileResult(path, error=f"could not be stored ({error.__class__.__name__})", not_stored=True)
    return result


def _read(path: Path, transform: Transform | None, result: FileResult) -> list[Parsed]:
    """The file's resources, transformed and validated; the types that are not FHIR R4 are counted."""
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
    return list(parsed.values())


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
        item.references, item.codings = confidentiality.references_and_codings(item.entry.raw)
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
    replacements = reference_replacements(
        {reference: f"{key[0]}/{key[1]}" for reference, key in resolved.items()}
    )
    for item in items:
        canonical = canonical_text(item.text, replacements) if item.references else item.text
        item.content_hash = hashlib.sha256(canonical.encode()).hexdigest()


def _shown(reference: str) -> str:
    """A reference as a refusal message may quote it: never an identifier's value (it may be an SSN)."""
    target = parse_reference(reference)
    if target is not None and target.kind == "identifier":
        return f"{target.resource_type}?identifier={target.system + '|' if target.system else ''}..."
    return reference if len(reference) <= 100 else reference[:100] + "..."


def _existing(session: Session, keys: list[Key]) -> dict[Key, Stored]:
    """What the database holds of these resources, in one query per 500 ids (not one per type)."""
    wanted = set(keys)
    ids = sorted({fhir_id for _, fhir_id in wanted})
    found: dict[Key, Stored] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(*(col(getattr(FhirResource, name)) for name in Stored._fields)).where(
                col(FhirResource.fhir_id).in_(ids[start : start + 500])
            )
        )
        for row in rows:
            stored = Stored(*row)
            if (stored.resource_type, stored.fhir_id) in wanted:
                found[(stored.resource_type, stored.fhir_id)] = stored
    return found


def _write(session: Session, items: list[Parsed], result: FileResult) -> None:
    resolver, resolved = _resolve(session, items)
    _hash_contents(items, resolved)
    existing = _existing(session, [item.key for item in items])
    changed: list[Parsed] = []
    relabelled: set[int] = set()  # patients of unchanged resources that now arrived in a restricted bundle
    restricted: list[int] = []  # their rows
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
                restricted.append(stored.id)
                if stored.patient_id is not None:
                    relabelled.add(stored.patient_id)
    if restricted:
        _update_resources(
            session,
            [
                {"row_id": row_id, "confidential_reason": confidentiality.BUNDLE_SECURITY}
                for row_id in restricted
            ],
        )
    if not changed:
        confidentiality.refresh_patients(session, relabelled)
        return
    now = utcnow()
    patient_ids = write_patients(session, changed, resolved, now)
    new_rows = []
    replacements = []
    for item in changed:
        patient_key = owner_key(item, resolved)
        columns: dict[str, Any] = {
            "patient_id": patient_ids.get(patient_key) if patient_key else None,
            "version_id": projections.clip(item.version_id, 64),
            "last_updated": item.last_updated,
            "content_hash": item.content_hash,
            "label": resolver.labels.get(item.key) if item.resource_type in LABELLED_TYPES else None,
            "confidential_reason": confidentiality.own_reason(
                item.entry.raw, bundle_confidential=item.entry.bundle_confidential, its_codings=item.codings
            ),
            "resource_json": item.text,
            "updated_at": now,
        }
        stored = existing.get(item.key)
        if stored is None:
            new_rows.append(
                {"resource_type": item.key[0], "fhir_id": item.key[1], "created_at": now, **columns}
            )
        else:
            replacements.append({"row_id": stored.id, **columns})
            resolver.row_ids[item.key] = stored.id
    if replacements:
        _update_resources(session, replacements)
    if new_rows:
        _insert_resources(session, new_rows, resolver.row_ids)
    write_identifiers(session, changed, resolver.row_ids, existing)
    links = Links(resolver, resolved)
    write_projections(session, changed, resolver.row_ids, patient_ids, links, existing)
    replaced = [resolver.row_ids[item.key] for item in changed if item.key in existing]
    _refresh_confidentiality(session, changed, resolver.row_ids, patient_ids, links, relabelled, replaced)
    _audit(
        session,
        changed,
        resolved,
        patient_ids,
        new_patients={i.key for i in changed if i.key not in existing},
    )


# One query for as many new row ids as a file needs, from the table's own sequence.
_NEW_RESOURCE_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('fhir_resource', 'id')) FROM generate_series(1, :count)"
)


def _insert_resources(session: Session, rows: list[dict[str, Any]], row_ids: dict[Key, int]) -> None:
    """INSERT new resources in Core (ORM objects, or even the ORM's bulk path, cost more than the database
    work), noting each one's row id."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Ids first, then psycopg's executemany of one short statement: a multi-row INSERT ... RETURNING
        # names every value, and psycopg spends more CPU turning those thousands of names into `$n` than
        # the database spends storing the rows.
        ids = connection.execute(_NEW_RESOURCE_IDS, {"count": len(rows)}).scalars().all()
        for row, row_id in zip(rows, ids, strict=True):
            row["id"] = row_id
            row_ids[(row["resource_type"], row["fhir_id"])] = row_id
        insert_rows(session, FhirResource, rows)
        return
    table = FhirResource.__table__  # type: ignore[attr-defined]
    returned = connection.execute(
        # Rows come back in any order (each names its own type and id), which lets SQLite take many rows
        # per statement; asking for the parameters' order makes it send them one by one.
        insert(table).returning(table.c.id, table.c.resource_type, table.c.fhir_id),
        rows,
    )
    for row_id, resource_type, fhir_id in returned:
        row_ids[(resource_type, fhir_id)] = row_id


def _update_resources(session: Session, rows: list[dict[str, Any]]) -> None:
    """Set columns of stored resources (each row: its `row_id` and the same column names), in one
    executemany."""
    table = FhirResource.__table__  # type: ignore[attr-defined]
    names = [name for name in rows[0] if name != "row_id"]
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({name: bindparam(f"new_{name}") for name in names}),  # a column's own name is reserved
        [{"row_id": row["row_id"], **{f"new_{name}": row[name] for name in names}} for row in rows],
    )


def _refresh_confidentiality(
    session: Session,
    changed: list[Parsed],
    row_ids: dict[Key, int],
    patient_ids: dict[Key, int],
    links: Links,
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
        patient_key = owner_key(item, links.resolved)
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
    touched = {key for item in changed if (key := owner_key(item, resolved)) in patient_ids}
    for key in sorted(touched):
        audit.record(
            session,
            action="create" if key in new_patients else "update",
            patient_id=patient_ids[key],
            resource_type="Patient",
            resource_id=key[1],
        )


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
