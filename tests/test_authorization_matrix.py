"""Who may use which route for which patient: every patient-data route of tests/route_registry.py, as every
kind of viewer, for every patient of a family, in every output the route serves.

The routes and their rules come from the registry (whose rules are written out from DESIGN.md "Access
rules" and README "Families and proxy access"); the viewer's relation to each patient is written out here
from the family's grants. Nothing is computed by the access service. The clock is frozen on the days the
rules turn over: the teen's 18th birthday and the younger child's 12th, and the day before each.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, SQLModel, select

from portal.config import Settings
from portal.models import (
    Appointment,
    ClinicalDocument,
    DiagnosticReport,
    Encounter,
    FhirResource,
    MedicationRequest,
    Observation,
    Patient,
    Payment,
    Person,
    ProxyGrant,
    RefillRequest,
    WaitListOffer,
)
from portal.models.printing import PrintJob
from tests.billing_data import add_bill, add_paid_payment, form_key, pay_form
from tests.conftest import POSTGRES_URL, form_post, log_in
from tests.route_registry import (
    CSV,
    FHIR,
    FRAGMENT,
    ICS,
    ITEM_FINDERS,
    ITEM_MAKERS,
    PAGE,
    PDF,
    STAFF,
    PatientData,
    patient_data,
)
from tests.scheduling_helpers import booked_visit, calendar, open_time_keys, wait_list_offer

# The family. Ages on 1 July 2026: infant 0, child 8, teen 15.
BIRTH = {
    "infant": date(2026, 1, 10),
    "child": date(2018, 2, 1),
    "teen": date(2011, 6, 15),
    "other": date(1980, 5, 5),
}
PATIENTS = tuple(BIRTH)
FAMILY_NAME = "Zanzibarova"  # on every page of their chart: a refusal must not carry it

# The days the clock is frozen on. Every output is asked for on the first; the turnover days ask for the
# HTML page and the FHIR download (the rule is the same for every output; the ages are what changes).
DAYS = {
    "ordinary day": date(2026, 7, 1),
    "day before the teen turns 18": date(2029, 6, 14),
    "the teen's 18th birthday": date(2029, 6, 15),
    "day before the child turns 12": date(2030, 1, 31),
    "the child's 12th birthday": date(2030, 2, 1),
}
EVERY_OUTPUT_ON = ("ordinary day", "the teen's 18th birthday")

VIEWERS = (
    "signed out",
    "parent",
    "teen",
    "unrelated patient",
    "revoked proxy",
    "expired proxy",
    *STAFF,
)
FULL_UNTIL, ADULT_AT = 12, 18


def age(patient: str, today: date) -> int:
    born = BIRTH[patient]
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def relation(viewer: str, patient: str, today: date) -> str:
    """The viewer's relation to the patient today, from the family's grants (see the `family` fixture).

    The parent holds a parent grant to each child: full under 12, limited 12-17, none from 18. The revoked
    and the expired proxy held a grant to the child that no longer counts: they are strangers.
    """
    if viewer == "signed out" or viewer in STAFF:
        return viewer
    if {"teen": "teen", "unrelated patient": "other"}.get(viewer) == patient:
        return "self"
    if viewer == "parent" and patient != "other":
        years = age(patient, today)
        if years < FULL_UNTIL:
            return "full proxy"
        if years < ADULT_AT:
            return "limited proxy"
    return "stranger"


def sees_confidential(relation_: str) -> bool:
    """The patient, a full proxy and clinicians see confidential items; a limited proxy and others do not."""
    return relation_ in ("self", "full proxy", "clinician")


CONFIDENTIAL_MARKER = "Private teen result 7f3a"  # the display text of the teen's confidential items

# The parameter of a route about one item -> whether that table's rows carry the confidential flag.
CONFIDENTIAL_TABLES = (
    Observation,
    Encounter,
    DiagnosticReport,
    ClinicalDocument,
    MedicationRequest,
    Appointment,
    *ITEM_FINDERS,
)


@pytest.fixture
def family(session: Session, settings: Settings) -> dict[str, object]:
    people = {
        name: Person(display_name=name.title())
        for name in ("parent", "teen", "unrelated patient", "revoked proxy", "expired proxy", "helper")
    }
    people.update({role: Person(display_name=f"Staff {role}", staff_role=role) for role in STAFF})
    session.add_all(people.values())
    session.flush()
    patients = {
        name: Patient(
            fhir_id=f"matrix-{name}", given_name=name.title(), family_name=FAMILY_NAME, birth_date=born
        )
        for name, born in BIRTH.items()
    }
    patients["teen"].person_id = people["teen"].id
    patients["other"].person_id = people["unrelated patient"].id
    session.add_all(patients.values())
    session.flush()

    def grant(proxy: str, patient: str, **fields: object) -> None:
        session.add(
            ProxyGrant(
                proxy_person_id=people[proxy].id,
                patient_id=patients[patient].id,
                starts_on=date(2026, 1, 10),
                **{"relationship": "parent", **fields},
            )
        )

    for child in ("infant", "child", "teen"):
        grant("parent", child)
    grant("revoked proxy", "child", revoked_at=datetime(2026, 3, 1, tzinfo=UTC))
    grant("expired proxy", "child", relationship="caregiver", ends_on=date(2026, 3, 1))
    # A grant of each patient that the routes ending a grant can end without changing anyone's relation.
    for patient in PATIENTS:
        grant("helper", patient, relationship="caregiver", level="full", beyond_majority=True)
    for name, patient in patients.items():
        for model in ITEM_MODELS:
            add_item(session, patient, model, f"Ordinary {model.__name__} of {name}", confidential=False)
    for model in ITEM_MODELS:
        add_item(session, patients["teen"], model, CONFIDENTIAL_MARKER, confidential=True)
    for make in ITEM_MAKERS:  # the items of features' own tables (tests/route_registry.py)
        for name, patient in patients.items():
            make(session, patient, f"Ordinary item of {name}", False)
        make(session, patients["teen"], CONFIDENTIAL_MARKER, True)
    session.flush()
    for patient in patients.values():  # a pending refill request of another medicine, for the decision route
        add_item(session, patient, MedicationRequest, "Refilled medicine", confidential=False)
        session.flush()
        medicine = session.exec(select(MedicationRequest).order_by(MedicationRequest.id.desc())).first()
        session.add(RefillRequest(patient_id=patient.id, medication_id=medicine.id, days_left=3))
    # A bill and a paid payment of each patient; the teen's confidential visit is billed too.
    for patient in patients.values():
        add_bill(session, patient)
        add_paid_payment(session, patient)
    add_bill(session, patients["teen"], description=CONFIDENTIAL_MARKER, confidential=True)
    session.flush()
    # The clinic's calendar, a visit booked for each patient, and the teen's confidential visit.
    calendar(session, settings)
    for patient in patients.values():
        booked_visit(session, patient)
    booked_visit(session, patients["teen"], code="teen-private", reason=CONFIDENTIAL_MARKER)
    # A finished print job of each member of staff who prints (a job is seen only by its owner).
    for role in ("front_desk", "clinician"):
        session.add(
            PrintJob(
                owner_person_id=people[role].id,
                day=date(2026, 1, 20),
                status="done",
                total=1,
                done=1,
                pdf=b"%PDF",
            )
        )
    session.commit()
    # Each patient books a different open time, so that one booking never takes another's, and is offered
    # another one from the wait list (for a second visit, so taking it leaves the first alone).
    times = open_time_keys(session, settings)
    for n, patient in enumerate(patients.values()):
        wait_list_offer(session, patient, people["helper"], times[len(PATIENTS) + n])
    session.commit()
    return {"people": people, "patients": patients, "times": dict(zip(PATIENTS, times, strict=False))}


# The kinds of item a page can be about, with the columns their pages read.
ITEM_MODELS: dict[type, tuple[str, dict[str, object]]] = {
    Observation: (
        "Observation",
        {
            "status": "final",
            "category": "laboratory",
            "value": 1.0,
            "effective_at": datetime(2026, 1, 20, tzinfo=UTC),
        },
    ),
    Encounter: ("Encounter", {"start_at": datetime(2026, 1, 20, 9, tzinfo=UTC), "status": "finished"}),
    DiagnosticReport: (
        "DiagnosticReport",
        {"category": "laboratory", "effective_at": datetime(2026, 1, 20, tzinfo=UTC), "status": "final"},
    ),
    ClinicalDocument: (
        "DocumentReference",
        {"date": datetime(2026, 1, 20, tzinfo=UTC), "text": "A note.", "status": "current"},
    ),
    MedicationRequest: (
        "MedicationRequest",
        {"status": "active", "authored_on": datetime(2026, 1, 20, tzinfo=UTC)},
    ),
}


def add_item(session: Session, patient: Patient, model: type, display: str, *, confidential: bool) -> None:
    resource_type, fields = ITEM_MODELS[model]
    resource = FhirResource(
        resource_type=resource_type,
        fhir_id=f"item-{secrets.token_hex(6)}",
        patient_id=patient.id,
        content_hash="0" * 64,
        resource_json="{}",
    )
    session.add(resource)
    session.flush()
    session.add(
        model(
            resource_id=resource.id,
            patient_id=patient.id,
            fhir_id=resource.fhir_id,
            display=display,
            confidential=confidential,
            **fields,
        )
    )


def item_of(session: Session, table: type, owner: Patient, *, confidential: bool, helper: Person) -> str:
    """A way to find an item of `owner` for a route's path parameter: every table a route names has one."""
    if table in ITEM_FINDERS:
        found = ITEM_FINDERS[table](session, owner, confidential)
        session.commit()
        assert found is not None, f"the family holds no {table.__name__} of {owner.given_name}"
        return found
    query = select(table).where(table.patient_id == owner.id).order_by(table.id)  # type: ignore[attr-defined]
    if table in CONFIDENTIAL_TABLES:
        query = query.where(table.confidential.is_(confidential))  # type: ignore[attr-defined]
    elif table is ProxyGrant:
        query = query.where(ProxyGrant.proxy_person_id == helper.id)
    elif table is RefillRequest:
        query = query.where(RefillRequest.status == "pending")
    elif table is Payment:
        query = query.where(Payment.status == "paid")
    elif table is WaitListOffer:
        pass  # each patient's one offer of an earlier time
    else:
        pytest.fail(f"no way to find an item of table {table.__name__}: teach item_of in {__file__}")
    row = session.exec(query.order_by(table.id)).first()  # type: ignore[attr-defined]
    session.commit()
    assert row is not None, f"the family holds no {table.__name__} of {owner.given_name}"
    return str(row.public_id)


@dataclass(frozen=True)
class Case:
    key: str  # "METHOD path", as in the registry
    entry: PatientData
    patient: str
    output: str

    @property
    def method(self) -> str:
        return self.key.split()[0]

    @property
    def path(self) -> str:
        return self.key.split()[1]

    @property
    def about_confidential_item(self) -> bool:
        """Item pages about the teen name the teen's confidential item: only those who see it may open it."""
        return self.patient == "teen" and any(t in CONFIDENTIAL_TABLES for t in self.entry.items.values())


def cases_for(day: str) -> list[Case]:
    outputs = None if day in EVERY_OUTPUT_ON else (PAGE, FHIR)
    found = [
        Case(key, entry, patient, output)
        for key, entry in patient_data(path_holds_patient=True).items()
        for output in entry.outputs
        if outputs is None or output in outputs
        for patient in PATIENTS
    ]
    # Changes last, so that what they change cannot alter the answers to the rest.
    return sorted(found, key=lambda case: case.method == "POST")


def expected(case: Case, viewer: str, today: date) -> str:
    how = relation(viewer, case.patient, today)
    if how == "signed out":
        return "sign-in"
    allowed = case.entry.who(how, age(case.patient, today))
    if allowed and case.about_confidential_item:
        allowed = sees_confidential(how)
    return "allow" if allowed else "deny"


MEDIA_TYPES = {
    PAGE: "text/html",
    FRAGMENT: "text/html",
    PDF: "application/pdf",
    FHIR: "application/fhir+json",
    ICS: "text/calendar",
}
FORMS: dict[str, dict[str, str] | Callable[[], dict[str, str]]] = {
    "POST /p/{patient}/billing/pay": pay_form,  # a fresh form key each time, as each rendered form has
    "POST /p/{patient}/billing/desk-payment": lambda: {"method": "cash", "amount": "10.00", **form_key()},
    "POST /p/{patient}/billing/payments/{payment}/refund": lambda: {"amount": "5.00", **form_key()},
    "POST /p/{patient}/billing/write-off": lambda: {"amount": "10.00", "reason": "Hardship", **form_key()},
    "POST /p/{patient}/billing/plan": {"months": "2"},
    "POST /front-desk/patients/{patient}/proxies/{grant}/end": {"identity_checked": "yes"},
    "POST /p/{patient}/access/{grant}/revoke": {"confirm": "yes"},
    "POST /p/{patient}/medications/{medication}/refill": {"pharmacy": "riverside-main", "days_left": "3"},
    "POST /p/{patient}/refills/{refill}/decide": {"decision": "needs_visit"},
    "POST /p/{patient}/access/invite": {"email": "helper.invited@example.org", "name": "Invited Helper"},
    "POST /p/{patient}/messages": {"topic": "medical", "subject": "A question", "body": "Is this normal?"},
    "POST /p/{patient}/messages/{thread}/reply": {"body": "Thank you."},
    "POST /p/{patient}/messages/{thread}/note": {"body": "Called the family."},
    "POST /p/{patient}/messages/{thread}/status": {"status": "closed"},
    "POST /p/{patient}/messages/{thread}/move": {"target": "matrix-other"},
    "POST /front-desk/patients/{patient}/proxies": {
        "identity_checked": "yes",
        "email": "new.caregiver@example.org",
        "name": "New Caregiver",
        "relationship": "caregiver",
        "level": "full",
    },
    "POST /p/{patient}/appointments/book": {"type": "sick", "time": "{time}"},
    "POST /p/{patient}/appointments/request": {"type": "new-patient", "preferred": "Mornings"},
    "POST /p/{patient}/appointments/{appointment}/cancel": {"confirm": "yes"},
}
# What a change leaves alone: the tables a request writes whatever it does (sessions, rate limits, audit).
UNCHANGING_EXCEPT = {"audit_event", "login_session", "rate_limit_bucket", "webauthn_challenge", "audit_chain"}


# Every table's row count in one statement (a refused change is checked before and after: one round trip).
ROW_COUNTS = select(
    *(
        select(func.count()).select_from(table).scalar_subquery().label(table.name)
        for table in SQLModel.metadata.sorted_tables
        if table.name not in UNCHANGING_EXCEPT
    )
)


def state(session: Session) -> dict[str, object]:
    """Every table's row count, and every grant as it stands: what a refused change must leave as it was.

    Read in a short session of its own, so the test's objects are not expired (reloading one later would
    open a transaction that holds SQLite's lock while the app waits for it)."""
    session.commit()
    with Session(session.get_bind()) as fresh:
        counts: dict[str, object] = dict(fresh.execute(ROW_COUNTS).one()._mapping)
        counts["grants"] = sorted(
            (g.id, g.revoked_at, g.ends_on, g.level)  # type: ignore[misc]
            for g in fresh.exec(select(ProxyGrant))
        )
        fresh.commit()
    return counts


def pdf_text(tmp_path: Path, pdf: bytes) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed (make test installs poppler-utils)")
    path = tmp_path / f"{secrets.token_hex(4)}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def form_of(key: str, time: str = "none") -> dict[str, str]:
    form = FORMS.get(key, {})
    form = form() if callable(form) else form
    return {name: value.replace("{time}", time) for name, value in form.items()}


def ask(client, case: Case, url: str, times: dict[str, str] | None = None):
    headers = {"HX-Request": "true"} if case.output == FRAGMENT else {}
    if case.method == "POST":
        return form_post(
            client, url, form_of(case.key, (times or {}).get(case.patient, "none")), headers=headers
        )
    return client.get(url, headers=headers)


def signed_out(response) -> bool:
    """Sent to sign in: redirected there, or (for htmx, which must not swap the page into a fragment) told
    to go there by a 401 with HX-Redirect."""
    if response.status_code == 401:
        return response.headers.get("HX-Redirect", "").startswith("/login")
    return response.url.path == "/login"


def outcome_of(response, case: Case, url: str, *, own_chart: bool = False) -> str:
    if signed_out(response):
        return "sign-in"
    if response.status_code == 404:
        return "deny"
    if case.method == "POST" and response.status_code in (400, 403) and own_chart:
        # Patients are told why their own chart refuses a change (a teen: "ask the front desk"); that it
        # changed nothing is checked apart.
        return "deny"
    if response.status_code != 200:
        return f"answered {response.status_code}"
    media_type = response.headers.get("content-type", "")
    if not media_type.startswith(MEDIA_TYPES[case.output]):
        return f"served {media_type} for {case.output}"
    return "allow"


def test_the_matrix_covers_every_patient_data_route_of_the_chart() -> None:
    keys = set(patient_data(path_holds_patient=True))

    assert {"GET /p/{patient}/summary", "GET /p/{patient}/access", "POST /p/{patient}/download"} <= keys
    assert {output for entry in patient_data().values() for output in entry.outputs} >= {
        PAGE,
        FRAGMENT,
        PDF,
        FHIR,
        CSV,
    }


# Whose access a birthday can change: a parent's and the teen's own, and the proxies whose grants end. For
# the others (signed out, an unrelated patient, staff) no rule reads an age: they are asked on the two days
# every output is checked. On PostgreSQL everyone is asked on the ordinary day only: what differs there is
# the SQL, and that day runs every output for every level of access (the parent's full view of the child
# and limited view of the teen, the teen's own, staff); the birthdays are Python rules, asked on SQLite.
AGE_BOUND = set() if POSTGRES_URL else {"parent", "teen", "revoked proxy", "expired proxy"}
DAYS_FOR_EVERYONE = EVERY_OUTPUT_ON[:1] if POSTGRES_URL else EVERY_OUTPUT_ON
VIEWER_DAYS = [
    (viewer, day) for viewer in VIEWERS for day in DAYS if viewer in AGE_BOUND or day in DAYS_FOR_EVERYONE
]


@pytest.mark.parametrize(("viewer", "day"), VIEWER_DAYS, ids=[f"{v}-{d}" for v, d in VIEWER_DAYS])
def test_every_patient_route_answers_exactly_as_the_rules_say(
    app, client, session, family, monkeypatch, tmp_path, viewer: str, day: str
) -> None:
    today = DAYS[day]
    monkeypatch.setattr(Settings, "today", lambda self: today)
    people: dict[str, Person] = family["people"]  # type: ignore[assignment]
    patients: dict[str, Patient] = family["patients"]  # type: ignore[assignment]
    if viewer != "signed out":
        log_in(client, session, people[viewer])

    answers: dict[tuple[str, str, str], str] = {}
    leaks: list[str] = []
    for case in cases_for(day):
        url = case.path.replace("{patient}", patients[case.patient].public_id)
        for name, table in case.entry.items.items():
            found = item_of(
                session,
                table,
                patients[case.patient],
                confidential=case.about_confidential_item,
                helper=people["helper"],
            )
            url = url.replace("{" + name + "}", found)
        before = (
            state(session) if case.method == "POST" and expected(case, viewer, today) != "allow" else None
        )
        response = ask(client, case, url, family["times"])  # type: ignore[arg-type]
        own_chart = relation(viewer, case.patient, today) == "self"
        outcome = outcome_of(response, case, url, own_chart=own_chart)
        answers[(case.key, case.patient, case.output)] = outcome
        if before is not None and state(session) != before:
            leaks.append(f"{case.key} for the {case.patient}: refused ({outcome}), but it changed something")
        body = (
            pdf_text(tmp_path, response.content)
            if outcome == "allow" and case.output == PDF
            else response.text
        )
        if outcome != "allow" and FAMILY_NAME in body and not own_chart:  # a patient's own name is theirs
            leaks.append(f"{case.key} ({case.output}) for the {case.patient} refused but named the patient")
        how = relation(viewer, "teen", today)
        if (
            case.patient == "teen"
            and how != "signed out"
            and not sees_confidential(how)
            and CONFIDENTIAL_MARKER in body
        ):
            leaks.append(
                f"{case.key} ({case.output}) showed the teen's confidential item to {viewer} ({how})"
            )

    wanted = {(case.key, case.patient, case.output): expected(case, viewer, today) for case in cases_for(day)}
    wrong = [
        f"{key} as {output} for the {patient} ({relation(viewer, patient, today)}, "
        f"aged {age(patient, today)}): expected {wanted[(key, patient, output)]}, got {got}"
        for (key, patient, output), got in answers.items()
        if got != wanted[(key, patient, output)]
    ]
    assert wrong == [], f"{viewer} on {day}:\n" + "\n".join(wrong)
    assert leaks == [], f"{viewer} on {day}:\n" + "\n".join(leaks)


@pytest.mark.parametrize("viewer", ["parent", "teen", "clinician", "front_desk"])
def test_an_item_of_another_patient_answers_like_a_missing_one(
    app, client, session, family, monkeypatch, viewer: str
) -> None:
    monkeypatch.setattr(Settings, "today", lambda self: DAYS["ordinary day"])
    people: dict[str, Person] = family["people"]  # type: ignore[assignment]
    patients: dict[str, Patient] = family["patients"]  # type: ignore[assignment]
    log_in(client, session, people[viewer])
    item_routes = {key: entry for key, entry in patient_data(path_holds_patient=True).items() if entry.items}
    assert item_routes, "the registry lists no route about one item of a chart: the check would be empty"

    answers = {}
    for key, entry in item_routes.items():
        for patient in ("infant", "child", "teen"):
            case = Case(key, entry, patient, entry.outputs[0])
            url = case.path.replace("{patient}", patients[patient].public_id)
            for name, table in entry.items.items():
                url = url.replace(
                    "{" + name + "}",
                    item_of(session, table, patients["other"], confidential=False, helper=people["helper"]),
                )
            before = state(session)
            answers[(key, patient)] = outcome_of(ask(client, case, url), case, url)
            assert state(session) == before, (
                f"{key} for the {patient} with another patient's item changed something"
            )

    assert {case: got for case, got in answers.items() if got != "deny"} == {}


# Routes that name no patient in their path: staff screens that list, print or change patients.
STAFF_FORMS: dict[str, dict[str, str]] = {
    "POST /front-desk/search": {"family": FAMILY_NAME, "birth_date": "2011-06-15"},
    "POST /front-desk/patients": {"name": "Teen", "birth_date": "2011-06-15"},
    "POST /front-desk/activation-code": {"patient": "matrix-other"},
    "POST /front-desk/reset": {"patient": "matrix-other"},
    "POST /staff/schedule/find": {"family": FAMILY_NAME, "birth_date": "2011-06-15"},
    "POST /staff/print/day": {"date": "2026-01-20"},
    "POST /staff/charts": {"family": FAMILY_NAME, "birth_date": "2011-06-15"},
    "POST /admin/audit/export": {"since": "2000-01-01"},
    "POST /billing/accounts": {"name": FAMILY_NAME, "birth_date": "2011-06-15"},
}


@pytest.mark.parametrize("viewer", VIEWERS)
def test_every_staff_screen_about_patients_answers_as_the_rules_say(
    app, client, session, family, monkeypatch, tmp_path, viewer: str
) -> None:
    monkeypatch.setattr(Settings, "today", lambda self: DAYS["ordinary day"])
    people: dict[str, Person] = family["people"]  # type: ignore[assignment]
    if viewer != "signed out":
        log_in(client, session, people[viewer])
    how = relation(viewer, "nobody", DAYS["ordinary day"]) if viewer in (*STAFF, "signed out") else "stranger"
    encounter = session.exec(select(Encounter).where(Encounter.confidential.is_(False))).first()  # type: ignore[attr-defined]
    owner = people[viewer] if viewer in ("front_desk", "clinician") else people["front_desk"]
    job = session.exec(select(PrintJob).where(PrintJob.owner_person_id == owner.id)).one()
    session.commit()
    forms = {**STAFF_FORMS, "POST /staff/print/visit": {"encounter": encounter.fhir_id}}

    wrong = []
    screens = patient_data(path_holds_patient=False)
    for key, entry in sorted(screens.items(), key=lambda item: item[0].startswith("POST")):
        method, path = key.split()
        url = path.replace("{job}", job.public_id)
        allowed = entry.who(how, None)
        before = state(session) if method == "POST" and not allowed else None
        response = form_post(client, url, forms.get(key, {})) if method == "POST" else client.get(url)
        if signed_out(response):
            got = "sign-in"
        elif response.status_code in (403, 404):
            got = "deny"
        elif response.status_code == 200:
            got = "allow"
        else:
            got = f"answered {response.status_code}"
        want = "sign-in" if how == "signed out" else ("allow" if allowed else "deny")
        if got != want:
            wrong.append(f"{key}: expected {want}, got {got}")
        if before is not None and state(session) != before:
            wrong.append(f"{key}: refused, but something changed")
        if got != "allow" and FAMILY_NAME in response.text:
            wrong.append(f"{key}: refused, but the answer names a patient")
        if (
            got == "allow"
            and entry.outputs == (PDF,)
            and "application/pdf" not in response.headers["content-type"]
        ):
            wrong.append(f"{key}: allowed, but served {response.headers['content-type']} instead of a PDF")
        if got == "allow" and entry.outputs == (CSV,) and "text/csv" not in response.headers["content-type"]:
            wrong.append(f"{key}: allowed, but served {response.headers['content-type']} instead of CSV")

    assert wrong == [], f"{viewer}:\n" + "\n".join(wrong)


def test_the_sqlite_family_fixture_names_every_table_the_registry_items_use(session, family) -> None:
    """Each table a route's item parameter names has a row for every patient, so every URL can be built."""
    tables = {table for entry in patient_data().values() for table in entry.items.values()}
    patients: dict[str, Patient] = family["patients"]  # type: ignore[assignment]

    def holds(table: type, patient: Patient) -> bool:
        if table in ITEM_FINDERS:
            return ITEM_FINDERS[table](session, patient, False) is not None
        count = session.exec(
            select(func.count()).select_from(table).where(table.patient_id == patient.id)  # type: ignore[attr-defined]
        ).one()
        return count > 0

    missing = [
        f"{table.__name__} of {name}"
        for table in tables
        for name, patient in patients.items()
        if not holds(table, patient)
    ]
    session.commit()

    assert missing == []


def test_a_page_path_names_its_parameters_plainly() -> None:
    """The matrix builds URLs by replacing {name}: a converter in a path ({id:int}) would need teaching."""
    odd = [key for key in patient_data() if re.search(r"{\w+:", key)]

    assert odd == []
