"""Screenshots of the demo at 320 px: each persona's landing page and one record page, as PNG files.

    python -m bench.screenshots [FOLDER]     # from the project folder; default /tmp/screenshots

Builds the demo clinic (`portal demo`'s patients, family, staff, print day and calendar) in a throwaway
data folder, serves it on a free port of localhost, signs each persona in (a session row and its signed
cookie, as the tests do: the passkey ceremony has its own tests) and has Debian's Chromium, driven by
Playwright as tests/browser/conftest.py launches it, save a full-page picture of each page.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright
from sqlmodel import Session, select

from portal import db, demo
from portal.app import create_app
from portal.config import Settings
from portal.models import Patient, Person
from portal.models.people import StaffRole
from portal.security import sessions
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

WIDTH = 320
HEIGHT = 640


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_demo(settings: Settings) -> dict[str, tuple[int, list[str]]]:
    """The demo clinic, and for each persona: who signs in and the pages to take (landing first)."""
    engine = create_app(settings).state.engine
    db.upgrade(engine)
    demo.import_sample_records(engine, today=settings.today())
    family = demo.create_family(settings, engine)
    print_lines = list(demo.day_to_print(settings, engine))
    demo.seed_demo_calendar(settings, engine)
    print_day = next((line.split()[5] for line in print_lines if line.startswith("Visits to print")), "")
    with Session(engine) as session:
        personas: dict[str, tuple[int, list[str]]] = {}
        parent = session.exec(select(Person).where(Person.email == demo.PARENT_EMAIL)).one()
        youngest = family.children[0]
        personas["parent"] = (_id(parent), ["/", f"/p/{youngest.public_id}/summary"])
        for name, patient in (("teen", family.teen), ("adult", family.adult)):
            if patient is not None:  # an account as activation would make it
                person = Person(display_name=patient.display_name)
                session.add(person)
                session.flush()
                stored = session.get(Patient, patient.id)
                assert stored is not None
                stored.person_id = person.id
                personas[name] = (_id(person), ["/", f"/p/{patient.public_id}/results"])
        staff_pages = {
            StaffRole.FRONT_DESK: "/front-desk/registration",
            StaffRole.CLINICIAN: "/staff/inbox",
            StaffRole.BILLING: "/billing/accounts",
            StaffRole.ADMIN: "/admin/audit",
        }
        for role, page in staff_pages.items():
            person = session.exec(select(Person).where(Person.email == demo.STAFF_EMAILS[role])).one()
            personas[f"staff-{role.value.replace('_', '-')}"] = (_id(person), ["/", page])
        printing_staff = personas["staff-front-desk"][0]
        personas["staff-printing"] = (
            printing_staff,
            [f"/staff/print?day={print_day}" if print_day else "/staff/print"],
        )
        session.commit()
    engine.dispose()
    return personas


def _id(person: Person) -> int:
    assert person.id is not None
    return person.id


@contextmanager
def serving(settings: Settings, port: int) -> Iterator[Settings]:
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield app.state.settings
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.engine.dispose()


def cookie_for(settings: Settings, person_id: int) -> str:
    engine = db.make_engine(settings.database_url)
    try:
        with Session(engine) as session, session.begin():
            login = sessions.open_session(session, person_id=person_id, method="test", settings=settings)
            return sessions.sign(settings, login.id)
    finally:
        engine.dispose()


def take(settings: Settings, personas: dict[str, tuple[int, list[str]]], folder: Path) -> list[Path]:
    saved = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name, (person_id, pages) in personas.items():
                context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, locale="en-US")
                context.add_cookies(
                    [
                        {
                            "name": sessions.COOKIE,
                            "value": cookie_for(settings, person_id),
                            "url": settings.origin,
                        }
                    ]
                )
                page = context.new_page()
                for number, path in enumerate(pages):
                    page.goto(settings.origin + path)
                    kind = (
                        "landing"
                        if number == 0 and path == "/"
                        else path.strip("/").split("?")[0].split("/")[-1]
                    )
                    target = folder / f"{name}-{number + 1}-{kind}.png"
                    page.screenshot(path=str(target), full_page=True)
                    saved.append(target)
                context.close()
        finally:
            browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="/tmp/screenshots", type=Path)
    folder: Path = parser.parse_args().folder
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    settings = Settings.from_env(
        {
            "PORTAL_DATA_DIR": tempfile.mkdtemp(prefix="portal-screenshots-"),
            "PORTAL_ORIGIN": f"http://localhost:{port}",
            "PORTAL_DEMO": "true",
        }
    )
    personas = build_demo(settings)
    with serving(settings, port) as served:
        for path in take(served, personas, folder):
            print(path)


if __name__ == "__main__":
    main()
