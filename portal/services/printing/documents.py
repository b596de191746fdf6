"""The documents printed from a record: an after-visit summary, a health summary, an immunization record.

Each builder is a reader for `access.read`: it takes the patient scope and reads through the one
visibility rule, so a held result or (for a limited view) a confidential item is never printed, and what
the scope's areas do not allow is left out (see services/access.py for which document each role gets).
Staff see held results marked "not yet released". Only a staff print writes (a fresh activation code,
which the identity service audits).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from portal import i18n
from portal.config import Settings
from portal.models.base import utcnow
from portal.models.people import Patient, Person
from portal.models.records import DiagnosticReport, Encounter, MedicationRequest, Observation
from portal.services import access, growth, lab_results, plain_words, records, results, visibility
from portal.services.access import Area, PatientScope
from portal.services.due import Due, what_is_due
from portal.services.identity import codes

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
    released: bool = True  # False reaches staff only: "not yet released to the patient"


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
    with_results: bool = True  # False without the RECORD area: the results section is left out


@dataclass(frozen=True)
class ImmunizationRecord:
    patient: Patient
    vaccines: list[Vaccine]
    due: Due | None = None  # what is due on the day it is printed (school forms ask)


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
        parts = lab_results.components(session, observation)
        values = [p for p in parts if p.value is not None]
        if values:
            joined = "/".join(i18n.format_number(round(p.value or 0, 1)) for p in values)
            text = f"{joined} {unit_words(values[0].unit)}".strip()
        else:
            text = observation.value_text or ""
    return Measurement(plain_words.test_name(observation), text)


def result_line(observation: Observation, *, released: bool = True) -> ResultLine:
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
        plain_words.test_name(observation), value, span, found.value if found else None, released
    )


def _result_lines(session: Session, scope: PatientScope, observations: list[Observation]) -> list[ResultLine]:
    """Results in words; for staff, each marked with whether the patient can see it yet."""
    if not scope.staff:
        return [result_line(o) for o in observations]  # the visibility rule left held ones out
    holds = visibility.holds(session)
    reports = records.reports_by_resource_id(
        session, scope, {o.report_resource_id for o in observations if o.report_resource_id is not None}
    )
    return [
        result_line(o, released=visibility.released(o, _report(reports, o), holds, now=scope.now))
        for o in observations
    ]


def _report(reports: dict[int, DiagnosticReport], observation: Observation) -> DiagnosticReport | None:
    return reports.get(observation.report_resource_id or 0)


def _medicines(
    session: Session, scope: PatientScope, encounter: Encounter, linked: list[MedicationRequest]
) -> list[Medicine]:
    """Prescriptions written at this visit: new ones, changes to an earlier prescription, and stops."""
    earlier_codes = set()
    if encounter.start_at is not None:
        earlier = visibility.visible(
            session, scope, select(col(MedicationRequest.code)), MedicationRequest
        ).where(col(MedicationRequest.authored_on) < encounter.start_at)
        earlier_codes = {code for code in session.scalars(earlier) if code}
    found = []
    for request in linked:
        if request.status in records.ACTIVE_MEDICATION:
            change = "changed" if request.code in earlier_codes else "started"
        elif request.status in STOPPED_MEDICATION:
            change = "stopped"
        else:
            continue  # entered in error, or unknown
        found.append(Medicine(plain_words.medicine(request.display), request.dosage, change))
    return found


def visit_summary(
    session: Session, scope: PatientScope, settings: Settings, encounter_public_id: str
) -> VisitSummary | None:
    """One visit's after-visit summary, or None when it is not this patient's (or hidden from the scope).
    Without the RECORD area (the front desk) its test results and notes are left out."""
    detail = records.encounter_detail(session, scope, encounter_public_id)
    if detail is None:
        return None
    with_record = scope.may(Area.RECORD)
    encounter = detail.encounter
    zone = settings.timezone
    start = encounter.start_at or encounter.end_at or utcnow()
    later = records.encounters(session, scope, 20)
    next_visits = sorted(
        e.start_at.astimezone(zone)
        for e in later
        if e.start_at is not None and e.start_at > max(scope.now, start) and e.status not in NOT_HAPPENING
    )
    diagnoses = [plain_words.visit_type(c.display) for c in detail.diagnoses if c.display]
    if not diagnoses and encounter.diagnoses:
        diagnoses = [d.strip() for d in encounter.diagnoses.split(";") if d.strip()]
    return VisitSummary(
        patient=scope.patient,
        encounter_public_id=encounter.public_id,
        visit_at=start.astimezone(zone),
        organization=encounter.organization,
        location=encounter.location,
        provider=encounter.practitioner,
        visit_type=plain_words.visit_type(encounter.display),
        reason=encounter.reason,
        vitals=[measurement(session, o) for o in detail.vitals],
        diagnoses=diagnoses,
        medicines=_medicines(session, scope, encounter, detail.medications),
        results=_result_lines(session, scope, detail.results) if with_record else [],
        notes=[note.text for note in detail.notes if note.text] if with_record else [],
        next_visits=next_visits,
    )


def with_activation(
    session: Session, settings: Settings, summary: VisitSummary, *, issued_by: Person | None
) -> VisitSummary:
    """A staff print for a patient with no portal account carries a fresh activation code (audited); a
    deceased patient is never offered an account."""
    if summary.patient.person_id is not None or summary.patient.deceased:
        return summary
    code = codes.issue_activation_code(session, patient=summary.patient, issued_by=issued_by)
    expires_on = settings.today() + timedelta(days=codes.ACTIVATION_DAYS)
    activation = Activation(code, settings.origin + "/activate", expires_on)
    return VisitSummary(**{**summary.__dict__, "activation": activation})


def _vaccines(session: Session, scope: PatientScope, zone: ZoneInfo) -> list[Vaccine]:
    given: dict[str, list[date]] = defaultdict(list)
    for shot in records.immunizations(session, scope):
        if shot.status not in (None, "completed"):
            continue  # not done: a school form lists doses given
        name = shot.display or shot.code or ""
        given[name]  # noqa: B018 - a dose with no date still names the vaccine
        if shot.occurred_at is not None:
            given[name].append(shot.occurred_at.astimezone(zone).date())
    return [Vaccine(name, sorted(days)) for name, days in sorted(given.items(), key=lambda kv: kv[0].lower())]


def immunization_record(session: Session, scope: PatientScope, settings: Settings) -> ImmunizationRecord:
    """The vaccines given, by name, with their dates: the school form (DOCUMENTS suffices)."""
    due = what_is_due(session, scope, today=settings.today(), zone=settings.timezone)
    return ImmunizationRecord(scope.patient, _vaccines(session, scope, settings.timezone), due)


def record_summary(session: Session, scope: PatientScope, settings: Settings) -> RecordSummary:
    """Problems, medicines, allergies, vaccines, recent results and, for a child, growth centiles; without
    the RECORD area (the front desk) no results."""
    with_results = scope.may(Area.RECORD)
    problems = [c.display for c in records.conditions(session, scope).current]
    medicines = [
        Medicine(plain_words.medicine(m.display), m.dosage, "current")
        for m in records.medications(session, scope).current
    ]
    allergies = [(a.display, a.reactions) for a in records.allergies(session, scope).current]
    recent = []
    groups = lab_results.results_by_report(session, scope) if with_results else []
    for group in groups[:RECENT_RESULT_GROUPS]:
        when = group.when.astimezone(settings.timezone).date() if group.when else None
        recent.append((when, _result_lines(session, scope, group.results)))
    return RecordSummary(
        patient=scope.patient,
        problems=problems,
        medications=medicines,
        allergies=allergies,
        vaccines=_vaccines(session, scope, settings.timezone),
        results=recent,
        growth=_latest_growth(session, scope, settings),
        with_results=with_results,
    )


def _latest_growth(session: Session, scope: PatientScope, settings: Settings) -> list[growth.Assessment]:
    patient = scope.patient
    if patient.birth_date is None or patient.sex not in ("male", "female"):
        return []
    if access.age_on(patient.birth_date, settings.today()) >= growth.GROWTH_CHART_MAX_AGE:
        return []
    series = records.growth_measurements(session, scope)
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
