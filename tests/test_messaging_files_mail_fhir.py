"""Messaging's files (sniffed, re-encoded, refused with a message), its mail (no patient data, quiet hours,
over a real SMTP server on loopback), and its FHIR Communications (valid R4, labelled when private)."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.communication import Communication
from PIL import Image
from sqlmodel import Session, func, select

from portal.fhir.export import patient_bundle
from portal.models import FhirResource, Message, MessageAttachment, MessageNotice, OutboxMail, ProxyGrant
from portal.services import mail
from portal.services.access import Area
from portal.services.messaging import notices
from tests.conftest import form_post, log_in, make_patient, make_person
from tests.messaging_helpers import tiny_pdf
from tests.scopes import limited_scope, person_scope
from tests.test_password_mail import smtp_server  # noqa: F401 (a fixture, used by name)

MB = 1024 * 1024


@pytest.fixture
def people(session: Session):
    parent = make_person(session, display_name="Maria Lopez", email="maria@example.org")
    clinician = make_person(session, display_name="Dr Chen", staff_role="clinician")
    child = make_patient(session, given_name="Sam", family_name="Zyxwv", birth_date=date(2018, 2, 1))
    session.add(
        ProxyGrant(
            proxy_person_id=parent.id, patient_id=child.id, relationship="parent", starts_on=child.birth_date
        )
    )
    session.commit()
    return {"parent": parent, "clinician": clinician, "child": child}


def key_of(html: str) -> str:
    found = re.search(r'name="key" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def send(client, patient, files=None, **fields):
    page = client.get(f"/p/{patient.public_id}/messages/new")
    data = {
        "topic": "medical",
        "subject": "Subject 8h2k",
        "body": "Body text 3j9q",
        "key": key_of(page.text),
        **fields,
    }
    return form_post(client, f"/p/{patient.public_id}/messages", data, files=files or {})


def counts(session: Session) -> tuple[int, int]:
    session.expire_all()
    found = (
        session.exec(select(func.count()).select_from(Message)).one(),
        session.exec(select(func.count()).select_from(MessageAttachment)).one(),
    )
    session.commit()
    return found


def jpeg_with_gps() -> bytes:
    picture = Image.new("RGB", (40, 30), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = {1: "N", 2: (40.0, 26.0, 46.0), 3: "W", 4: (79.0, 58.0, 56.0)}
    exif[0x8825] = gps  # GPSInfo
    out = io.BytesIO()
    picture.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_a_six_megabyte_file_is_refused_with_a_message_and_nothing_is_stored(client, session, people) -> None:
    log_in(client, session, people["parent"])
    big = b"%PDF-1.4\n" + b"0" * (6 * MB)

    response = send(client, people["child"], files={"files": ("big.pdf", big, "application/pdf")})

    assert response.status_code == 400
    assert "5 MB or smaller" in response.text
    assert counts(session) == (0, 0)


def test_three_files_of_almost_five_megabytes_each_are_sent_together(client, session, people) -> None:
    log_in(client, session, people["parent"])
    part = b"%PDF-1.4\n" + b"0" * (5 * MB - 64) + b"\n%%EOF\n"
    three = [("files", (f"scan-{n}.pdf", part, "application/pdf")) for n in range(3)]

    response = send(client, people["child"], files=three)

    assert response.status_code in (200, 303), response.text[:300]
    assert counts(session) == (1, 3)


def test_an_html_file_renamed_pdf_is_refused_by_its_bytes(client, session, people) -> None:
    log_in(client, session, people["parent"])
    html = b"<html><script>alert(1)</script></html>"

    response = send(client, people["child"], files={"files": ("report.pdf", html, "application/pdf")})

    assert response.status_code == 400
    assert "PDF, JPEG or PNG files only" in response.text
    assert counts(session) == (0, 0)


def test_a_jpeg_with_gps_is_stored_without_its_metadata(client, session, people) -> None:
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the test picture does carry GPS
    log_in(client, session, people["parent"])

    response = send(client, people["child"], files={"files": ("IMG_0001.JPG", original, "image/jpeg")})

    assert response.status_code == 200
    stored = session.exec(select(MessageAttachment)).one()
    session.commit()
    assert stored.media_type == "image/jpeg"
    kept = Image.open(io.BytesIO(stored.content))
    assert dict(kept.getexif()) == {} and b"PhoneMaker" not in stored.content
    assert kept.size == (40, 30)


def test_a_png_keeps_its_pixels_and_loses_its_text_chunks(client, session, people) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "home address 12 Elm St")
    out = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 255, 255)).save(out, format="PNG", pnginfo=info)
    log_in(client, session, people["parent"])

    send(client, people["child"], files={"files": ("x.png", out.getvalue(), "image/png")})

    stored = session.exec(select(MessageAttachment)).one()
    session.commit()
    assert b"Elm St" not in stored.content
    assert Image.open(io.BytesIO(stored.content)).getpixel((5, 5)) == (0, 0, 255, 255)


def sent_mail(session: Session) -> list[OutboxMail]:
    session.expire_all()
    found = list(session.exec(select(OutboxMail)))
    session.commit()
    return found


def staff_reply(client, session, people, url: str) -> None:
    log_in(client, session, people["clinician"])
    page = client.get(url)
    form_post(client, url.split("#")[0] + "/reply", {"body": "Reply text 77zz", "key": key_of(page.text)})


def test_mail_about_a_reply_carries_no_patient_data_over_real_smtp(
    app,
    client,
    session,
    people,
    settings,
    smtp_server,  # noqa: F811 (the fixture, used by name)
) -> None:
    url_smtp, inbox = smtp_server
    log_in(client, session, people["parent"])
    page = client.get(f"/p/{people['child'].public_id}/messages/new")
    response = form_post(
        client,
        f"/p/{people['child'].public_id}/messages",
        {"topic": "medical", "subject": "Subject 8h2k", "body": "Body text 3j9q", "key": key_of(page.text)},
        follow_redirects=False,
    )
    url = response.headers["location"]
    # The parent opts in to mail at night, so the notice goes whatever the hour the test runs at.
    notices.set_mail_at_night(session, people["parent"], True)
    session.commit()
    staff_reply(client, session, people, url)

    notices.run_notices(app.state.engine, settings)
    mail.send_pending(app.state.engine, settings.with_overrides(smtp_url=url_smtp))

    assert [rcpt for _, rcpt, _ in inbox.messages] == [["maria@example.org"]]
    body = inbox.messages[0][2].decode()
    assert "You have a new message" in body and settings.clinic_name in body
    for secret in ("Sam", "Zyxwv", "Subject 8h2k", "Body text 3j9q", "Reply text 77zz", "Dr Chen", "medical"):
        assert secret not in body


def test_quiet_hours_hold_a_notice_until_eight_in_the_morning() -> None:
    zone = ZoneInfo("America/New_York")
    late = datetime(2026, 3, 10, 23, 30, tzinfo=zone).astimezone(UTC)
    early = datetime(2026, 3, 11, 6, 0, tzinfo=zone).astimezone(UTC)
    noon = datetime(2026, 3, 11, 12, 0, tzinfo=zone).astimezone(UTC)

    assert notices.due_time(late, zone, at_night=False) == datetime(2026, 3, 11, 8, 0, tzinfo=zone)
    assert notices.due_time(early, zone, at_night=False) == datetime(2026, 3, 11, 8, 0, tzinfo=zone)
    assert notices.due_time(noon, zone, at_night=False) == noon
    assert notices.due_time(late, zone, at_night=True) == late


def test_a_notice_in_quiet_hours_waits_and_many_replies_make_one_mail(session, settings, people) -> None:
    zone = settings.timezone
    night = datetime(2026, 3, 10, 23, 0, tzinfo=zone).astimezone(UTC)
    for _ in range(3):
        notices.owe_notice(session, people["parent"].id, now=night, zone=zone)
        session.flush()

    assert notices.queue_due_notices(session, settings, now=night) == 0
    assert notices.queue_due_notices(session, settings, now=datetime(2026, 3, 11, 8, 1, tzinfo=zone)) == 1
    assert len(session.exec(select(MessageNotice)).all()) == 1


def test_a_limited_proxy_gets_no_mail_about_a_teen_s_private_thread(client, session, settings) -> None:
    parent = make_person(session, display_name="Parent", email="parent@example.org")
    teen_person = make_person(session, display_name="Teen", email="teen@example.org")
    clinician = make_person(session, display_name="Dr Chen", staff_role="clinician")
    today = date.today()
    teen = make_patient(
        session, given_name="Tess", birth_date=today.replace(year=today.year - 15), person_id=teen_person.id
    )
    session.add(
        ProxyGrant(
            proxy_person_id=parent.id, patient_id=teen.id, relationship="parent", starts_on=teen.birth_date
        )
    )
    session.commit()
    log_in(client, session, teen_person)
    page = client.get(f"/p/{teen.public_id}/messages/new")
    url = form_post(
        client,
        f"/p/{teen.public_id}/messages",
        {"topic": "medical", "subject": "Private", "body": "x", "key": key_of(page.text)},
        follow_redirects=False,
    ).headers["location"]
    log_in(client, session, clinician)
    staff_page = client.get(url)

    form_post(client, url.split("#")[0] + "/reply", {"body": "Answer", "key": key_of(staff_page.text)})

    owed = {n.person_id for n in session.exec(select(MessageNotice))}
    session.commit()
    assert owed == {teen_person.id}


def test_a_communication_id_is_a_valid_fhir_id_whatever_the_public_id() -> None:
    from portal.models import Message
    from portal.services.messaging.fhir import fhir_id

    assert fhir_id(
        Message(public_id="a_b-c", thread_id=1, author_name="x", author_kind="self", body="x")
    ) == ("msg-a.b-c")


def test_each_message_is_a_valid_r4_communication_and_a_private_one_is_labelled(
    client, session, settings
) -> None:
    teen_person = make_person(session, display_name="Teen")
    today = date.today()
    teen = make_patient(
        session, given_name="Tess", birth_date=today.replace(year=today.year - 15), person_id=teen_person.id
    )
    log_in(client, session, teen_person)
    page = client.get(f"/p/{teen.public_id}/messages/new")
    form_post(
        client,
        f"/p/{teen.public_id}/messages",
        {"topic": "medical", "subject": "Private 4t4t", "body": "Words", "key": key_of(page.text)},
        files={"files": ("a.pdf", tiny_pdf("x"), "application/pdf")},
    )

    row = session.exec(select(FhirResource).where(FhirResource.resource_type == "Communication")).one()
    resource = Communication.model_validate(json.loads(row.resource_json))
    assert resource.subject.reference == f"Patient/{teen.fhir_id}"
    assert resource.about[0].identifier.system == "urn:portal:message-thread"
    assert resource.payload[1].contentAttachment.contentType == "application/pdf"
    assert row.confidential_reason == "teen-confidential"
    assert resource.meta.security[0].code == "R"
    own = patient_bundle(session, person_scope(session, teen_person, teen, Area.RECORD))
    limited = patient_bundle(session, limited_scope(session, teen))
    assert any(e["resource"]["resourceType"] == "Communication" for e in own["entry"])
    assert not any(e["resource"]["resourceType"] == "Communication" for e in limited["entry"])
