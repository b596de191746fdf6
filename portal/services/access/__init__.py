"""The one place that decides who may see or do what for which patient, and audits the decision.

Rules (from the clinic's settings, computed from the date of birth on every request, so no nightly job
can be forgotten):
- the patient's own account sees everything about them, adolescents included;
- a parent or guardian has full access to a child under `full_proxy_until_age` (12), a limited view
  from then until `adult_at_age` (18), and none after that, unless a guardian grant is marked
  `beyond_majority`; an adult caregiver has the level the grant gives;
- a limited view hides confidential items (sensitive codes, meta.security R or V) and the patient's own
  messages;
- staff see what their job needs, by role (`STAFF_AREAS`);
- the operator at the command line (`portal print`, `portal export-fhir`) has no account: `read_as_operator`
  opens the chart with every area, audited as "system" with the command's `cli:` provenance.

The package: `rules` (levels, areas, ages, `decide`), `door` (the scope, `read`, `act`, the operator's
reads and changes, all audited) and `screens` (verbs the screens ask). Import from here.

One decision gives a scope every area the viewer may use for this patient (`scope.areas`, `scope.may`),
so a page that shows the banner to all staff and the record only to some decides and audits once.

Printed documents, by area. The front desk prints what a patient asks for at the desk: the after-visit
summary at checkout, the immunization record schools ask for, a health summary on request (DOCUMENTS).
Test results and the care team's notes are the record itself (RECORD), which the front desk does not
read: every document printed without RECORD leaves them out, so no PDF is a way around the results page.
"""

from __future__ import annotations

from portal.services.access.door import (
    Acted,
    Asker,
    Bound,
    Look,
    Opened,
    OpenedPage,
    PatientScope,
    act,
    acting,
    bind,
    read,
    read_many,
    read_page,
)
from portal.services.access.rules import (
    ALL_AREAS,
    DENIED,
    PROXY_AREAS,
    STAFF_AREAS,
    AgeRules,
    Area,
    Decision,
    Level,
    age_on,
    decide,
    grant_level,
    patients_for,
    staff_decision,
)
from portal.services.access.screens import (
    SCREEN_ROLES,
    Screen,
    end_grant_refusal,
    is_adult,
    may_end_grant,
    may_invite,
    may_manage_proxies_for_clinic,
    may_see_own_proxies,
    may_use_screen,
    require_screen,
)
from portal.services.access.trusted import (
    GUEST_ROLE,
    OPERATOR_ROLE,
    Operator,
    act_as_guest,
    act_as_operator,
    read_as_operator,
)

__all__ = [
    "ALL_AREAS",
    "Acted",
    "AgeRules",
    "Area",
    "Asker",
    "Bound",
    "DENIED",
    "Decision",
    "Level",
    "Look",
    "GUEST_ROLE",
    "OPERATOR_ROLE",
    "Opened",
    "OpenedPage",
    "Operator",
    "PROXY_AREAS",
    "PatientScope",
    "SCREEN_ROLES",
    "STAFF_AREAS",
    "Screen",
    "act",
    "act_as_guest",
    "act_as_operator",
    "acting",
    "age_on",
    "bind",
    "decide",
    "end_grant_refusal",
    "grant_level",
    "is_adult",
    "may_end_grant",
    "may_invite",
    "may_manage_proxies_for_clinic",
    "may_see_own_proxies",
    "may_use_screen",
    "patients_for",
    "read",
    "read_as_operator",
    "read_many",
    "read_page",
    "require_screen",
    "staff_decision",
]
