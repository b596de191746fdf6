"""Every route of the app is in tests/route_registry.py, and the registry names no route the app lacks.

The app is built twice, as in production and in demo mode, so routes that exist only in one are seen too.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from portal.app import create_app
from portal.services import audit
from tests import route_registry
from tests.route_registry import OUTPUTS, ROUTES, NotPatientData, PatientData, route_keys


@pytest.fixture
def every_route(settings) -> dict[str, object]:
    found: dict[str, object] = {}
    for variant in (settings, replace(settings, demo=True)):
        application = create_app(variant)
        for route in application.routes:
            for key in route_keys(route):
                found.setdefault(key, route)
        application.state.engine.dispose()
    return found


def describe(route: object) -> str:
    endpoint = getattr(route, "endpoint", None) or getattr(route, "app", None)
    where = f"{getattr(endpoint, '__module__', '?')}.{getattr(endpoint, '__name__', '?')}"
    return f"route name {getattr(route, 'name', None)!r}, served by {where}"


def test_every_route_of_the_app_is_in_the_registry(every_route) -> None:
    missing = sorted(key for key in every_route if key not in ROUTES)

    assert not missing, "\n".join(
        [f"{len(missing)} route(s) of the app are not in tests/route_registry.py ROUTES:"]
        + [
            f"  {key} ({describe(every_route[key])}): add\n"
            f'    "{key}": PatientData(area, action, resource_type, outputs, who, items)  '
            f"# if it shows or changes a patient's data (its audit event, outputs and access rule)\n"
            f'  or\n    "{key}": NotPatientData("why it shows no patient data, in one line")'
            for key in missing
        ]
    )


def test_the_registry_names_no_route_the_app_lacks(every_route) -> None:
    stale = sorted(key for key in ROUTES if key not in every_route)

    assert not stale, (
        f"tests/route_registry.py names routes the app does not have (removed or renamed?): {stale}; "
        "remove them, or rename them to the app's current method and path"
    )


def test_each_entry_says_what_it_is() -> None:
    problems = []
    for key, entry in ROUTES.items():
        if isinstance(entry, NotPatientData):
            if not entry.reason.strip() or "\n" in entry.reason:
                problems.append(f"{key}: a NotPatientData needs a one-line reason")
        elif isinstance(entry, PatientData):
            if not entry.outputs or set(entry.outputs) - set(OUTPUTS):
                problems.append(f"{key}: outputs must be among {OUTPUTS}, got {entry.outputs}")
            if entry.action not in audit.ACTIONS:  # the actions the audit log knows
                problems.append(f"{key}: unknown audit action {entry.action!r}")
            parameters = {name.split(":")[0] for name in key.replace("}", "{").split("{")[1::2]}
            # An item of a patient's chart is found by its table; other parameters (a print job) are not
            # a patient's item.
            if "patient" in parameters and parameters - {"patient"} != set(entry.items):
                problems.append(
                    f"{key}: items must name the table of each path parameter {sorted(parameters)}, "
                    f"got {sorted(entry.items)}"
                )
        else:
            problems.append(f"{key}: an entry is PatientData or NotPatientData, not {type(entry).__name__}")

    assert problems == []


def test_the_registry_knows_the_chart_pages() -> None:
    """A guard against the registry being emptied: the chart's core pages are patient data."""
    chart = route_registry.patient_data(path_holds_patient=True)

    assert {"GET /p/{patient}/summary", "GET /p/{patient}/results", "POST /p/{patient}/download"} <= set(
        chart
    )
