"""Staff and operator printing: one visit, a provider's day, and large days as jobs for the worker.

Every print reads each patient's part through the door: `access.read` for a member of staff (the worker
prints a job as the staff member who asked for it), `access.read_as_operator` for `portal print` at the
command line. Each visit printed is one "print" audit event, allowed or denied; nobody "sees everything"
by default. Each download of a finished job's PDF is audited again, once for each patient in it.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, or_, select, update
from sqlmodel import Session, col

from portal import db
from portal.config import Settings
from portal.models.audit import AuditEvent
from portal.models.base import utcnow
from portal.models.people import Patient, Person
from portal.models.printing import PrintJob
from portal.models.records import Encounter, FhirResource
from portal.pdf.render import write_pdf
from portal.provenance import Provenance
from portal.services import access
from portal.services.access import Area, Asker, Look, Operator, PatientScope
from portal.services.printing.documents import VisitSummary, visit_summary, with_activation
from portal.services.printing.render import lay_out

# Who prints: a member of staff (through `access.read`) or the operator at the command line.
Printer = Asker | Operator

WORKER_ROUTE = "worker:print_day"
BATCH_IN_REQUEST = 5  # a day with more visits than this is printed by the worker, with a progress page
log = logging.getLogger("portal.printing")


# A day of visits ----------------------------------------------------------------------------------


def _day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def _encounters_on(day: date, zone: ZoneInfo, practitioner_fhir_id: str | None) -> Any:
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
    """The day's visits (the clinic's day), or one provider's, in the order they began: the schedule a
    print walks, each visit then read through the door."""
    rows = session.execute(_encounters_on(day, settings.timezone, practitioner_fhir_id)).all()
    return [(encounter, patient) for encounter, patient in rows]


def find_encounter(session: Session, fhir_id: str) -> tuple[Encounter, Patient] | None:
    row = session.execute(
        select(Encounter, Patient)
        .join(Patient, col(Patient.id) == col(Encounter.patient_id))
        .where(col(Encounter.fhir_id) == fhir_id)
    ).first()
    return (row[0], row[1]) if row else None


# Printing through the door --------------------------------------------------------------------------


def print_visit(
    session: Session, scope: PatientScope, settings: Settings, encounter_public_id: str
) -> VisitSummary | None:
    """The reader of a staff print: the visit summary as the scope sees it, with a fresh activation code
    when the patient has no account (never for a deceased patient)."""
    summary = visit_summary(session, scope, settings, encounter_public_id)
    if summary is None:
        return None
    issuer = scope.viewer if scope.viewer.id is not None else None  # the operator has no account
    return with_activation(session, settings, summary, issued_by=issuer)


def print_one(
    session: Session, printer: Printer, settings: Settings, encounter: Encounter, patient: Patient
) -> VisitSummary | None:
    """One visit printed through the door: one "print" event, allowed or denied; None when refused."""
    look = Look(Area.DOCUMENTS, "Encounter", encounter.public_id, action="print")
    if isinstance(printer, Operator):
        return access.read_as_operator(
            session, printer, patient, look, print_visit, settings, encounter.public_id
        )
    opened = access.read(
        session, printer, patient.public_id, look, print_visit, settings, encounter.public_id
    )
    return opened.data if opened is not None else None


def print_encounter(
    session: Session, printer: Printer, settings: Settings, encounter_fhir_id: str
) -> VisitSummary | None:
    """One visit's summary, by the encounter's id in the EHR; None if there is none or it is refused."""
    found = find_encounter(session, encounter_fhir_id)
    if found is None:
        return None
    encounter, patient = found
    return print_one(session, printer, settings, encounter, patient)


def print_day(
    session: Session, printer: Printer, settings: Settings, day: date, practitioner_fhir_id: str | None = None
) -> list[VisitSummary]:
    """Every visit that day (or one provider's) that the printer may print, each read through the door
    (one event per visit); patients without an account get a code."""
    found = []
    for encounter, patient in visits_on(session, settings, day, practitioner_fhir_id):
        summary = print_one(session, printer, settings, encounter, patient)
        if summary is not None:
            found.append(summary)
    return found


# Large batches: a job for the worker ----------------------------------------------------------------


def print_or_queue_day(
    session: Session, asker: Asker, settings: Settings, day: date, practitioner_fhir_id: str | None
) -> list[VisitSummary] | PrintJob:
    """A small day's summaries at once; a large day as a queued job (nothing printed or audited yet)."""
    visits = visits_on(session, settings, day, practitioner_fhir_id)
    if len(visits) <= BATCH_IN_REQUEST:
        return print_day(session, asker, settings, day, practitioner_fhir_id)
    assert asker.person.id is not None
    job = PrintJob(
        owner_person_id=asker.person.id, day=day, practitioner_fhir_id=practitioner_fhir_id, total=len(visits)
    )
    session.add(job)
    session.flush()
    log.info("print job queued id=%s visits=%s", job.id, job.total)
    return job


def job_of(session: Session, public_id: str, *, owner_person_id: int) -> PrintJob | None:
    """A print job, for the member of staff who asked for it only."""
    job = session.scalars(select(PrintJob).where(col(PrintJob.public_id) == public_id)).first()
    return job if job is not None and job.owner_person_id == owner_person_id else None


def job_pdf(session: Session, asker: Asker, public_id: str) -> bytes | None:
    """A finished job's PDF for its owner, each download read through the door for every patient in it
    (one "download" event each, so "who viewed my record" shows it); None if any of them is refused."""
    assert asker.person.id is not None
    job = job_of(session, public_id, owner_person_id=asker.person.id)
    if job is None or job.status != "done" or job.pdf is None:
        return None
    look = Look(Area.DOCUMENTS, "PrintJob", job.public_id, action="download")
    allowed = [
        access.read(session, asker, patient.public_id, look, _in_job, job) is not None
        for patient in _patients_in(session, job)
    ]
    return job.pdf if all(allowed) else None


def _in_job(session: Session, scope: PatientScope, job: PrintJob) -> bool:
    return True  # the PDF was made through the door; this read is the download's decision and event


def _patients_in(session: Session, job: PrintJob) -> list[Patient]:
    """The patients printed in a job: those its worker's "print" events name."""
    printed = (
        select(col(AuditEvent.patient_id))
        .where(col(AuditEvent.action) == "print", col(AuditEvent.outcome) == "allowed")
        .where(col(AuditEvent.route) == WORKER_ROUTE, col(AuditEvent.request_id) == job.public_id)
    )
    return list(
        session.scalars(select(Patient).where(col(Patient.id).in_(printed)).order_by(col(Patient.id)))
    )


LEASE_SECONDS = 300  # far longer than one visit's summary; each one printed renews the lease


class LeaseLost(Exception):
    """Another worker took the job over (this one was silent past its lease): stop without writing."""


def claim_print_job(engine: Engine) -> PrintJob | None:
    """Take the oldest queued job, or a running one whose worker has been silent past the lease (it died),
    for this worker alone: locked past by other workers on PostgreSQL (FOR UPDATE SKIP LOCKED), under the
    write lock on SQLite, and moved on by a conditional UPDATE either way."""
    now = utcnow()
    claimable = or_(
        col(PrintJob.status) == "queued",
        and_(
            col(PrintJob.status) == "running",
            or_(
                col(PrintJob.claimed_at).is_(None),
                col(PrintJob.claimed_at) < now - timedelta(seconds=LEASE_SECONDS),
            ),
        ),
    )
    with db.transaction(engine) as session:
        job = session.scalars(
            select(PrintJob)
            .where(claimable)
            .order_by(col(PrintJob.id))
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if job is None:
            return None
        claimed = session.connection().execute(
            update(PrintJob)
            .where(col(PrintJob.id) == job.id, claimable)
            .values(status="running", claimed_at=now, done=0)
        )
        if claimed.rowcount != 1:
            return None
        session.expunge(job)
        job.status, job.claimed_at, job.done = "running", now, 0
        return job


def _still_ours(session: Session, job: PrintJob, **values: Any) -> None:
    """Renew the job's lease (with any progress), or raise LeaseLost if another worker has claimed it."""
    now = utcnow()
    renewed = session.connection().execute(
        update(PrintJob)
        .where(col(PrintJob.id) == job.id, col(PrintJob.claimed_at) == job.claimed_at)
        .values(claimed_at=now, **values)
    )
    if renewed.rowcount != 1:
        raise LeaseLost
    job.claimed_at = now


def run_print_jobs(engine: Engine, settings: Settings) -> int:
    """Print every queued job (the worker calls this each round); how many were finished."""
    finished = 0
    while True:
        job = claim_print_job(engine)
        if job is None:
            return finished
        try:
            pdf = _print_job(engine, settings, job)
        except LeaseLost:
            log.warning("print job taken over id=%s", job.id)
            continue
        except Exception as error:  # a failed job is reported on its page; the worker carries on
            log.error("print job failed id=%s error=%s", job.id, type(error).__name__)
            with contextlib.suppress(LeaseLost), db.transaction(engine) as session:
                _still_ours(session, job, status="failed", error=type(error).__name__, finished_at=utcnow())
            continue
        try:
            with db.transaction(engine) as session:
                _still_ours(session, job, status="done", pdf=pdf, finished_at=utcnow())
        except LeaseLost:
            log.warning("print job taken over id=%s", job.id)
            continue
        log.info("print job done id=%s", job.id)
        finished += 1


def _print_job(engine: Engine, settings: Settings, job: PrintJob) -> bytes:
    from portal.templating import make_templates

    env = make_templates().env
    with db.transaction(engine) as session:
        owner = session.get(Person, job.owner_person_id)
        visits = [(e.id, p.id) for e, p in visits_on(session, settings, job.day, job.practitioner_fhir_id)]
    assert owner is not None
    rules = access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    # The job's events carry its id, so each later download can name the patients printed in it.
    where = Provenance(route=WORKER_ROUTE, request_id=job.public_id)
    documents = []
    for done, (encounter_id, patient_id) in enumerate(visits, 1):
        # One visit per transaction: the code, the audit event and the progress commit together.
        with db.transaction(engine) as session:
            encounter, patient = session.get(Encounter, encounter_id), session.get(Patient, patient_id)
            assert encounter is not None and patient is not None
            asker = Asker(owner, settings.today(), rules, utcnow(), where)  # the owner prints, not the worker
            summary = print_one(session, asker, settings, encounter, patient)
            _still_ours(session, job, done=done, total=len(visits))
        if summary is not None:
            documents.append(lay_out(env, settings, summary))
    return write_pdf(documents)
