"""The person's own choice about "Something is due in your portal" mail: /account/reminders.

Not patient data: it is the signed-in person's setting about their own mail (patient or proxy alike).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.db import run_db
from portal.security.sessions import require_person
from portal.services.due import reminders
from portal.templating import render


async def reminders_page(request: Request) -> Response:
    person = require_person(request)
    on = await run_db(request, reminders.reminders_on, person)
    return render(request, "account/reminders.html", {"on": on, "saved": False})


async def reminders_update(request: Request) -> Response:
    person = require_person(request)
    async with request.form(max_fields=5) as form:
        choice = str(form.get("reminders", ""))
    if choice not in ("on", "off"):
        on = await run_db(request, reminders.reminders_on, person)
        return render(request, "account/reminders.html", {"on": on, "saved": False}, status_code=400)
    on = await run_db(request, reminders.set_reminders, person, on=choice == "on")
    return render(request, "account/reminders.html", {"on": on, "saved": True})


routes = [
    Route("/account/reminders", reminders_page, name="reminders_page"),
    Route("/account/reminders", reminders_update, methods=["POST"], name="reminders_update"),
]
