"""The foundation: headers, CSRF, errors, static files, health, logging, settings and the schema."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import text
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from portal import branding, db
from portal.app import create_app
from portal.config import ConfigError, Settings
from portal.models import Person
from tests.conftest import CSRF_COOKIE, ORIGIN, csrf_token, form_post

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def assert_security_headers(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "camera=()" in response.headers["permissions-policy"]
    assert response.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize("path", ["/", "/no-such-page"])  # /login: see test_conditional.py
def test_security_headers_on_pages_redirects_and_404(client, path) -> None:
    response = client.get(path, follow_redirects=False)

    assert_security_headers(response)
    assert response.headers["cache-control"] == "no-store"


def test_hsts_only_when_served_over_https(settings) -> None:
    app = create_app(settings.with_overrides(origin="http://localhost:8000"))

    with TestClient(app, base_url="http://localhost:8000") as client:
        response = client.get("/login")

    assert "strict-transport-security" not in response.headers


def test_not_found_is_a_full_page_without_detail(client) -> None:
    response = client.get("/patients/12345/secret-thing")

    assert response.status_code == 404
    assert response.template.name == "errors/page.html"
    assert "<html" in response.text and "can&#39;t find that page" in response.text
    assert "12345" not in response.text and "secret-thing" not in response.text


def test_not_found_for_htmx_is_a_fragment_retargeted_to_alerts(client) -> None:
    response = client.get("/nothing-here", headers={"HX-Request": "true"})

    assert response.status_code == 404
    assert response.template.name == "errors/_alert.html"
    assert "<html" not in response.text
    assert response.headers["hx-retarget"] == "#alerts"
    assert "HX-Request" in response.headers["vary"]


def test_boosted_htmx_request_gets_the_full_page(client) -> None:
    response = client.get("/login", headers={"HX-Request": "true", "HX-Boosted": "true"})

    assert response.template.name == "auth/login.html"


def add_test_routes(app) -> None:
    """A write endpoint and a failing endpoint, to test the middleware through real HTTP."""

    async def write_person(request):
        form = await request.form()
        await db.run_db(request, lambda s: s.add(Person(display_name=str(form["name"]))))
        return PlainTextResponse("saved")

    async def explode(request):
        raise RuntimeError(f"patient {request.query_params['name']} broke this")

    app.router.routes.append(Route("/test/write", write_person, methods=["POST"], name="test_write"))
    app.router.routes.append(Route("/test/explode", explode, name="test_explode"))


def person_count(app) -> int:
    with app.state.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM person")).scalar_one()


def test_post_without_csrf_token_is_refused_and_changes_nothing(app, client) -> None:
    add_test_routes(app)
    client.get("/login")

    response = client.post("/test/write", data={"name": "Mallory"}, headers={"Origin": ORIGIN})

    assert response.status_code == 403
    assert_security_headers(response)
    assert person_count(app) == 0


def test_post_with_token_from_another_origin_is_refused(app, client) -> None:
    add_test_routes(app)
    token = csrf_token(client)

    response = client.post(
        "/test/write",
        data={"name": "Mallory", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )

    assert response.status_code == 403
    assert person_count(app) == 0


def test_post_with_forged_token_is_refused(app, client) -> None:
    add_test_routes(app)
    client.get("/login")

    response = client.post(
        "/test/write",
        data={"name": "Mallory", "csrf_token": "forged.token.value"},
        headers={"Origin": ORIGIN},
    )

    assert response.status_code == 403
    assert person_count(app) == 0


def test_cross_site_fetch_without_origin_is_refused(app, client) -> None:
    add_test_routes(app)
    token = csrf_token(client)

    response = client.post(
        "/test/write", data={"name": "Mallory", "csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )

    assert response.status_code == 403
    assert person_count(app) == 0


def test_post_with_token_in_form_is_accepted(app, client) -> None:
    add_test_routes(app)

    response = form_post(client, "/test/write", {"name": "Alice"})

    assert response.status_code == 200
    assert person_count(app) == 1


def test_htmx_post_with_token_in_header_is_accepted(app, client) -> None:
    add_test_routes(app)
    token = csrf_token(client)

    response = client.post(
        "/test/write", data={"name": "Alice"}, headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )

    assert response.status_code == 200
    assert person_count(app) == 1


def test_pages_carry_the_token_for_forms_and_htmx(client) -> None:
    response = client.get("/login")

    token = client.cookies[CSRF_COOKIE]
    assert f'"X-CSRF-Token": "{token}"' in response.text
    assert "HttpOnly" in response.headers["set-cookie"] and "SameSite=Lax" in response.headers["set-cookie"]


def test_unexpected_error_shows_no_detail_and_logs_no_phi(app, client, caplog) -> None:
    add_test_routes(app)

    with caplog.at_level(logging.INFO):
        response = client.get("/test/explode?name=Jane+Doe+2001-02-03")

    assert response.status_code == 500
    assert_security_headers(response)
    assert "Jane" not in response.text and "RuntimeError" not in response.text
    assert "Something went wrong on our side" in response.text
    portal_logs = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("portal"))
    assert "Jane" not in portal_logs and "2001-02-03" not in portal_logs
    assert "unhandled RuntimeError" in portal_logs


def test_request_log_names_the_route_never_the_values(client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="portal.request"):
        response = client.get("/login?name=Jane+Doe&birth_date=2001-02-03")

    lines = [r.getMessage() for r in caplog.records if r.name == "portal.request"]
    assert len(lines) == 1
    assert re.fullmatch(
        r"request_id=[0-9a-f]{16} method=GET route=login_page status=200 ms=\d+\.\d", lines[0]
    )
    assert response.headers["x-request-id"] in lines[0]
    assert not any("Jane" in r.getMessage() for r in caplog.records if r.name.startswith("portal"))


def test_oversized_body_is_refused(client) -> None:
    token = csrf_token(client)

    response = client.post(
        "/login", content=b"x" * (11 * 1024 * 1024), headers={"X-CSRF-Token": token, "Origin": ORIGIN}
    )

    assert response.status_code == 413


def test_static_files_have_hashed_names_and_immutable_caching(client) -> None:
    page = client.get("/login").text
    css_url = re.search(r'href="(/static/app\.[0-9a-f]{12}\.css)"', page).group(1)
    js_url = re.search(r'src="(/static/htmx\.min\.[0-9a-f]{12}\.js)"', page).group(1)

    for url in (css_url, js_url):
        response = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["content-encoding"] == "gzip"
    assert client.get("/static/app.css").status_code == 404
    assert client.get("/static/app.000000000000.css").status_code == 404


def test_static_file_answers_304_to_a_revalidation(client) -> None:
    css_url = re.search(r'href="(/static/app\.[0-9a-f]{12}\.css)"', client.get("/login").text).group(1)
    etag = client.get(css_url).headers["etag"]

    response = client.get(css_url, headers={"If-None-Match": etag})

    assert response.status_code == 304


def test_pages_are_gzip_compressed(client) -> None:
    response = client.get("/login", headers={"Accept-Encoding": "gzip"})

    assert response.headers["content-encoding"] == "gzip"


def test_healthz_answers_ok_with_the_database(client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200


def test_healthz_answers_503_without_the_database(settings) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(
        settings.with_overrides(database_url=f"postgresql+psycopg://nobody@127.0.0.1:{port}/none")
    )

    with TestClient(app, base_url=ORIGIN) as client:
        response = client.get("/healthz")

    assert response.status_code == 503


def test_other_hosts_are_sent_to_the_configured_origin(client) -> None:
    response = client.get("http://127.0.0.1:8000/login", follow_redirects=False)

    assert response.status_code == 308
    assert response.headers["location"] == f"{ORIGIN}/login"


def test_layout_has_language_skip_link_landmarks_and_live_region(client) -> None:
    page = client.get("/login").text

    assert '<html lang="en">' in page
    assert '<a class="skip-link" href="#main">' in page
    for landmark in ("<header", '<main id="main"', "<footer"):
        assert landmark in page
    assert '<div id="alerts" role="status" aria-live="polite">' in page
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    assert "<script>" not in page and "style=" not in page  # the CSP allows neither


def test_clinic_branding_comes_from_settings(settings) -> None:
    logo = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4"/></svg>'
    app = create_app(settings.with_overrides(clinic_name="Lakeside Pediatrics", clinic_logo_svg=logo))

    with TestClient(app, base_url=ORIGIN) as client:
        page = client.get("/login").text

    assert "Lakeside Pediatrics" in page and '<circle cx="5"' in page


def test_accent_colour_is_darkened_until_it_has_enough_contrast(settings) -> None:
    app = create_app(settings.with_overrides(accent_color="#ffd700"))  # gold: 1.4:1 on white

    with TestClient(app, base_url=ORIGIN) as client:
        css_url = re.search(r'href="(/static/app\.[0-9a-f]{12}\.css)"', client.get("/login").text).group(1)
        css = client.get(css_url).text

    accent = branding.accessible_accent("#ffd700")
    assert accent.adjusted and accent.contrast >= 4.5
    assert f"--accent:{accent.color}" in css


def test_a_dark_enough_accent_is_kept_as_configured() -> None:
    accent = branding.accessible_accent("#1d6b57")

    assert accent.color == "#1d6b57" and not accent.adjusted


def test_logo_with_script_is_refused(tmp_path) -> None:
    logo = tmp_path / "logo.svg"
    logo.write_text("<svg><script>alert(1)</script></svg>")

    with pytest.raises(ConfigError, match="not a plain SVG"):
        Settings.from_env({"PORTAL_DATA_DIR": str(tmp_path), "PORTAL_CLINIC_LOGO": str(logo)})


def test_secret_key_is_generated_once_into_the_data_folder(tmp_path) -> None:
    first = Settings.from_env({"PORTAL_DATA_DIR": str(tmp_path)})
    second = Settings.from_env({"PORTAL_DATA_DIR": str(tmp_path)})

    assert len(str(first.secret_key)) >= 32
    assert str(first.secret_key) == str(second.secret_key)
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"PORTAL_ORIGIN": "https://portal.example"}, "SECRET_KEY"),
        ({"SECRET_KEY": "change-me", "PORTAL_ORIGIN": "https://portal.example"}, "SECRET_KEY"),
        ({"SECRET_KEY": "x" * 40, "PORTAL_ORIGIN": "http://portal.example"}, "https"),
    ],
)
def test_production_refuses_unsafe_settings(tmp_path, environ, problem) -> None:
    with pytest.raises(ConfigError, match=problem):
        Settings.from_env({"PORTAL_ENV": "production", "PORTAL_DATA_DIR": str(tmp_path), **environ})

    assert not (tmp_path / "secret_key").exists()  # production never invents its own secret


def test_production_accepts_safe_settings(tmp_path) -> None:
    settings = Settings.from_env(
        {"PORTAL_ENV": "production", "SECRET_KEY": "k" * 48, "PORTAL_ORIGIN": "https://portal.example"}
    )

    assert settings.production and settings.rp_id == "portal.example"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")

    with engine.connect() as conn:
        journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        foreign_keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()

    assert journal == "wal" and foreign_keys == 1


def tables_in(url: str) -> set[str]:
    engine = db.make_engine(url)
    try:
        return db.table_names(engine)
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_db_upgrade_command_creates_the_schema(tmp_path, database_url) -> None:
    url = database_url if database_url.startswith("postgresql") else f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {"PORTAL_DATA_DIR": str(tmp_path), "DATABASE_URL": url, "PATH": "/usr/bin:/bin"}

    result = subprocess.run(
        [sys.executable, "-m", "portal", "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert {"person", "patient", "alembic_version"} <= tables_in(url)


def test_serve_on_an_empty_database_creates_the_schema_and_answers(tmp_path) -> None:
    port = free_port()
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    env = {
        "PORTAL_DATA_DIR": str(tmp_path),
        "DATABASE_URL": url,
        "PATH": "/usr/bin:/bin",
        "PORTAL_ORIGIN": f"http://localhost:{port}",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "portal", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        status = None
        for _ in range(100):
            try:
                status = httpx.get(f"http://localhost:{port}/healthz", timeout=1).status_code
                break
            except httpx.TransportError:
                time.sleep(0.1)
        page = httpx.get(f"http://localhost:{port}/login", timeout=5)
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0].decode()

    assert status == 200
    assert page.status_code == 200 and "Sign in" in page.text
    assert "person" in tables_in(url)
    assert "route=login_page status=200" in output
    assert Path(tmp_path / "secret_key").exists()
