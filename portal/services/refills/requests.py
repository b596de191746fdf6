"""The patient's side of refills: what each medicine offers, the request form, sending a request, and
the statuses and history of every request.

Every function takes the patient scope the access service opened. `visible` is the one rule for who sees
which request: a request is shown only with its medicine, through the record's own visibility rule, so a
limited proxy (a parent of a 12-17-year-old) never sees one for a confidential medicine on any page,
count, mail or download, and cannot ask for one (the medicine itself is hidden from them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal.models.base import utcnow
from portal.models.people import Person
from portal.models.records import FhirResource, MedicationRequest
from portal.models.refills import PharmacyChoice, RefillEvent, RefillRequest
from portal.services import mail, visibility
from portal.services.access import PatientScope
from portal.services.errors import Refused
from portal.services.records import ACTIVE_MEDICATION, medications
from portal.services.refills import fhir, rules

Query = TypeVar("Query")

UPDATE_SUBJECT = "There is an update in your portal"
UPDATE_BODY = "There is an update in your portal. Please sign in to see it.\n\n{clinic}\n"


def visible(session: Session, scope: PatientScope, query: Query) -> Query:
    """`query` over RefillRequest narrowed to the requests this scope may see: this patient's, for a
    medicine the scope may see (the record's rule: confidential ones are hidden from a limited view)."""
    shown = select(col(MedicationRequest.id)).where(visibility.condition(session, scope, MedicationRequest))
    narrowed: Query = query.where(  # type: ignore[attr-defined]
        col(RefillRequest.patient_id) == scope.patient_id, col(RefillRequest.medication_id).in_(shown)
    )
    return narrowed


def _medication(session: Session, scope: PatientScope, public_id: str) -> MedicationRequest | None:
    query = select(MedicationRequest).where(col(MedicationRequest.public_id) == public_id)
    return session.scalars(visibility.visible(session, scope, query, MedicationRequest)).first()


def _medication_json(session: Session, medication: MedicationRequest) -> str:
    """The medicine's FHIR JSON as the EHR sent it."""
    row = session.get(FhirResource, medication.resource_id)
    return row.resource_json if row is not None else "{}"


@dataclass(frozen=True)
class Offer:
    """What the medications page offers for one current medicine."""

    blocked: str | None  # why it cannot be refilled online (rules.REASONS), or None
    pending: RefillRequest | None  # the request already waiting, if any


@dataclass
class MedicationsPage:
    current: list[MedicationRequest] = field(default_factory=list)
    past: list[MedicationRequest] = field(default_factory=list)
    offers: dict[int, Offer] = field(default_factory=dict)  # by medication id


def medications_page(session: Session, scope: PatientScope) -> MedicationsPage:
    """The medications page: current and past medicines, and for each current one its refill offer."""
    lists = medications(session, scope)
    return MedicationsPage(lists.current, lists.past, offers(session, scope, lists.current))


def offers(session: Session, scope: PatientScope, medicines: list[MedicationRequest]) -> dict[int, Offer]:
    """Each medicine's refill offer, by medication id: why it cannot be refilled online (from its FHIR JSON
    and the Medication it points at, if the EHR sent one) and the request already waiting. Three statements
    whatever the number of medicines; the page, the form and a new request all ask here."""
    if not medicines:
        return {}
    texts = dict(
        session.execute(
            select(FhirResource.id, FhirResource.resource_json).where(  # type: ignore[call-overload]
                col(FhirResource.id).in_({medicine.resource_id for medicine in medicines})
            )
        ).all()
    )
    references = {
        medicine.id: _medication_reference(texts.get(medicine.resource_id)) for medicine in medicines
    }
    referenced: dict[str, str] = {}
    if any(references.values()):
        referenced = dict(
            session.execute(
                select(FhirResource.fhir_id, FhirResource.resource_json).where(  # type: ignore[call-overload]
                    col(FhirResource.resource_type) == "Medication",
                    col(FhirResource.fhir_id).in_({ref for ref in references.values() if ref}),
                )
            ).all()
        )
    waiting: dict[int, RefillRequest] = {}
    query = select(RefillRequest).where(
        col(RefillRequest.medication_id).in_({medicine.id for medicine in medicines}),
        col(RefillRequest.status) == rules.PENDING,
    )
    for request in session.scalars(visible(session, scope, query).order_by(col(RefillRequest.id))):
        waiting.setdefault(request.medication_id, request)
    found: dict[int, Offer] = {}
    for medicine in medicines:
        assert medicine.id is not None
        reference = references[medicine.id]
        pointed_at = [referenced[reference]] if reference in referenced else []
        blocked = rules.not_refillable_reason(medicine, texts.get(medicine.resource_id, "{}"), pointed_at)
        found[medicine.id] = Offer(blocked, waiting.get(medicine.id))
    return found


def _medication_reference(text: str | None) -> str | None:
    """The id of the Medication a MedicationRequest's JSON points at, if it points at one."""
    try:
        reference = (json.loads(text or "{}").get("medicationReference") or {}).get("reference") or ""
    except ValueError:
        return None
    return reference.removeprefix("Medication/") if reference.startswith("Medication/") else None


@dataclass(frozen=True)
class RequestForm:
    medication: MedicationRequest
    offer: Offer
    pharmacies: tuple[rules.Pharmacy, ...]
    last_pharmacy_id: str | None
    last_other: str | None


def request_form(session: Session, scope: PatientScope, medication_public_id: str) -> RequestForm | None:
    """The request form for one current medicine (or why it cannot be asked for); None when the scope may
    not see the medicine or it is not current."""
    medication = _medication(session, scope, medication_public_id)
    if medication is None or medication.status not in ACTIVE_MEDICATION:
        return None
    assert medication.id is not None
    offer = offers(session, scope, [medication])[medication.id]
    choice = session.scalars(
        select(PharmacyChoice).where(col(PharmacyChoice.patient_id) == scope.patient_id)
    ).first()
    return RequestForm(
        medication,
        offer,
        rules.pharmacies(),
        choice.pharmacy_id if choice else None,
        choice.pharmacy_other if choice else None,
    )


@dataclass(frozen=True)
class RequestInput:
    pharmacy_id: str | None
    pharmacy_other: str | None
    days_left: int
    note: str | None


def parse_request(fields: dict[str, str]) -> RequestInput:
    """The form's fields checked; Refused with a code naming the field that is wrong."""
    choice = fields.get("pharmacy", "").strip()
    other = fields.get("pharmacy_other", "").strip()
    if choice == rules.OTHER:
        if not other:
            raise Refused("other_pharmacy_missing")
        if len(other) > rules.MAX_OTHER_PHARMACY:
            raise Refused("other_pharmacy_too_long")
    elif rules.pharmacy(choice) is None:
        raise Refused("pharmacy_missing")
    days = fields.get("days_left", "").strip()
    if not days.isdigit() or not 0 <= int(days) <= rules.MAX_DAYS_LEFT:
        raise Refused("bad_days_left")
    note = fields.get("note", "").strip()
    if len(note) > rules.MAX_NOTE:
        raise Refused("note_too_long")
    return RequestInput(
        None if choice == rules.OTHER else choice,
        other if choice == rules.OTHER else None,
        int(days),
        note or None,
    )


def pharmacy_label(request: RefillRequest) -> str:
    found = rules.pharmacy(request.pharmacy_id)
    if found is not None:
        return f"{found.name}, {found.address}, {found.phone}"
    return request.pharmacy_other or ""


def create_request(
    session: Session,
    scope: PatientScope,
    medication_public_id: str,
    form: RequestInput,
    *,
    by_staff: bool = False,
) -> RefillRequest | None:
    """Ask for a refill of one current medicine (the patient or a proxy; staff only through `by_staff`).
    Refused "not_refillable" (with the reason) or "already_pending" (with the first request's id), also
    when another request wins a race."""
    medication = _medication(session, scope, medication_public_id)
    if medication is None or medication.status not in ACTIVE_MEDICATION or scope.staff != by_staff:
        return None
    assert medication.id is not None
    offer = offers(session, scope, [medication])[medication.id]
    if offer.blocked is not None:
        raise Refused("not_refillable", reason=offer.blocked)
    if offer.pending is not None:
        raise Refused("already_pending", request=offer.pending.public_id)
    request = RefillRequest(
        patient_id=scope.patient_id,
        medication_id=medication.id,
        pharmacy_id=form.pharmacy_id,
        pharmacy_other=form.pharmacy_other,
        days_left=form.days_left,
        note=form.note,
        requested_by_person_id=scope.viewer.id,
    )
    try:
        with session.begin_nested():  # the unique index turns the loser of a race into a refusal
            session.add(request)
            session.flush()
    except IntegrityError:
        raise Refused("already_pending") from None
    assert request.id is not None
    session.add(RefillEvent(request_id=request.id, status=rules.PENDING, at=request.created_at))
    _remember_pharmacy(session, scope, form)
    write_task(session, request, medication, scope)
    return request


def _remember_pharmacy(session: Session, scope: PatientScope, form: RequestInput) -> None:
    choice = session.scalars(
        select(PharmacyChoice).where(col(PharmacyChoice.patient_id) == scope.patient_id)
    ).first() or PharmacyChoice(patient_id=scope.patient_id)
    choice.pharmacy_id, choice.pharmacy_other, choice.updated_at = (
        form.pharmacy_id,
        form.pharmacy_other,
        utcnow(),
    )
    session.add(choice)


def write_task(
    session: Session, request: RefillRequest, medication: MedicationRequest, scope: PatientScope
) -> None:
    """Keep the request's Task (and, once approved, its draft prescription) in `fhir_resource`."""
    draft_id = None
    if request.status == rules.APPROVED and request.draft_resource_id is None:
        draft = fhir.draft_json(
            request, scope.patient, medication, json.loads(_medication_json(session, medication))
        )
        row = fhir.keep(session, draft, scope.patient, confidential=medication.confidential, row_id=None)
        request.draft_resource_id = row.id
        draft_id = draft["id"]
    elif request.draft_resource_id is not None:
        draft_id = fhir.draft_fhir_id(request)
    task = fhir.task_json(
        session,
        request,
        scope.patient,
        medication,
        pharmacy_label=pharmacy_label(request),
        draft_fhir_id=draft_id,
    )
    row = fhir.keep(
        session, task, scope.patient, confidential=medication.confidential, row_id=request.task_resource_id
    )
    request.task_resource_id = row.id
    session.add(request)
    session.flush()


def mail_update(session: Session, request: RefillRequest, *, clinic: str) -> None:
    """Tell whoever asked that something changed, with no word about what (no PHI in mail)."""
    person = session.get(Person, request.requested_by_person_id) if request.requested_by_person_id else None
    if person is not None and person.email and not person.disabled:
        mail.enqueue(session, to=person.email, subject=UPDATE_SUBJECT, body=UPDATE_BODY.format(clinic=clinic))


@dataclass(frozen=True)
class RequestView:
    request: RefillRequest
    medication: MedicationRequest
    pharmacy: str
    events: list[RefillEvent]


def history(session: Session, scope: PatientScope) -> list[RequestView]:
    """Every request this scope may see, newest first, each with its steps."""
    rows = session.exec(
        visible(
            session,
            scope,
            select(RefillRequest, MedicationRequest)
            .join(MedicationRequest, col(MedicationRequest.id) == col(RefillRequest.medication_id))
            .order_by(col(RefillRequest.created_at).desc(), col(RefillRequest.id).desc()),
        )
    ).all()
    ids = [request.id for request, _ in rows]
    events: dict[int, list[RefillEvent]] = {}
    for event in session.scalars(
        select(RefillEvent).where(col(RefillEvent.request_id).in_(ids)).order_by(col(RefillEvent.id))
    ):
        events.setdefault(event.request_id, []).append(event)
    return [
        RequestView(request, medication, pharmacy_label(request), events.get(request.id or 0, []))
        for request, medication in rows
    ]


def request_from_message(
    session: Session, scope: PatientScope, medication_public_id: str, *, days_left: int, note: str | None
) -> RefillRequest | None:
    """Messaging's hook: the care team turns a patient's message about a medicine into a refill request,
    to the pharmacy the patient chose last (Refused "pharmacy_missing" when they never chose one)."""
    choice = session.scalars(
        select(PharmacyChoice).where(col(PharmacyChoice.patient_id) == scope.patient_id)
    ).first()
    if choice is None:
        raise Refused("pharmacy_missing")
    fields = {
        "pharmacy": choice.pharmacy_id or rules.OTHER,
        "pharmacy_other": choice.pharmacy_other or "",
        "days_left": str(days_left),
        "note": note or "",
    }
    return create_request(session, scope, medication_public_id, parse_request(fields), by_staff=True)
