"""Chromium's virtual authenticator, patients put straight into the live server's database, and the CLI."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from datetime import date

from playwright.sync_api import BrowserContext, CDPSession, Page
from sqlmodel import Session

from portal.models import Patient

BIRTH = date(1984, 3, 9)


def add_virtual_authenticator(context: BrowserContext, page: Page) -> tuple[CDPSession, str]:
    """A platform authenticator with resident keys and user verification, as on a phone."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    result = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, result["authenticatorId"]


def add_patient(live_server, *, given: str = "Rosalind", family: str = "Franklin") -> Patient:
    patient = Patient(
        fhir_id=f"browser-{secrets.token_hex(4)}", given_name=given, family_name=family, birth_date=BIRTH
    )
    with Session(live_server.engine, expire_on_commit=False) as session:
        session.add(patient)
        session.commit()
    return patient


def cli_activation_code(live_server, fhir_id: str) -> str:
    """`portal activation-code FHIR_ID` against the live server's database; the code is the last line."""
    settings = live_server.settings
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": settings.database_url,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": str(settings.secret_key),
    }
    result = subprocess.run(
        [sys.executable, "-m", "portal", "activation-code", fhir_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def fill_activation(page: Page, live_server, code: str, birth_date: date = BIRTH) -> None:
    page.goto(live_server.url + "/activate")
    page.get_by_label("Activation code").fill(code)
    page.get_by_label("Date of birth").fill(birth_date.isoformat())
    page.get_by_role("button", name="passkey").click()


# Where a new account lands once its passkey is made: a patient's own summary, a parent's family (the
# records page), a staff member's tools; the welcome prompt rides along.
FIRST_LANDING = re.compile(r"/(p/[^/]+/summary|records|staff)\?welcome=1$")


def wait_for_first_landing(page: Page) -> None:
    page.wait_for_url(FIRST_LANDING)


def cli_staff_link(live_server, email: str, role: str) -> str:
    """`portal staff add EMAIL --role ROLE` against the live server; the link is the last line."""
    settings = live_server.settings
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": settings.database_url,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": str(settings.secret_key),
        "PORTAL_ORIGIN": settings.origin,
    }
    result = subprocess.run(
        [sys.executable, "-m", "portal", "staff", "add", email, "--role", role],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]
