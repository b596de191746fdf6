"""Activation: a one-time code plus date of birth, and a passkey made in the same step."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlmodel import select

from portal.cli import main
from portal.models import AuditEvent, LoginSession, OneTimeCode, Passkey, Patient, Person
from portal.models.base import utcnow
from portal.security import hashing
from portal.services.errors import Refused
from portal.services.identity import codes
from tests.conftest import ORIGIN, SESSION_COOKIE, log_in, make_patient, make_person, reload
from tests.identity_helpers import activate, issue_code, json_post
from tests.webauthn_authenticator import SoftAuthenticator

BIRTH = date(1990, 12, 10)
REFUSED = "don&#39;t match"


def count(session, model) -> int:
    n = len(session.exec(select(model)).all())
    session.commit()
    return n


def test_activation_creates_the_person_signs_in_and_shows_their_name(client, session) -> None:
    patient = make_patient(session, given_name="Ada", family_name="Lovelace", birth_date=BIRTH)
    code = issue_code(session, patient)

    response = activate(client, code, BIRTH)

    assert response.status_code == 200 and response.json() == {
        "redirect": "/?welcome=1"
    }  # a new account lands on its family or summary
    assert "Ada Lovelace" in client.get("/account").text
    person = session.exec(select(Person)).one()
    assert reload(session, Patient, patient.id).person_id == person.id


def test_activation_code_is_easy_to_type_and_long(session) -> None:
    patient = make_patient(session)

    code = issue_code(session, patient)

    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){3}", code)
    assert not set("01OI") & set(code)


def test_activation_code_is_stored_argon2id_hashed(session) -> None:
    code = issue_code(session, make_patient(session))

    stored = session.exec(select(OneTimeCode)).one()

    assert stored.code_hash.startswith("$argon2id$")
    assert hashing.normalize(code) not in stored.code_hash


def test_typed_code_may_be_lowercase_and_spaced(client, session) -> None:
    code = issue_code(session, make_patient(session, birth_date=BIRTH))

    response = activate(client, code.lower().replace("-", " "), BIRTH)

    assert response.status_code == 200


def test_us_style_date_of_birth_is_accepted(client, session) -> None:
    code = issue_code(session, make_patient(session, birth_date=BIRTH))

    response = activate(client, code, "12/10/1990")

    assert response.status_code == 200


def refused(response) -> bool:
    return response.status_code == 400 and "match" in response.json()["error"]


def test_wrong_code_is_refused_and_opens_no_session(client, session) -> None:
    make_patient(session, birth_date=BIRTH)

    response = activate(client, "ABCD-EFGH-JKLM-NPQR", BIRTH)

    assert refused(response)
    assert count(session, LoginSession) == 0 and SESSION_COOKIE not in client.cookies


def test_wrong_date_of_birth_is_refused(client, session) -> None:
    code = issue_code(session, make_patient(session, birth_date=BIRTH))

    response = activate(client, code, BIRTH + timedelta(days=1))

    assert refused(response)
    assert count(session, LoginSession) == 0


def test_missing_date_of_birth_is_refused(client, session) -> None:
    code = issue_code(session, make_patient(session, birth_date=BIRTH))

    response = activate(client, code, "")

    assert refused(response)


def test_used_code_is_refused(client, session) -> None:
    code = issue_code(session, make_patient(session, birth_date=BIRTH))
    activate(client, code, BIRTH)
    client.cookies.clear()

    response = activate(client, code, BIRTH)

    assert refused(response)


def test_expired_code_is_refused(client, session) -> None:
    code = issue_code(session, make_patient(session, birth_date=BIRTH))
    stored = session.exec(select(OneTimeCode)).one()
    stored.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()

    response = activate(client, code, BIRTH)

    assert refused(response)


def test_code_expires_after_thirty_days(session) -> None:
    issue_code(session, make_patient(session))

    stored = session.exec(select(OneTimeCode)).one()

    assert timedelta(days=29, hours=23) < stored.expires_at - utcnow() <= timedelta(days=30)


def test_five_wrong_dates_of_birth_lock_the_code(client, session) -> None:
    code = issue_code(session, make_patient(session, birth_date=BIRTH))
    for days in range(1, 6):
        assert refused(activate(client, code, BIRTH + timedelta(days=days)))

    response = activate(client, code, BIRTH)

    assert refused(response)
    assert count(session, LoginSession) == 0


def test_a_code_for_one_patient_never_opens_another(client, session) -> None:
    make_patient(session, fhir_id="first", birth_date=BIRTH)
    second = make_patient(session, fhir_id="second", birth_date=date(1985, 1, 2))
    code = issue_code(session, second)

    response = activate(client, code, BIRTH)  # the first patient's birth date

    assert refused(response)


def test_a_new_code_replaces_the_old_one(client, session) -> None:
    patient = make_patient(session, birth_date=BIRTH)
    old = issue_code(session, patient)
    issue_code(session, patient)

    response = activate(client, old, BIRTH)

    assert refused(response)


def test_every_refusal_reads_the_same(client, session) -> None:
    patient = make_patient(session, birth_date=BIRTH)
    used = issue_code(session, make_patient(session, fhir_id="used", birth_date=BIRTH))
    activate(client, used, BIRTH)
    client.cookies.clear()
    code = issue_code(session, patient)

    answers = {
        json_post(client, "/activate/options", {"code": c, "birth_date": str(d)}).text
        for c, d in [("ZZZZ-ZZZZ-ZZZZ-ZZZZ", BIRTH), (code, BIRTH + timedelta(days=1)), (used, BIRTH)]
    }

    assert len(answers) == 1


def test_unknown_code_and_wrong_birth_date_take_the_same_time(client, session) -> None:
    # Two codes, four wrong tries each: eight samples against a busy machine, and no code worn out (five).
    codes = [issue_code(session, make_patient(session, birth_date=BIRTH)) for _ in range(2)]

    def timed(c: str, d: date) -> float:
        started = time.perf_counter()
        json_post(client, "/activate/options", {"code": c, "birth_date": str(d)})
        return time.perf_counter() - started

    samples = [
        (timed("ZZZZ-ZZZZ-ZZZZ-ZZZZ", BIRTH), timed(code, date(2001, 1, 1)))
        for code in codes
        for _ in range(4)
    ]
    unknown = min(a for a, _ in samples)  # the fastest run of each: the least disturbed by other load
    wrong_birth = min(b for _, b in samples)

    assert abs(unknown - wrong_birth) < max(unknown, wrong_birth) * 0.5


def test_finish_without_a_verified_code_grants_nothing(client, session) -> None:
    authenticator = SoftAuthenticator()
    options = {
        "rp": {"id": "localhost"},
        "user": {"id": "AAAA"},
        "challenge": "bm90LWEtcmVhbC1jaGFsbGVuZ2U",
    }
    credential = authenticator.create(options, origin="https://localhost:8000")

    response = json_post(client, "/activate/finish", {"credential": credential})

    assert response.status_code == 400
    assert count(session, Passkey) == 0 and count(session, LoginSession) == 0


def test_registration_without_user_verification_is_refused(client, session) -> None:
    code = issue_code(session, make_patient(session, birth_date=BIRTH))

    response = activate(client, code, BIRTH, SoftAuthenticator(user_verified=False))

    assert response.status_code == 400
    assert count(session, Passkey) == 0


def test_activation_challenge_works_once(client, session) -> None:
    code = issue_code(session, make_patient(session, birth_date=BIRTH))
    authenticator = SoftAuthenticator()
    options = json_post(client, "/activate/options", {"code": code, "birth_date": str(BIRTH)}).json()
    credential = authenticator.create(options, origin="https://localhost:8000")
    json_post(client, "/activate/finish", {"credential": credential})

    again = json_post(client, "/activate/finish", {"credential": credential})

    assert again.status_code == 400


def test_activation_is_audited(client, session) -> None:
    patient = make_patient(session, birth_date=BIRTH)
    code = issue_code(session, patient)

    activate(client, code, BIRTH)

    actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]
    assert actions == ["code-issued", "passkey-added", "sign-in", "activate"]


def test_page_without_javascript_explains_passkeys_need_it(client) -> None:
    page = client.get("/activate").text

    assert '<label for="code">Activation code' in page
    assert '<label for="birth_date">Date of birth</label>' in page
    assert "<noscript>" in page and "need JavaScript" in page


def test_cli_prints_the_code_alone_on_its_last_line(settings, session) -> None:
    make_patient(session, fhir_id="example-patient")
    env = {
        "DATABASE_URL": settings.database_url,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": str(settings.secret_key),
    }

    result = CliRunner().invoke(main, ["activation-code", "example-patient"], env=env)

    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){3}", result.output.splitlines()[-1])


def test_cli_refuses_an_unknown_patient(settings) -> None:
    env = {"DATABASE_URL": settings.database_url, "PORTAL_DATA_DIR": str(settings.data_dir)}

    result = subprocess.run(
        [sys.executable, "-m", "portal", "activation-code", "nobody"],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "no patient has that id" in result.stderr


@pytest.mark.parametrize("body", [b"[]", b"{", b"[" * 5000])
def test_malformed_json_is_a_400(client, body) -> None:
    response = json_post(
        client, "/activate/options", headers={"Content-Type": "application/json"}, content=body
    )

    assert response.status_code == 400


def test_a_credential_id_already_registered_is_refused(client, session) -> None:
    first = SoftAuthenticator()
    activate(
        client, issue_code(session, make_patient(session, fhir_id="one", birth_date=BIRTH)), BIRTH, first
    )
    client.cookies.clear()
    code = issue_code(session, make_patient(session, fhir_id="two", birth_date=BIRTH))
    options = json_post(client, "/activate/options", {"code": code, "birth_date": str(BIRTH)}).json()
    taken = next(iter(first.credentials))

    credential = SoftAuthenticator().create(options, origin="https://localhost:8000", credential_id=taken)
    response = json_post(client, "/activate/finish", {"credential": credential})

    assert response.status_code == 400
    assert count(session, Person) == 1


def test_activating_while_signed_in_ends_the_earlier_session(client, session) -> None:
    earlier = log_in(client, session, make_person(session, display_name="Parent"))
    code = issue_code(session, make_patient(session, birth_date=BIRTH))

    response = activate(client, code, BIRTH)

    assert response.status_code == 200, response.text
    assert reload(session, LoginSession, earlier.id).revoked_reason == "replaced"


# ------------------------------------------------------------------------------ a deceased patient


def test_no_activation_code_is_issued_for_a_deceased_patient(session) -> None:
    patient = make_patient(session, deceased=True)

    with pytest.raises(Refused) as refusal:
        codes.issue_activation_code(session, patient=patient)

    assert refusal.value.code == "patient_deceased"
    assert count(session, OneTimeCode) == 0


def test_cli_refuses_a_deceased_patient_with_a_clear_message(settings, session) -> None:
    make_patient(session, fhir_id="late-patient", deceased=True)
    session.commit()
    env = {
        "DATABASE_URL": settings.database_url,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": str(settings.secret_key),
    }

    result = CliRunner().invoke(main, ["activation-code", "late-patient"], env=env)

    assert result.exit_code != 0
    assert "deceased" in result.output and "no activation code" in result.output
    assert count(session, OneTimeCode) == 0


def test_an_old_code_of_a_patient_since_deceased_is_refused_like_a_wrong_code(client, session) -> None:
    patient = make_patient(session, birth_date=BIRTH)
    code = issue_code(session, patient)
    patient.deceased = True
    session.add(patient)
    session.commit()
    wrong = json_post(client, "/activate/options", {"code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ", "birth_date": str(BIRTH)})

    response = activate(client, code, BIRTH)

    assert refused(response) and response.text == wrong.text
    assert count(session, LoginSession) == 0 and count(session, Passkey) == 0


def test_a_patient_who_dies_during_activation_gets_no_account(client, session) -> None:
    patient = make_patient(session, birth_date=BIRTH)
    code = issue_code(session, patient)
    options = json_post(client, "/activate/options", {"code": code, "birth_date": str(BIRTH)})
    patient.deceased = True
    session.add(patient)
    session.commit()
    credential = SoftAuthenticator().create(options.json(), origin=ORIGIN)

    response = json_post(client, "/activate/finish", {"credential": credential})

    assert refused(response)
    assert count(session, LoginSession) == 0 and count(session, Passkey) == 0
    assert reload(session, Patient, patient.id).person_id is None
