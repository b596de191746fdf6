"""`portal registration export --since DATE`: what online check-ins wrote for the EHR, as NDJSON."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from portal import db
from portal.commands import load_settings, open_engine
from portal.provenance import Provenance


@click.group(name="registration")
def registration_group() -> None:
    """Online check-in: what it keeps for the EHR."""


@registration_group.command(name="export")
@click.option("--since", "since", required=True, help="YYYY-MM-DD: resources written on or after this day")
def export_command(since: str) -> None:
    """Print the FHIR resources check-ins wrote (Patient updates, Coverage, allergies and medicines as the
    patient reported them, QuestionnaireResponse, Consent) since a day, one JSON object a line."""
    from portal.models.base import utcnow
    from portal.services import access
    from portal.services.registration import export

    try:
        start = datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise click.BadParameter("expected a date as YYYY-MM-DD", param_hint="--since") from None
    settings = load_settings()
    rules = access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    operator = access.Operator(settings.today(), rules, utcnow(), Provenance(route="cli:registration_export"))
    with open_engine(settings, upgrade=True) as engine, db.transaction(engine) as session:
        lines = list(export.ndjson(session, operator, start))
    for line in lines:
        click.echo(line)
