"""Families: the clinic's proxy screens, a patient's "who can see my record" page, and invitations.

Pages about one patient's grants name the patient in the path and go through the door: a page reads with
`read_chart_or_404`, a change with `access.act` (decide, change, one audit event, one transaction). The
clinic's staff reach the proxy screen, the patient their own page, and anyone else gets the same 404 as
for a missing patient. Services refuse with codes; `REFUSALS` puts each code into words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.config import Settings
from portal.db import run_db
from portal.i18n import N_, gettext
from portal.models.access import LEVELS, RELATIONSHIPS
from portal.models.people import Person
from portal.security.sessions import current_person
from portal.services import access, families, patient_search
from portal.services.access import Area, Look, PatientScope, Screen
from portal.services.errors import Refused
from portal.templating import render
from portal.views.chart import (
    OpenChart,
    asker,
    chart_context,
    read_chart_or_404,
    require_screen,
    rules_of,
    where,
)
from portal.views.front_desk import parse_day

P = ParamSpec("P")
T = TypeVar("T")

MAX_FIELDS = 20
PROXIES = Look(Area.PROXIES, "proxy_grant")

# Each refusal code a service raises here, in words (translated when shown). Unknown codes get FALLBACK.
REFUSALS: dict[str, str] = {
    "bad_relationship": N_("Choose a relationship: parent, guardian or caregiver."),
    "bad_level": N_("Choose a level: full or limited."),
    "beyond_majority_needs_guardian": N_("Only a guardian's access can continue past the age of 18."),
    "end_before_start": N_("The end date must be after the start date."),
    "staff_cannot_be_proxy": N_("Staff accounts cannot act for a patient."),
    "own_proxy": N_("A person cannot act for themself."),
    "parent_of_adult": N_(
        "A parent's access ends at 18. For an adult, give a guardian's or a caregiver's access."
    ),
    "already_granted": N_("This person can already act for this patient."),
    "bad_email": N_("Please enter an email address, like name@example.com."),
    "bad_date": N_("Please give each date as year, month and day, like 2024-05-31."),
    "identity_not_checked": N_("Check the person's identity, then tick the box."),
    "invite_self": N_("Please enter the email address of the person you want to invite."),
    "invite_adults_only": N_("Only adult patients can invite someone to help them."),
    "teen_cannot_revoke": N_(
        "You can't remove a parent's or guardian's access yourself. Please ask the clinic's front desk: "
        "they can change it after talking with you and your family."
    ),
    "not_yours": N_("This invitation was sent to someone else. Sign out, then open the link again."),
    "sign_in_first": N_("Please sign in with your passkey first, then open the link again."),
    "search_incomplete": N_("Give the patient ID, or a name together with the date of birth."),
}
FALLBACK = N_("That could not be done. Please try again.")


def say(refused: Refused) -> str:
    """The refusal in the reader's language (never the exception's own text)."""
    return gettext(REFUSALS.get(refused.code, FALLBACK))


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _day_rules(request: Request) -> dict[str, Any]:
    settings = _settings(request)
    return {"today": settings.today(), "rules": rules_of(settings)}


async def _form(request: Request) -> dict[str, str]:
    async with request.form(max_fields=MAX_FIELDS) as form:
        return {key: str(value).strip()[:320] for key, value in form.items() if isinstance(value, str)}


async def _act_or_404(
    request: Request,
    look: Look,
    action: Callable[Concatenate[Session, PatientScope, P], T | None],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> access.Acted[T]:
    """Change the patient named in the URL through the door; 404 (after the commit) when not allowed."""
    patient_public_id = request.path_params["patient"]
    acted = await run_db(
        request, access.acting(asker(request), patient_public_id, look, action, *args, **kwargs)
    )
    if acted is None:
        raise HTTPException(404)  # after the commit, so that the denied attempt stays in the log
    return acted


# ------------------------------------------------------------------------------ the clinic's search


async def patient_search_page(request: Request) -> Response:
    require_screen(request, Screen.PROXIES)
    return render(request, "front_desk/patients.html", {"matches": None, "message": None, "form": {}})


async def patient_search_submit(request: Request) -> Response:
    """Search by POST: names and dates of birth never go into a URL."""
    staff = require_screen(request, Screen.PROXIES)
    form = await _form(request)
    try:
        query = patient_search.Query(
            fhir_id=form.get("fhir_id", ""),
            name=form.get("name", ""),
            birth_date=parse_day(form.get("birth_date", "")),
        )
        matches = await run_db(
            request, patient_search.search, staff, query, screen=Screen.PROXIES, provenance=where(request)
        )
    except Refused as refused:
        context = {"matches": None, "message": say(refused), "form": form}
        return render(request, "front_desk/patients.html", context, status_code=400)
    return render(request, "front_desk/patients.html", {"matches": matches, "message": None, "form": form})


# ------------------------------------------------------------------------------ the clinic's screen


async def _proxies_screen(
    request: Request, *, message: str | None = None, done: str | None = None
) -> Response:
    chart = await read_chart_or_404(request, PROXIES, families.clinic_holders, **_day_rules(request))
    context = {
        "chart": chart,
        "holders": chart.data,
        "relationships": RELATIONSHIPS,
        "levels": LEVELS,
        "message": message,
        "done": done,
        "today": _settings(request).today(),
    }
    return render(request, "front_desk/proxies.html", context, status_code=400 if message else 200)


async def patient_proxies_page(request: Request) -> Response:
    # No role check here: the door answers 404 to anyone but the clinic's proxy staff.
    return await _proxies_screen(request)


async def proxy_grant_create(request: Request) -> Response:
    settings = _settings(request)
    form = await _form(request)
    try:
        if form.get("identity_checked") != "yes":
            raise Refused("identity_not_checked")
        starts_on = parse_day(form.get("starts_on", "")) or settings.today()
        ends_on = parse_day(form.get("ends_on", ""))
    except Refused as refused:
        return await _proxies_screen(request, message=say(refused))
    acted = await _act_or_404(
        request,
        families.GRANT,
        families.grant_by_email,
        settings,
        email=form.get("email", ""),
        name=form.get("name", "")[:200],
        relationship=form.get("relationship", ""),
        level=form.get("level", "full"),
        starts_on=starts_on,
        ends_on=ends_on,
        beyond_majority=form.get("beyond_majority") == "yes",
        **_day_rules(request),
    )
    if acted.refused is not None or acted.data is None:
        return await _proxies_screen(request, message=say(acted.refused or Refused("not_allowed")))
    done = f"Access granted to {acted.data.proxy.display_name}."
    if acted.data.enrolment_link:
        done += " They had no account: we emailed them a link to set one up."
    return await _proxies_screen(request, done=done)


async def proxy_grant_end(request: Request) -> Response:
    grant_id = request.path_params["grant"]
    form = await _form(request)
    if form.get("identity_checked") != "yes":
        return await _proxies_screen(request, message=say(Refused("identity_not_checked")))
    acted = await _act_or_404(
        request, families.end_look(grant_id), families.clinic_end_grant, grant_id, **_day_rules(request)
    )
    if acted.refused is not None:
        return await _proxies_screen(request, message=say(acted.refused))
    return await _proxies_screen(request, done="Access ended.")


# ------------------------------------------------------------------------ the patient's own page


async def _access_screen(
    request: Request, *, message: str | None = None, done: str | None = None
) -> Response:
    chart: OpenChart = await read_chart_or_404(request, PROXIES, families.own_access, **_day_rules(request))
    context = chart_context(
        chart,
        section="access",
        message=message,
        done=done,
        own=chart.data,
        tz=_settings(request).clinic_timezone,
    )
    return render(request, "chart/access.html", context, status_code=400 if message else 200)


async def access_page(request: Request) -> Response:
    return await _access_screen(request)


async def proxy_invitation_create(request: Request) -> Response:
    form = await _form(request)
    acted = await _act_or_404(
        request,
        families.INVITATION,
        families.invite,
        _settings(request),
        email=form.get("email", ""),
        name=form.get("name", "")[:200],
        **_day_rules(request),
    )
    if acted.refused is not None:
        return await _access_screen(request, message=say(acted.refused))
    return await _access_screen(request, done=gettext("Invitation sent. It works once, for 14 days."))


async def proxy_grant_revoke(request: Request) -> Response:
    """Removing someone's access takes two steps: this asks "Remove X's access?", and only a second post
    with confirm=yes removes it. A patient aged 12–17 is told whom to ask instead of being asked."""
    grant_id = request.path_params["grant"]
    form = await _form(request)
    if form.get("confirm") != "yes":
        look = Look(Area.PROXIES, "proxy_grant", grant_id)
        chart = await read_chart_or_404(request, look, families.grant_to_end, grant_id, **_day_rules(request))
        refusal = chart.data.end_refusal
        context = chart_context(
            chart, section="access", holder=chart.data, refusal=say(Refused(refusal)) if refusal else None
        )
        return render(request, "families/end_confirm.html", context, status_code=400 if refusal else 200)
    acted = await _act_or_404(
        request, families.end_look(grant_id), families.end_own_grant, grant_id, **_day_rules(request)
    )
    if acted.refused is not None:
        return await _access_screen(request, message=say(acted.refused))
    return await _access_screen(request, done=gettext("Access removed."))


# ------------------------------------------------------------------------------------ invitations


def _invitation_context(invitation: families.Invitation | None, person: Person | None) -> dict[str, Any]:
    if invitation is None:
        return {"state": "unusable"}
    if person is None:
        return {"state": "sign-in" if invitation.has_passkey else "enrol"}
    if person.id != invitation.invitee.id:
        return {"state": "not-yours"}
    return {"state": "accept"}


async def invitation_page(request: Request) -> Response:
    token = request.path_params["token"]
    invitation = await run_db(request, families.find_invitation, token)
    context = {"token": token, "message": None, **_invitation_context(invitation, current_person(request))}
    return render(request, "chart/invitation.html", context, status_code=200 if invitation else 404)


ALREADY_USED = N_("You may already have access. This invitation can't be used again.")


async def invitation_accept(request: Request) -> Response:
    token = request.path_params["token"]
    try:
        accepted = await run_db(
            request,
            families.accept_invitation,
            _settings(request),
            token=token,
            person=current_person(request),
            where=where(request),
            **_day_rules(request),
        )
    except Refused as refused:
        shown = say(refused) if refused.code in ("not_yours", "sign_in_first") else gettext(ALREADY_USED)
        context = {"token": token, "state": "refused", "message": shown}
        return render(request, "chart/invitation.html", context, status_code=400)
    if accepted is None:
        raise HTTPException(404)
    if accepted.enrolment_link is not None:
        return RedirectResponse(accepted.enrolment_link, status_code=303)
    return RedirectResponse(request.url_for("switcher_page"), status_code=303)


routes = [
    Route("/front-desk/patients", patient_search_page, name="patient_search"),
    Route("/front-desk/patients", patient_search_submit, methods=["POST"], name="patient_search_submit"),
    Route("/front-desk/patients/{patient}/proxies", patient_proxies_page, name="patient_proxies_page"),
    Route(
        "/front-desk/patients/{patient}/proxies",
        proxy_grant_create,
        methods=["POST"],
        name="proxy_grant_create",
    ),
    Route(
        "/front-desk/patients/{patient}/proxies/{grant}/end",
        proxy_grant_end,
        methods=["POST"],
        name="proxy_grant_end",
    ),
    Route("/p/{patient}/access", access_page, name="access_page"),
    Route(
        "/p/{patient}/access/invite",
        proxy_invitation_create,
        methods=["POST"],
        name="proxy_invitation_create",
    ),
    Route(
        "/p/{patient}/access/{grant}/revoke", proxy_grant_revoke, methods=["POST"], name="proxy_grant_revoke"
    ),
    Route("/invitation/{token}", invitation_page, name="invitation_page"),
    Route("/invitation/{token}", invitation_accept, methods=["POST"], name="invitation_accept"),
]
