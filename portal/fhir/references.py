"""FHIR references: finding them in a resource and resolving them to (resource type, id).

Resolution never fetches anything: a reference resolves to a resource in the same file or one already in
the database, or it does not resolve at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from portal.models.records import FhirIdentifier, FhirResource

Key = tuple[str, str]  # (resource type, FHIR id)

_RELATIVE = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?")
_CONDITIONAL = re.compile(r"([A-Z][A-Za-z]+)\?identifier=(.*)")
CHUNK = 500


def reference_strings(node: Any) -> Iterator[str]:
    """Every `reference` string anywhere in a resource, contained resources included."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for name, value in item.items():
                if name == "reference" and isinstance(value, str):
                    yield value
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(value for value in item if isinstance(value, dict | list))


def rewrite_references(node: Any, mapping: dict[str, str]) -> Any:
    """A copy of a resource with each `reference` string found in the mapping replaced."""
    if isinstance(node, dict):
        return {
            key: mapping.get(value, value)
            if key == "reference" and isinstance(value, str)
            else rewrite_references(value, mapping)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [rewrite_references(value, mapping) for value in node]
    return node


def identifier_pairs(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(system, value) of each business identifier that has a value."""
    pairs = []
    for identifier in resource.get("identifier") or []:
        if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
            system = identifier.get("system")
            pairs.append((system if isinstance(system, str) else "", identifier["value"]))
    return pairs


@dataclass
class Target:
    """What a reference string asks for, before looking anything up."""

    kind: str  # "uuid" (a urn), "key" (Type/id), "identifier" (Type?identifier=system|value), "local"
    resource_type: str = ""
    value: str = ""
    system: str | None = None


def parse_reference(reference: str) -> Target | None:
    """The shape of a reference, or None when it can only match a fullUrl in the same file.

    An absolute URL names a resource on some server: it resolves to an entry of the same bundle with that
    fullUrl, and otherwise to nothing (it is never fetched, and never taken for a local resource)."""
    if reference.startswith("#"):
        return Target("local")
    if reference.startswith("urn:uuid:") or reference.startswith("urn:oid:"):
        return Target("uuid", value=reference.rsplit(":", 1)[1])
    conditional = _CONDITIONAL.fullmatch(reference)
    if conditional:
        token = conditional.group(2)
        system, bar, value = token.partition("|")
        return Target("identifier", conditional.group(1), value if bar else system, system if bar else None)
    relative = _RELATIVE.fullmatch(reference)
    if relative:
        return Target("key", relative.group(1), relative.group(2))
    return None


@dataclass
class Resolver:
    """Resolves reference strings against one file's resources, then the database."""

    by_full_url: dict[str, Key] = field(default_factory=dict)
    keys: set[Key] = field(default_factory=set)
    by_id: dict[str, Key] = field(default_factory=dict)
    by_identifier: dict[tuple[str, str, str], Key] = field(default_factory=dict)  # (type, system, value)
    by_value: dict[tuple[str, str], Key] = field(default_factory=dict)  # (type, value), any system
    row_ids: dict[Key, int] = field(default_factory=dict)  # fhir_resource.id of what the database holds
    labels: dict[Key, str] = field(default_factory=dict)

    def add(self, key: Key, resource: dict[str, Any], full_url: str | None = None) -> None:
        self.keys.add(key)
        self.by_id.setdefault(key[1], key)
        if full_url:
            self.by_full_url[full_url] = key
        for system, value in identifier_pairs(resource):
            self.by_identifier[(key[0], system, value)] = key
            self.by_value.setdefault((key[0], value), key)

    def resolve_local(self, reference: str) -> Key | None:
        if reference in self.by_full_url:
            return self.by_full_url[reference]
        target = parse_reference(reference)
        if target is None or target.kind == "local":
            return None
        if target.kind == "uuid":
            return self.by_id.get(target.value)
        if target.kind == "key":
            key = (target.resource_type, target.value)
            return key if key in self.keys else None
        if target.system is None:
            return self.by_value.get((target.resource_type, target.value))
        return self.by_identifier.get((target.resource_type, target.system, target.value))

    def load_from_database(self, session: Session, references: Iterable[str]) -> None:
        """Look up, in a few queries, what the given references point at in the database."""
        ids: set[str] = set()
        values: set[str] = set()
        for reference in references:
            target = parse_reference(reference)
            if target is None or target.kind == "local":
                continue
            if target.kind == "identifier":
                values.add(target.value)
            else:
                ids.add(target.value)
        for chunk in _chunks(sorted(ids)):
            rows = session.execute(
                select(
                    col(FhirResource.id),
                    col(FhirResource.resource_type),
                    col(FhirResource.fhir_id),
                    col(FhirResource.label),
                )
                .where(col(FhirResource.fhir_id).in_(chunk))
                .order_by(col(FhirResource.id))
            )
            for row_id, resource_type, fhir_id, label in rows:
                self._remember((resource_type, fhir_id), row_id, label)
        for chunk in _chunks(sorted(values)):
            rows = session.execute(
                select(
                    col(FhirIdentifier.system),
                    col(FhirIdentifier.value),
                    col(FhirResource.id),
                    col(FhirResource.resource_type),
                    col(FhirResource.fhir_id),
                    col(FhirResource.label),
                )
                .join(FhirResource, col(FhirResource.id) == col(FhirIdentifier.resource_id))
                .where(col(FhirIdentifier.value).in_(chunk))
                .order_by(col(FhirResource.id))
            )
            for system, value, row_id, resource_type, fhir_id, label in rows:
                key = (resource_type, fhir_id)
                self._remember(key, row_id, label)
                self.by_identifier.setdefault((resource_type, system, value), key)
                self.by_value.setdefault((resource_type, value), key)

    def _remember(self, key: Key, row_id: int | None, label: str | None) -> None:
        if key not in self.keys:
            self.keys.add(key)
            self.by_id.setdefault(key[1], key)
        if row_id is not None:
            self.row_ids[key] = row_id
        if label:
            self.labels.setdefault(key, label)


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
