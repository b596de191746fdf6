"""A guard in front of every route: input no database could take is refused before any view sees it.

It answers 404 for a path parameter that cannot name anything the portal stores (longer than the longest
id column, control characters, an integer beyond the database's), and 400 for a query, form or JSON value
with a NUL or other control character (tab and line breaks allowed in bodies) or longer than any field
accepts. Views still parse their own fields with portal.forms (dates in the supported range, page
numbers), with messages next to the field; this guard makes sure a route that forgets cannot answer 500
for input no database column could hold. Each refusal is an audit event (`input-refused`, denied),
so a probe with malformed input is in the log like any other denied request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal import db, forms
from portal.provenance import Provenance
from portal.services import audit

MAX_JSON_DEPTH = 32
FORM_TYPE = "application/x-www-form-urlencoded"


def value_problem(name: str, value: str, *, multiline: bool) -> str | None:
    """Why one query or form value cannot be taken, or None."""
    if forms.has_control_characters(name) or forms.has_control_characters(value, allow_line_breaks=multiline):
        return "control_characters"
    if len(value) > forms.TEXT_LENGTH or len(name) > 200:
        return "too_long"
    return None


def pairs_problem(pairs: list[tuple[str, str]], *, multiline: bool) -> str | None:
    return next((p for name, value in pairs if (p := value_problem(name, value, multiline=multiline))), None)


def json_strings(data: Any, depth: int = 0) -> Iterator[str]:
    """Every string (keys too) in a parsed JSON document, refusing absurd nesting."""
    if depth > MAX_JSON_DEPTH:
        yield "\x00"  # counts as malformed
        return
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield key
            yield from json_strings(value, depth + 1)
    elif isinstance(data, list):
        for item in data:
            yield from json_strings(item, depth + 1)


def body_problem(content_type: str, body: bytes) -> str | None:
    if not body:
        return None
    if content_type.startswith(FORM_TYPE):
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=1000)
        except (UnicodeDecodeError, ValueError):
            return "malformed"
        return pairs_problem(pairs, multiline=True)
    if content_type.startswith("application/json"):
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return None  # the view answers 400 for JSON it cannot read
        if any(forms.has_control_characters(s) or len(s) > 100_000 for s in json_strings(data)):
            return "control_characters"
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _record_refusal(session: Any, *, actor_person_id: int | None, provenance: Provenance) -> None:
    audit.record(
        session,
        action="input-refused",
        outcome="denied",
        actor_person_id=actor_person_id,
        provenance=provenance,
    )


class InputGuard:
    """Wraps one route's endpoint (path parameters are known by then) with the checks above."""

    def __init__(self, app: ASGIApp, *, route_name: str) -> None:
        self.app = app
        self.route_name = route_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = None
        if not all(forms.path_value_is_possible(v) for v in scope.get("path_params", {}).values()):
            status = 404
        else:
            try:
                query = parse_qsl(
                    scope.get("query_string", b"").decode("utf-8"), keep_blank_values=True, max_num_fields=200
                )
            except (UnicodeDecodeError, ValueError):
                query, status = [], 400
            if status is None and pairs_problem(query, multiline=False):
                status = 400
        if status is None and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            body = await _read_body(receive)
            receive = _replay(body, receive)
            content_type = Request(scope).headers.get("content-type", "")
            if body_problem(content_type, body):
                status = 400
        if status is not None:
            await self._refuse(scope)
            raise HTTPException(status)
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope) -> None:
        from portal.security.sessions import Client  # sessions imports this module's neighbours

        request = Request(scope)
        person = scope.get("state", {}).get("person")
        client = Client.of(request)
        provenance = Provenance(
            route=self.route_name, client_address=client.address, request_id=client.request_id
        )
        await run_in_threadpool(
            db.run_in_transaction,
            scope["app"].state.engine,
            _record_refusal,
            actor_person_id=getattr(person, "id", None),
            provenance=provenance,
        )


def guard_routes(routes: list[BaseRoute]) -> list[BaseRoute]:
    """Put the guard in front of every route's endpoint (mounted apps, such as static files, are not)."""
    for route in routes:
        if isinstance(route, Route):
            route.app = InputGuard(route.app, route_name=route.name)
    return routes
