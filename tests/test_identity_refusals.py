"""Identity refusals: the services name a reason (a code), the views say it in the reader's language."""

from __future__ import annotations

import ast
from pathlib import Path

from portal import i18n
from portal.identity_commands import REFUSALS as COMMAND_REFUSALS
from portal.services.errors import Refused
from portal.views.identity_refusals import MESSAGES, RATE_LIMITED, refusal_message
from tests.identity_helpers import json_post

IDENTITY = Path(__file__).parent.parent / "portal" / "services" / "identity"


def codes_in_the_services() -> set[str]:
    """Every code the identity services give to `Refused(...)`."""
    found = set()
    for path in IDENTITY.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Refused" and node.args:
                assert isinstance(node.args[0], ast.Constant), (
                    f"{path.name}: a refusal code must be a literal"
                )
                found.add(node.args[0].value)
    return found


def test_every_code_the_identity_services_use_has_words() -> None:
    codes = codes_in_the_services()

    assert {"bad_activation", "patient_deceased", "rate_limited"} <= codes  # the scan itself works
    # Words for the pages, or (for what only the `portal` commands meet) for the operator.
    assert codes - {RATE_LIMITED} <= set(MESSAGES) | set(COMMAND_REFUSALS)


def test_a_refusal_is_told_in_spanish_with_its_parameters() -> None:
    with i18n.using("es"):
        too_short = refusal_message(Refused("password_too_short", num=12))
        wait = refusal_message(Refused(RATE_LIMITED, minutes=3))
        deceased = refusal_message(Refused("patient_deceased"))

    assert too_short == "Por favor, use al menos 12 caracteres."
    assert wait.startswith("Demasiados intentos") and "3 minutos" in wait
    assert deceased.startswith("Este paciente figura como fallecido")


def test_the_same_refusal_in_english() -> None:
    with i18n.using("en"):
        wait = refusal_message(Refused(RATE_LIMITED, minutes=1))

    assert wait == "Too many tries. Please wait 1 minute, then try again."


def test_a_wrong_activation_code_is_refused_in_the_readers_language(client) -> None:
    body = {"code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ", "birth_date": "1990-12-10"}

    spanish = json_post(client, "/activate/options", body, headers={"Accept-Language": "es"})
    english = json_post(client, "/activate/options", body, headers={"Accept-Language": "en"})

    with i18n.using("es"):
        expected = i18n.gettext(MESSAGES["bad_activation"])
    assert spanish.status_code == english.status_code == 400
    assert spanish.json()["error"] == expected != english.json()["error"]
    assert english.json()["error"] == MESSAGES["bad_activation"]
