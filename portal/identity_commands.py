"""The identity commands: `portal activation-code PATIENT` and `portal staff add|reset EMAIL`."""

from __future__ import annotations

import click

from portal import db
from portal.commands import load_settings, open_engine
from portal.models.people import StaffRole
from portal.services.errors import Refused

# What the operator reads when a staff or activation command is refused (the CLI speaks English).
REFUSALS = {
    "patient_deceased": "this patient is recorded as deceased: no activation code is issued",
    "email_invalid": "that is not an email address",
    "email_taken": "an account with that email address already exists",
    "staff_unknown": "no staff account has that email address",
}


@click.command(name="activation-code")
@click.argument("patient")
def activation_code(patient: str) -> None:
    """Issue a fresh one-time activation code for PATIENT (the patient's FHIR id)."""
    from portal.services.identity import codes

    try:
        with open_engine(load_settings()) as engine, db.transaction(engine) as session:
            found = codes.find_patient(session, patient)
            if found is None:
                raise click.ClickException("no patient has that id")
            code = codes.issue_activation_code(session, patient=found)
    except Refused as refusal:
        raise click.ClickException(REFUSALS[refusal.code]) from None
    days = codes.ACTIVATION_DAYS
    click.echo(f"Activation code (works once, with the patient's date of birth, for {days} days):")
    click.echo(code)


@click.group()
def staff() -> None:
    """Staff accounts."""


@staff.command(name="add")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice([role.value for role in StaffRole]))
@click.option("--name", default=None, help="The name shown in the portal (default: from the email).")
def staff_add(email: str, role: str, name: str | None) -> None:
    """Create a staff account and print its single-use enrolment link (valid 72 hours)."""
    from portal.services.identity import people

    settings = load_settings()
    try:
        with open_engine(settings) as engine, db.transaction(engine) as session:
            link = people.add_staff(session, settings, email=email, role=StaffRole(role), display_name=name)
    except Refused as refusal:
        raise click.ClickException(REFUSALS[refusal.code]) from None
    click.echo(f"Enrolment link (works once, for {people.ENROLMENT_HOURS} hours):")
    click.echo(link)


@staff.command(name="reset")
@click.argument("email")
def staff_reset(email: str) -> None:
    """Remove a staff member's passkeys and sessions and print a new enrolment link (valid 72 hours)."""
    from portal.services.identity import people

    settings = load_settings()
    try:
        with open_engine(settings) as engine, db.transaction(engine) as session:
            link = people.reset_staff(session, settings, email=email)
    except Refused as refusal:
        raise click.ClickException(REFUSALS[refusal.code]) from None
    click.echo(f"Enrolment link (works once, for {people.ENROLMENT_HOURS} hours):")
    click.echo(link)
