"""The proxy and front-desk screens through the door: a teen cannot remove a parent, an adult confirms
first, one audited search with no wildcards, no code offered for a deceased patient, refusals in Spanish."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session, select

from portal.models import AuditEvent, Person, ProxyGrant
from portal.services.errors import Refused
from portal.views import families as family_views
from tests.conftest import form_post, log_in, make_patient, make_person

BORN = date(2001, 5, 17)
SEARCHES = [
    ("/front-desk/search", "family"),  # the activation-code screen
    ("/front-desk/patients", "name"),  # the proxy-access screen
]


def rows(session: Session, model, *conditions):
    session.commit()
    with Session(session.get_bind(), expire_on_commit=False) as fresh:
        found = fresh.exec(select(model).where(*conditions)).all()
        fresh.commit()
        return found


def grant_for(session, proxy, patient, relationship):
    grant = ProxyGrant(
        proxy_person_id=proxy.id, patient_id=patient.id, starts_on=date(2020, 1, 1), relationship=relationship
    )
    session.add(grant)
    session.commit()
    return grant


@pytest.fixture
def teen_family(session, settings):
    """A teen with their own account, their mother (parent grant) and an aunt (caregiver grant)."""
    person = make_person(session, display_name="Tess Teen")
    teen = make_patient(
        session, given_name="Tess", birth_date=date(settings.today().year - 15, 1, 1), person_id=person.id
    )
    mother = make_person(session, display_name="Mona Mother")
    aunt = make_person(session, display_name="Aunt Agnes")
    return {
        "teen": teen,
        "person": person,
        "parent_grant": grant_for(session, mother, teen, "parent"),
        "caregiver_grant": grant_for(session, aunt, teen, "caregiver"),
    }


@pytest.fixture
def adult_with_helper(session):
    person = make_person(session, display_name="Ada Adult")
    adult = make_patient(session, given_name="Ada", birth_date=date(1970, 1, 1), person_id=person.id)
    helper = make_person(session, display_name="Harriet Helper")
    return {
        "adult": adult,
        "person": person,
        "helper": helper,
        "grant": grant_for(session, helper, adult, "caregiver"),
    }


def revoke(client, patient, grant, **fields):
    return form_post(client, f"/p/{patient.public_id}/access/{grant.public_id}/revoke", fields)


# ---------------------------------------------------------------------------- a teen and a parent


def test_a_teen_is_not_offered_removing_a_parent_and_is_told_whom_to_ask(
    client, session, teen_family
) -> None:
    log_in(client, session, teen_family["person"])

    page = client.get(f"/p/{teen_family['teen'].public_id}/access")

    assert page.status_code == 200
    assert f"/access/{teen_family['parent_grant'].public_id}/revoke" not in page.text
    assert f"/access/{teen_family['caregiver_grant'].public_id}/revoke" in page.text
    assert "Only the clinic can change a parent" in page.text


@pytest.mark.parametrize("confirm", [{}, {"confirm": "yes"}])
def test_a_teen_who_posts_anyway_is_refused_and_nothing_changes(
    client, session, teen_family, confirm
) -> None:
    log_in(client, session, teen_family["person"])

    page = revoke(client, teen_family["teen"], teen_family["parent_grant"], **confirm)

    assert page.status_code == 400
    assert "remove a parent" in page.text and "front desk" in page.text
    assert rows(session, ProxyGrant, ProxyGrant.id == teen_family["parent_grant"].id)[0].revoked_at is None


def test_the_teens_refusal_is_audited_as_denied(client, session, teen_family) -> None:
    log_in(client, session, teen_family["person"])

    revoke(client, teen_family["teen"], teen_family["parent_grant"], confirm="yes")

    [event] = rows(session, AuditEvent, AuditEvent.action == "revoke-proxy")
    assert (event.outcome, event.resource_id) == ("denied", teen_family["parent_grant"].public_id)


def test_the_refusal_is_said_in_spanish(client, session, teen_family) -> None:
    log_in(client, session, teen_family["person"])

    page = form_post(
        client,
        f"/p/{teen_family['teen'].public_id}/access/{teen_family['parent_grant'].public_id}/revoke",
        {"confirm": "yes"},
        headers={"Accept-Language": "es"},
    )

    assert page.status_code == 400
    assert "No puede quitar usted mismo el acceso de un padre" in page.text
    assert "remove a parent" not in page.text


def test_every_refusal_code_has_spanish_words() -> None:
    from portal import i18n

    with i18n.using("es"):
        untranslated = [
            code for code, words in family_views.REFUSALS.items() if family_views.say(Refused(code)) == words
        ]

    assert untranslated == []


def test_the_front_desk_still_ends_a_parents_grant_of_a_teen(client, session, teen_family) -> None:
    desk = make_person(session, display_name="Desk", staff_role="front_desk")
    log_in(client, session, desk)
    grant = teen_family["parent_grant"]

    page = form_post(
        client,
        f"/front-desk/patients/{teen_family['teen'].public_id}/proxies/{grant.public_id}/end",
        {"identity_checked": "yes"},
    )

    assert page.status_code == 200
    assert rows(session, ProxyGrant, ProxyGrant.id == grant.id)[0].revoked_at is not None


def test_the_front_desk_must_tick_the_identity_box_to_end_a_grant(client, session, teen_family) -> None:
    log_in(client, session, make_person(session, display_name="Desk", staff_role="front_desk"))
    grant = teen_family["parent_grant"]

    page = form_post(
        client, f"/front-desk/patients/{teen_family['teen'].public_id}/proxies/{grant.public_id}/end"
    )

    assert page.status_code == 400
    assert rows(session, ProxyGrant, ProxyGrant.id == grant.id)[0].revoked_at is None


# ------------------------------------------------------------------------- an adult confirms first


def test_the_first_post_asks_for_confirmation_and_changes_nothing(client, session, adult_with_helper) -> None:
    log_in(client, session, adult_with_helper["person"])

    page = revoke(client, adult_with_helper["adult"], adult_with_helper["grant"])

    assert page.status_code == 200
    assert "Remove Harriet Helper's access to your record?" in page.text
    assert 'name="confirm" value="yes"' in page.text
    assert rows(session, ProxyGrant, ProxyGrant.id == adult_with_helper["grant"].id)[0].revoked_at is None


def test_the_confirmed_post_removes_access(client, session, adult_with_helper) -> None:
    log_in(client, session, adult_with_helper["person"])
    revoke(client, adult_with_helper["adult"], adult_with_helper["grant"])

    page = revoke(client, adult_with_helper["adult"], adult_with_helper["grant"], confirm="yes")

    assert page.status_code == 200
    assert rows(session, ProxyGrant, ProxyGrant.id == adult_with_helper["grant"].id)[0].revoked_at is not None


def test_the_confirmation_of_another_patients_grant_answers_404(
    client, session, adult_with_helper, teen_family
) -> None:
    log_in(client, session, adult_with_helper["person"])

    page = revoke(client, adult_with_helper["adult"], teen_family["parent_grant"])

    assert page.status_code == 404


# --------------------------------------------------------------------------- one audited search


@pytest.fixture
def same_birthday(session):
    """Four patients born the same day; two have `%` and `_` in their names."""
    return {
        "rivera": make_patient(
            session, fhir_id="p-rivera", given_name="Ana", family_name="Rivera", birth_date=BORN
        ),
        "lopez": make_patient(
            session, fhir_id="p-lopez", given_name="Bo", family_name="Lopez", birth_date=BORN
        ),
        "percent": make_patient(
            session, fhir_id="p-percent", given_name="Cy", family_name="%Sign", birth_date=BORN
        ),
        "under": make_patient(
            session, fhir_id="p-under", given_name="Di", family_name="R_vera", birth_date=BORN
        ),
    }


def desk_logged_in(client, session):
    desk = make_person(session, display_name="Desk", staff_role="front_desk")
    log_in(client, session, desk)
    return desk


@pytest.mark.parametrize(("url", "field"), SEARCHES)
@pytest.mark.parametrize(
    ("typed", "found"), [("%", {"p-percent"}), ("r_", {"p-under"}), ("%s", {"p-percent"})]
)
def test_percent_and_underscore_match_only_themselves(
    client, session, same_birthday, url, field, typed, found
) -> None:
    desk_logged_in(client, session)

    page = form_post(client, url, {field: typed, "birth_date": BORN.isoformat()})

    assert page.status_code == 200
    shown = {fhir_id for fhir_id in ("p-rivera", "p-lopez", "p-percent", "p-under") if fhir_id in page.text}
    assert shown == found


@pytest.mark.parametrize(("url", "field"), SEARCHES)
def test_each_screen_audits_each_patient_shown_once(client, session, same_birthday, url, field) -> None:
    desk = desk_logged_in(client, session)

    page = form_post(client, url, {field: "r", "birth_date": BORN.isoformat()})

    assert "p-rivera" in page.text and "p-under" in page.text and "p-lopez" not in page.text
    events = rows(session, AuditEvent, AuditEvent.resource_type == "Patient", AuditEvent.action == "view")
    assert sorted(event.resource_id for event in events) == ["p-rivera", "p-under"]
    assert {(event.actor_person_id, event.outcome) for event in events} == {(desk.id, "allowed")}


@pytest.mark.parametrize(("url", "field"), SEARCHES)
def test_a_name_without_a_birth_date_lists_nobody_and_audits_nothing(
    client, session, same_birthday, url, field
) -> None:
    desk_logged_in(client, session)

    page = form_post(client, url, {field: "r"})

    assert page.status_code == 400 and "p-rivera" not in page.text
    assert rows(session, AuditEvent, AuditEvent.resource_type == "Patient") == []


@pytest.mark.parametrize(("url", "field"), SEARCHES)
def test_the_search_is_a_post_and_names_never_reach_a_url(client, session, same_birthday, url, field) -> None:
    desk_logged_in(client, session)

    page = client.get(url, params={field: "rivera", "birth_date": BORN.isoformat()})

    assert page.status_code in (200, 405) and "p-rivera" not in page.text


def test_a_patient_cannot_search(client, session, same_birthday) -> None:
    log_in(client, session, make_person(session, display_name="Patient"))

    page = form_post(client, "/front-desk/patients", {"name": "r", "birth_date": BORN.isoformat()})

    assert page.status_code == 403 and "p-rivera" not in page.text


# ------------------------------------------------------------------------------- deceased patients


def test_a_deceased_patient_is_found_but_not_offered_a_code(client, session) -> None:
    make_patient(
        session, fhir_id="p-gone", given_name="Gus", family_name="Gone", birth_date=BORN, deceased=True
    )
    make_patient(session, fhir_id="p-here", given_name="Hal", family_name="Gonzales", birth_date=BORN)
    desk_logged_in(client, session)

    page = form_post(client, "/front-desk/search", {"family": "gon", "birth_date": BORN.isoformat()})

    assert "p-gone" in page.text and "p-here" in page.text
    assert page.text.count('action="/front-desk/activation-code"') == 2  # Hal's button, and the by-ID form
    assert 'value="p-gone"' not in page.text
    assert "does not offer an account to a patient who has died" in page.text


def test_no_person_is_made_by_a_search(client, session, same_birthday) -> None:
    before = len(rows(session, Person))
    desk_logged_in(client, session)

    form_post(client, "/front-desk/patients", {"name": "ana", "birth_date": BORN.isoformat()})

    assert len(rows(session, Person)) == before + 1  # only the desk clerk made above
