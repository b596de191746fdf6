"""The person's passkeys (list, rename, add, remove with a fresh passkey check) and active sessions."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import select

from portal.models import AuditEvent, LoginSession, Passkey
from portal.models.base import utcnow
from portal.security import sessions
from portal.security.sessions import Client
from portal.services.identity import account
from tests.conftest import ORIGIN, SESSION_COOKIE, form_post, log_in, make_patient, make_person, reload
from tests.identity_helpers import activate, issue_code, json_post
from tests.webauthn_authenticator import SoftAuthenticator

BIRTH = date(1990, 12, 10)


def activated(client, session):
    """Signed in straight after activation (so the passkey check is fresh)."""
    authenticator = SoftAuthenticator()
    patient = make_patient(session, birth_date=BIRTH)
    assert activate(client, issue_code(session, patient), BIRTH, authenticator).status_code == 200
    passkey = session.exec(select(Passkey)).one()
    session.commit()
    return passkey, authenticator


def current_login(client, session) -> LoginSession:
    session_id = sessions.unsign(client.app.state.settings, client.cookies[SESSION_COOKIE])
    return reload(session, LoginSession, session_id)


def make_stale(client, session) -> None:
    login = current_login(client, session)
    login.verified_at = utcnow() - timedelta(minutes=sessions.STEP_UP_MINUTES + 1)
    session.add(login)
    session.commit()


def add_second_passkey(client, authenticator):
    options = json_post(client, "/account/passkeys/options").json()
    credential = authenticator.create(options, origin=ORIGIN)
    return json_post(client, "/account/passkeys/finish", {"credential": credential})


def test_passkeys_are_listed_with_last_use(client, session) -> None:
    passkey, _ = activated(client, session)

    page = client.get("/account/passkeys").text

    assert passkey.name in page and "last used" in page


def test_rename_a_passkey(client, session) -> None:
    passkey, _ = activated(client, session)

    form_post(client, f"/account/passkeys/{passkey.public_id}/rename", {"name": "  Kitchen   tablet "})

    assert reload(session, Passkey, passkey.id).name == "Kitchen tablet"


def test_renaming_someone_elses_passkey_is_not_found(client, session) -> None:
    passkey, _ = activated(client, session)
    log_in(client, session, make_person(session))

    response = form_post(client, f"/account/passkeys/{passkey.public_id}/rename", {"name": "Mine now"})

    assert response.status_code == 404
    assert reload(session, Passkey, passkey.id).name != "Mine now"


def test_add_a_second_passkey_right_after_a_passkey_check(client, session) -> None:
    _, authenticator = activated(client, session)

    response = add_second_passkey(client, authenticator)

    assert response.json() == {"redirect": "/account/passkeys"}
    assert len(session.exec(select(Passkey)).all()) == 2


def test_adding_a_passkey_needs_a_fresh_check(client, session) -> None:
    _, authenticator = activated(client, session)
    make_stale(client, session)

    response = json_post(client, "/account/passkeys/options")

    assert response.status_code == 400 and "confirm it" in response.json()["error"]


def test_step_up_makes_the_check_fresh_again(client, session) -> None:
    _, authenticator = activated(client, session)
    make_stale(client, session)
    options = json_post(client, "/account/step-up/options").json()

    response = json_post(
        client, "/account/step-up/finish", {"credential": authenticator.get(options, origin=ORIGIN)}
    )

    assert response.status_code == 200
    assert sessions.is_fresh(current_login(client, session))


def test_step_up_with_another_persons_passkey_is_refused(client, session) -> None:
    _, first_authenticator = activated(client, session)
    client.cookies.clear()
    patient = make_patient(session, fhir_id="other", birth_date=BIRTH)
    activate(client, issue_code(session, patient), BIRTH)  # now signed in as the other patient
    make_stale(client, session)
    options = json_post(client, "/account/step-up/options").json()
    first_key = next(iter(first_authenticator.credentials))

    credential = first_authenticator.get(options, origin=ORIGIN, credential_id=first_key)
    response = json_post(client, "/account/step-up/finish", {"credential": credential})

    assert response.status_code == 400
    assert not sessions.is_fresh(current_login(client, session))


def test_removing_the_only_passkey_without_recovery_codes_is_refused(client, session) -> None:
    passkey, _ = activated(client, session)

    response = form_post(client, f"/account/passkeys/{passkey.public_id}/remove")

    assert response.status_code == 400 and "only passkey" in response.text
    assert reload(session, Passkey, passkey.id) is not None


def test_removing_the_only_passkey_with_recovery_codes_in_place(client, session) -> None:
    passkey, _ = activated(client, session)
    form_post(client, "/account/recovery-codes")

    response = form_post(client, f"/account/passkeys/{passkey.public_id}/remove", follow_redirects=False)

    assert response.status_code == 303
    assert reload(session, Passkey, passkey.id) is None


def test_removing_a_passkey_needs_a_fresh_check(client, session) -> None:
    passkey, authenticator = activated(client, session)
    add_second_passkey(client, authenticator)
    make_stale(client, session)

    response = form_post(client, f"/account/passkeys/{passkey.public_id}/remove")

    assert response.status_code == 400
    assert reload(session, Passkey, passkey.id) is not None


def test_removing_one_of_two_passkeys_is_audited(client, session) -> None:
    passkey, authenticator = activated(client, session)
    add_second_passkey(client, authenticator)

    form_post(client, f"/account/passkeys/{passkey.public_id}/remove")

    removed = session.exec(select(AuditEvent).where(AuditEvent.action == "passkey-removed")).one()
    session.commit()
    assert removed.resource_id == passkey.public_id


def test_active_sessions_are_listed_with_device_and_last_use(client, session) -> None:
    person = make_person(session)
    log_in(client, session, person, device="Firefox on Android")

    page = client.get("/account/sessions").text

    assert "Firefox on Android" in page and "(this device)" in page and "last used" in page


def test_sign_out_one_other_session(client, session) -> None:
    person = make_person(session)
    other = sessions.open_session(session, person_id=person.id, method="test", device="Safari on iPhone")
    session.commit()
    log_in(client, session, person)

    form_post(client, f"/account/sessions/{other.public_id}/revoke")

    assert reload(session, LoginSession, other.id).revoked_at is not None
    assert client.get("/account", follow_redirects=False).status_code == 200


def test_sign_out_everywhere_ends_every_session(client, session) -> None:
    person = make_person(session)
    other = sessions.open_session(session, person_id=person.id, method="test")
    session.commit()
    mine = log_in(client, session, person)

    response = form_post(client, "/account/sessions/everywhere", follow_redirects=False)

    assert response.headers["clear-site-data"] == '"cache", "storage"'
    assert reload(session, LoginSession, other.id).revoked_at is not None
    assert reload(session, LoginSession, mine.id).revoked_at is not None
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_someone_elses_session_cannot_be_revoked(client, session) -> None:
    stranger = make_person(session, display_name="Someone Else")
    theirs = sessions.open_session(session, person_id=stranger.id, method="test")
    session.commit()
    log_in(client, session, make_person(session))

    response = form_post(client, f"/account/sessions/{theirs.public_id}/revoke")

    assert response.status_code == 404
    assert reload(session, LoginSession, theirs.id).revoked_at is None


def test_revoking_is_audited(session) -> None:
    person = make_person(session)
    login = sessions.open_session(session, person_id=person.id, method="test")

    account.revoke_session(
        session, person_id=person.id, public_id=login.public_id, client=Client("a", None, "")
    )

    assert session.exec(select(AuditEvent.action)).all() == ["session-revoked"]
