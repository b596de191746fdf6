"""What staff screens and the proxy screens may offer: verbs that views and templates ask, never decide."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from portal.models.access import ProxyGrant
from portal.models.people import Patient, Person, StaffRole
from portal.services.access.door import PatientScope
from portal.services.access.rules import AgeRules, Area, Level, age_on
from portal.services.errors import Refused

# =============================================================== changes through the door, and screen verbs
# Reading has `read`; a change has `act` (and, for the clinic's own commands, `act_as_operator`): decide,
# call the action with a scope, write one audit event, all in the caller's transaction. The verbs below
# say what the proxy screens and the front desk may offer, so views and templates ask rather than decide.


class Screen(StrEnum):
    """Staff screens that are not about one patient's chart."""

    FRONT_DESK = "front_desk"  # activation codes and the patient search
    PROXIES = "proxies"  # who may act for a patient, as the clinic manages it
    RESULT_HOLDS = "result_holds"  # holding a category of results from release
    PRINTING = "printing"  # a day's visit summaries
    AUDIT = "audit"  # the audit log
    INBOX = "inbox"  # patients' messages to the care team
    CARE_TEAMS = "care_teams"  # defining the care-team pools messages route to
    REFILLS = "refills"  # the refill queue
    SCHEDULE = "schedule"  # the day view, booking for patients, appointment requests
    REGISTRATION = "registration"  # reviewing online check-ins
    BILLING = "billing"  # accounts, payments, reconciliation
    CHARTS = "charts"  # finding a patient to open their chart (clinicians)


SCREEN_ROLES: dict[Screen, frozenset[StaffRole]] = {
    Screen.FRONT_DESK: frozenset({StaffRole.FRONT_DESK, StaffRole.ADMIN}),
    Screen.PROXIES: frozenset({StaffRole.FRONT_DESK, StaffRole.ADMIN}),
    Screen.RESULT_HOLDS: frozenset({StaffRole.CLINICIAN}),
    Screen.PRINTING: frozenset({StaffRole.FRONT_DESK, StaffRole.CLINICIAN}),
    Screen.AUDIT: frozenset({StaffRole.ADMIN}),
    Screen.INBOX: frozenset({StaffRole.CLINICIAN, StaffRole.FRONT_DESK, StaffRole.BILLING}),
    Screen.CARE_TEAMS: frozenset({StaffRole.ADMIN}),
    Screen.REFILLS: frozenset({StaffRole.CLINICIAN}),
    Screen.SCHEDULE: frozenset({StaffRole.FRONT_DESK, StaffRole.CLINICIAN}),
    Screen.REGISTRATION: frozenset({StaffRole.FRONT_DESK}),
    Screen.BILLING: frozenset({StaffRole.BILLING}),
    Screen.CHARTS: frozenset({StaffRole.CLINICIAN}),
}


def may_use_screen(person: Person, screen: Screen) -> bool:
    """Whether this member of staff's role opens this screen (never a patient, never a disabled account)."""
    return (
        not person.disabled
        and person.staff_role is not None
        and person.staff_role in SCREEN_ROLES.get(screen, frozenset())
    )


def require_screen(person: Person, screen: Screen) -> None:
    """Refuses (code "screen_not_allowed") anyone whose role does not open `screen`."""
    if not may_use_screen(person, screen):
        raise Refused("screen_not_allowed", screen=screen.value)


def is_adult(patient: Patient, *, today: date, rules: AgeRules) -> bool:
    return patient.birth_date is not None and age_on(patient.birth_date, today) >= rules.adult_at_age


def may_manage_proxies_for_clinic(scope: PatientScope) -> bool:
    """The clinic's proxy screen (grant, end with the identity checked): staff with the proxies area."""
    return scope.area is Area.PROXIES and scope.level is Level.STAFF


def may_see_own_proxies(scope: PatientScope) -> bool:
    """The patient's own "who can see my record" page: the patient alone, not a proxy, not staff."""
    return scope.area is Area.PROXIES and scope.level is Level.SELF


def may_invite(scope: PatientScope, *, today: date, rules: AgeRules) -> bool:
    """An adult patient may invite someone to help them; a minor's proxies are set up by the clinic."""
    return may_see_own_proxies(scope) and is_adult(scope.patient, today=today, rules=rules)


def end_grant_refusal(scope: PatientScope, grant: ProxyGrant, *, today: date, rules: AgeRules) -> str | None:
    """Why this viewer may not end this grant (a Refused code), or None when they may.

    The clinic may end any grant of the patient. A patient may end grants on their own record, except that
    a patient under the age of majority may not remove a parent's or guardian's access.
    """
    if grant.patient_id != scope.patient_id:
        return "grant_of_another_patient"
    if may_manage_proxies_for_clinic(scope):
        return None
    if not may_see_own_proxies(scope):
        return "not_allowed"
    if grant.relationship in ("parent", "guardian") and not is_adult(scope.patient, today=today, rules=rules):
        return "teen_cannot_revoke"
    return None


def may_end_grant(scope: PatientScope, grant: ProxyGrant, *, today: date, rules: AgeRules) -> bool:
    return end_grant_refusal(scope, grant, today=today, rules=rules) is None
