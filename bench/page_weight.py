"""Print what a first visit to the sign-in page transfers, gzip-compressed, against the budgets; and what a
signed-in parent's move from one chart section to the next transfers, with htmx (a boosted link that
fetches only <main>) and without it (the full page)."""

from __future__ import annotations

import re
import tempfile
from datetime import date
from pathlib import Path

from sqlmodel import Session, select
from starlette.testclient import TestClient

from portal import db
from portal.app import create_app
from portal.config import Settings
from portal.fhir import importer
from portal.models import Patient, Person, ProxyGrant
from portal.security import sessions

HTML_CSS_BUDGET = 14 * 1024
JS_BUDGET = 20 * 1024
FIRST_VISIT_BUDGET = 30 * 1024


def main() -> None:
    data_dir = tempfile.mkdtemp()
    settings = Settings.from_env({"PORTAL_DATA_DIR": data_dir})
    app = create_app(settings)
    db.upgrade(app.state.engine)
    with TestClient(app, base_url=settings.origin) as client:
        page = client.get("/login", headers={"Accept-Encoding": "gzip"})
        html = int(page.headers["content-length"])
        css = js = 0
        for url in re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text):
            size = int(client.get(url, headers={"Accept-Encoding": "gzip"}).headers["content-length"])
            if url.endswith(".css"):
                css += size
            elif url.endswith(".js"):
                js += size
    print(f"sign-in page: html {html} B + css {css} B = {html + css} B gzip (budget {HTML_CSS_BUDGET})")
    print(f"sign-in page: javascript {js} B gzip (budget {JS_BUDGET})")
    print(f"sign-in page: first visit {html + css + js} B (budget {FIRST_VISIT_BUDGET})")

    signed_in_navigation(settings)


SAMPLE = Path(__file__).parent.parent / "data" / "fhir" / "sample-infant.json"
SECTIONS = ("summary", "results", "medications", "immunizations", "visits", "growth")
# What htmx 4 sends for a link of the chart's navigation (hx-boost, hx-target="#main").
BOOSTED = {"HX-Request": "true", "HX-Boosted": "true", "HX-Target": "main#main", "HX-Request-Type": "partial"}


def gzip_size(client: TestClient, url: str, headers: dict[str, str] | None = None) -> int:
    response = client.get(url, headers={"Accept-Encoding": "gzip", **(headers or {})})
    assert response.status_code == 200, (url, response.status_code)
    return int(response.headers.get("content-length") or len(response.content))


def signed_in_navigation(settings: Settings) -> None:
    """A parent reads the sample infant's chart section by section: bytes per section change."""
    app = create_app(settings)
    importer.import_paths(app.state.engine, [SAMPLE])
    with Session(app.state.engine) as session:
        patient = session.exec(select(Patient).where(Patient.family_name == "Sample")).one()
        parent = Person(display_name="Bench Parent")
        session.add(parent)
        session.flush()
        session.add(
            ProxyGrant(
                proxy_person_id=parent.id,
                patient_id=patient.id,
                relationship="parent",
                starts_on=date(2000, 1, 1),
            )
        )
        login = sessions.open_session(session, person_id=parent.id, method="bench")
        session.commit()
        public_id = patient.public_id
        cookie = sessions.sign(settings, login.id)
    with TestClient(app, base_url=settings.origin) as client:
        client.cookies.set(sessions.cookie_name(settings), cookie)
        full = boosted = 0
        for section in SECTIONS:
            url = f"/p/{public_id}/{section}"
            full += gzip_size(client, url)
            boosted += gzip_size(client, url, BOOSTED)
    count = len(SECTIONS)
    print(f"chart section change without htmx (full page): {full / count:.0f} B gzip on average")
    print(f"chart section change with htmx (main only): {boosted / count:.0f} B gzip on average")
    print(f"saved per section change: {(full - boosted) / count:.0f} B ({1 - boosted / full:.0%})")


if __name__ == "__main__":
    main()
