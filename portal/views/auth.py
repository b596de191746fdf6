"""Activation, sign-in and sign-out: the pages, and the JSON endpoints passkeys.js talks to."""

from __future__ import annotations

import json
import re
import secrets
from datetime import date
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from portal import forms
from portal.conditional import revalidated
from portal.config import Settings
from portal.db import run_db
from portal.i18n import N_
from portal.models import LoginSession
from portal.security import cookies, passkeys, sessions, signing
from portal.security.sessions import Client
from portal.services.errors import Refused
from portal.services.identity import codes, passwords, people, recovery, signin
from portal.templating import render
from portal.views.identity_refusals import refusal_message, refusal_status, refused_json

MAX_JSON_BYTES = 64 * 1024
BINDING_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
PENDING_COOKIE = "portal_pending"  # the emailed code's id between the password and the code steps
PENDING_PURPOSE = "pending-login"
PENDING_SECONDS = passwords.MAIL_CODE_MINUTES * 60
NEEDS_JAVASCRIPT = N_(
    "Passkeys need JavaScript, which is turned off or not available in this browser. Turn it on and try "
    "again, or sign in with a password and a code we email you."
)


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def read_json(request: Request) -> dict[str, Any]:
    """A small JSON object from the body; anything else is a 400."""
    body = await request.body()
    if len(body) > MAX_JSON_BYTES:
        raise HTTPException(413)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise HTTPException(400) from None
    if not isinstance(data, dict):
        raise HTTPException(400)
    return data


def ceremony_binding(request: Request) -> str:
    """This browser's ceremony cookie (see passkeys.bound_challenge), or a new one `options_json` sets."""
    value = request.cookies.get(cookies.name(app_settings(request), passkeys.BINDING_COOKIE), "")
    if not BINDING_SHAPE.fullmatch(value):
        state = request.scope.setdefault("state", {})
        value = state.setdefault("new_ceremony_binding", secrets.token_urlsafe(32))
    return value


def options_json(request: Request, result: str | Refused) -> Response:
    if isinstance(result, Refused):
        return refused_json(result)
    response = Response(result, media_type="application/json")
    new_binding = request.scope.get("state", {}).get("new_ceremony_binding")
    if new_binding:
        settings = app_settings(request)
        response.headers.append("set-cookie", cookies.header(settings, passkeys.BINDING_COOKIE, new_binding))
    return response


# Where a new account lands: its own tools ("/" chooses them), with a prompt to save recovery codes.
WELCOME = "/?welcome=1"


def signed_in_json(request: Request, login: LoginSession | Refused, next_path: object = None) -> Response:
    if isinstance(login, Refused):
        return refused_json(login)
    target = sessions.safe_next(next_path if isinstance(next_path, str) else None)
    response = JSONResponse({"redirect": target})
    sessions.start_cookies(response, app_settings(request), login)
    return response


def signed_in_redirect(request: Request, login: LoginSession, next_path: str | None = None) -> Response:
    response = RedirectResponse(sessions.safe_next(next_path), status_code=303)
    sessions.start_cookies(response, app_settings(request), login)
    return response


def credential_of(data: dict[str, Any]) -> dict[str, Any]:
    credential = data.get("credential")
    if not isinstance(credential, dict):
        raise HTTPException(400)
    return credential


def parse_birth_date(value: object) -> date | None:
    """ISO (what a date field sends) or month/day/year (what people type), in the supported range;
    None for anything else."""
    try:
        return forms.day(value, formats=("%Y-%m-%d", "%m/%d/%Y"))
    except forms.InputError:
        return None


def replacing(request: Request) -> str | None:
    login = sessions.current_login(request)
    return login.id if login else None


# ---------------------------------------------------------------------------------------- activation


async def activate_page(request: Request) -> Response:
    return render(request, "auth/activate.html", {"message": None})


async def activate_submit(request: Request) -> Response:
    """The form sent without JavaScript: a passkey cannot be made, so say so plainly."""
    return render(request, "auth/activate.html", {"message": NEEDS_JAVASCRIPT}, status_code=400)


async def activate_options(request: Request) -> Response:
    data = await read_json(request)
    code = data.get("code")
    result = await run_db(
        request,
        codes.activation_options,
        app_settings(request),
        binding=ceremony_binding(request),
        code=code if isinstance(code, str) else "",
        birth_date=parse_birth_date(data.get("birth_date")),
        client=Client.of(request),
    )
    return options_json(request, result)


async def activate_finish(request: Request) -> Response:
    credential = credential_of(await read_json(request))
    login = await run_db(
        request,
        codes.finish_activation,
        app_settings(request),
        binding=ceremony_binding(request),
        credential=credential,
        client=Client.of(request),
        replacing=replacing(request),
    )
    return signed_in_json(request, login, WELCOME)


# ------------------------------------------------------------------------------------------- sign-in


async def login_page(request: Request) -> Response:
    next_path = sessions.safe_next(request.query_params.get("next"))
    if sessions.current_person(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    ended = request.query_params.get("ended") == "1"
    page = render(request, "auth/login.html", {"next": next_path, "message": None, "ended": ended})
    return revalidated(request, page)


async def login_submit(request: Request) -> Response:
    context = {"next": "/account", "message": NEEDS_JAVASCRIPT, "ended": False}
    return render(request, "auth/login.html", context, status_code=400)


async def login_options(request: Request) -> Response:
    result = await run_db(
        request,
        signin.sign_in_options,
        app_settings(request),
        binding=ceremony_binding(request),
        client=Client.of(request),
    )
    return options_json(request, result)


async def login_finish(request: Request) -> Response:
    data = await read_json(request)
    login = await run_db(
        request,
        signin.finish_sign_in,
        app_settings(request),
        binding=ceremony_binding(request),
        credential=credential_of(data),
        client=Client.of(request),
        replacing=replacing(request),
    )
    return signed_in_json(request, login, data.get("next"))


async def logout(request: Request) -> Response:
    login = sessions.current_login(request)
    if login is not None:
        await run_db(request, signin.sign_out, login_id=login.id, client=Client.of(request))
    response = RedirectResponse(request.url_for("login_page"), status_code=303)
    if request.headers.get("hx-request") == "true":
        response.headers["HX-Redirect"] = "/login"
    sessions.end_cookies(response, app_settings(request))
    return response


# ------------------------------------------------------------------------------------------ recovery


async def recovery_page(request: Request) -> Response:
    return render(request, "auth/recovery.html", {"message": None})


async def recovery_submit(request: Request) -> Response:
    async with request.form(max_fields=10) as form:
        code = str(form.get("code", ""))
    login = await run_db(
        request,
        recovery.recovery_sign_in,
        app_settings(request),
        code=code,
        client=Client.of(request),
        replacing=replacing(request),
    )
    if isinstance(login, Refused):
        context = {"message": refusal_message(login)}
        return render(request, "auth/recovery.html", context, status_code=refusal_status(login))
    return signed_in_redirect(request, login, "/account/passkeys")


# ------------------------------------------------------------------------------------------ password


async def password_page(request: Request) -> Response:
    return render(request, "auth/password.html", {"message": None, "email": ""})


async def password_submit(request: Request) -> Response:
    async with request.form(max_fields=10) as form:
        email = str(form.get("email", ""))[:320]
        password = str(form.get("password", ""))
    result = await run_db(
        request,
        passwords.password_sign_in,
        app_settings(request),
        email=email,
        password=password,
        client=Client.of(request),
    )
    if isinstance(result, Refused):
        context = {"message": refusal_message(result), "email": email}
        return render(request, "auth/password.html", context, status_code=refusal_status(result))
    response = RedirectResponse(request.url_for("mail_code_page"), status_code=303)
    token = signing.sign(app_settings(request), PENDING_PURPOSE, str(result))
    secure = "; Secure" if app_settings(request).https or app_settings(request).rp_id == "localhost" else ""
    response.headers.append(
        "set-cookie",
        f"{PENDING_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; "
        f"Max-Age={PENDING_SECONDS}{secure}",
    )
    return response


def _pending_id(request: Request) -> int | None:
    token = request.cookies.get(PENDING_COOKIE, "")
    value = signing.unsign(app_settings(request), PENDING_PURPOSE, token, max_age=PENDING_SECONDS)
    return int(value) if value and value.isdigit() else None


async def mail_code_page(request: Request) -> Response:
    if _pending_id(request) is None:
        return RedirectResponse(request.url_for("password_page"), status_code=303)
    return render(request, "auth/mail_code.html", {"message": None})


async def mail_code_submit(request: Request) -> Response:
    pending = _pending_id(request)
    if pending is None:
        return RedirectResponse(request.url_for("password_page"), status_code=303)
    async with request.form(max_fields=10) as form:
        code = str(form.get("code", ""))[:40]
    login = await run_db(
        request,
        passwords.mail_code_sign_in,
        app_settings(request),
        pending_id=pending,
        code=code,
        client=Client.of(request),
        replacing=replacing(request),
    )
    if isinstance(login, Refused):
        context = {"message": refusal_message(login)}
        return render(request, "auth/mail_code.html", context, status_code=refusal_status(login))
    response = signed_in_redirect(request, login)
    response.headers.append("set-cookie", f"{PENDING_COOKIE}=; Path=/login; Max-Age=0")
    return response


# ----------------------------------------------------------------------------------- staff enrolment


async def enrol_page(request: Request) -> Response:
    return render(request, "auth/enrol.html", {"token": request.path_params["token"]})


async def enrol_options(request: Request) -> Response:
    result = await run_db(
        request,
        people.enrolment_options,
        app_settings(request),
        binding=ceremony_binding(request),
        token=request.path_params["token"],
        client=Client.of(request),
    )
    return options_json(request, result)


async def enrol_finish(request: Request) -> Response:
    credential = credential_of(await read_json(request))
    login = await run_db(
        request,
        people.finish_enrolment,
        app_settings(request),
        binding=ceremony_binding(request),
        credential=credential,
        client=Client.of(request),
        replacing=replacing(request),
    )
    return signed_in_json(request, login, WELCOME)


routes = [
    Route("/activate", activate_page, name="activate_page"),
    Route("/activate", activate_submit, methods=["POST"], name="activate_submit"),
    Route("/activate/options", activate_options, methods=["POST"], name="activate_options"),
    Route("/activate/finish", activate_finish, methods=["POST"], name="activate_finish"),
    Route("/login", login_page, name="login_page"),
    Route("/login", login_submit, methods=["POST"], name="login_submit"),
    Route("/login/options", login_options, methods=["POST"], name="login_options"),
    Route("/login/finish", login_finish, methods=["POST"], name="login_finish"),
    Route("/login/recovery", recovery_page, name="recovery_page"),
    Route("/login/recovery", recovery_submit, methods=["POST"], name="recovery_submit"),
    Route("/login/password", password_page, name="password_page"),
    Route("/login/password", password_submit, methods=["POST"], name="password_submit"),
    Route("/login/code", mail_code_page, name="mail_code_page"),
    Route("/login/code", mail_code_submit, methods=["POST"], name="mail_code_submit"),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route("/enrol/{token}", enrol_page, name="enrol_page"),
    Route("/enrol/{token}/options", enrol_options, methods=["POST"], name="enrol_options"),
    Route("/enrol-finish", enrol_finish, methods=["POST"], name="enrol_finish"),
]
