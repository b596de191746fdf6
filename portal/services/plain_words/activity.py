"""What an audit event was about, in plain words: "Who viewed my record" and "What they did for you" say
the same things the same way."""

from __future__ import annotations

from portal.i18n import N_

# What was looked at, in plain words: by the event's resource type, else by the page's route name.
RESOURCE_WORDS = {
    "Summary": N_("Summary"),
    "Patient": N_("Your record"),
    "Bundle": N_("Your record"),
    "Observation": N_("Test results"),
    "DiagnosticReport": N_("Test results"),
    "Encounter": N_("Visits"),
    "DocumentReference": N_("Notes"),
    "ClinicalDocument": N_("Notes"),
    "MedicationRequest": N_("Medications"),
    "MedicationStatement": N_("Medications"),
    "Immunization": N_("Immunizations"),
    "ImmunizationRecord": N_("Immunizations"),
    "AllergyIntolerance": N_("Allergies"),
    "Condition": N_("Health issues"),
    "Procedure": N_("Procedures"),
    "Growth": N_("Growth"),
    "RecordSummary": N_("Record summary"),
    "Documents": N_("Printable summaries"),
    "Appointment": N_("Appointments"),
    "Communication": N_("Messages"),
    "Message": N_("Messages"),
    "Invoice": N_("Bills and payments"),
    "audit_event": N_("Who viewed your record"),
    "proxy_grant": N_("Who has access to your record"),
    "proxy_invitation": N_("Who has access to your record"),
}
ROUTE_WORDS = {
    "result": N_("Test results"),
    "report": N_("Test results"),
    "visit": N_("Visits"),
    "encounter": N_("Visits"),
    "document": N_("Notes"),
    "medication": N_("Medications"),
    "immunization": N_("Immunizations"),
    "vaccine": N_("Immunizations"),
    "allerg": N_("Allergies"),
    "problem": N_("Health issues"),
    "growth": N_("Growth"),
    "appointment": N_("Appointments"),
    "message": N_("Messages"),
    "bill": N_("Bills and payments"),
    "print": N_("Printable summaries"),
    "access": N_("Who has access to your record"),
}
ANYTHING = N_("Your record")
ACTION_WORDS = {
    "view": N_("Looked at"),
    "download": N_("Downloaded"),
    "print": N_("Printed a copy"),
    "export": N_("Copied out"),
}


def activity_what(resource_type: str | None, route: str | None = None) -> str:
    """What was looked at or changed, as a message id the template translates."""
    what = RESOURCE_WORDS.get(resource_type or "")
    if what is None:
        what = next((words for part, words in ROUTE_WORDS.items() if part in (route or "")), ANYTHING)
    return what


def activity_action(action: str) -> str:
    """What was done ("Looked at", "Printed a copy"), as a message id; a change is "Changed"."""
    return ACTION_WORDS.get(action, CHANGED)


CHANGED = N_("Changed")
