"""Families: the front desk's proxy screens and command, a patient's own access page, and invitations."""

from __future__ import annotations

import re
from datetime import date

import pytest
from click.testing import CliRunner
from sqlmodel import Session, select

from portal import cli
from portal.models import AuditEvent, OutboxMail, Person, ProxyGrant
from tests.conftest import form_post, log_in, make_patient, make_person


@pytest.fixture
def desk(session):
    return make_person(session, display_name="Desk Clerk", staff_role="front_desk", email="desk@clinic.test")


@pytest.fixture
def child(session):
    return make_patient(session, given_name="Ana", family_name="Rivera", birth_date=date(2019, 4, 2))


@pytest.fixture
def adult(session):
    person = make_person(session, display_name="Ada Adult", email="ada@example.test")
    return make_patient(
        session, given_name="Ada", family_name="Adult", birth_date=date(1970, 1, 1), person_id=person.id
    )


def rows(session: Session, model, *conditions):
    """Rows as they are now, read in a short session of its own (the test's objects stay as they were)."""
    session.commit()
    with Session(session.get_bind(), expire_on_commit=False) as fresh:
        found = fresh.exec(select(model).where(*conditions)).all()
        fresh.commit()
        return found


def grant_for(session, proxy, patient, **fields):
    grant = ProxyGrant(
        proxy_person_id=proxy.id,
        patient_id=patient.id,
        starts_on=date(2020, 1, 1),
        **{"relationship": "caregiver", **fields},
    )
    session.add(grant)
    session.commit()
    return grant


# ------------------------------------------------------------------------------------ front desk


def test_the_front_desk_finds_a_patient_by_name_and_date_of_birth(client, session, desk, child) -> None:
    log_in(client, session, desk)

    page = form_post(client, "/front-desk/patients", {"name": "ana rivera", "birth_date": "2019-04-02"})

    assert page.status_code == 200
    assert f"/front-desk/patients/{child.public_id}/proxies" in page.text


def test_a_name_without_a_date_of_birth_finds_nobody(client, session, desk, child) -> None:
    log_in(client, session, desk)

    page = form_post(client, "/front-desk/patients", {"name": "ana rivera"})

    assert page.status_code == 400
    assert child.public_id not in page.text


def test_the_front_desk_grants_a_new_parent_and_mails_an_enrolment_link(client, session, desk, child) -> None:
    log_in(client, session, desk)

    page = form_post(
        client,
        f"/front-desk/patients/{child.public_id}/proxies",
        {
            "email": "Maria@Example.test",
            "name": "Maria Rivera",
            "relationship": "parent",
            "level": "full",
            "identity_checked": "yes",
        },
    )

    assert page.status_code == 200 and "Maria Rivera" in page.text
    [grant] = rows(session, ProxyGrant, ProxyGrant.patient_id == child.id)
    assert grant.relationship == "parent" and grant.granted_by_person_id == desk.id
    [mail] = rows(session, OutboxMail, OutboxMail.to_address == "maria@example.test")
    assert "/enrol/" in mail.body and "Ana" not in mail.body and "Rivera" not in mail.body


def test_without_the_identity_check_nothing_is_granted(client, session, desk, child) -> None:
    log_in(client, session, desk)

    page = form_post(
        client,
        f"/front-desk/patients/{child.public_id}/proxies",
        {"email": "maria@example.test", "relationship": "parent"},
    )

    assert page.status_code == 400
    assert (
        rows(session, ProxyGrant) == [] and rows(session, Person, Person.email == "maria@example.test") == []
    )


def test_a_refused_grant_leaves_no_account_behind(client, session, desk) -> None:
    grown = make_patient(session, given_name="Grown", birth_date=date(1990, 1, 1))
    log_in(client, session, desk)

    page = form_post(
        client,
        f"/front-desk/patients/{grown.public_id}/proxies",
        {"email": "new@example.test", "relationship": "parent", "identity_checked": "yes"},
    )

    assert page.status_code == 400 and "access ends at 18" in page.text
    assert rows(session, Person, Person.email == "new@example.test") == []


def test_the_front_desk_ends_a_grant(client, session, desk, child) -> None:
    parent = make_person(session, display_name="Maria")
    grant = grant_for(session, parent, child, relationship="parent")
    log_in(client, session, desk)

    page = form_post(
        client,
        f"/front-desk/patients/{child.public_id}/proxies/{grant.public_id}/end",
        {"identity_checked": "yes"},
    )

    assert page.status_code == 200
    [ended] = rows(session, ProxyGrant, ProxyGrant.id == grant.id)
    assert ended.revoked_at is not None and ended.revoked_by_person_id == desk.id


def test_a_grant_cannot_be_ended_through_another_patients_page(client, session, desk, child, adult) -> None:
    grant = grant_for(session, make_person(session), child, relationship="parent")
    log_in(client, session, desk)

    page = form_post(
        client,
        f"/front-desk/patients/{adult.public_id}/proxies/{grant.public_id}/end",
        {"identity_checked": "yes"},
    )

    assert page.status_code == 404
    assert rows(session, ProxyGrant, ProxyGrant.id == grant.id)[0].revoked_at is None


def test_the_proxy_command_grants_access_and_prints_the_enrolment_link(
    settings, session, child, monkeypatch
) -> None:
    monkeypatch.setattr(cli, "load_settings", lambda: settings)

    result = CliRunner().invoke(
        cli.main,
        ["proxy", "add", "dad@example.test", child.fhir_id, "--relationship", "parent", "--name", "Dad"],
    )

    assert result.exit_code == 0, result.output
    assert re.search(r"/enrol/\S+", result.output) and "portal proxy end -- " in result.output
    [grant] = rows(session, ProxyGrant, ProxyGrant.patient_id == child.id)
    assert grant.relationship == "parent" and grant.level == "full"


def test_the_proxy_command_ends_a_grant(settings, session, child, monkeypatch) -> None:
    grant = grant_for(session, make_person(session), child)
    monkeypatch.setattr(cli, "load_settings", lambda: settings)

    result = CliRunner().invoke(cli.main, ["proxy", "end", "--", grant.public_id])

    assert result.exit_code == 0, result.output
    assert rows(session, ProxyGrant, ProxyGrant.id == grant.id)[0].revoked_at is not None


def test_the_proxy_command_ends_a_grant_whose_id_starts_with_a_dash(
    settings, session, child, monkeypatch
) -> None:
    grant = grant_for(session, make_person(session), child, public_id="-Dstarts-with-a-dash")
    monkeypatch.setattr(cli, "load_settings", lambda: settings)

    result = CliRunner().invoke(cli.main, ["proxy", "end", "--", grant.public_id])

    assert result.exit_code == 0, result.output
    assert rows(session, ProxyGrant, ProxyGrant.id == grant.id)[0].revoked_at is not None


def test_the_proxy_command_refuses_an_impossible_grant(settings, session, child, monkeypatch) -> None:
    monkeypatch.setattr(cli, "load_settings", lambda: settings)

    result = CliRunner().invoke(
        cli.main,
        [
            "proxy",
            "add",
            "x@example.test",
            child.fhir_id,
            "--relationship",
            "caregiver",
            "--guardian-beyond-18",
        ],
    )

    assert result.exit_code != 0 and "guardian" in result.output
    assert rows(session, ProxyGrant) == []


# ----------------------------------------------------------------------- the patient's own page


def invite(client, adult, email="helper@example.test"):
    return form_post(client, f"/p/{adult.public_id}/access/invite", {"email": email, "name": "Helper"})


def invitation_link(session, email="helper@example.test") -> str:
    [mail] = rows(session, OutboxMail, OutboxMail.to_address == email)
    return re.search(r"/invitation/\S+", mail.body).group(0)


def test_an_adult_invites_a_helper_by_mail_without_any_health_information(client, session, adult) -> None:
    log_in(client, session, session.get(Person, adult.person_id))

    page = invite(client, adult)

    assert page.status_code == 200 and "For:" in page.text
    [mail] = rows(session, OutboxMail, OutboxMail.to_address == "helper@example.test")
    assert "invited to help someone with their health portal" in mail.body
    assert "Ada" not in mail.body and "Adult" not in mail.body and "Ada" not in mail.subject


def test_a_new_invitee_accepts_and_goes_on_to_create_a_passkey(client, session, adult) -> None:
    log_in(client, session, session.get(Person, adult.person_id))
    invite(client, adult)
    link = invitation_link(session)
    client.cookies.clear()

    accepted = form_post(client, link, follow_redirects=False)

    assert accepted.status_code == 303 and "/enrol/" in accepted.headers["location"]
    helper = rows(session, Person, Person.email == "helper@example.test")[0]
    [grant] = rows(session, ProxyGrant, ProxyGrant.patient_id == adult.id)
    assert grant.proxy_person_id == helper.id and grant.relationship == "caregiver"


def test_an_invitation_works_once(client, session, adult) -> None:
    log_in(client, session, session.get(Person, adult.person_id))
    invite(client, adult)
    link = invitation_link(session)
    client.cookies.clear()
    form_post(client, link, follow_redirects=False)

    again = form_post(client, link, follow_redirects=False)

    assert again.status_code == 404
    assert len(rows(session, ProxyGrant, ProxyGrant.patient_id == adult.id)) == 1


def test_a_signed_in_invitee_accepts_as_themself(client, session, adult) -> None:
    helper = make_person(session, display_name="Helper", email="helper@example.test")
    log_in(client, session, session.get(Person, adult.person_id))
    invite(client, adult)
    link = invitation_link(session)
    log_in(client, session, helper)

    accepted = form_post(client, link, follow_redirects=False)

    assert accepted.status_code == 303
    assert client.get(f"/p/{adult.public_id}/summary").status_code == 200


def test_someone_else_signed_in_cannot_accept(client, session, adult) -> None:
    stranger = make_person(session, display_name="Stranger", email="stranger@example.test")
    log_in(client, session, session.get(Person, adult.person_id))
    invite(client, adult)
    link = invitation_link(session)
    log_in(client, session, stranger)

    refused = form_post(client, link, follow_redirects=False)

    assert refused.status_code == 400
    assert rows(session, ProxyGrant, ProxyGrant.patient_id == adult.id) == []


def test_a_teen_cannot_invite_a_helper(client, session, settings) -> None:
    person = make_person(session, display_name="Teen")
    born = date(settings.today().year - 15, 1, 1)
    teen = make_patient(session, given_name="Teen", birth_date=born, person_id=person.id)
    log_in(client, session, person)

    page = invite(client, teen)

    assert page.status_code == 400
    assert rows(session, OutboxMail) == []


def test_the_patient_revokes_a_helper_who_then_loses_access(client, session, adult) -> None:
    helper = make_person(session, display_name="Helper")
    grant = grant_for(session, helper, adult)
    log_in(client, session, session.get(Person, adult.person_id))

    page = form_post(client, f"/p/{adult.public_id}/access/{grant.public_id}/revoke", {"confirm": "yes"})
    log_in(client, session, helper)

    assert page.status_code == 200
    assert client.get(f"/p/{adult.public_id}/summary").status_code == 404
    assert rows(session, AuditEvent, AuditEvent.action == "revoke-proxy", AuditEvent.patient_id == adult.id)


def test_the_patient_sees_who_holds_access_and_what_they_did(client, session, adult) -> None:
    helper = make_person(session, display_name="Helpful Harriet")
    grant_for(session, helper, adult)
    log_in(client, session, helper)
    client.get(f"/p/{adult.public_id}/summary")
    log_in(client, session, session.get(Person, adult.person_id))

    page = client.get(f"/p/{adult.public_id}/access")

    assert page.status_code == 200
    # as a holder, in the name of its "Remove access" button, and in what they did
    assert page.text.count("Helpful Harriet") == 3
    assert "Looked at" in page.text


def test_a_proxy_cannot_see_who_else_holds_access(client, session, adult) -> None:
    helper = make_person(session, display_name="Helper")
    grant_for(session, helper, adult)
    log_in(client, session, helper)

    page = client.get(f"/p/{adult.public_id}/access")

    assert page.status_code == 404


# ------------------------------------------------------------------------------------------- demo


@pytest.fixture
def sample_family(settings, app, tmp_path):
    """Four imported patients, aged 0, 8, 15 and 40 at the clinic today, with visits and results."""
    import random

    from portal.fhir import importer
    from tests.fhir_bundles import patient_resources, write_bundle

    today = settings.today()
    rng = random.Random(7)
    for years in (0, 8, 15, 40):
        resources = patient_resources(rng, visits=3)
        [patient] = [r for r in resources if r["resourceType"] == "Patient"]
        patient["birthDate"] = date(today.year - years, 1, 1).isoformat() if years else today.isoformat()
        write_bundle(tmp_path / f"patient-{years}.json", resources)
    summary = importer.import_paths(app.state.engine, [tmp_path])
    assert not summary.failed


def test_the_demo_makes_a_parent_of_three_children_with_a_confidential_teen_result(
    settings, app, session, sample_family
) -> None:
    from portal import demo
    from portal.models import Observation

    family = demo.create_family(settings, app.state.engine)
    lines = list(family.lines())

    assert len(rows(session, ProxyGrant, ProxyGrant.proxy_person_id == family.parent.id)) == 3
    assert [
        rows(session, Observation, Observation.public_id == family.confidential_result)[0].confidential
    ] == [True]
    assert any(line.startswith("Enrolment link for the parent: ") for line in lines)
    assert any(line.startswith("Activation code for the teen") for line in lines)
    assert sum(line.startswith("Enrolment link for staff") for line in lines) == 4


def test_running_the_demo_again_duplicates_nobody(settings, app, session, sample_family) -> None:
    from portal import demo

    demo.create_family(settings, app.state.engine)

    family = demo.create_family(settings, app.state.engine)

    assert len(rows(session, ProxyGrant, ProxyGrant.proxy_person_id == family.parent.id)) == 3
    assert len(rows(session, Person, Person.staff_role.is_not(None))) == 4


# ------------------------------------------------------------------------- changes by the wrong people


def test_a_proxy_cannot_revoke_another_helpers_access(client, session, adult) -> None:
    first, second = make_person(session, display_name="First"), make_person(session, display_name="Second")
    grant = grant_for(session, first, adult)
    grant_for(session, second, adult)
    log_in(client, session, second)

    response = form_post(client, f"/p/{adult.public_id}/access/{grant.public_id}/revoke")

    assert response.status_code == 404
    assert rows(session, ProxyGrant, ProxyGrant.id == grant.id)[0].revoked_at is None


def test_billing_staff_cannot_grant_access(client, session, child) -> None:
    billing = make_person(session, display_name="Billing", staff_role="billing")
    log_in(client, session, billing)

    response = form_post(
        client,
        f"/front-desk/patients/{child.public_id}/proxies",
        {"email": "x@example.test", "relationship": "parent", "identity_checked": "yes"},
    )

    assert response.status_code == 404
    assert rows(session, ProxyGrant) == []


def test_a_patient_cannot_grant_access_through_the_front_desk_screen(client, session, adult) -> None:
    log_in(client, session, session.get(Person, adult.person_id))

    response = form_post(
        client,
        f"/front-desk/patients/{adult.public_id}/proxies",
        {"email": "x@example.test", "relationship": "caregiver", "identity_checked": "yes"},
    )

    assert response.status_code == 404
    assert rows(session, ProxyGrant) == []


def test_an_invitation_link_shows_what_happens_next(client, session, adult) -> None:
    log_in(client, session, session.get(Person, adult.person_id))
    invite(client, adult)
    link = invitation_link(session)
    client.cookies.clear()

    page = client.get(link)

    assert page.status_code == 200 and "Accept and create your passkey" in page.text
    assert "Ada" not in page.text  # whose record it is stays private until they accept


def test_an_unknown_invitation_link_answers_404(client) -> None:
    page = client.get("/invitation/NOT-A-REAL-INVITATION-CODE")

    assert page.status_code == 404 and "can't be used" in page.text


def test_the_front_desk_finds_a_patient_by_their_ehr_id(client, session, desk, child) -> None:
    log_in(client, session, desk)

    page = form_post(client, "/front-desk/patients", {"fhir_id": child.fhir_id})

    assert page.status_code == 200
    assert f"/front-desk/patients/{child.public_id}/proxies" in page.text
