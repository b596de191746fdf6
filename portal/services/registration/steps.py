"""The check-in's steps for the patient (or a parent): which visit, what was entered so far, and saving each
step. Everything takes the patient scope the door opened; nothing here changes the record itself.

A check-in belongs to the patient's next visit (`visits.next_visit`): a booked appointment, or an imported
Encounter still to come, each visit once. It opens `opens_days` before the visit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal import forms
from portal.models.access import ProxyGrant
from portal.models.base import utcnow
from portal.models.registration import STEPS, CheckIn, CheckInChange, CheckInPhoto
from portal.services.access import Level, PatientScope
from portal.services.errors import Refused
from portal.services.registration import photos
from portal.services.registration.visits import Visit, next_visit

DEFAULT_OPENS_DAYS = 7
NAME_LENGTH = 200
FIELD_LENGTH = 200

# The "Your details" fields, in the order the form shows them.
DETAIL_FIELDS = (
    "given_name",
    "family_name",
    "preferred_name",
    "pronouns",
    "birth_date",
    "address_line",
    "city",
    "state",
    "postal_code",
    "phone",
    "email",
    "language",
    "emergency_name",
    "emergency_phone",
)
INSURANCE_FIELDS = ("payer", "member_id", "group_number", "subscriber_name", "subscriber_relationship")
RELATIONSHIPS = ("self", "spouse", "child", "other")


@dataclass(frozen=True)
class Closed:
    """Nothing to save: no visit to check in for ("no_visit"), too early ("too_early"), already sent
    ("already_sent"). Not a refusal: the page says so and the person may go on looking."""

    code: str


@dataclass
class Progress:
    """What the check-in pages show: the visit, whether check-in is open, and what was saved so far."""

    visit: Visit | None
    opens_at: datetime | None
    checkin: CheckIn | None
    record_details: dict[str, str]
    details: dict[str, str]
    insurance: dict[str, Any]
    photos: set[str] = field(default_factory=set)
    changes: list[CheckInChange] = field(default_factory=list)
    signer_role: str = "self"

    @property
    def open(self) -> bool:
        return self.visit is not None and self.opens_at is not None and self.opens_at <= utcnow()

    @property
    def steps_done(self) -> set[str]:
        return set(filter(None, (self.checkin.steps_done if self.checkin else "").split(",")))

    @property
    def submitted(self) -> bool:
        return self.checkin is not None and self.checkin.status != "started"

    @property
    def changed(self) -> set[str]:
        """The detail fields whose saved value differs from the record: marked as changes on the form."""
        return {name for name, value in self.details.items() if value != self.record_details.get(name, "")}


def offer_window(opens_days: int) -> Callable[[Iterable[Any]], bool]:
    """For the summary page: whether check-in is open for the soonest of these upcoming visits
    (appointments and encounters, anything with `start_at`; no database needed)."""

    def is_open(upcoming: Iterable[Any]) -> bool:
        dated = [visit for visit in upcoming if getattr(visit, "start_at", None) is not None]
        if not dated:
            return False
        soonest = min(dated, key=lambda visit: visit.start_at)
        if getattr(soonest, "checked_in_at", None) is not None:
            return False  # already checked in online: nothing more to offer
        start: datetime = soonest.start_at
        return start - timedelta(days=opens_days) <= utcnow() < start

    return is_open


def record_details(scope: PatientScope) -> dict[str, str]:
    """The patient's details as the record has them (the FHIR Patient the EHR sent), for prefilling."""
    patient = scope.patient
    resource: dict[str, Any] = json.loads(patient.resource_json or "{}")
    names = resource.get("name") or []
    usual = next((n for n in names if n.get("use") in ("usual", "nickname")), None)
    telecom = resource.get("telecom") or []
    address: dict[str, Any] = next(iter(resource.get("address") or []), {})
    contact: dict[str, Any] = next(iter(resource.get("contact") or []), {})
    communication: dict[str, Any] = next(iter(resource.get("communication") or []), {})
    language: dict[str, Any] = communication.get("language", {})
    pronouns = pronouns_of(resource)

    def telecom_of(system: str, items: list[dict[str, Any]]) -> str:
        return str(next((t.get("value", "") for t in items if t.get("system") == system), ""))

    return {
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "preferred_name": " ".join(usual.get("given") or []) if usual else "",
        "pronouns": str(pronouns),
        "birth_date": patient.birth_date.isoformat() if patient.birth_date else "",
        "address_line": " ".join(address.get("line") or []),
        "city": str(address.get("city", "")),
        "state": str(address.get("state", "")),
        "postal_code": str(address.get("postalCode", "")),
        "phone": telecom_of("phone", telecom),
        "email": telecom_of("email", telecom),
        "language": str(language.get("text") or _first_code(language)),
        "emergency_name": str(contact.get("name", {}).get("text", "")),
        "emergency_phone": telecom_of("phone", contact.get("telecom") or []),
    }


def pronouns_of(resource: dict[str, Any]) -> str:
    """The patient's pronouns from the FHIR individual-pronouns extension, which nests its value in a
    "value" sub-extension (as the review writes it); a flat valueCodeableConcept is read too."""
    for ext in resource.get("extension") or []:
        if "pronouns" not in str(ext.get("url", "")):
            continue
        values = [ext] + [sub for sub in ext.get("extension") or [] if sub.get("url") == "value"]
        for value in values:
            concept: dict[str, Any] = value.get("valueCodeableConcept") or {}
            text = concept.get("text") or _first_display(concept)
            if text:
                return str(text)
    return ""


def _first_display(concept: dict[str, Any]) -> str:
    coding: dict[str, Any] = next(iter(concept.get("coding") or []), {})
    return str(coding.get("display") or coding.get("code") or "")


def _first_code(concept: dict[str, Any]) -> str:
    coding: dict[str, Any] = next(iter(concept.get("coding") or []), {})
    return str(coding.get("code", ""))


def _signer_role(session: Session, scope: PatientScope) -> str:
    if scope.level is Level.SELF:
        return "self"
    grant = session.exec(
        select(ProxyGrant).where(
            ProxyGrant.proxy_person_id == scope.viewer.id,
            ProxyGrant.patient_id == scope.patient_id,
            col(ProxyGrant.revoked_at).is_(None),
        )
    ).first()
    return grant.relationship if grant else "caregiver"


def _find(session: Session, scope: PatientScope, visit: Visit) -> CheckIn | None:
    """The check-in for this visit, under its key or another name of the same visit (its encounter)."""
    found = session.exec(
        select(CheckIn).where(CheckIn.patient_id == scope.patient_id, col(CheckIn.visit_key).in_(visit.keys))
    ).all()
    return min(found, key=lambda c: visit.keys.index(c.visit_key), default=None)


def progress(session: Session, scope: PatientScope, opens_days: int = DEFAULT_OPENS_DAYS) -> Progress | None:
    """The check-in for the patient's next visit, as saved so far (a reader: patients and proxies only)."""
    if scope.staff:
        return None  # staff review check-ins on their own screen
    visit = next_visit(session, scope)
    checkin = _find(session, scope, visit) if visit else None
    on_record = record_details(scope)
    details = {**on_record, **json.loads(checkin.details_json)} if checkin else dict(on_record)
    photos: set[str] = set()
    changes: list[CheckInChange] = []
    if checkin is not None:
        photos = set(session.exec(select(CheckInPhoto.side).where(CheckInPhoto.checkin_id == checkin.id)))
        changes = list(session.exec(select(CheckInChange).where(CheckInChange.checkin_id == checkin.id)))
    return Progress(
        visit=visit,
        opens_at=visit.start - timedelta(days=opens_days) if visit else None,
        checkin=checkin,
        record_details=on_record,
        details=details,
        insurance=json.loads(checkin.insurance_json) if checkin else {},
        photos=photos,
        changes=changes,
        signer_role=_signer_role(session, scope),
    )


def open_checkin(
    session: Session, scope: PatientScope, opens_days: int = DEFAULT_OPENS_DAYS
) -> CheckIn | Closed:
    """The check-in being filled in, made on the first save; Closed when there is nothing to check in for,
    it is too early, or it was already sent."""
    if scope.staff:
        raise Refused("not_allowed")
    visit = next_visit(session, scope)
    if visit is None:
        return Closed("no_visit")
    if visit.start - timedelta(days=opens_days) > utcnow():
        return Closed("too_early")
    checkin = _find(session, scope, visit)
    if checkin is None:
        checkin = CheckIn(
            patient_id=scope.patient_id,
            visit_key=visit.key,
            encounter_resource_id=visit.encounter.resource_id if visit.encounter else None,
            appointment_id=visit.appointment.id if visit.appointment else None,
            visit_start=visit.start,
            started_by_person_id=scope.viewer.id,
        )
        try:
            with session.begin_nested():
                session.add(checkin)
        except IntegrityError:  # the same check-in started at the same moment on another device
            found = _find(session, scope, visit)
            assert found is not None
            checkin = found
    if checkin.status != "started":
        return Closed("already_sent")
    if checkin.appointment_id is None and visit.appointment is not None:
        checkin.appointment_id = visit.appointment.id  # started under the visit's encounter, booked since
        session.add(checkin)
    return checkin


def mark_done(checkin: CheckIn, step: str) -> None:
    done = set(filter(None, checkin.steps_done.split(","))) | {step}
    checkin.steps_done = ",".join(s for s in STEPS if s in done)
    checkin.updated_at = utcnow()


def clean_details(form: dict[str, str], *, today: date) -> dict[str, str]:
    """The details form, checked: a name too long, a date of birth in the future or not a date are refused
    (with the field's name), nothing else is judged. Fields absent from the form are left out."""
    cleaned: dict[str, str] = {}
    for name in DETAIL_FIELDS:
        if name not in form:
            continue
        limit = NAME_LENGTH if name.endswith("name") else FIELD_LENGTH
        try:
            value = forms.text(form[name], max_length=limit)
        except forms.InputError:
            raise Refused("too_long", field=name) from None
        if name == "birth_date" and value:
            try:
                born = forms.day(value)
            except forms.InputError:
                raise Refused("bad_date", field=name) from None
            if born is None or born > today:
                raise Refused("birth_date_future", field=name)
            value = born.isoformat()
        if name == "email" and value and "@" not in value:
            raise Refused("bad_email", field=name)
        cleaned[name] = value
    if "given_name" in cleaned and not cleaned["given_name"]:
        raise Refused("name_required", field="given_name")
    return cleaned


def save_details(
    session: Session, scope: PatientScope, details: dict[str, str], opens_days: int = DEFAULT_OPENS_DAYS
) -> CheckIn | Closed:
    checkin = open_checkin(session, scope, opens_days)
    if isinstance(checkin, Closed):
        return checkin
    saved = json.loads(checkin.details_json)
    saved.update(details)
    checkin.details_json = json.dumps(saved, sort_keys=True)
    mark_done(checkin, "details")
    session.add(checkin)
    return checkin


def clean_insurance(form: dict[str, str]) -> dict[str, Any]:
    if form.get("no_insurance") == "yes":
        return {"no_insurance": True}
    cleaned: dict[str, Any] = {"no_insurance": False}
    for name in INSURANCE_FIELDS:
        try:
            cleaned[name] = forms.text(form.get(name, ""), max_length=FIELD_LENGTH)
        except forms.InputError:
            raise Refused("too_long", field=name) from None
    if cleaned["subscriber_relationship"] and cleaned["subscriber_relationship"] not in RELATIONSHIPS:
        raise Refused("bad_choice", field="subscriber_relationship")
    return cleaned


def save_insurance(
    session: Session, scope: PatientScope, insurance: dict[str, Any], opens_days: int = DEFAULT_OPENS_DAYS
) -> CheckIn | Closed:
    checkin = open_checkin(session, scope, opens_days)
    if isinstance(checkin, Closed):
        return checkin
    checkin.insurance_json = json.dumps(insurance, sort_keys=True)
    mark_done(checkin, "insurance")
    session.add(checkin)
    return checkin


def save_photo(
    session: Session, scope: PatientScope, side: str, upload: bytes, opens_days: int = DEFAULT_OPENS_DAYS
) -> CheckIn | Closed:
    """Keep one side of the card, re-encoded without metadata, replacing an earlier one. A file that is
    not a photo, or too large, is refused (and the door undoes everything, the check-in's first row too)."""
    checkin = open_checkin(session, scope, opens_days)
    if isinstance(checkin, Closed):
        return checkin
    if side not in ("front", "back"):
        raise Refused("bad_choice", field="photo")
    jpeg = photos.reencode(upload)
    row = session.exec(
        select(CheckInPhoto).where(CheckInPhoto.checkin_id == checkin.id, CheckInPhoto.side == side)
    ).first()
    if row is None:
        assert checkin.id is not None
        row = CheckInPhoto(checkin_id=checkin.id, side=side, data=jpeg)
    row.data = jpeg
    row.created_at = utcnow()
    session.add(row)
    checkin.updated_at = utcnow()
    session.add(checkin)
    return checkin
