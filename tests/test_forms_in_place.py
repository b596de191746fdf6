"""Form mistakes shown in place: a form posted by htmx (boosted, aimed at <main>) gets back only the page's
<main> with the message and what was typed, as a 400 that stores nothing; the same form without
JavaScript gets the whole page, as before. One mechanism for every form: `in_place` on the <form>."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session, func, select

from portal.models import Message, Payment, ProxyGrant, RefillRequest
from tests.conftest import form_post, log_in, make_patient, make_person
from tests.refill_helpers import family as refill_family
from tests.scheduling_helpers import calendar
from tests.scheduling_helpers import family as scheduling_family
from tests.test_billing import add_visit

# What htmx 4 sends for a boosted form whose target is the page's <main>.
IN_PLACE = {
    "HX-Request": "true",
    "HX-Boosted": "true",
    "HX-Target": "main#main",
    "HX-Request-Type": "partial",
}


def count(session: Session, model) -> int:
    found = session.exec(select(func.count()).select_from(model)).one()
    session.commit()  # end the read before the next request (SQLite's write lock)
    return found


@pytest.fixture
def parent_and_child(session: Session):
    parent = make_person(session, display_name="Maria Lopez", email="maria@example.org")
    child = make_patient(
        session, given_name="Sam", birth_date=date.today().replace(year=date.today().year - 8)
    )
    session.add(
        ProxyGrant(
            proxy_person_id=parent.id, patient_id=child.id, relationship="parent", starts_on=date(2000, 1, 1)
        )
    )
    session.commit()
    return parent, child


def compose(client, child, headers: dict[str, str] | None = None):
    data = {"topic": "medical", "subject": "  ", "body": "Sam has a rash that spreads.", "key": "k" * 32}
    return form_post(client, f"/p/{child.public_id}/messages", data, headers=headers or {})


def test_the_compose_form_is_posted_in_place_and_works_without_javascript(
    client, session, parent_and_child
) -> None:
    parent, child = parent_and_child
    log_in(client, session, parent)

    page = client.get(f"/p/{child.public_id}/messages/new").text

    form = next(tag for tag in page.split("<form")[1:] if f'action="/p/{child.public_id}/messages"' in tag)
    form = form.split(">")[0]
    assert 'hx-boost="true"' in form and 'hx-target="#main"' in form and 'hx-status:4xx="push:false"' in form
    assert 'method="post"' in page  # still a real form


def test_a_mistake_posted_by_htmx_comes_back_as_main_with_the_message(
    client, session, parent_and_child
) -> None:
    parent, child = parent_and_child
    log_in(client, session, parent)

    response = compose(client, child, IN_PLACE)

    assert response.status_code == 400
    assert response.text.lstrip().startswith("<title>")
    assert '<main id="main"' in response.text and "Please write a subject." in response.text
    assert "Sam has a rash that spreads." in response.text  # what was typed is kept
    assert "<html" not in response.text and "site-header" not in response.text
    assert count(session, Message) == 0


def test_the_same_mistake_without_javascript_gets_the_whole_page(client, session, parent_and_child) -> None:
    parent, child = parent_and_child
    log_in(client, session, parent)

    response = compose(client, child)

    assert response.status_code == 400
    assert "<html" in response.text and "site-header" in response.text
    assert "Please write a subject." in response.text
    assert count(session, Message) == 0


def test_a_message_shown_above_main_comes_along_out_of_band(client, session, parent_and_child) -> None:
    parent, child = parent_and_child
    add_visit(session, child, "csv:K9", 5_000)
    log_in(client, session, parent)

    response = form_post(
        client,
        f"/p/{child.public_id}/billing/pay",
        {"how": "part", "amount": "ten", "key": "k" * 32},
        headers=IN_PLACE,
    )

    assert response.status_code == 400 and "<html" not in response.text
    alerts = response.text.split('<div id="alerts"')[1].split("</div>")[0]
    assert 'hx-swap-oob="true"' in alerts and "dollars and cents" in alerts
    assert count(session, Payment) == 0


def test_paying_from_an_in_place_form_leaves_for_the_processor_as_a_whole_page(
    client, session, settings, parent_and_child
) -> None:
    parent, child = parent_and_child
    add_visit(session, child, "csv:K8", 5_000)
    log_in(client, session, parent)

    response = form_post(
        client, f"/p/{child.public_id}/billing/pay", {"how": "all", "key": "k" * 32}, headers=IN_PLACE
    )

    assert response.status_code == 204 and response.text == ""
    assert response.headers["HX-Redirect"].startswith(settings.origin) and "location" not in response.headers


def test_a_refill_mistake_comes_back_in_place(client, session, settings) -> None:
    fam = refill_family(session, settings.today())
    log_in(client, session, fam["parent"])
    url = f"/p/{fam['child'].public_id}/medications/{fam['inhaler'].public_id}/refill"

    response = form_post(client, url, {"days_left": "9999", "pharmacy": ""}, headers=IN_PLACE)

    assert response.status_code == 400 and '<main id="main"' in response.text and "<html" not in response.text
    assert "hx-boost" in response.text  # the form comes back ready to be sent in place again
    assert count(session, RefillRequest) == 0


def test_a_booking_mistake_comes_back_in_place(client, session, settings) -> None:
    calendar(session, settings)
    parent, child = scheduling_family(session)
    log_in(client, session, parent)

    response = form_post(
        client,
        f"/p/{child.public_id}/appointments/book",
        {"type": "sick", "time": "nonsense"},
        headers=IN_PLACE,
    )

    assert response.status_code == 400 and "<html" not in response.text
    assert "choose a time" in response.text.lower()
