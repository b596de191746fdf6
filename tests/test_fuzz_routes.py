"""Malformed paths, bodies and headers sent to every route of the app: never a 5xx, on either database.

Hypothesis draws a route from the app's own route list (so a new route is covered without a line here),
fills its path parameters with junk, and sends junk form fields, JSON or raw bytes with odd headers, as a
signed-in administrator whose CSRF token is right, so each request reaches the view's own parsing.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from tests.conftest import ORIGIN, csrf_token, log_in, make_patient, make_person

PARAM = re.compile(r"{(\w+)(?::\w+)?}")
JUNK_CHARACTERS = st.characters(codec="utf-8", exclude_categories=("Cs",))
junk = st.one_of(
    st.text(JUNK_CHARACTERS, max_size=40),
    st.sampled_from(["\x00", "a\x00b", "x" * 300, "9" * 40, "9999-12-31", "0000-01-01", "12/31/9999", "-1"]),
    st.sampled_from(["../../etc/passwd", "%00", "<script>", "' OR 1=1 --", "\u202e", "\r\nX-Header: 1"]),
)
FIELDS = ["email", "password", "name", "code", "birth_date", "since", "until", "page", "patient", "family"]
FIELDS += ["fhir_id", "relationship", "level", "starts_on", "ends_on", "action", "person", "day", "hours"]


def routes_of(app) -> list[tuple[str, str]]:
    """Every (method, path template) the app answers, HEAD left to GET."""
    pairs = []
    for route in app.routes:
        if isinstance(route, Route):
            pairs += [(method, route.path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return pairs


@st.composite
def requests(draw, pairs, patient_id: str):
    method, template = draw(st.sampled_from(pairs))

    def fill(match: re.Match[str]) -> str:
        if match.group(1) == "patient" and draw(st.booleans()):
            return patient_id  # a real patient, so the junk reaches deeper than the door
        return quote(draw(junk), safe="") or "x"

    path = PARAM.sub(fill, template)
    query = "&".join(
        f"{draw(st.sampled_from(FIELDS))}={quote(draw(junk), safe='')}"
        for _ in range(draw(st.integers(0, 2)))
    )
    kind = draw(st.sampled_from(["form", "json", "bytes", "none"]))
    headers = {"Origin": ORIGIN}
    if draw(st.booleans()):
        headers["HX-Request"] = "true"
    fields = {draw(st.sampled_from(FIELDS)): draw(junk) for _ in range(draw(st.integers(0, 4)))}
    body: dict = {}
    if kind == "form":
        body["data"] = fields
    elif kind == "json":
        body["content"] = json.dumps(draw(st.sampled_from([fields, [fields], "x", {"credential": fields}])))
        headers["Content-Type"] = "application/json"
    elif kind == "bytes":
        body["content"] = draw(st.binary(max_size=200))
        headers["Content-Type"] = draw(
            st.sampled_from(
                ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"]
            )
        )
    return method, path + (f"?{query}" if query else ""), headers, body


def test_no_route_answers_5xx_to_malformed_input(client, session) -> None:
    patient = make_patient(session)
    log_in(client, session, make_person(session, staff_role="admin"), verified=True)
    token = csrf_token(client)
    pairs = routes_of(client.app)

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(requests(pairs, patient.public_id))
    def send(request) -> None:
        method, url, headers, body = request
        if method != "GET":
            headers = {**headers, "X-CSRF-Token": token}
        response = client.request(method, url, headers=headers, follow_redirects=False, **body)
        assert response.status_code < 500, (method, url, response.status_code)

    send()
