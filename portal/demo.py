"""The demo clinic: what `portal demo` (and `make run`) puts in the embedded database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

import portal
from portal import db
from portal.config import Settings
from portal.fhir import confidentiality, dates, parallel
from portal.models.access import ProxyGrant
from portal.models.base import utcnow
from portal.models.people import Patient, Person, StaffRole
from portal.models.records import Encounter, FhirResource, Observation
from portal.provenance import Provenance
from portal.services import access, printing, proxies
from portal.services.access import AgeRules, age_on
from portal.services.identity import codes, people
from portal.views import demo_mail

PROJECT_FHIR = Path(portal.__file__).resolve().parents[1] / "data" / "fhir"
# The demo's patients, all shipped with the project: its own infant and the Synthea patients (data/fhir).
SAMPLE_SOURCES = [PROJECT_FHIR / "sample-infant.json", PROJECT_FHIR / "synthea"]


def create(settings: Settings, engine: Engine) -> Iterator[str]:
    """Fill the database with the demo clinic, yielding lines that tell the operator how to sign in."""
    yield f"Demo clinic: {settings.clinic_name}"
    yield f"Database: {engine.url.render_as_string(hide_password=True)}"
    yield import_sample_records(engine, today=settings.today())
    yield from create_family(settings, engine).lines()
    yield from day_to_print(settings, engine)
    yield seed_demo_calendar(settings, engine)
    yield f"Mail the portal sends (enrolment links, invitations): {settings.origin}{demo_mail.PATH}"
    yield f"Open {settings.origin}/login in a browser (use localhost, not 127.0.0.1: passkeys need a name)."


def import_sample_records(engine: Engine, *, today: date | None = None) -> str:
    """Import the sample patients, each moved in time so that their newest data is a few weeks old."""
    day = today or date.today()
    # A partial of a module-level function: it can go to the import's worker processes (a lambda cannot).
    summary = parallel.import_paths(
        engine, SAMPLE_SOURCES, transform=partial(dates.shift_to_recent, today=day)
    )
    patients = summary.total("created")["Patient"] + summary.total("updated")["Patient"]
    count = sum(summary.total("resources").values())
    line = f"Sample records: {count} resources for {patients} new or updated patients"
    if summary.failed:
        line += f" ({len(summary.failed)} files refused)"
    return line


SAMPLE_INFANT = "97ee3c8a-7b47-5931-8347-d7917044d7f8"  # the project's own sample: a baby with growth data
PARENT_EMAIL = "parent@demo.test"
STAFF_EMAILS = {role: f"{role.replace('_', '-')}@demo.test" for role in StaffRole}


@dataclass
class DemoFamily:
    """Who the demo made, and how each of them signs in."""

    parent: Person
    children: list[Patient]
    teen: Patient | None
    adult: Patient | None
    deceased: Patient | None
    confidential_result: str | None  # the public id of the teen's restricted result
    links: dict[str, str] = field(default_factory=dict)  # label -> enrolment link
    codes: dict[str, str] = field(default_factory=dict)  # label -> activation code

    def lines(self) -> Iterator[str]:
        parent = f"{self.parent.display_name} ({PARENT_EMAIL})"
        yield f"Demo family: {parent} acts for {len(self.children)} children"
        for child in self.children:
            assert child.birth_date is not None  # pick() chooses only patients with one
            line = f"  {child.display_name}, born {child.birth_date} (front desk: search by this date)"
            if child is self.teen and self.confidential_result is not None:
                line += "; has a confidential result, hidden from the parent"
            yield line
        for label, link in self.links.items():
            yield f"Enrolment link for {label}: {link}"
        for label, code in self.codes.items():
            yield f"Activation code for {label}: {code}"
        if self.deceased is not None:
            yield (
                f"Deceased: {self.deceased.display_name}, born {self.deceased.birth_date}; "
                "never offered an activation code"
            )


def pick(patients: list[Patient], today: date, low: int, high: int, prefer: int) -> Patient | None:
    """The patient aged low..high (inclusive) nearest to `prefer` years, if any."""
    aged = [(age_on(p.birth_date, today), p) for p in patients if p.birth_date is not None and not p.deceased]
    fitting = [(abs(age - prefer), p.fhir_id, p) for age, p in aged if low <= age <= high]
    return min(fitting, key=lambda row: row[:2])[2] if fitting else None


def create_family(settings: Settings, engine: Engine) -> DemoFamily:
    """A parent with an infant, a young child and a teen from the sample records, an adult patient, and staff
    of each role; running it again hands out fresh links and codes instead of duplicating anyone."""
    today = settings.today()
    rules = AgeRules(full_proxy_until_age=settings.full_proxy_until_age, adult_at_age=settings.adult_at_age)
    with db.transaction(engine) as session:
        patients = list(session.exec(select(Patient).order_by(col(Patient.fhir_id))).all())
        infant = next((p for p in patients if p.fhir_id == SAMPLE_INFANT), None) or pick(
            patients, today, 0, 1, 0
        )
        child = pick(patients, today, 3, rules.full_proxy_until_age - 1, 8)
        teen = pick(patients, today, rules.full_proxy_until_age, rules.adult_at_age - 1, 15)
        adult = pick(patients, today, 25, 65, 40)
        deceased = next((p for p in patients if p.deceased), None)
        children = [kid for kid in (infant, child, teen) if kid is not None]
        parent, parent_link = person_with_link(session, settings, PARENT_EMAIL, "Pat Parent (demo)")
        for kid in children:
            grant_once(session, parent, kid, today=today, rules=rules)
        family = DemoFamily(parent, children, teen, adult, deceased, mark_confidential(session, teen))
        family.links["the parent"] = parent_link
        for role, email in STAFF_EMAILS.items():
            _, link = person_with_link(session, settings, email, f"Demo {role.replace('_', ' ')}", role)
            family.links[f"staff ({role.replace('_', ' ')})"] = link
        for label, patient in (("the teen", teen), ("an adult patient", adult)):
            if patient is not None:
                family.codes[
                    f"{label}, {patient.display_name} (date of birth to type: {patient.birth_date})"
                ] = codes.issue_activation_code(session, patient=patient)
    return family


def day_to_print(settings: Settings, engine: Engine) -> Iterator[str]:
    """The past clinic day with the most visits, and its busiest provider: what staff can print."""
    zone = settings.timezone
    with db.transaction(engine) as session:
        starts = session.exec(
            select(Encounter.start_at).where(col(Encounter.start_at) <= datetime.now(UTC))
        ).all()
        visits_by_day = Counter(start.astimezone(zone).date() for start in starts if start is not None)
        if not visits_by_day:
            return
        day, count = max(visits_by_day.items(), key=lambda item: (item[1], item[0]))
        by_provider = [
            (len(printing.visits_on(session, settings, day, fhir_id)), name)
            for fhir_id, name in printing.practitioners_on(session, settings, day)
        ]
    how = ", enough for a print job that the worker runs" if count > printing.BATCH_IN_REQUEST else ""
    yield f"Visits to print (staff, Print): {day} has {count} visits{how}"
    if by_provider:
        seen, name = max(by_provider)
        yield f"  {name} saw {seen} of them (choose them under Provider to print only theirs)"


def person_with_link(
    session: Session, settings: Settings, email: str, name: str, role: StaffRole | None = None
) -> tuple[Person, str]:
    existing = session.exec(select(Person).where(Person.email == email)).first()
    if existing is not None:
        return existing, people.enrolment_link(session, settings, person=existing)
    return people.add_person(session, settings, email=email, display_name=name, staff_role=role)


def grant_once(session: Session, parent: Person, child: Patient, *, today: date, rules: AgeRules) -> None:
    held = session.exec(
        select(ProxyGrant.id).where(
            ProxyGrant.proxy_person_id == parent.id,
            ProxyGrant.patient_id == child.id,
            col(ProxyGrant.revoked_at).is_(None),
        )
    ).first()
    if held is None and child.birth_date is not None:
        operator = access.Operator(today, rules, utcnow(), Provenance(route="demo"))
        access.act_as_operator(
            session,
            operator,
            child,
            access.Look(access.Area.PROXIES, "proxy_grant", action="grant-proxy"),
            proxies.add_grant,
            proxy=parent,
            relationship="parent",
            starts_on=child.birth_date,
            today=today,
            rules=rules,
        )


def mark_confidential(session: Session, teen: Patient | None) -> str | None:
    """The teen's restricted result (as if the EHR sent meta.security R): an existing one, or the newest
    laboratory result marked so."""
    if teen is None:
        return None
    query = select(Observation).where(Observation.patient_id == teen.id)
    found = session.exec(query.where(col(Observation.confidential).is_(True))).first()
    if found is None:
        found = (
            session.exec(
                query.where(Observation.category == "laboratory").order_by(
                    col(Observation.effective_at).desc()
                )
            ).first()
            or session.exec(query).first()
        )
        if found is None:
            return None
        # Stored as the import stores a label from the EHR, so the report holding it follows, and a later
        # import of the teen's record keeps it.
        session.execute(
            update(FhirResource)
            .where(col(FhirResource.id) == found.resource_id)
            .values(confidential_reason=confidentiality.SECURITY)
        )
        confidentiality.refresh_patients(session, [found.patient_id])
        session.refresh(found)
    return found.public_id


def seed_demo_calendar(settings: Settings, engine: Engine) -> str:
    """The clinic's providers, places, visit types and weekly hours, so patients can book."""
    from portal.services.scheduling.seed import seed_calendar

    with db.transaction(engine) as session:
        seed_calendar(session, tz=settings.timezone, today=settings.today())
    return "Calendar: two providers, weekly hours, visit types (book from a chart's Appointments page)."
