"""Every route of the app, accounted for: patient data (what it shows, its audit event, who may use it and
in which outputs) or not patient data (and why).

tests/test_route_registry.py fails when the app has a route missing here, or this file names a route the
app no longer has; tests/test_authorization_matrix.py and tests/test_audit_every_route.py are driven by it.
A route is keyed "METHOD path" (GET covers the HEAD Starlette adds to it).

Who may use a route is written out from the clinic's rules (DESIGN.md "Access rules", README "Families and
proxy access"), as a function of the viewer's relation to the patient and the patient's age, never computed
by the access service. Relations: "self" (the patient's own account), "full proxy", "limited proxy",
"stranger" (an unrelated person, or a proxy whose grant was revoked or has ended), a staff role
("front_desk", "clinician", "billing", "admin"), and "signed out".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from portal.models import (
    Appointment,
    ClinicalDocument,
    DiagnosticReport,
    Encounter,
    MedicationRequest,
    MessageAttachment,
    MessageThread,
    Observation,
    Payment,
    ProxyGrant,
    RefillRequest,
    WaitListOffer,
)
from tests import messaging_helpers

STAFF = ("front_desk", "clinician", "billing", "admin")
RELATIONS = ("self", "full proxy", "limited proxy", "stranger", *STAFF, "signed out")

# The outputs a route can serve, and how a test asks for each.
PAGE = "page"  # a full HTML page
FRAGMENT = "fragment"  # the same URL asked by htmx (HX-Request: true): only the changed part
PDF = "pdf"
FHIR = "fhir"  # application/fhir+json
CSV = "csv"
ICS = "ics"  # text/calendar: one visit for the patient's calendar
OUTPUTS = (PAGE, FRAGMENT, PDF, FHIR, CSV, ICS)

# May `relation` use the route for a patient aged `age` (None when the route names no patient)?
Rule = Callable[[str, "int | None"], bool]


def record(relation: str, age: int | None) -> bool:
    """Results, medications, visits, notes...: the patient, a proxy in force (full or limited), clinicians."""
    return relation in ("self", "full proxy", "limited proxy", "clinician")


def demographics(relation: str, age: int | None) -> bool:
    """The summary page and its banner (name, age): as the record, and every member of staff."""
    return record(relation, age) or relation in STAFF


def documents(relation: str, age: int | None) -> bool:
    """Summaries and PDFs: as the record, and the front desk (who print them)."""
    return record(relation, age) or relation == "front_desk"


def growth(relation: str, age: int | None) -> bool:
    """Growth charts: as the record, for patients under 20 only."""
    return record(relation, age) and age is not None and age < 20


def whole_record_download(relation: str, age: int | None) -> bool:
    """The FHIR download: the patient and a full proxy (a limited view's bundle would carry hidden items)."""
    return relation in ("self", "full proxy")


def own_access(relation: str, age: int | None) -> bool:
    """Who holds access to my record, and what they did: the patient alone (not a proxy, not staff)."""
    return relation == "self"


def adult_own_access(relation: str, age: int | None) -> bool:
    """Invite a helper, end someone's access: an adult patient only (a 12-17-year-old may not)."""
    return relation == "self" and age is not None and age >= 18


def end_helper_access(relation: str, age: int | None) -> bool:
    """End a caregiver's access (the matrix's grant is a caregiver's): the patient, at any age. Only a
    parent's or guardian's grant is kept from a 12-17-year-old (tests/test_door_families.py checks that)."""
    return relation == "self"


def who_viewed(relation: str, age: int | None) -> bool:
    """Who has viewed my record: the patient, and admins (who read the audit log); never a proxy."""
    return relation in ("self", "admin")


def front_desk_proxies(relation: str, age: int | None) -> bool:
    """The staff screen of a patient's grants, and its changes: the front desk and admins."""
    return relation in ("front_desk", "admin")


def front_desk(relation: str, age: int | None) -> bool:
    """Patient search, activation codes, sign-in resets: the front desk and admins."""
    return relation in ("front_desk", "admin")


def chart_search(relation: str, age: int | None) -> bool:
    """Finding a patient to open their chart: clinicians."""
    return relation == "clinician"


def staff_printing(relation: str, age: int | None) -> bool:
    """Printing visit summaries for a day or a visit: the front desk and clinicians."""
    return relation in ("front_desk", "clinician")


def audit_log(relation: str, age: int | None) -> bool:
    """The audit log's search and CSV export: admins only."""
    return relation == "admin"


def checkin(relation: str, age: int | None) -> bool:
    """Online check-in: the patient and a proxy in force (a limited one too: it hides confidential forms)."""
    return relation in ("self", "full proxy", "limited proxy")


def registration_review(relation: str, age: int | None) -> bool:
    """The registration review screen: the front desk only."""
    return relation == "front_desk"


def refill_request(relation: str, age: int | None) -> bool:
    """Asking for a refill: the patient and a proxy in force (a limited one only for what they may see)."""
    return relation in ("self", "full proxy", "limited proxy")


def refill_decision(relation: str, age: int | None) -> bool:
    """The refill queue and its decisions: clinicians only."""
    return relation == "clinician"


def messages(relation: str, age: int | None) -> bool:
    """A patient's threads: the patient, a proxy in force (a limited one without the teen's private
    threads), and the staff who answer messages (clinicians, the front desk, billing)."""
    return relation in ("self", "full proxy", "limited proxy", "clinician", "front_desk", "billing")


def patient_side_messages(relation: str, age: int | None) -> bool:
    """Writing a new thread, archiving: the patient and a proxy in force."""
    return relation in ("self", "full proxy", "limited proxy")


def care_team_messages(relation: str, age: int | None) -> bool:
    """Assign, internal note, status, move; the inbox: the staff who answer messages."""
    return relation in ("clinician", "front_desk", "billing")


def billing(relation: str, age: int | None) -> bool:
    """Bills: the patient, a proxy in force (the guarantor), and billing staff."""
    return relation in ("self", "full proxy", "limited proxy", "billing")


def billing_office(relation: str, age: int | None) -> bool:
    """The billing office's ledger and its changes (desk payments, refunds, write-offs, plans): billing
    staff only, never the patient or a guarantor."""
    return relation == "billing"


def appointments(relation: str, age: int | None) -> bool:
    """Appointments: the patient, a proxy in force (a limited one without confidential visits), and the
    staff who schedule (front desk, clinicians)."""
    return relation in ("self", "full proxy", "limited proxy", "front_desk", "clinician")


def schedule_screen(relation: str, age: int | None) -> bool:
    """The schedule screen (day view, requests, finding a patient to book for): front desk, clinicians."""
    return relation in ("front_desk", "clinician")


def anyone_signed_in(relation: str, age: int | None) -> bool:
    """The records switcher: anyone signed in (it lists only whom they may act for)."""
    return relation != "signed out"


@dataclass(frozen=True)
class PatientData:
    """A route that shows or changes a patient's data."""

    area: str  # what part of the record, in words
    action: str  # the audit event's action: view, download, print, create, update, delete
    resource_type: str  # the audit event's resource_type
    outputs: tuple[str, ...]  # what it serves: page, fragment, pdf, fhir, csv
    who: Rule  # who may use it, written out from the rules
    # Path parameters other than {patient} -> the table whose public id they name (a way to find an item).
    items: dict[str, type] = field(default_factory=dict)
    sees_confidential_items: bool = True  # an item page: a limited proxy gets 404 for a confidential item


@dataclass(frozen=True)
class NotPatientData:
    reason: str


Entry = PatientData | NotPatientData

RECORD_PAGE = (PAGE, FRAGMENT)

ROUTES: dict[str, Entry] = {
    # -- no patient data ------------------------------------------------------------------------------
    "GET /healthz": NotPatientData("a load balancer's liveness check: answers ok"),
    "GET /": NotPatientData("the home page: sign-in links and the clinic's name"),
    "GET /static/{name}": NotPatientData("the portal's own CSS, JavaScript and icons"),
    "GET /language": NotPatientData("sets the language cookie and redirects"),
    "GET /activate": NotPatientData("the activation form; it asks for a code and a birth date"),
    "POST /activate": NotPatientData("checks an activation code and birth date; reveals no record"),
    "POST /activate/options": NotPatientData("WebAuthn registration options for a new account"),
    "POST /activate/finish": NotPatientData("stores the new account's passkey"),
    "GET /login": NotPatientData("the sign-in page"),
    "POST /login": NotPatientData("signs a person in"),
    "POST /login/options": NotPatientData("WebAuthn sign-in options"),
    "POST /login/finish": NotPatientData("checks a passkey assertion"),
    "GET /login/recovery": NotPatientData("the recovery-code sign-in form"),
    "POST /login/recovery": NotPatientData("signs in with a recovery code"),
    "GET /login/password": NotPatientData("the password sign-in form"),
    "POST /login/password": NotPatientData("checks a password and mails a one-time code"),
    "GET /login/code": NotPatientData("the one-time code form"),
    "POST /login/code": NotPatientData("checks the mailed one-time code"),
    "POST /logout": NotPatientData("ends the session"),
    "GET /enrol/{token}": NotPatientData("a new person's passkey enrolment page"),
    "POST /enrol/{token}/options": NotPatientData("WebAuthn registration options for enrolment"),
    "POST /enrol-finish": NotPatientData("stores an enrolling person's passkey"),
    "GET /account": NotPatientData("the signed-in person's own account settings"),
    "GET /account/passkeys": NotPatientData("the person's own passkeys"),
    "POST /account/passkeys/{public_id}/rename": NotPatientData("renames one of the person's passkeys"),
    "POST /account/passkeys/{public_id}/remove": NotPatientData("removes one of the person's passkeys"),
    "POST /account/passkeys/options": NotPatientData("WebAuthn options to add a passkey"),
    "POST /account/passkeys/finish": NotPatientData("stores an added passkey"),
    "POST /account/step-up/options": NotPatientData("WebAuthn options to confirm it is really you"),
    "POST /account/step-up/finish": NotPatientData("checks the step-up assertion"),
    "GET /account/sessions": NotPatientData("the person's own signed-in devices"),
    "POST /account/sessions/{public_id}/revoke": NotPatientData("signs out one of the person's devices"),
    "POST /account/sessions/everywhere": NotPatientData("signs the person out everywhere"),
    "GET /account/recovery-codes": NotPatientData("the person's recovery codes page"),
    "POST /account/recovery-codes": NotPatientData("makes new recovery codes for the person"),
    "GET /account/password": NotPatientData("the person's password form"),
    "POST /account/password": NotPatientData("sets the person's password"),
    "GET /account/reminders": NotPatientData("the person's own choice about reminder mail"),
    "POST /account/reminders": NotPatientData("turns the person's own reminder mail on or off"),
    "GET /front-desk": NotPatientData("the front desk's empty search and code forms"),
    "GET /front-desk/patients": NotPatientData("the front desk's empty patient search form"),
    "GET /admin/audit": NotPatientData("admin-only; the search screen's events are covered by its export"),
    "POST /admin/audit": NotPatientData("admin-only: the same search, its filters in the body, not the URL"),
    "GET /invitation/{token}": NotPatientData("an invitation's accept page: names no patient's record"),
    "POST /invitation/{token}": NotPatientData("accepts an invitation for the signed-in invitee"),
    "GET /clinic/result-holds": NotPatientData("categories held from release: clinic settings, no patient"),
    "POST /clinic/result-holds": NotPatientData("sets a category's hold: clinic settings, no patient"),
    "POST /clinic/result-holds/clear": NotPatientData("ends a category's hold: clinic settings, no patient"),
    "GET /staff": NotPatientData("a member of staff's home: links to the screens their role opens"),
    "GET /staff/charts": NotPatientData("the clinician's empty patient search form"),
    "GET /staff/print": NotPatientData("the staff print form; lists providers with visits, no patient"),
    "GET /demo/mail": NotPatientData("demo mode only: the demo's outbox, which mail keeps free of PHI"),
    "GET /p/{patient}": NotPatientData("redirects to the summary page, which is checked"),
    "POST /account/message-mail": NotPatientData("the person's own choice of mail at night"),
    "GET /admin/care-teams": NotPatientData("admin-only: the care-team pools, staff names, no patient"),
    "POST /admin/care-teams": NotPatientData("admin-only: defines a care-team pool, no patient"),
    "POST /billing/webhook/stripe": NotPatientData(
        "the processor's webhook: verified by its signature, audited"
    ),
    "GET /billing/reconciliation": NotPatientData(
        "the day's payments and refunds by processor id: amounts and ids, no patient; billing staff, audited"
    ),
    "GET /billing/reconciliation.csv": NotPatientData(
        "the same day's report as formula-safe CSV: no patient named; billing staff, audited"
    ),
    "GET /billing/accounts": NotPatientData("the billing office's empty account search form"),
    "GET /billing/guest": NotPatientData("guest pay's form: a statement code and a date of birth"),
    "POST /billing/guest": NotPatientData(
        "guest pay: one statement, only for its code and the patient's birth date; rate limited, locked "
        "after five wrong birth dates, audited (tests/test_billing_guest.py)"
    ),
    "POST /billing/guest/pay": NotPatientData(
        "guest pay: starts paying the statement a signed pass names; audited (tests/test_billing_guest.py)"
    ),
    "GET /billing/guest/done": NotPatientData("back from the processor: the payment's amount and state only"),
    "GET /demo-pay/{ref}": NotPatientData("the demo processor's hosted page: an amount, no name or visit"),
    "POST /demo-pay/{ref}": NotPatientData("the demo processor's pay button: its signed event, audited"),
    # -- a patient's chart ----------------------------------------------------------------------------
    "GET /p/{patient}/summary": PatientData("summary", "view", "Summary", RECORD_PAGE, demographics),
    "GET /p/{patient}/results": PatientData("results", "view", "DiagnosticReport", RECORD_PAGE, record),
    "GET /p/{patient}/results/{result}": PatientData(
        "one result's history", "view", "Observation", RECORD_PAGE, record, {"result": Observation}
    ),
    "GET /p/{patient}/reports/{report}": PatientData(
        "one report", "view", "DiagnosticReport", RECORD_PAGE, record, {"report": DiagnosticReport}
    ),
    "GET /p/{patient}/medications": PatientData(
        "medications", "view", "MedicationRequest", RECORD_PAGE, record
    ),
    "GET /p/{patient}/allergies": PatientData("allergies", "view", "AllergyIntolerance", RECORD_PAGE, record),
    "GET /p/{patient}/problems": PatientData("health issues", "view", "Condition", RECORD_PAGE, record),
    "GET /p/{patient}/immunizations": PatientData(
        "immunizations", "view", "Immunization", RECORD_PAGE, record
    ),
    "GET /p/{patient}/visits": PatientData("visits", "view", "Encounter", RECORD_PAGE, record),
    "GET /p/{patient}/visits/{visit}": PatientData(
        "one visit", "view", "Encounter", RECORD_PAGE, record, {"visit": Encounter}
    ),
    "GET /p/{patient}/documents": PatientData("notes", "view", "DocumentReference", RECORD_PAGE, record),
    "GET /p/{patient}/documents/{document}": PatientData(
        "one note", "view", "DocumentReference", RECORD_PAGE, record, {"document": ClinicalDocument}
    ),
    "GET /p/{patient}/growth": PatientData("growth charts", "view", "Growth", RECORD_PAGE, growth),
    "POST /p/{patient}/download": PatientData(
        "the whole record as FHIR", "download", "Patient", (FHIR,), whole_record_download
    ),
    "GET /p/{patient}/viewed": PatientData(
        "who viewed the record", "view", "audit_event", RECORD_PAGE, who_viewed
    ),
    # -- printing -------------------------------------------------------------------------------------
    "GET /p/{patient}/print": PatientData("documents to print", "view", "Documents", RECORD_PAGE, documents),
    "GET /p/{patient}/print/summary": PatientData(
        "health summary PDF", "download", "RecordSummary", (PDF,), documents
    ),
    "GET /p/{patient}/print/immunizations": PatientData(
        "immunization record PDF", "download", "ImmunizationRecord", (PDF,), documents
    ),
    "GET /p/{patient}/print/visit/{encounter}": PatientData(
        "visit summary PDF", "download", "Encounter", (PDF,), documents, {"encounter": Encounter}
    ),
    "POST /staff/print/day": PatientData(
        "a day's visit summaries", "print", "Encounter", (PDF,), staff_printing
    ),
    "POST /staff/print/visit": PatientData(
        "one visit's summary", "print", "Encounter", (PDF,), staff_printing
    ),
    "GET /staff/print/jobs/{job}": PatientData(
        "a print job's progress (names its day)", "view", "PrintJob", (PAGE,), staff_printing
    ),
    "GET /staff/print/jobs/{job}/pdf": PatientData(
        "a finished print job's PDF", "download", "PrintJob", (PDF,), staff_printing
    ),
    # -- billing ------------------------------------------------------------------------------------
    "GET /p/{patient}/billing": PatientData("bills and payments", "view", "Account", RECORD_PAGE, billing),
    "POST /p/{patient}/billing/pay": PatientData("start a payment", "pay", "PaymentNotice", (PAGE,), billing),
    "GET /p/{patient}/billing/statement": PatientData(
        "a month's statement PDF", "download", "Invoice", (PDF,), billing
    ),
    "GET /p/{patient}/billing/ledger": PatientData(
        "the billing office's ledger", "view", "Account", (PAGE,), billing_office
    ),
    "POST /p/{patient}/billing/desk-payment": PatientData(
        "a payment taken at the desk", "pay", "PaymentNotice", (PAGE,), billing_office
    ),
    "POST /p/{patient}/billing/payments/{payment}/refund": PatientData(
        "a refund", "refund", "PaymentNotice", (PAGE,), billing_office, {"payment": Payment}
    ),
    "POST /p/{patient}/billing/write-off": PatientData(
        "a write-off with its reason", "write-off", "Account", (PAGE,), billing_office
    ),
    "POST /p/{patient}/billing/plan": PatientData(
        "a payment plan", "payment-plan", "PaymentPlan", (PAGE,), billing_office
    ),
    "POST /billing/accounts": PatientData(
        "billing account search", "view", "Patient", (PAGE,), billing_office
    ),
    "GET /p/{patient}/billing/receipts/{payment}": PatientData(
        "a payment's receipt PDF", "download", "PaymentNotice", (PDF,), billing, {"payment": Payment}
    ),
    # -- families and proxies -------------------------------------------------------------------------
    "GET /p/{patient}/access": PatientData(
        "who holds access", "view", "proxy_grant", RECORD_PAGE, own_access
    ),
    "POST /p/{patient}/access/invite": PatientData(
        "invite a helper", "create", "proxy_invitation", (PAGE,), adult_own_access
    ),
    "POST /p/{patient}/access/{grant}/revoke": PatientData(
        "end a helper's access",
        "revoke-proxy",
        "proxy_grant",
        (PAGE,),
        end_helper_access,
        {"grant": ProxyGrant},
    ),
    "GET /front-desk/patients/{patient}/proxies": PatientData(
        "a patient's grants (staff screen)", "view", "proxy_grant", RECORD_PAGE, front_desk_proxies
    ),
    "POST /front-desk/patients/{patient}/proxies": PatientData(
        "grant access", "grant-proxy", "proxy_grant", (PAGE,), front_desk_proxies
    ),
    "POST /front-desk/patients/{patient}/proxies/{grant}/end": PatientData(
        "end a grant", "revoke-proxy", "proxy_grant", (PAGE,), front_desk_proxies, {"grant": ProxyGrant}
    ),
    # -- online check-in (registration before a visit) -------------------------------------------------
    "GET /p/{patient}/checkin": PatientData("check-in overview", "view", "CheckIn", RECORD_PAGE, checkin),
    **{
        f"GET /p/{{patient}}/checkin/{step}": PatientData(
            f"check-in: {step}", "view", "CheckIn", RECORD_PAGE, checkin
        )
        for step in ("details", "insurance", "review", "forms", "consents")
    },
    **{
        f"POST /p/{{patient}}/checkin/{step}": PatientData(
            f"save {step}", "update", "CheckIn", (PAGE,), checkin
        )
        for step in ("details", "insurance", "insurance/photo", "review", "forms", "consents")
    },
    "GET /p/{patient}/checkin/consents/pdf": PatientData(
        "signed consents PDF", "download", "Consent", (PDF,), checkin
    ),
    "POST /p/{patient}/checkin/submit": PatientData(
        "send the check-in", "check-in-sent", "CheckIn", (PAGE,), checkin
    ),
    "GET /front-desk/registration/{patient}": PatientData(
        "a sent check-in, side by side", "view", "CheckIn", RECORD_PAGE, registration_review
    ),
    "POST /front-desk/registration/{patient}/decide": PatientData(
        "accept or reject a change", "check-in-decided", "CheckIn", (PAGE,), registration_review
    ),
    "GET /front-desk/registration": PatientData(
        "check-ins waiting for review", "view", "CheckIn", (PAGE,), registration_review
    ),
    # -- refills -------------------------------------------------------------------------------------------
    "GET /p/{patient}/refills": PatientData(
        "refill requests and their history", "view", "Task", RECORD_PAGE, record
    ),
    "GET /p/{patient}/medications/{medication}/refill": PatientData(
        "a medicine's refill form or status",
        "view",
        "MedicationRequest",
        RECORD_PAGE,
        record,
        {"medication": MedicationRequest},
    ),
    "POST /p/{patient}/medications/{medication}/refill": PatientData(
        "ask for a refill", "create", "Task", (PAGE,), refill_request, {"medication": MedicationRequest}
    ),
    "GET /clinic/refills": PatientData("the refill queue", "view", "Task", (PAGE,), refill_decision),
    "POST /p/{patient}/refills/{refill}/decide": PatientData(
        "decide a refill request", "decide", "Task", (PAGE,), refill_decision, {"refill": RefillRequest}
    ),
    # -- messages ----------------------------------------------------------------------------------
    "GET /p/{patient}/messages": PatientData(
        "message threads", "view", "Communication", RECORD_PAGE, messages
    ),
    "GET /p/{patient}/messages/new": PatientData(
        "the compose form", "view", "Communication", (PAGE,), patient_side_messages
    ),
    "POST /p/{patient}/messages": PatientData(
        "a new thread", "send", "Communication", (PAGE,), patient_side_messages
    ),
    "GET /p/{patient}/messages/{thread}": PatientData(
        "one thread", "view", "Communication", (PAGE,), messages, {"thread": MessageThread}
    ),
    "POST /p/{patient}/messages/{thread}/reply": PatientData(
        "a reply", "send", "Communication", (PAGE,), messages, {"thread": MessageThread}
    ),
    "POST /p/{patient}/messages/{thread}/archive": PatientData(
        "archive a thread",
        "archive",
        "Communication",
        (PAGE,),
        patient_side_messages,
        {"thread": MessageThread},
    ),
    "POST /p/{patient}/messages/{thread}/assign": PatientData(
        "assign a thread", "assign", "Communication", (PAGE,), care_team_messages, {"thread": MessageThread}
    ),
    "POST /p/{patient}/messages/{thread}/note": PatientData(
        "an internal note", "create", "internal_note", (PAGE,), care_team_messages, {"thread": MessageThread}
    ),
    "POST /p/{patient}/messages/{thread}/status": PatientData(
        "close a thread", "close", "Communication", (PAGE,), care_team_messages, {"thread": MessageThread}
    ),
    "POST /p/{patient}/messages/{thread}/move": PatientData(
        "move a thread to another record",
        "move",
        "Communication",
        (PAGE,),
        care_team_messages,
        {"thread": MessageThread},
    ),
    "GET /p/{patient}/message-files/{file}": PatientData(
        "a message's attachment", "download", "Binary", (PDF,), messages, {"file": MessageAttachment}
    ),
    "GET /staff/inbox": PatientData(
        "the messages inbox", "view", "Communication", RECORD_PAGE, care_team_messages
    ),
    # -- appointments ---------------------------------------------------------------------------------
    "GET /p/{patient}/appointments": PatientData(
        "appointments", "view", "Appointment", (PAGE,), appointments
    ),
    "GET /p/{patient}/appointments/book": PatientData(
        "open times to book", "view", "Slot", (PAGE,), appointments
    ),
    "POST /p/{patient}/appointments/book": PatientData(
        "book a visit", "create", "Appointment", (PAGE,), appointments
    ),
    "POST /p/{patient}/appointments/request": PatientData(
        "ask the front desk for a visit", "create", "AppointmentRequest", (PAGE,), appointments
    ),
    "GET /p/{patient}/appointments/{appointment}": PatientData(
        "one visit", "view", "Appointment", (PAGE,), appointments, {"appointment": Appointment}
    ),
    "GET /p/{patient}/appointments/{appointment}/calendar": PatientData(
        "one visit as a calendar file",
        "download",
        "Appointment",
        (ICS,),
        appointments,
        {"appointment": Appointment},
    ),
    "POST /p/{patient}/appointments/{appointment}/confirm": PatientData(
        "say one will come", "update", "Appointment", (PAGE,), appointments, {"appointment": Appointment}
    ),
    "POST /p/{patient}/appointments/{appointment}/earlier": PatientData(
        "join the wait list", "update", "Appointment", (PAGE,), appointments, {"appointment": Appointment}
    ),
    "GET /p/{patient}/appointments/offers/{offer}": PatientData(
        "an earlier time offered", "view", "Slot", (PAGE,), appointments, {"offer": WaitListOffer}
    ),
    "POST /p/{patient}/appointments/offers/{offer}/accept": PatientData(
        "take an earlier time", "create", "Appointment", (PAGE,), appointments, {"offer": WaitListOffer}
    ),
    # Last: the matrix runs changes in this order, and a cancelled visit can no longer change.
    "POST /p/{patient}/appointments/{appointment}/cancel": PatientData(
        "cancel a visit", "update", "Appointment", (PAGE,), appointments, {"appointment": Appointment}
    ),
    # -- the schedule screen -------------------------------------------------------------------------
    "GET /staff/schedule": PatientData(
        "a provider's day: who is booked when", "view", "Appointment", (PAGE,), schedule_screen
    ),
    "GET /staff/schedule/requests": PatientData(
        "the queue of appointment requests", "view", "AppointmentRequest", (PAGE,), schedule_screen
    ),
    "POST /staff/schedule/find": PatientData(
        "patient search to book for", "view", "Patient", (PAGE,), schedule_screen
    ),
    "POST /staff/schedule/block": NotPatientData("blocks a provider's time: no patient named"),
    "POST /staff/schedule/unblock": NotPatientData("removes a block of a provider's time: no patient named"),
    # -- staff screens that list or change patients ---------------------------------------------------
    "GET /records": PatientData("whom the person may act for", "view", "Patient", (PAGE,), anyone_signed_in),
    "POST /front-desk/search": PatientData("patient search", "view", "Patient", RECORD_PAGE, front_desk),
    "POST /staff/charts": PatientData("patient search", "view", "Patient", RECORD_PAGE, chart_search),
    "POST /front-desk/patients": PatientData("patient search", "view", "Patient", RECORD_PAGE, front_desk),
    "POST /front-desk/activation-code": PatientData(
        "a patient's activation code", "create", "activation_code", (PAGE,), front_desk
    ),
    "POST /front-desk/reset": PatientData(
        "a patient's sign-in reset", "update", "activation_code", (PAGE,), front_desk
    ),
    "POST /admin/audit/export": PatientData(
        "the audit log as CSV", "download", "audit_event", (CSV,), audit_log
    ),
}


# Tables of items that features add, for the matrix and the audit test: how to put items of a patient in a
# test world (maker(session, patient, display, confidential)), and how to find one for a route's path
# (finder(session, owner, confidential) -> public id). A table named here carries the confidential flag.
ITEM_MAKERS = [messaging_helpers.add_threads]
ITEM_FINDERS = {
    MessageThread: messaging_helpers.find_thread,
    MessageAttachment: messaging_helpers.find_attachment,
}


def route_keys(route: object) -> list[str]:
    """The registry keys of one route of the app: one per method (HEAD goes with GET)."""
    path = getattr(route, "path", "")
    methods = getattr(route, "methods", None)
    if methods is None:  # a Mount or a WebSocket route: it answers any method
        kind = "WEBSOCKET" if type(route).__name__ == "WebSocketRoute" else "ANY"
        return [f"{kind} {path}"]
    return [f"{method} {path}" for method in sorted(methods) if method != "HEAD" or "GET" not in methods]


def patient_data(path_holds_patient: bool | None = None) -> dict[str, PatientData]:
    """The registry's patient-data routes (only those whose path names {patient}, when asked)."""
    return {
        key: entry
        for key, entry in ROUTES.items()
        if isinstance(entry, PatientData)
        and (path_holds_patient is None or ("{patient}" in key) == path_holds_patient)
    }
