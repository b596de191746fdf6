"""Reading FHIR files for the import: finding them (bundles, NDJSON, gzip), reading their entries, and
validating each resource with its fhir.resources R4B model. Nothing here writes or opens a connection.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, cached_property
from pathlib import Path
from typing import IO, Any, NamedTuple

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from portal.fhir import confidentiality, projections
from portal.fhir.references import (
    Key,
)
from portal.models.records import FhirResource

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


class FileRefused(Exception):
    """The file cannot be imported; `problem` says where and why, without quoting the data."""

    def __init__(self, problem: str, *, dangling: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        self.dangling = dangling  # only a reference to nothing (yet): worth trying after the other files


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
    codings: list[tuple[str | None, str]] = field(default_factory=list)  # confidentiality.codings of it

    @property
    def resource_type(self) -> str:
        return self.key[0]

    @cached_property
    def text(self) -> str:
        """The resource as received, as compact JSON: what is stored and exported."""
        return json.dumps(self.entry.raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Stored(NamedTuple):
    """What the import needs to know of a resource the database already holds."""

    id: int
    resource_type: str
    fhir_id: str
    patient_id: int | None
    version_id: str | None
    last_updated: datetime | None
    content_hash: str
    confidential_reason: str | None


# In compact JSON an unescaped `"reference":"` can only be a key and the start of its string value.
_REFERENCE_VALUE = re.compile(r'"reference":("(?:[^"\\]|\\.)*")')


def reference_replacements(mapping: dict[str, str]) -> dict[str, str]:
    """For `canonical_text`: each reference string's replacement, as the compact JSON it becomes."""
    return {
        reference: '"reference":' + json.dumps(new, ensure_ascii=False) for reference, new in mapping.items()
    }


def canonical_text(text: str, replacements: dict[str, str]) -> str:
    """The compact JSON `text` with each `reference` string found in the replacements replaced: the same
    as dumping the resource again after rewriting its references, without walking or copying it."""

    def replace(match: re.Match[str]) -> str:
        value = match.group(1)
        value = json.loads(value) if "\\" in value else value[1:-1]  # no escape: the string is as written
        return replacements.get(value, match.group(0))

    return _REFERENCE_VALUE.sub(replace, text)


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


def is_newer(incoming: Parsed, stored: Stored | FhirResource) -> bool:
    """Whether the incoming content should replace what is stored (which differs from it)."""
    if incoming.version_id and stored.version_id:
        if incoming.version_id.isdigit() and stored.version_id.isdigit():
            return int(incoming.version_id) > int(stored.version_id)
        if incoming.version_id == stored.version_id:
            return False
    if incoming.last_updated and stored.last_updated:
        return incoming.last_updated > stored.last_updated
    return True  # without versions, the latest import is the truth
