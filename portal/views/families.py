"""Families: the front desk's proxy screens, a patient's "who can see my record" page, and invitations.

Pages about one patient's grants name the patient in the path and open the chart through
`open_chart_or_404` (Area.PROXIES): the front desk and admins reach the staff screen, the patient their own
page, and anyone else gets the same 404 as for a missing patient.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.config import Settings
from portal.db import run_db
from portal.i18n import N_, gettext
from portal.models.access import LEVELS, RELATIONSHIPS
from portal.models.people import Patient, Person, StaffRole
from portal.security.sessions import current_person, require_person, require_staff
from portal.services import families, proxies
from portal.services.access import Area, Decision, Level
from portal.services.proxies import GrantRefused
from portal.templating import render
from portal.views.chart import OpenChart, chart_context, open_chart_or_404, rules_of, where

FRONT_DESK = (StaffRole.FRONT_DESK, StaffRole.ADMIN)
MAX_FIELDS = 20


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _parse_day(value: str, label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise GrantRefused(f"{label}: please give a date as YYYY-MM-DD") from None


async def _form(request: Request) -> dict[str, str]:
    async with request.form(max_fields=MAX_FIELDS) as form:
        return {key: str(value).strip()[:320] for key, value in form.items() if isinstance(value, str)}


# ------------------------------------------------------------------------------------ front desk


async def patient_search(request: Request) -> Response:
    require_staff(request, *FRONT_DESK)
    return render(request, "front_desk/patients.html", {"matches": None, "message": None})


async def patient_search_submit(request: Request) -> Response:
    """Search by POST: names and dates of birth never go into a URL."""
    require_staff(request, *FRONT_DESK)
    form = await _form(request)
    try:
        birth_date = _parse_day(form.get("birth_date", ""), "Date of birth")
    except GrantRefused as error:
        return render(
            request, "front_desk/patients.html", {"matches": None, "message": str(error)}, status_code=400
        )
    fhir_id, name = form.get("fhir_id", "")[:64], form.get("name", "")[:200]
    if not fhir_id and not (name and birth_date):
        message = "Give the patient ID, or a name together with the date of birth."
        return render(
            request, "front_desk/patients.html", {"matches": None, "message": message}, status_code=400
        )
    matches = await run_db(request, families.find_patients, fhir_id=fhir_id, name=name, birth_date=birth_date)
    return render(request, "front_desk/patients.html", {"matches": matches, "message": None})


def _staff_holders(settings: Settings) -> Callable[[Session, Patient, Decision], list[proxies.Holder] | None]:
    def load(session: Session, patient: Patient, decision: Decision) -> list[proxies.Holder] | None:
        if decision.level is not Level.STAFF:
            return None  # the patient's own page is /p/{patient}/access
        return proxies.holders(session, patient, today=settings.today(), rules=rules_of(settings))

    return load


async def _proxies_screen(
    request: Request, *, message: str | None = None, done: str | None = None
) -> Response:
    chart = await open_chart_or_404(
        request, Area.PROXIES, _staff_holders(_settings(request)), resource_type="proxy_grant"
    )
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
    # No require_staff here: the chart check answers 404 to anyone but the front desk and admins.
    return await _proxies_screen(request)


async def proxy_grant_create(request: Request) -> Response:
    staff = require_person(request)
    settings = _settings(request)
    form = await _form(request)
    if form.get("identity_checked") != "yes":
        return await _proxies_screen(request, message="Check the person's identity, then tick the box.")
    try:
        starts_on = _parse_day(form.get("starts_on", ""), "Start") or settings.today()
        ends_on = _parse_day(form.get("ends_on", ""), "End")
    except GrantRefused as error:
        return await _proxies_screen(request, message=str(error))

    def load(session: Session, patient: Patient, decision: Decision) -> families.Granted | None:
        if decision.level is not Level.STAFF:
            return None
        return families.grant_by_email(
            session,
            settings,
            patient=patient,
            email=form.get("email", ""),
            name=form.get("name", ""),
            relationship=form.get("relationship", ""),
            level=form.get("level", "full"),
            starts_on=starts_on,
            ends_on=ends_on,
            beyond_majority=form.get("beyond_majority") == "yes",
            granted_by=staff,
            today=settings.today(),
            rules=rules_of(settings),
            where=where(request),
        )

    try:
        chart = await open_chart_or_404(
            request, Area.PROXIES, load, action="update", resource_type="proxy_grant"
        )
    except GrantRefused as error:
        return await _proxies_screen(request, message=str(error))
    granted: families.Granted = chart.data
    done = f"Access granted to {granted.proxy.display_name}."
    if granted.enrolment_link:
        done += " They had no account: we emailed them a link to set one up."
    return await _proxies_screen(request, done=done)


async def proxy_grant_end(request: Request) -> Response:
    staff = require_person(request)
    grant_id = request.path_params["grant"]

    def load(session: Session, patient: Patient, decision: Decision) -> object | None:
        if decision.level is not Level.STAFF:
            return None
        return families.end_grant_of(session, patient, grant_id, ended_by=staff, where=where(request))

    await open_chart_or_404(
        request, Area.PROXIES, load, action="update", resource_type="proxy_grant", resource_id=grant_id
    )
    return await _proxies_screen(request, done="Access ended.")


# ------------------------------------------------------------------------ the patient's own page


def _own_access(settings: Settings) -> Callable[[Session, Patient, Decision], dict[str, Any] | None]:
    def load(session: Session, patient: Patient, decision: Decision) -> dict[str, Any] | None:
        if decision.level is not Level.SELF:
            return None
        today, rules = settings.today(), rules_of(settings)
        return {
            "holders": proxies.holders(session, patient, today=today, rules=rules),
            "actions": families.proxy_actions(session, patient),
            "can_invite": families.is_adult(patient, today=today, rules=rules),
        }

    return load


async def _access_screen(
    request: Request, *, message: str | None = None, done: str | None = None
) -> Response:
    chart: OpenChart = await open_chart_or_404(
        request, Area.PROXIES, _own_access(_settings(request)), resource_type="proxy_grant"
    )
    context = chart_context(chart, section="access", message=message, done=done, **chart.data)
    return render(request, "chart/access.html", context, status_code=400 if message else 200)


async def access_page(request: Request) -> Response:
    return await _access_screen(request)


BAD_EMAIL = N_("Please enter an email address, like name@example.com.")
PATIENT_MESSAGES = {
    "Please enter an email address, like name@example.com.": BAD_EMAIL,
    "Please enter the email address of the person you want to invite.": N_(
        "Please enter the email address of the person you want to invite."
    ),
    "Only adult patients can invite someone to help them.": N_(
        "Only adult patients can invite someone to help them."
    ),
}


async def proxy_invitation_create(request: Request) -> Response:
    settings = _settings(request)
    form = await _form(request)

    def load(session: Session, patient: Patient, decision: Decision) -> str | None:
        person = current_person(request)
        if decision.level is not Level.SELF or person is None:
            return None
        return families.invite(
            session,
            settings,
            patient=patient,
            inviter=person,
            email=form.get("email", ""),
            name=form.get("name", "")[:200],
            today=settings.today(),
            rules=rules_of(settings),
            where=where(request),
        )

    try:
        await open_chart_or_404(
            request, Area.PROXIES, load, action="update", resource_type="proxy_invitation"
        )
    except GrantRefused as error:
        shown = PATIENT_MESSAGES.get(str(error), N_("That invitation could not be sent. Please try again."))
        return await _access_screen(request, message=gettext(shown))
    return await _access_screen(request, done=gettext("Invitation sent. It works once, for 14 days."))


async def proxy_grant_revoke(request: Request) -> Response:
    grant_id = request.path_params["grant"]

    def load(session: Session, patient: Patient, decision: Decision) -> object | None:
        person = current_person(request)
        if decision.level is not Level.SELF or person is None:
            return None
        return families.end_grant_of(session, patient, grant_id, ended_by=person, where=where(request))

    await open_chart_or_404(
        request, Area.PROXIES, load, action="update", resource_type="proxy_grant", resource_id=grant_id
    )
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


async def invitation_accept(request: Request) -> Response:
    token = request.path_params["token"]
    settings = _settings(request)
    person = current_person(request)
    try:
        accepted = await run_db(
            request,
            families.accept_invitation,
            settings,
            token=token,
            person=person,
            today=settings.today(),
            rules=rules_of(settings),
            where=where(request),
        )
    except GrantRefused as error:
        known = {
            families.NOT_YOURS: N_(families.NOT_YOURS),
            families.SIGN_IN_FIRST: N_(families.SIGN_IN_FIRST),
        }
        shown = known.get(str(error), N_("You may already have access. This invitation can't be used again."))
        context = {"token": token, "state": "refused", "message": gettext(shown)}
        return render(request, "chart/invitation.html", context, status_code=400)
    if accepted is None:
        raise HTTPException(404)
    if accepted.enrolment_link is not None:
        return RedirectResponse(accepted.enrolment_link, status_code=303)
    return RedirectResponse(request.url_for("switcher_page"), status_code=303)


routes = [
    Route("/front-desk/patients", patient_search, name="patient_search"),
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
