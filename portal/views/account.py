"""The signed-in person's own account: passkeys (devices), active sessions, recovery codes, password."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from portal.db import run_db
from portal.models import LoginSession, Person
from portal.security import sessions
from portal.security.sessions import Client, require_person
from portal.services import access
from portal.services.access import Screen
from portal.services.errors import Refused
from portal.services.identity import account, devices, passwords, recovery, signin
from portal.templating import render
from portal.views.auth import app_settings, ceremony_binding, credential_of, options_json, read_json
from portal.views.identity_refusals import refusal_message, refused_json


def _signed_in(request: Request) -> tuple[Person, LoginSession]:
    person = require_person(request)
    login = sessions.current_login(request)
    assert login is not None and person.id is not None
    return person, login


# The staff screens linked from the account page (the access service says who may open each).
LINKED_SCREENS = (Screen.FRONT_DESK, Screen.AUDIT, Screen.PRINTING)


async def account_page(request: Request) -> Response:
    person, _ = _signed_in(request)
    assert person.id is not None
    summary = await run_db(request, account.account_summary, person.id)
    screens = {screen.value for screen in LINKED_SCREENS if access.may_use_screen(person, screen)}
    return render(request, "account/page.html", {"summary": summary, "staff_screens": screens})


# ------------------------------------------------------------------------------------------ passkeys


async def passkey_list(request: Request, *, message: str | None = None, status_code: int = 200) -> Response:
    person, login = _signed_in(request)
    assert person.id is not None
    passkeys = await run_db(request, devices.list_passkeys, person.id)
    context = {"passkeys": passkeys, "fresh": sessions.is_fresh(login), "message": message}
    return render(
        request, "account/passkeys.html", context, fragment="account/_passkeys.html", status_code=status_code
    )


async def passkey_rename(request: Request) -> Response:
    person, _ = _signed_in(request)
    async with request.form(max_fields=10) as form:
        name = str(form.get("name", ""))[:200]
    try:
        found = await run_db(
            request,
            devices.rename_passkey,
            person_id=person.id or 0,
            public_id=request.path_params["public_id"],
            name=name,
        )
    except Refused as refusal:
        return await passkey_list(request, message=refusal_message(refusal), status_code=400)
    if found is None:
        raise HTTPException(404)
    return RedirectResponse(request.url_for("passkey_list"), status_code=303)


async def passkey_remove(request: Request) -> Response:
    person, login = _signed_in(request)
    refusal = await run_db(
        request,
        devices.remove_passkey,
        app_settings(request),
        person_id=person.id or 0,
        public_id=request.path_params["public_id"],
        login_id=login.id,
        client=Client.of(request),
    )
    if refusal is not None:
        return await passkey_list(request, message=refusal_message(refusal), status_code=400)
    return RedirectResponse(request.url_for("passkey_list"), status_code=303)


async def passkey_add_options(request: Request) -> Response:
    person, login = _signed_in(request)
    if not sessions.is_fresh(login):
        return refused_json(Refused("step_up_needed"))
    return options_json(
        request,
        await run_db(
            request,
            devices.add_passkey_options,
            app_settings(request),
            person_id=person.id or 0,
            binding=ceremony_binding(request),
        ),
    )


async def passkey_add_finish(request: Request) -> Response:
    _, login = _signed_in(request)
    credential = credential_of(await read_json(request))
    result = await run_db(
        request,
        devices.finish_add_passkey,
        app_settings(request),
        binding=ceremony_binding(request),
        credential=credential,
        login_id=login.id,
        client=Client.of(request),
    )
    if isinstance(result, Refused):
        return refused_json(result)
    return JSONResponse({"redirect": str(request.url_for("passkey_list").path)})


async def step_up_options(request: Request) -> Response:
    person, _ = _signed_in(request)
    return options_json(
        request,
        await run_db(
            request,
            devices.step_up_options,
            app_settings(request),
            person_id=person.id or 0,
            binding=ceremony_binding(request),
        ),
    )


async def step_up_finish(request: Request) -> Response:
    _, login = _signed_in(request)
    data = await read_json(request)
    credential = credential_of(data)
    refusal = await run_db(
        request,
        devices.finish_step_up,
        app_settings(request),
        binding=ceremony_binding(request),
        credential=credential,
        login_id=login.id,
        client=Client.of(request),
    )
    if refusal is not None:
        return refused_json(refusal)
    back = data.get("next")
    default = str(request.url_for("passkey_list").path)
    return JSONResponse({"redirect": sessions.safe_next(back if isinstance(back, str) else None, default)})


# ------------------------------------------------------------------------------------------ sessions


async def session_list(request: Request) -> Response:
    person, login = _signed_in(request)
    rows = await run_db(request, account.active_sessions, person.id or 0)
    return render(request, "account/sessions.html", {"login_sessions": rows, "current_id": login.id})


async def session_revoke(request: Request) -> Response:
    person, login = _signed_in(request)
    public_id = request.path_params["public_id"]
    if public_id == login.public_id:
        return await sign_out_everywhere_or_here(request, everywhere=False)
    found = await run_db(
        request,
        account.revoke_session,
        person_id=person.id or 0,
        public_id=public_id,
        client=Client.of(request),
    )
    if not found:
        raise HTTPException(404)
    return RedirectResponse(request.url_for("session_list"), status_code=303)


async def sign_out_everywhere(request: Request) -> Response:
    return await sign_out_everywhere_or_here(request, everywhere=True)


async def sign_out_everywhere_or_here(request: Request, *, everywhere: bool) -> Response:
    person, login = _signed_in(request)
    client = Client.of(request)
    if everywhere:
        await run_db(request, account.sign_out_everywhere, person_id=person.id or 0, client=client)
    else:
        await run_db(request, signin.sign_out, login_id=login.id, client=client)
    response = RedirectResponse(request.url_for("login_page"), status_code=303)
    sessions.end_cookies(response, app_settings(request))
    return response


# ------------------------------------------------------------------------------------ recovery codes


async def recovery_codes_page(
    request: Request, *, message: str | None = None, status_code: int = 200
) -> Response:
    person, login = _signed_in(request)
    unused = await run_db(request, recovery.unused_recovery_codes, person.id or 0)
    context = {"codes": None, "unused": unused, "fresh": sessions.is_fresh(login), "message": message}
    return render(request, "account/recovery.html", context, status_code=status_code)


async def recovery_codes_create(request: Request) -> Response:
    _, login = _signed_in(request)
    codes = await run_db(
        request,
        recovery.new_recovery_codes,
        app_settings(request),
        login_id=login.id,
        client=Client.of(request),
    )
    if isinstance(codes, Refused):
        return await recovery_codes_page(request, message=refusal_message(codes), status_code=400)
    return render(
        request,
        "account/recovery.html",
        {"codes": codes, "unused": len(codes), "fresh": True, "message": None},
    )


# ------------------------------------------------------------------------------------------ password


async def password_form(request: Request) -> Response:
    person, _ = _signed_in(request)
    return render(
        request, "account/password.html", {"message": None, "saved": False, "email": person.email or ""}
    )


async def password_save(request: Request) -> Response:
    person, login = _signed_in(request)
    async with request.form(max_fields=10) as form:
        email = str(form.get("email", ""))[:320]
        password = str(form.get("password", ""))[:1000]
    if not sessions.is_fresh(login):
        context = {"message": refusal_message(Refused("step_up_needed")), "saved": False, "email": email}
        return render(request, "account/password.html", context, status_code=400)
    try:
        await run_db(
            request,
            passwords.set_password,
            app_settings(request),
            person_id=person.id or 0,
            email=email,
            password=password,
            client=Client.of(request),
        )
    except Refused as refusal:
        context = {"message": refusal_message(refusal), "saved": False, "email": email}
        return render(request, "account/password.html", context, status_code=400)
    return render(request, "account/password.html", {"message": None, "saved": True, "email": email})


routes = [
    Route("/account", account_page, name="account_page"),
    Route("/account/passkeys", passkey_list, name="passkey_list"),
    Route("/account/passkeys/{public_id}/rename", passkey_rename, methods=["POST"], name="passkey_rename"),
    Route("/account/passkeys/{public_id}/remove", passkey_remove, methods=["POST"], name="passkey_remove"),
    Route("/account/passkeys/options", passkey_add_options, methods=["POST"], name="passkey_add_options"),
    Route("/account/passkeys/finish", passkey_add_finish, methods=["POST"], name="passkey_add_finish"),
    Route("/account/step-up/options", step_up_options, methods=["POST"], name="step_up_options"),
    Route("/account/step-up/finish", step_up_finish, methods=["POST"], name="step_up_finish"),
    Route("/account/sessions", session_list, name="session_list"),
    Route("/account/sessions/{public_id}/revoke", session_revoke, methods=["POST"], name="session_revoke"),
    Route("/account/sessions/everywhere", sign_out_everywhere, methods=["POST"], name="sign_out_everywhere"),
    Route("/account/recovery-codes", recovery_codes_page, name="recovery_codes_page"),
    Route("/account/recovery-codes", recovery_codes_create, methods=["POST"], name="recovery_codes_create"),
    Route("/account/password", password_form, name="password_form"),
    Route("/account/password", password_save, methods=["POST"], name="password_save"),
]
