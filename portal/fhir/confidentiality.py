"""The stored `confidential` flag of every record item: computed at import, complete, and the only truth.

An item is confidential when the resource itself is (any coding anywhere in it is on the clinic's sensitive
list, or its meta.security, a DocumentReference's securityLabel or its bundle's meta.security carries
v3-Confidentiality R or V or a sensitivity topic), or when it points at a confidential resource: a visit
whose reason or diagnosis is confidential, a report holding a confidential result, anything in a
confidential visit, a prescription of a sensitive Medication or for a confidential reason, and so on, to a
fixed point. References can arrive in a later file than what they point at, so after each file the flags of
every patient the file touched are worked out again from the stored reasons and links.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlmodel import Session, SQLModel, col

from portal.fhir.references import Key, Resolver, reference_strings
from portal.models import records
from portal.models.records import FhirLink, FhirResource
from portal.services.sensitive_codes import any_sensitive, is_confidential_label

SECURITY = "security-label"
BUNDLE_SECURITY = "bundle-security-label"
SENSITIVE_CODE = "sensitive-code"
LINKED = "linked"  # points at a confidential resource
OWN_REASONS = frozenset({SECURITY, BUNDLE_SECURITY, SENSITIVE_CODE})

# References to these say who or where, never what: confidentiality does not travel along them.
NOT_CLINICAL = frozenset(
    {
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "Location",
        "RelatedPerson",
        "Device",
        "Group",
        "HealthcareService",
        "Endpoint",
        "Coverage",
    }
)
# Nothing on a record page points at these, so what they point at never decides a flag.
UNLINKED_SOURCES = frozenset({"Patient", "Claim", "ExplanationOfBenefit"})
ITEM_TABLES: tuple[type[records.RecordItem], ...] = (
    records.Encounter,
    records.Observation,
    records.DiagnosticReport,
    records.ClinicalDocument,
    records.Immunization,
    records.MedicationRequest,
    records.Allergy,
    records.Condition,
    records.Procedure,
)
CHUNK = 500


# A resource by itself -----------------------------------------------------------------------------------


NOT_ABOUT_CONTENT = frozenset({"meta", "securityLabel", "text"})  # how to handle it, not what it is about


def codings(node: Any) -> Iterator[tuple[str | None, str | None]]:
    """(system, code) of every coding anywhere in a resource (contained ones included), except its meta
    and security labels, which say how to handle the resource rather than what it is about."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            code = item.get("code")
            if isinstance(code, str):
                system = item.get("system")
                yield (system if isinstance(system, str) else None), code
            for name, value in item.items():
                if name not in NOT_ABOUT_CONTENT and isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(value for value in item if isinstance(value, dict | list))


def references_and_codings(node: Any) -> tuple[list[str], list[tuple[str | None, str]]]:
    """In one walk of a resource: `references.reference_strings(node)` and `codings(node)`, as lists in
    the same order (the import needs both of every resource, and walking it once is half the work)."""
    references: list[str] = []
    found: list[tuple[str | None, str]] = []
    stack: list[tuple[Any, bool]] = [(node, True)]  # a node, and whether its codings count
    while stack:
        item, counted = stack.pop()
        if isinstance(item, dict):
            if counted:
                code = item.get("code")
                if isinstance(code, str):
                    system = item.get("system")
                    found.append(((system if isinstance(system, str) else None), code))
            for name, value in item.items():
                if name == "reference" and isinstance(value, str):
                    references.append(value)
                elif isinstance(value, dict | list):
                    stack.append((value, counted and name not in NOT_ABOUT_CONTENT))
        elif isinstance(item, list):
            stack.extend((value, counted) for value in item if isinstance(value, dict | list))
    return references, found


def labels_confidential(labels: Any) -> bool:
    """Whether a list of security Codings (meta.security) hides what it labels."""
    if not isinstance(labels, list):
        return False
    for label in labels:
        if isinstance(label, dict) and isinstance(label.get("code"), str):
            system = label.get("system")
            if is_confidential_label(system if isinstance(system, str) else None, label["code"]):
                return True
    return False


def security_labels(resource: dict[str, Any]) -> list[Any]:
    meta = resource.get("meta")
    found = list(meta.get("security") or []) if isinstance(meta, dict) else []
    for concept in resource.get("securityLabel") or []:  # DocumentReference's own labels
        if isinstance(concept, dict):
            found.extend(concept.get("coding") or [])
    return found


def own_reason(
    resource: dict[str, Any],
    *,
    bundle_confidential: bool = False,
    its_codings: Iterable[tuple[str | None, str | None]] | None = None,
) -> str | None:
    """Why the resource is confidential by itself, or None (`its_codings`: `codings(resource)`, when
    already gathered)."""
    if labels_confidential(security_labels(resource)):
        return SECURITY
    if bundle_confidential:
        return BUNDLE_SECURITY
    if any_sensitive(codings(resource) if its_codings is None else its_codings):
        return SENSITIVE_CODE
    return None


Resolve = Callable[[str], tuple[Key, int] | None]  # a reference string -> its (type, id) and row id


def link_targets(references: Iterable[str], resolve: Resolve) -> set[int]:
    """The fhir_resource ids of the clinical resources among a resource's references."""
    targets = set()
    for reference in references:
        found = resolve(reference)
        if found is not None and found[0][0] not in NOT_CLINICAL:
            targets.add(found[1])
    return targets


def replace_links(
    session: Session, links: dict[int, tuple[int, set[int]]], *, replaced: Iterable[int]
) -> None:
    """Store each source's links (source id -> (patient id, target ids)); `replaced` sources lose theirs."""
    sources = sorted(set(replaced))
    for start in range(0, len(sources), CHUNK):
        session.execute(delete(FhirLink).where(col(FhirLink.source_id).in_(sources[start : start + CHUNK])))
    rows = [
        {"source_id": source, "target_id": target, "patient_id": patient_id}
        for source, (patient_id, targets) in links.items()
        for target in sorted(targets)
        if target != source
    ]
    if rows:  # Core: the ORM's bulk path costs more per row than the database does
        session.connection().execute(insert(FhirLink.__table__), rows)  # type: ignore[attr-defined]


# A patient's record as a whole ----------------------------------------------------------------------------


def _chunks(values: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def patients_linking_to(session: Session, resource_ids: Iterable[int]) -> set[int]:
    """The patients whose resources point at any of these (a Medication has no patient of its own)."""
    found: set[int] = set()
    for chunk in _chunks(resource_ids):
        found.update(
            session.scalars(select(col(FhirLink.patient_id)).where(col(FhirLink.target_id).in_(chunk)))
        )
    return found


def confidential_resources(session: Session, patient_ids: list[int]) -> dict[int, str]:
    """Every confidential resource of these patients, with its reason, to a fixed point."""
    own: dict[int, str | None] = {}
    pointing_at: dict[int, list[int]] = {}  # target -> sources
    for chunk in _chunks(patient_ids):
        own.update(
            session.execute(
                select(col(FhirResource.id), col(FhirResource.confidential_reason)).where(
                    col(FhirResource.patient_id).in_(chunk)
                )
            ).all()
        )
        for source, target in session.execute(
            select(col(FhirLink.source_id), col(FhirLink.target_id)).where(
                col(FhirLink.patient_id).in_(chunk)
            )
        ):
            pointing_at.setdefault(target, []).append(source)
    outside = [target for target in pointing_at if target not in own]  # a Medication, another's record
    for chunk in _chunks(outside):
        own.update(
            session.execute(
                select(col(FhirResource.id), col(FhirResource.confidential_reason)).where(
                    col(FhirResource.id).in_(chunk)
                )
            ).all()
        )
    reasons = {row_id: reason for row_id, reason in own.items() if reason}
    waiting = list(reasons)
    while waiting:
        target = waiting.pop()
        for source in pointing_at.get(target, ()):
            if source not in reasons:
                reasons[source] = LINKED
                waiting.append(source)
    return reasons


def refresh_patients(session: Session, patient_ids: Iterable[int]) -> int:
    """Set every record item's flag and reason for these patients from the stored reasons and links;
    only rows whose flag or reason changes are written. Returns how many changed."""
    wanted = sorted(set(patient_ids))
    if not wanted:
        return 0
    reasons = confidential_resources(session, wanted)
    changed = 0
    for table in ITEM_TABLES:
        updates = []
        for chunk in _chunks(wanted):
            rows = session.execute(
                select(
                    col(table.id),
                    col(table.resource_id),
                    col(table.confidential),
                    col(table.confidential_reason),
                ).where(col(table.patient_id).in_(chunk))
            )
            for item_id, resource_id, flag, reason in rows:
                new_reason = reasons.get(resource_id)
                if bool(flag) != (new_reason is not None) or reason != new_reason:
                    updates.append(
                        {"id": item_id, "confidential": new_reason is not None, "reason": new_reason}
                    )
        if updates:
            _write_flags(session, table, updates)
            changed += len(updates)
    return changed


def _write_flags(session: Session, table: type[SQLModel], updates: list[dict[str, Any]]) -> None:
    statement = (
        update(table.__table__)  # type: ignore[attr-defined]
        .where(table.__table__.c.id == bindparam("item_id"))  # type: ignore[attr-defined]
        .values(confidential=bindparam("flag"), confidential_reason=bindparam("why"))
    )
    session.connection().execute(
        statement,
        [{"item_id": row["id"], "flag": row["confidential"], "why": row["reason"]} for row in updates],
    )


# Everything stored, again (a migration, or after the clinic changes its list) -----------------------------


def recompute_all(session: Session) -> int:
    """Work out every resource's own reason and links from the JSON it arrived as, then every item's flag.

    A bundle's meta.security is not stored, so a reason that came only from the bundle is kept as it was.
    Returns how many record items changed."""
    last_id = 0
    while True:
        rows = session.execute(
            select(
                col(FhirResource.id),
                col(FhirResource.patient_id),
                col(FhirResource.confidential_reason),
                col(FhirResource.resource_json),
            )
            .where(col(FhirResource.id) > last_id)
            .order_by(col(FhirResource.id))
            .limit(CHUNK)
        ).all()
        if not rows:
            break
        last_id = rows[-1][0]
        parsed: list[tuple[int, int | None, str | None, dict[str, Any]]] = []
        for row_id, patient_id, stored_reason, text in rows:
            try:
                resource = json.loads(text)
            except ValueError:
                continue
            if isinstance(resource, dict):
                parsed.append((row_id, patient_id, stored_reason, resource))
        _restore_chunk(session, parsed)
    patient_ids = session.scalars(select(col(FhirResource.patient_id)).distinct()).all()
    return refresh_patients(session, [p for p in patient_ids if p is not None])


def _restore_chunk(
    session: Session, parsed: list[tuple[int, int | None, str | None, dict[str, Any]]]
) -> None:
    resolver = Resolver()
    references = [
        ref for _, patient_id, _, resource in parsed if patient_id for ref in reference_strings(resource)
    ]
    resolver.load_from_database(session, references)

    def resolve(reference: str) -> tuple[Key, int] | None:
        key = resolver.resolve_local(reference)
        row_id = resolver.row_ids.get(key) if key else None
        return (key, row_id) if key and row_id is not None else None

    reasons = []
    links: dict[int, tuple[int, set[int]]] = {}
    for row_id, patient_id, stored_reason, resource in parsed:
        reason = own_reason(resource, bundle_confidential=stored_reason == BUNDLE_SECURITY)
        if reason != stored_reason:
            reasons.append({"row_id": row_id, "why": reason})
        if patient_id is not None and resource.get("resourceType") not in UNLINKED_SOURCES:
            links[row_id] = (patient_id, link_targets(reference_strings(resource), resolve))
    if reasons:
        table = FhirResource.__table__  # type: ignore[attr-defined]
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(confidential_reason=bindparam("why")),
            reasons,
        )
    replace_links(session, links, replaced=[row_id for row_id, *_ in parsed])
