"""Secure messaging pages: a patient's threads under /p/{patient}/messages (patients, proxies and staff
alike, through the door), the care team's inbox, and the admin's care-team pools.

Reads go through `read_chart_or_404`, changes through `access.acting`: the decision, the service call and
one audit event in one transaction. Services refuse with codes; `REFUSALS` says each in words, next to
its field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlmodel import Session
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal import forms
from portal.config import Settings
from portal.db import run_db
from portal.i18n import N_, gettext
from portal.models.base import utcnow
from portal.models.messaging import STATUSES, TOPICS
from portal.security.sessions import require_person
from portal.services import access
from portal.services.access import Area, Look, PatientScope, Screen
from portal.services.errors import Refused
from portal.services.messaging import files, notices, staff, text, threads, writing
from portal.templating import render
from portal.views.chart import OpenChart, asker, chart_context, read_chart_or_404, require_screen, where

P = ParamSpec("P")
T = TypeVar("T")

LIST = Look(Area.MESSAGES, "Communication")
SEND = Look(Area.MESSAGES, "Communication", action="send")
MAX_FIELDS = 20
# Up to three files of 5 MB each, with the form around them: more than the app's 10 MB for other routes.
MESSAGE_BODY_LIMIT = files.MAX_FILES * files.MAX_BYTES + 1024 * 1024
BODY_LIMITS = {"message_thread_create": MESSAGE_BODY_LIMIT, "message_reply_create": MESSAGE_BODY_LIMIT}

TOPIC_WORDS = {
    "medical": N_("A medical question"),
    "prescription": N_("A prescription"),
    "appointment": N_("An appointment"),
    "billing": N_("A bill"),
    "other": N_("Something else"),
}
STATUS_WORDS = {
    "new": N_("New"),
    "open": N_("Open"),
    "waiting": N_("Waiting for you"),
    "closed": N_("Closed"),
}
RELATIONSHIP_WORDS = {"parent": N_("parent"), "guardian": N_("guardian"), "caregiver": N_("caregiver")}
REFUSALS: dict[str, str] = {
    "bad_topic": N_("Choose what your message is about."),
    "subject_missing": N_("Please write a subject."),
    "subject_too_long": N_("Please make the subject shorter (200 letters at most)."),
    "body_missing": N_("Please write your message."),
    "body_too_long": N_("Please make your message shorter (5,000 letters at most)."),
    "form_expired": N_("This form is out of date. Please check your message and send it again."),
    "file_too_big": N_("Each file must be 5 MB or smaller. Nothing was sent."),
    "file_type": N_("You can attach PDF, JPEG or PNG files only. Nothing was sent."),
    "file_unreadable": N_("We could not open one of the files. Nothing was sent."),
    "too_many_files": N_("You can attach up to 3 files. Nothing was sent."),
    "move_target_unknown": N_("No other patient has that ID."),
    "assignee_unknown": N_("Choose someone from the list."),
    "assignee_cannot_read": N_("That person cannot read confidential messages."),
    "pool_unknown": N_("Choose a pool from the list."),
    "bad_status": N_("Choose a status from the list."),
    "pool_name": N_("Give the pool a name (100 letters at most)."),
    "pool_member_unknown": N_("Each member must be a staff account's email address."),
}
FALLBACK = N_("That could not be done. Please try again.")


def say(refused: Refused) -> tuple[str, str]:
    """(field, words) for a refusal: the field it belongs next to ("" for the whole form)."""
    return str(refused.params.get("field", "")), gettext(REFUSALS.get(refused.code, FALLBACK))


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _context(request: Request, chart: OpenChart, **context: Any) -> dict[str, Any]:
    return chart_context(
        chart,
        section="messages",
        tz=_settings(request).clinic_timezone,
        topic_words=TOPIC_WORDS,
        status_words=STATUS_WORDS,
        relationship_words=RELATIONSHIP_WORDS,
        as_html=text.as_html,
        clinic_hours=_settings(request).clinic_office_hours,
        reply_days=_settings(request).message_reply_days,
        **context,
    )


async def _act_or_404(
    request: Request,
    look: Look,
    action: Callable[Concatenate[Session, PatientScope, P], T | None],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> access.Acted[T]:
    acted = await run_db(
        request, access.acting(asker(request), request.path_params["patient"], look, action, *args, **kwargs)
    )
    if acted is None:
        raise HTTPException(404)  # after the commit, so the denied attempt stays in the log
    return acted


async def _draft(request: Request) -> threads.Draft:
    """The compose or reply form (multipart when it carries files)."""
    try:
        async with request.form(max_fields=MAX_FIELDS, max_files=files.MAX_FILES + 1) as form:
            uploads = []
            for value in form.getlist("files"):
                if isinstance(value, UploadFile) and value.filename:
                    content = await value.read(files.MAX_BYTES + 1)
                    uploads.append(files.Upload(value.filename, content))
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
    except Exception:  # a malformed multipart body (python-multipart raises several kinds)
        raise HTTPException(400) from None
    try:
        return threads.Draft(
            body=forms.text(fields.get("body", ""), max_length=threads.MAX_BODY + 1, multiline=True),
            # A form without a key (not one of ours) is simply not protected against a double send.
            key=forms.text(fields.get("key", ""), max_length=threads.KEY_LENGTH + 1) or threads.new_key(),
            topic=forms.text(fields.get("topic", ""), max_length=20),
            subject=forms.text(fields.get("subject", ""), max_length=threads.MAX_SUBJECT + 1),
            share_with_parents=fields.get("share") == "yes",
            files=uploads,
        )
    except forms.InputError:
        raise HTTPException(400) from None


async def _fields(request: Request) -> dict[str, str]:
    async with request.form(max_fields=MAX_FIELDS) as form:
        return {key: str(value).strip()[:320] for key, value in form.items() if isinstance(value, str)}


# ------------------------------------------------------------------------------- the patient's side


async def messages_page(request: Request) -> Response:
    archived = request.query_params.get("archived") == "1"
    chart = await read_chart_or_404(request, LIST, threads.thread_list, archived=archived)
    return render(request, "messages/list.html", _context(request, chart), fragment="messages/_threads.html")


async def _compose(
    request: Request, *, draft: threads.Draft | None = None, error: tuple[str, str] | None = None
) -> Response:
    chart = await read_chart_or_404(request, LIST, threads.compose_page, _settings(request))
    context = _context(request, chart, draft=draft, error=error, topics=TOPICS)
    return render(request, "messages/compose.html", context, status_code=400 if error else 200)


async def message_compose_page(request: Request) -> Response:
    return await _compose(request)


async def message_thread_create(request: Request) -> Response:
    draft = await _draft(request)
    acted = await _act_or_404(request, SEND, writing.start_thread, _settings(request), draft)
    if acted.refused is not None:
        return await _compose(request, draft=draft, error=say(acted.refused))
    if acted.data is None:
        raise HTTPException(404)
    url = request.url_for(
        "message_thread_page", patient=acted.scope.patient.public_id, thread=acted.data.thread.public_id
    )
    return RedirectResponse(f"{url}#sent", status_code=303)


async def _thread(
    request: Request, *, draft: threads.Draft | None = None, error: tuple[str, str] | None = None
) -> Response:
    thread_id = request.path_params["thread"]
    chart = await read_chart_or_404(
        request, Look(Area.MESSAGES, "Communication", thread_id), staff.thread_with_tools, thread_id
    )
    page, tools = chart.data
    context = _context(request, chart, page=page, tools=tools, draft=draft, error=error, statuses=STATUSES)
    return render(request, "messages/thread.html", context, status_code=400 if error else 200)


async def message_thread_page(request: Request) -> Response:
    return await _thread(request)


def _item(request: Request, action: str) -> Look:
    return Look(Area.MESSAGES, "Communication", request.path_params["thread"], action=action)


def _back(request: Request, anchor: str = "") -> Response:
    url = request.url_for(
        "message_thread_page", patient=request.path_params["patient"], thread=request.path_params["thread"]
    )
    return RedirectResponse(f"{url}{anchor}", status_code=303)


async def message_reply_create(request: Request) -> Response:
    draft = await _draft(request)
    thread_id = request.path_params["thread"]
    acted = await _act_or_404(
        request, _item(request, "send"), writing.reply, _settings(request), thread_id, draft
    )
    if acted.refused is not None:
        return await _thread(request, draft=draft, error=say(acted.refused))
    return _back(request, "#sent")


async def message_thread_archive(request: Request) -> Response:
    fields = await _fields(request)
    thread_id = request.path_params["thread"]
    put_away = fields.get("restore") != "yes"
    await _act_or_404(request, _item(request, "archive"), writing.archive, thread_id, put_away=put_away)
    return RedirectResponse(
        request.url_for("messages_page", patient=request.path_params["patient"]), status_code=303
    )


async def message_file_download(request: Request) -> Response:
    file_id = request.path_params["file"]
    look = Look(Area.MESSAGES, "Binary", file_id, action="download")
    chart = await read_chart_or_404(request, look, threads.attachment, file_id)
    found = chart.data
    name = files.ascii_name(found.filename)
    return Response(
        found.content,
        media_type=found.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


async def message_mail_preference(request: Request) -> Response:
    """The signed-in person's own choice (not patient data): mail at night too, or not."""
    person = require_person(request)
    fields = await _fields(request)
    await run_db(request, notices.set_mail_at_night, person, fields.get("at_night") == "yes")
    back = fields.get("back", "")
    if not (
        back.startswith("/p/")
        and forms.ID_PATTERN.fullmatch(back.split("/")[2] if back.count("/") >= 2 else "")
    ):
        back = "/records"
    return RedirectResponse(back, status_code=303)


# ------------------------------------------------------------------------------------ the care team


async def message_thread_assign(request: Request) -> Response:
    fields = await _fields(request)
    acted = await _act_or_404(
        request,
        _item(request, "assign"),
        staff.assign,
        request.path_params["thread"],
        assignee=fields.get("assignee", ""),
        pool=fields.get("pool", ""),
    )
    if acted.refused is not None:
        return await _thread(request, error=say(acted.refused))
    return _back(request)


async def message_note_create(request: Request) -> Response:
    draft = await _draft(request)
    look = Look(Area.MESSAGES, "internal_note", request.path_params["thread"], action="create")
    acted = await _act_or_404(request, look, staff.add_note, request.path_params["thread"], draft)
    if acted.refused is not None:
        return await _thread(request, error=say(acted.refused))
    return _back(request)


async def message_thread_status(request: Request) -> Response:
    fields = await _fields(request)
    acted = await _act_or_404(
        request,
        _item(request, "close"),
        staff.set_status,
        request.path_params["thread"],
        status=fields.get("status", "closed"),
    )
    if acted.refused is not None:
        return await _thread(request, error=say(acted.refused))
    return _back(request)


async def message_thread_move(request: Request) -> Response:
    fields = await _fields(request)
    acted = await _act_or_404(
        request,
        _item(request, "move"),
        staff.move,
        request.path_params["thread"],
        asker=asker(request),
        target_fhir_id=fields.get("target", ""),
    )
    if acted.refused is not None or acted.data is None:
        return await _thread(request, error=say(acted.refused or Refused("move_target_unknown")))
    return RedirectResponse(request.url_for("staff_inbox_page"), status_code=303)


async def staff_inbox_page(request: Request) -> Response:
    person = require_screen(request, Screen.INBOX)
    query = request.query_params
    wanted = staff.InboxFilter(
        pool=query.get("pool", "")[:32],
        status=query.get("status", ""),
        topic=query.get("topic", ""),
        age=query.get("age", ""),
    )
    now = utcnow()
    rows = await run_db(request, staff.inbox, person, wanted, now=now, provenance=where(request))
    choices = await run_db(request, staff.pool_choices)
    context = {
        "rows": rows,
        "wanted": wanted,
        "pools": choices,
        "statuses": STATUSES,
        "topics": TOPICS,
        "ages": list(staff.AGES),
        "tz": _settings(request).clinic_timezone,
    }
    return render(request, "staff/inbox/page.html", context, fragment="staff/inbox/_rows.html")


async def care_teams_page(request: Request) -> Response:
    require_screen(request, Screen.CARE_TEAMS)
    found = await run_db(request, staff.pools)
    return render(request, "staff/inbox/care_teams.html", {"pools": found, "topics": TOPICS, "message": None})


async def care_team_save(request: Request) -> Response:
    admin = require_screen(request, Screen.CARE_TEAMS)
    async with request.form(max_fields=MAX_FIELDS) as form:
        name = str(form.get("name", ""))[:200]
        topics = [str(t) for t in form.getlist("topics")][: len(TOPICS)]
        emails = [
            e.strip() for e in str(form.get("members", "")).replace(",", "\n").splitlines() if e.strip()
        ]
    try:
        await run_db(request, staff.save_pool, admin, name=name, topics=topics, emails=emails[:50])
    except Refused as refused:
        found = await run_db(request, staff.pools)
        context = {"pools": found, "topics": TOPICS, "message": say(refused)[1]}
        return render(request, "staff/inbox/care_teams.html", context, status_code=400)
    return RedirectResponse(request.url_for("care_teams_page"), status_code=303)


routes = [
    Route("/p/{patient}/messages", messages_page, name="messages_page"),
    Route("/p/{patient}/messages", message_thread_create, methods=["POST"], name="message_thread_create"),
    Route("/p/{patient}/messages/new", message_compose_page, name="message_compose_page"),
    Route("/p/{patient}/messages/{thread}", message_thread_page, name="message_thread_page"),
    Route(
        "/p/{patient}/messages/{thread}/reply",
        message_reply_create,
        methods=["POST"],
        name="message_reply_create",
    ),
    Route(
        "/p/{patient}/messages/{thread}/archive",
        message_thread_archive,
        methods=["POST"],
        name="message_thread_archive",
    ),
    Route(
        "/p/{patient}/messages/{thread}/assign",
        message_thread_assign,
        methods=["POST"],
        name="message_thread_assign",
    ),
    Route(
        "/p/{patient}/messages/{thread}/note",
        message_note_create,
        methods=["POST"],
        name="message_note_create",
    ),
    Route(
        "/p/{patient}/messages/{thread}/status",
        message_thread_status,
        methods=["POST"],
        name="message_thread_status",
    ),
    Route(
        "/p/{patient}/messages/{thread}/move",
        message_thread_move,
        methods=["POST"],
        name="message_thread_move",
    ),
    Route("/p/{patient}/message-files/{file}", message_file_download, name="message_file_download"),
    Route("/account/message-mail", message_mail_preference, methods=["POST"], name="message_mail_preference"),
    Route("/staff/inbox", staff_inbox_page, name="staff_inbox_page"),
    Route("/admin/care-teams", care_teams_page, name="care_teams_page"),
    Route("/admin/care-teams", care_team_save, methods=["POST"], name="care_team_save"),
]
