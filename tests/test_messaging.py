"""Secure messaging through HTTP: a parent writes about one child, the care team reads and answers, read
receipts both ways, one message per form however often it is sent, text shown as text, and a limited
proxy never sees a teen's private thread (list, thread, file, count)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlmodel import Session, func, select

from portal.models import Message, MessageThread, Patient, ProxyGrant
from tests.conftest import form_post, log_in, make_patient, make_person
from tests.messaging_helpers import tiny_pdf


@pytest.fixture
def family(session: Session):
    parent = make_person(session, display_name="Maria Lopez", email="maria@example.org")
    teen_person = make_person(session, display_name="Tess Lopez", email="tess@example.org")
    clinician = make_person(session, display_name="Dr Chen", staff_role="clinician", email="chen@example.org")
    front_desk = make_person(session, display_name="Desk Person", staff_role="front_desk")
    today = date.today()
    kids = {
        "oldest": make_patient(
            session, given_name="Tess", family_name="Lopez", birth_date=today.replace(year=today.year - 15)
        ),
        "middle": make_patient(
            session, given_name="Sam", family_name="Lopez", birth_date=today.replace(year=today.year - 8)
        ),
        "youngest": make_patient(
            session, given_name="Lia", family_name="Lopez", birth_date=today.replace(year=today.year - 3)
        ),
    }
    kids["oldest"].person_id = teen_person.id
    for kid in kids.values():
        session.add(
            ProxyGrant(
                proxy_person_id=parent.id, patient_id=kid.id, relationship="parent", starts_on=kid.birth_date
            )
        )
    session.commit()
    return {"parent": parent, "teen": teen_person, "clinician": clinician, "front_desk": front_desk, **kids}


def key_of(html: str) -> str:
    found = re.search(r'name="key" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def send_new(client, patient: Patient, **fields: str):
    page = client.get(f"/p/{patient.public_id}/messages/new")
    assert page.status_code == 200
    data = {
        "topic": "medical",
        "subject": "Rash",
        "body": "Sam has a rash.",
        "key": key_of(page.text),
        **fields,
    }
    return form_post(client, f"/p/{patient.public_id}/messages", data, follow_redirects=False)


def threads_of(session: Session, patient: Patient) -> list[MessageThread]:
    session.expire_all()
    found = list(session.exec(select(MessageThread).where(MessageThread.patient_id == patient.id)))
    session.commit()
    return found


def message_count(session: Session) -> int:
    session.expire_all()
    count = session.exec(select(func.count()).select_from(Message)).one()
    session.commit()
    return count


def test_the_compose_page_names_the_child_in_its_title_and_on_the_button(client, session, family) -> None:
    log_in(client, session, family["parent"])

    page = client.get(f"/p/{family['middle'].public_id}/messages/new")

    assert page.status_code == 200
    assert "<title>New message about Sam Lopez" in page.text
    assert "Send message about Sam Lopez</button>" in page.text
    assert "911" in page.text and "working days" in page.text


def test_a_parent_writes_about_the_middle_child_and_it_lands_in_that_chart(client, session, family) -> None:
    log_in(client, session, family["parent"])

    response = send_new(client, family["middle"])

    assert response.status_code == 303
    assert [t.subject for t in threads_of(session, family["middle"])] == ["Rash"]
    assert threads_of(session, family["oldest"]) == threads_of(session, family["youngest"]) == []
    thread = client.get(response.headers["location"])
    assert "Maria Lopez (parent) for Sam Lopez" in thread.text
    assert "Not read yet" in thread.text


def test_the_same_form_sent_twice_stores_one_message(client, session, family) -> None:
    log_in(client, session, family["parent"])
    page = client.get(f"/p/{family['middle'].public_id}/messages/new")
    data = {"topic": "medical", "subject": "Rash", "body": "Once", "key": key_of(page.text)}

    first = form_post(client, f"/p/{family['middle'].public_id}/messages", data, follow_redirects=False)
    second = form_post(client, f"/p/{family['middle'].public_id}/messages", data, follow_redirects=False)

    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert message_count(session) == 1


def test_bad_input_gets_a_message_next_to_the_field_and_stores_nothing(client, session, family) -> None:
    log_in(client, session, family["parent"])

    response = send_new(client, family["middle"], subject="  ")

    assert response.status_code == 400
    assert 'id="subject-error"' in response.text and "Please write a subject." in response.text
    assert message_count(session) == 0


def test_read_receipts_both_ways(client, session, family) -> None:
    log_in(client, session, family["parent"])
    url = send_new(client, family["middle"]).headers["location"]
    log_in(client, session, family["clinician"])
    staff_page = client.get(url)
    assert staff_page.status_code == 200
    form_post(
        client, url.split("#")[0] + "/reply", {"body": "Please send a photo.", "key": key_of(staff_page.text)}
    )
    log_in(client, session, family["parent"])

    parent_page = client.get(url)

    assert "Read by your care team at" in parent_page.text
    assert "Please send a photo." in parent_page.text and "Dr Chen" in parent_page.text
    log_in(client, session, family["clinician"])
    assert "Read by Maria Lopez (parent) at" in client.get(url).text


def test_script_hx_attributes_and_javascript_links_are_shown_as_text(client, session, family) -> None:
    log_in(client, session, family["parent"])
    body = '<script>alert(1)</script> <a hx-get="/logout">x</a> javascript:alert(2) https://example.org/a?b=1'

    url = send_new(client, family["middle"], body=body, subject="<b>hi</b>").headers["location"]

    for viewer in ("parent", "clinician"):
        log_in(client, session, family[viewer])
        page = client.get(url).text
        assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert 'hx-get="/logout"' not in page and "hx-get=&#34;/logout&#34;" in page
        assert 'href="javascript:' not in page
        assert '<a href="https://example.org/a?b=1" rel="noopener noreferrer nofollow"' in page
        assert "<b>hi</b>" not in page


def test_a_teen_s_thread_is_private_from_the_parent_by_default(client, session, family) -> None:
    log_in(client, session, family["teen"])
    private_url = send_new(client, family["oldest"], subject="Private question").headers["location"]
    shared_url = send_new(client, family["oldest"], subject="Shared question", share="yes").headers[
        "location"
    ]
    log_in(client, session, family["clinician"])
    client.get(private_url)
    form_post(client, private_url.split("#")[0] + "/reply", {"body": "Answer", "key": "k-private-reply"})
    log_in(client, session, family["parent"])

    listing = client.get(f"/p/{family['oldest'].public_id}/messages")

    assert "Shared question" in listing.text and "Private question" not in listing.text
    assert "No unread messages." in listing.text  # the unanswered shared thread has nothing unread
    assert client.get(private_url).status_code == 404
    assert client.get(shared_url).status_code == 200
    private = session.exec(select(MessageThread).where(MessageThread.subject == "Private question")).one()
    assert private.confidential


def test_a_limited_parent_never_gets_the_teen_s_private_file(client, session, family) -> None:
    log_in(client, session, family["teen"])
    page = client.get(f"/p/{family['oldest'].public_id}/messages/new")
    files = {"files": ("scan.pdf", tiny_pdf("private"), "application/pdf")}
    data = {"topic": "medical", "subject": "Private", "body": "See file", "key": key_of(page.text)}
    response = form_post(client, f"/p/{family['oldest'].public_id}/messages", data, files=files)
    link = re.search(r'href="(/p/[^"]+/message-files/[^"]+)"', response.text)
    assert link is not None
    assert client.get(link.group(1)).status_code == 200
    log_in(client, session, family["parent"])

    assert client.get(link.group(1)).status_code == 404


def test_an_attachment_is_served_as_a_download_that_cannot_run(client, session, family) -> None:
    log_in(client, session, family["parent"])
    page = client.get(f"/p/{family['middle'].public_id}/messages/new")
    files = {"files": ("<img src=x>.pdf", tiny_pdf("hello"), "application/pdf")}
    data = {"topic": "medical", "subject": "Scan", "body": "See file", "key": key_of(page.text)}
    thread = form_post(client, f"/p/{family['middle'].public_id}/messages", data, files=files)
    link = re.search(r'href="(/p/[^"]+/message-files/[^"]+)"', thread.text)
    assert link is not None and "&lt;img src=x&gt;.pdf" in thread.text

    response = client.get(link.group(1))

    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]


def test_archiving_puts_a_thread_away_without_deleting_it(client, session, family) -> None:
    log_in(client, session, family["parent"])
    url = send_new(client, family["middle"]).headers["location"].split("#")[0]

    form_post(client, url + "/archive")

    listing = client.get(f"/p/{family['middle'].public_id}/messages").text
    archived = client.get(f"/p/{family['middle'].public_id}/messages?archived=1").text
    assert "Rash" not in listing and "Rash" in archived
    assert message_count(session) == 1


def test_staff_see_the_thread_in_their_inbox_and_the_patient_s_portal_use(client, session, family) -> None:
    log_in(client, session, family["parent"])
    url = send_new(client, family["middle"]).headers["location"].split("#")[0]
    log_in(client, session, family["front_desk"])

    inbox = client.get("/staff/inbox")
    thread = client.get(url)

    assert "Rash" in inbox.text and "Sam Lopez" in inbox.text
    assert "Portal use" in thread.text and "Maria Lopez (parent)" in thread.text


def test_an_internal_note_is_never_shown_to_the_patient_side(client, session, family) -> None:
    log_in(client, session, family["parent"])
    url = send_new(client, family["middle"]).headers["location"].split("#")[0]
    log_in(client, session, family["clinician"])
    form_post(client, url + "/note", {"body": "Staff-only remark 51x"})
    assert "Staff-only remark 51x" in client.get(url).text
    log_in(client, session, family["parent"])

    assert "Staff-only remark 51x" not in client.get(url).text


def test_moving_a_thread_to_the_right_child_is_logged_in_both_charts(client, session, family) -> None:
    from portal.models import AuditEvent

    log_in(client, session, family["parent"])
    url = send_new(client, family["middle"]).headers["location"].split("#")[0]
    log_in(client, session, family["clinician"])

    response = form_post(
        client, url + "/move", {"target": family["youngest"].fhir_id}, follow_redirects=False
    )

    assert response.status_code == 303
    assert [t.subject for t in threads_of(session, family["youngest"])] == ["Rash"]
    moves = session.exec(
        select(AuditEvent).where(AuditEvent.action == "move", AuditEvent.outcome == "allowed")
    ).all()
    assert {e.patient_id for e in moves} == {family["middle"].id, family["youngest"].id}
