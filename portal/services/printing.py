"""Summaries on paper: the data of an after-visit summary, a record summary and an immunization record,
a provider's day of visits, and the PDF they are printed as.

Building a summary only reads (apart from a fresh activation code on a staff print, which the identity
service audits); the callers decide access and write the "download" or "print" audit events. Rendering
is CPU work: `render_pdf` runs in a worker thread or the CLI, never on the event loop.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment
from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from portal import db, i18n
from portal.config import Settings
from portal.models.base import utcnow
from portal.models.people import Patient, Person
from portal.models.printing import PrintJob
from portal.models.records import Encounter, FhirResource, MedicationRequest, Observation
from portal.pdf.render import render_document, write_pdf
from portal.provenance import Provenance
from portal.services import access, audit, growth, identity, records, results

STOPPED_MEDICATION = frozenset({"stopped", "cancelled", "completed"})
NOT_HAPPENING = frozenset({"cancelled", "entered-in-error"})
RECENT_RESULT_GROUPS = 5

# UCUM units as a reader writes them; anything else is printed as the EHR sent it.
UNIT_WORDS = {
    "[lb_av]": "lb",
    "[in_i]": "in",
    "[degF]": "°F",
    "Cel": "°C",
    "mm[Hg]": "mmHg",
    "/min": "per minute",
    "{beats}/min": "beats per minute",
    "{breaths}/min": "breaths per minute",
    "kg/m2": "kg/m²",
    "kg/m^2": "kg/m²",
    "%": "%",
}


# The data a template reads ------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    name: str
    value: str  # the value with its unit, in words: "7.3 kg", "120/80 mmHg"


@dataclass(frozen=True)
class Medicine:
    name: str
    dosage: str | None
    change: str  # started, changed, stopped


@dataclass(frozen=True)
class ResultLine:
    name: str
    value: str
    range: str | None
    flag: str | None  # a results.Flag value; the template says it in words


@dataclass(frozen=True)
class Activation:
    code: str
    url: str
    expires_on: date


@dataclass(frozen=True)
class VisitSummary:
    patient: Patient
    encounter_public_id: str
    visit_at: datetime  # in the clinic's time zone
    organization: str | None
    location: str | None
    provider: str | None
    visit_type: str
    reason: str | None
    vitals: list[Measurement]
    diagnoses: list[str]
    medicines: list[Medicine]
    results: list[ResultLine]
    notes: list[str]
    next_visits: list[datetime]  # in the clinic's time zone
    activation: Activation | None = None

    @property
    def medicines_started(self) -> list[Medicine]:
        return [m for m in self.medicines if m.change == "started"]

    @property
    def medicines_changed(self) -> list[Medicine]:
        return [m for m in self.medicines if m.change == "changed"]

    @property
    def medicines_stopped(self) -> list[Medicine]:
        return [m for m in self.medicines if m.change == "stopped"]


@dataclass(frozen=True)
class Vaccine:
    name: str
    given_on: list[date]


@dataclass(frozen=True)
class RecordSummary:
    patient: Patient
    problems: list[str]
    medications: list[Medicine]
    allergies: list[tuple[str, str | None]]  # (substance, reactions)
    vaccines: list[Vaccine]
    results: list[tuple[date | None, list[ResultLine]]]  # recent results by day or report, newest first
    growth: list[growth.Assessment] = field(default_factory=list)  # the latest of each, for a child


@dataclass(frozen=True)
class ImmunizationRecord:
    patient: Patient
    vaccines: list[Vaccine]


# Building them --------------------------------------------------------------------------------------


def unit_words(unit: str | None) -> str:
    if not unit:
        return ""
    return UNIT_WORDS.get(unit, unit)


def _quantity(value: float | None, unit: str | None, comparator: str | None = None) -> str:
    if value is None:
        return ""
    words = unit_words(unit)
    number = i18n.format_number(round(value, 2))
    return f"{comparator or ''}{number} {words}".strip()


def measurement(session: Session, observation: Observation) -> Measurement:
    """A vital sign in words: "7.3 kg"; a blood pressure's parts as "120/80 mmHg"."""
    if observation.value is not None:
        text = _quantity(observation.value, observation.unit, observation.comparator)
    else:
        parts = records.components(session, observation)
        values = [p for p in parts if p.value is not None]
        if values:
            joined = "/".join(i18n.format_number(round(p.value or 0, 1)) for p in values)
            text = f"{joined} {unit_words(values[0].unit)}".strip()
        else:
            text = observation.value_text or ""
    return Measurement(observation.display or observation.code or "", text)


def result_line(observation: Observation) -> ResultLine:
    if observation.value is not None:
        value = _quantity(observation.value, observation.unit, observation.comparator)
    else:
        value = observation.value_text or ""
    low, high = observation.reference_low, observation.reference_high
    if observation.reference_text:
        span: str | None = observation.reference_text
    elif low is not None or high is not None:
        span = f"{i18n.format_number(low) if low is not None else ''}–" + (
            f"{i18n.format_number(high)} {unit_words(observation.unit)}".strip() if high is not None else ""
        )
    else:
        span = None
    found = results.flag(observation.value, low, high, observation.interpretation)
    return ResultLine(
        observation.display or observation.code or "", value, span, found.value if found else None
    )


def _medicines(
    session: Session, patient_id: int, encounter: Encounter, linked: list[MedicationRequest]
) -> list[Medicine]:
    """Prescriptions written at this visit: new ones, changes to an earlier prescription, and stops."""
    earlier_codes = set()
    if encounter.start_at is not None:
        earlier_codes = {
            code
            for code in session.scalars(
                select(col(MedicationRequest.code))
                .where(col(MedicationRequest.patient_id) == patient_id)
                .where(col(MedicationRequest.authored_on) < encounter.start_at)
            )
            if code
        }
    found = []
    for request in linked:
        if request.status in records.ACTIVE_MEDICATION:
            change = "changed" if request.code in earlier_codes else "started"
        elif request.status in STOPPED_MEDICATION:
            change = "stopped"
        else:
            continue  # entered in error, or unknown
        found.append(Medicine(request.display, request.dosage, change))
    return found


def visit_summary(
    session: Session,
    settings: Settings,
    patient: Patient,
    encounter_public_id: str,
    *,
    include_confidential: bool,
) -> VisitSummary | None:
    """One visit's after-visit summary, or None when it is not this patient's (or hidden from the reader)."""
    assert patient.id is not None
    detail = records.encounter_detail(
        session, patient.id, encounter_public_id, include_confidential=include_confidential
    )
    if detail is None:
        return None
    encounter = detail.encounter
    zone = settings.timezone
    start = encounter.start_at or encounter.end_at or utcnow()
    now = utcnow()
    later = records.encounters(session, patient.id, include_confidential=include_confidential, limit=20)
    next_visits = sorted(
        e.start_at.astimezone(zone)
        for e in later
        if e.start_at is not None and e.start_at > max(now, start) and e.status not in NOT_HAPPENING
    )
    diagnoses = [c.display for c in detail.diagnoses if c.display]
    if not diagnoses and encounter.diagnoses:
        diagnoses = [d.strip() for d in encounter.diagnoses.split(";") if d.strip()]
    return VisitSummary(
        patient=patient,
        encounter_public_id=encounter.public_id,
        visit_at=start.astimezone(zone),
        organization=encounter.organization,
        location=encounter.location,
        provider=encounter.practitioner,
        visit_type=encounter.display,
        reason=encounter.reason,
        vitals=[measurement(session, o) for o in detail.vitals],
        diagnoses=diagnoses,
        medicines=_medicines(session, patient.id, encounter, detail.medications),
        results=[result_line(o) for o in detail.results],
        notes=[note.text for note in detail.notes if note.text],
        next_visits=next_visits,
    )


def with_activation(
    session: Session, settings: Settings, summary: VisitSummary, *, issued_by: Person | None
) -> VisitSummary:
    """A staff print for a patient with no portal account carries a fresh activation code (audited)."""
    if summary.patient.person_id is not None:
        return summary
    code = identity.issue_activation_code(session, patient=summary.patient, issued_by=issued_by)
    expires_on = settings.today() + timedelta(days=identity.ACTIVATION_DAYS)
    activation = Activation(code, settings.origin + "/activate", expires_on)
    return VisitSummary(**{**summary.__dict__, "activation": activation})


def _vaccines(session: Session, patient_id: int, include_confidential: bool, zone: ZoneInfo) -> list[Vaccine]:
    given: dict[str, list[date]] = defaultdict(list)
    for shot in records.immunizations(session, patient_id, include_confidential=include_confidential):
        if shot.status not in (None, "completed"):
            continue  # not done: a school form lists doses given
        name = shot.display or shot.code or ""
        given[name]  # noqa: B018 - a dose with no date still names the vaccine
        if shot.occurred_at is not None:
            given[name].append(shot.occurred_at.astimezone(zone).date())
    return [Vaccine(name, sorted(days)) for name, days in sorted(given.items(), key=lambda kv: kv[0].lower())]


def immunization_record(
    session: Session, settings: Settings, patient: Patient, *, include_confidential: bool
) -> ImmunizationRecord:
    assert patient.id is not None
    return ImmunizationRecord(
        patient, _vaccines(session, patient.id, include_confidential, settings.timezone)
    )


def record_summary(
    session: Session, settings: Settings, patient: Patient, *, include_confidential: bool
) -> RecordSummary:
    """Problems, medicines, allergies, vaccines, recent results and, for a child, growth centiles."""
    assert patient.id is not None
    confidential = include_confidential
    problems = [
        c.display for c in records.conditions(session, patient.id, include_confidential=confidential).current
    ]
    medicines = [
        Medicine(m.display, m.dosage, "current")
        for m in records.medications(session, patient.id, include_confidential=confidential).current
    ]
    allergies = [
        (a.display, a.reactions)
        for a in records.allergies(session, patient.id, include_confidential=confidential).current
    ]
    groups = records.results_by_report(session, patient.id, include_confidential=confidential)
    recent = []
    for group in groups[:RECENT_RESULT_GROUPS]:
        when = group.when.astimezone(settings.timezone).date() if group.when else None
        recent.append((when, [result_line(o) for o in group.results]))
    return RecordSummary(
        patient=patient,
        problems=problems,
        medications=medicines,
        allergies=allergies,
        vaccines=_vaccines(session, patient.id, confidential, settings.timezone),
        results=recent,
        growth=_latest_growth(session, settings, patient, confidential),
    )


def _latest_growth(
    session: Session, settings: Settings, patient: Patient, include_confidential: bool
) -> list[growth.Assessment]:
    if patient.birth_date is None or patient.sex not in ("male", "female"):
        return []
    if access.age_on(patient.birth_date, settings.today()) >= growth.GROWTH_CHART_MAX_AGE:
        return []
    assert patient.id is not None
    series = records.growth_measurements(session, patient.id, include_confidential=include_confidential)
    latest = []
    for name, points in series.items():
        if not points:
            continue
        point = points[-1]
        latest.append(
            growth.assess(
                growth.MEASURE_OF_SERIES[name],
                point.value,
                sex=patient.sex,
                birth_date=patient.birth_date,
                taken_on=point.at.astimezone(settings.timezone).date(),
            )
        )
    return latest


# A day of visits ----------------------------------------------------------------------------------


def _day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def _encounters_on(session: Session, day: date, zone: ZoneInfo, practitioner_fhir_id: str | None) -> Any:
    start, end = _day_bounds(day, zone)
    query = (
        select(Encounter, Patient)
        .join(Patient, col(Patient.id) == col(Encounter.patient_id))
        .where(col(Encounter.start_at) >= start, col(Encounter.start_at) < end)
    )
    if practitioner_fhir_id is not None:
        query = query.join(
            FhirResource, col(FhirResource.id) == col(Encounter.practitioner_resource_id)
        ).where(col(FhirResource.fhir_id) == practitioner_fhir_id)
    return query.order_by(col(Encounter.start_at), col(Encounter.id))


def practitioners_on(session: Session, settings: Settings, day: date) -> list[tuple[str, str]]:
    """(FHIR id, name) of each practitioner with a visit that day, for the staff's provider list."""
    start, end = _day_bounds(day, settings.timezone)
    rows = session.execute(
        select(col(FhirResource.fhir_id), col(FhirResource.label))
        .join(Encounter, col(Encounter.practitioner_resource_id) == col(FhirResource.id))
        .where(col(Encounter.start_at) >= start, col(Encounter.start_at) < end)
        .distinct()
    )
    return sorted(((fhir_id, label or fhir_id) for fhir_id, label in rows), key=lambda row: row[1].lower())


def visits_on(
    session: Session, settings: Settings, day: date, practitioner_fhir_id: str | None = None
) -> list[tuple[Encounter, Patient]]:
    """The day's visits (the clinic's day), or one provider's, in the order they began."""
    rows = session.execute(_encounters_on(session, day, settings.timezone, practitioner_fhir_id)).all()
    return [(encounter, patient) for encounter, patient in rows]


def visit_summaries_for_day(
    session: Session,
    settings: Settings,
    day: date,
    practitioner_fhir_id: str | None = None,
    *,
    printed_by: Person | None = None,
    where: Provenance | None = None,
) -> list[VisitSummary]:
    """Every visit that day (the clinic's day), or one provider's, as summaries ready to print; each
    print is audited ("print", one event per visit), and patients without an account get a code."""
    found = []
    for encounter, patient in visits_on(session, settings, day, practitioner_fhir_id):
        summary = print_visit(
            session,
            settings,
            patient,
            encounter.public_id,
            printed_by=printed_by,
            where=where,
        )
        if summary is not None:
            found.append(summary)
    return found


def find_encounter(session: Session, fhir_id: str) -> tuple[Encounter, Patient] | None:
    row = session.execute(
        select(Encounter, Patient)
        .join(Patient, col(Patient.id) == col(Encounter.patient_id))
        .where(col(Encounter.fhir_id) == fhir_id)
    ).first()
    return (row[0], row[1]) if row else None


def print_visit(
    session: Session,
    settings: Settings,
    patient: Patient,
    encounter_public_id: str,
    *,
    printed_by: Person | None = None,
    where: Provenance | None = None,
) -> VisitSummary | None:
    """A staff (or operator) print of one visit summary: what the printer may see, a fresh activation
    code when the patient has no account, and a "print" audit event."""
    include_confidential = True  # the operator's command line prints the whole visit
    if printed_by is not None:
        decision = access.decide(
            session,
            printed_by,
            patient,
            access.Area.DOCUMENTS,
            today=settings.today(),
            rules=access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age),
        )
        if not decision.allowed:
            return None
        include_confidential = decision.sees_confidential
    summary = visit_summary(
        session, settings, patient, encounter_public_id, include_confidential=include_confidential
    )
    if summary is None:
        return None
    summary = with_activation(session, settings, summary, issued_by=printed_by)
    w = where or Provenance()
    audit.record(
        session,
        action="print",
        actor_person_id=printed_by.id if printed_by else None,
        actor_role=printed_by.staff_role if printed_by else None,
        patient_id=patient.id,
        resource_type="Encounter",
        resource_id=encounter_public_id,
        provenance=w,
    )
    return summary


# Large batches: a job for the worker ----------------------------------------------------------------

WORKER = Provenance(route="worker:print_day")
BATCH_IN_REQUEST = 5  # a day with more visits than this is printed by the worker, with a progress page
log = logging.getLogger("portal.printing")


def print_or_queue_day(
    session: Session,
    settings: Settings,
    day: date,
    practitioner_fhir_id: str | None,
    *,
    staff: Person,
    where: Provenance | None = None,
) -> list[VisitSummary] | PrintJob:
    """A small day's summaries at once; a large day as a queued job (nothing printed or audited yet)."""
    visits = visits_on(session, settings, day, practitioner_fhir_id)
    if len(visits) <= BATCH_IN_REQUEST:
        return visit_summaries_for_day(
            session,
            settings,
            day,
            practitioner_fhir_id,
            printed_by=staff,
            where=where,
        )
    assert staff.id is not None
    job = PrintJob(
        owner_person_id=staff.id, day=day, practitioner_fhir_id=practitioner_fhir_id, total=len(visits)
    )
    session.add(job)
    session.flush()
    log.info("print job queued id=%s visits=%s", job.id, job.total)
    return job


def job_of(session: Session, public_id: str, *, owner_person_id: int) -> PrintJob | None:
    """A print job, for the member of staff who asked for it only."""
    job = session.scalars(select(PrintJob).where(col(PrintJob.public_id) == public_id)).first()
    return job if job is not None and job.owner_person_id == owner_person_id else None


def claim_print_job(engine: Engine) -> PrintJob | None:
    """Take the oldest queued job for this worker alone: locked past by other workers on PostgreSQL (FOR
    UPDATE SKIP LOCKED), under the write lock on SQLite, and moved on by a conditional UPDATE either way."""
    with db.transaction(engine) as session:
        job = session.scalars(
            select(PrintJob)
            .where(col(PrintJob.status) == "queued")
            .order_by(col(PrintJob.id))
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if job is None:
            return None
        claimed = session.connection().execute(
            update(PrintJob)
            .where(col(PrintJob.id) == job.id, col(PrintJob.status) == "queued")
            .values(status="running")
        )
        if claimed.rowcount != 1:
            return None
        session.expunge(job)
        job.status = "running"
        return job


def run_print_jobs(engine: Engine, settings: Settings) -> int:
    """Print every queued job (the worker calls this each round); how many were finished."""
    finished = 0
    while True:
        job = claim_print_job(engine)
        if job is None:
            return finished
        try:
            pdf = _print_job(engine, settings, job)
        except Exception as error:  # a failed job is reported on its page; the worker carries on
            log.error("print job failed id=%s error=%s", job.id, type(error).__name__)
            with db.transaction(engine) as session:
                stored = session.get(PrintJob, job.id)
                assert stored is not None
                stored.status, stored.error, stored.finished_at = "failed", type(error).__name__, utcnow()
            continue
        with db.transaction(engine) as session:
            stored = session.get(PrintJob, job.id)
            assert stored is not None
            stored.status, stored.pdf, stored.finished_at = "done", pdf, utcnow()
        log.info("print job done id=%s", job.id)
        finished += 1


def _print_job(engine: Engine, settings: Settings, job: PrintJob) -> bytes:
    from portal.templating import make_templates

    env = make_templates().env
    with db.transaction(engine) as session:
        owner = session.get(Person, job.owner_person_id)
        visits = [
            (e.public_id, p.id) for e, p in visits_on(session, settings, job.day, job.practitioner_fhir_id)
        ]
    assert owner is not None
    documents = []
    for done, (encounter_public_id, patient_id) in enumerate(visits, 1):
        # One visit per transaction: the code, the audit event and the progress commit together.
        with db.transaction(engine) as session:
            patient = session.get(Patient, patient_id)
            assert patient is not None
            summary = print_visit(
                session, settings, patient, encounter_public_id, printed_by=owner, where=WORKER
            )
            stored = session.get(PrintJob, job.id)
            assert stored is not None
            stored.done, stored.total = done, len(visits)
        if summary is not None:
            documents.append(lay_out(env, settings, summary))
    return write_pdf(documents)


# Rendering ------------------------------------------------------------------------------------------

TEMPLATES = {
    VisitSummary: "pdf/visit_summary.html",
    RecordSummary: "pdf/record_summary.html",
    ImmunizationRecord: "pdf/immunizations.html",
}


def patient_line(patient: Patient) -> str:
    born = i18n.format_date(patient.birth_date, "long") if patient.birth_date else "?"
    return f"{patient.display_name} · {i18n.gettext('Date of birth')}: {born}"


def lay_out(
    env: Environment,
    settings: Settings,
    document: VisitSummary | RecordSummary | ImmunizationRecord,
    *,
    lang: str | None = None,
) -> Any:
    """One summary laid out on its own pages (a weasyprint Document)."""
    with i18n.using(lang) as chosen:
        context = {
            "summary": document,
            "patient": document.patient,
            "patient_line": patient_line(document.patient),
            "clinic": {"name": settings.clinic_name, "phone": settings.clinic_phone},
            "printed_on": i18n.format_date(settings.today(), "long"),
            "lang": chosen,
            "timezone": settings.timezone,
        }
        return render_document(env, TEMPLATES[type(document)], context, paper_size=settings.paper_size)


def render_pdf(
    env: Environment,
    settings: Settings,
    documents: Iterable[VisitSummary | RecordSummary | ImmunizationRecord],
    *,
    lang: str | None = None,
) -> bytes:
    """One PDF of one or more summaries, each laid out on its own (its own pages and page numbers)."""
    return write_pdf([lay_out(env, settings, document, lang=lang) for document in documents])
