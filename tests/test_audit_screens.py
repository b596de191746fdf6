"""The audit log on screen: the admin's search and CSV download, and "Who has viewed my record"."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, select

from portal import db
from portal.models import AuditEvent, Patient, Person, ProxyGrant
from portal.provenance import Provenance
from portal.services import audit
from portal.services.access import Level
from portal.views.chart import sections_for
from tests.conftest import ORIGIN, csrf_token, form_post, log_in


@pytest.fixture
def people(session):
    """An admin, a clinician, an adult patient with her own account and a caregiver, and another patient."""
    admin = Person(display_name="Ada Admin", staff_role="admin", email="ada@clinic.example")
    nurse = Person(display_name="Nora Nurse", staff_role="clinician", email="nora@clinic.example")
    own = Person(display_name="Ann Own", email="ann@example.org")
    carer = Person(display_name="Carl Carer", email="carl@example.org")
    session.add_all([admin, nurse, own, carer])
    session.flush()
    patient = Patient(
        fhir_id="pat-ann", given_name="Ann", family_name="Own", birth_date=date(1980, 1, 1), person_id=own.id
    )
    other = Patient(fhir_id="pat-bob", given_name="Bob", family_name="Other", birth_date=date(1975, 5, 5))
    session.add_all([patient, other])
    session.flush()
    session.add(
        ProxyGrant(
            proxy_person_id=carer.id,
            patient_id=patient.id,
            relationship="caregiver",
            starts_on=date(2000, 1, 1),
        )
    )
    session.commit()
    return {"admin": admin, "nurse": nurse, "own": own, "carer": carer, "patient": patient, "other": other}


PROVENANCE_FIELDS = ("route", "client_address", "request_id")


def write(engine, at: datetime | None = None, **fields) -> AuditEvent:
    """One event in its own transaction, at `at` if given (an event's time follows the chain otherwise)."""
    with db.transaction(engine) as db_session:
        if at is None:
            where = Provenance(**{key: fields.pop(key) for key in PROVENANCE_FIELDS if key in fields})
            return audit.record(db_session, provenance=where, **fields)
        return audit.append(db_session, AuditEvent(occurred_at=at, **fields))


def events(engine) -> list[AuditEvent]:
    with Session(engine, expire_on_commit=False) as db_session, db_session.begin():
        return list(db_session.exec(select(AuditEvent).order_by(AuditEvent.id)))


def result_rows(page: str) -> list[str]:
    """The table's body rows, as text."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in body.split("</tr>")[:-1]]


@pytest.fixture
def as_admin(client, session, people):
    log_in(client, session, people["admin"])
    return client


# -- the admin's search screen ------------------------------------------------------------------------


def test_admin_sees_the_newest_events_with_actor_role_patient_and_request(app, as_admin, people) -> None:
    write(app.state.engine, action="view", actor_person_id=people["nurse"].id, actor_role="clinician",
          patient_id=people["patient"].id, resource_type="Observation", resource_id="obs-1",
          route="result_page", request_id="req123")  # fmt: skip
    write(app.state.engine, action="sign-in", actor_person_id=people["own"].id, actor_role="patient")

    response = as_admin.get("/admin/audit")

    assert response.status_code == 200
    rows = result_rows(response.text)
    assert len(rows) == 2
    assert "Ann Own (patient)" in rows[0] and "sign-in" in rows[0]
    for expected in ("Nora Nurse (clinician)", "pat-ann", "view", "Observation obs-1", "result_page",
                     "allowed", "req123"):  # fmt: skip
        assert expected in rows[1]


def test_times_are_shown_in_the_clinics_time_zone(app, as_admin) -> None:
    write(app.state.engine, at=datetime(2026, 3, 10, 15, 4, 5, tzinfo=UTC), action="view")

    rows = result_rows(as_admin.get("/admin/audit").text)

    assert "11:04:05" in rows[0]  # New York, daylight time


def test_a_proxys_event_names_the_person_acted_for(app, as_admin, people) -> None:
    write(app.state.engine, action="view", actor_person_id=people["carer"].id, actor_role="proxy",
          on_behalf_of_person_id=people["own"].id, patient_id=people["patient"].id)  # fmt: skip

    rows = result_rows(as_admin.get("/admin/audit").text)

    assert "Carl Carer (proxy) Ann Own pat-ann" in rows[0]


@pytest.mark.parametrize("role", ["clinician", "front_desk", "billing", None])
def test_only_admins_may_open_the_audit_log(client, session, role) -> None:
    person = Person(display_name="Someone", staff_role=role)
    session.add(person)
    session.commit()
    log_in(client, session, person)

    response = client.get("/admin/audit")

    assert response.status_code == 403
    assert "<table" not in response.text


def test_signed_out_visitors_are_sent_to_sign_in(client) -> None:
    response = client.get("/admin/audit", follow_redirects=False)

    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_search_by_patient_shows_only_that_patients_events(app, as_admin, people) -> None:
    write(app.state.engine, action="view", patient_id=people["patient"].id, resource_type="Observation")
    write(app.state.engine, action="view", patient_id=people["other"].id, resource_type="Immunization")

    rows = result_rows(form_post(as_admin, "/admin/audit", {"patient": "pat-bob"}).text)

    assert len(rows) == 1 and "pat-bob" in rows[0] and "Immunization" in rows[0]


@pytest.mark.parametrize("typed", ["NORA@clinic.example", "nora nurse", "Nurse"])
def test_search_by_person_takes_an_email_a_name_or_part_of_one(app, as_admin, people, typed) -> None:
    write(app.state.engine, action="view", actor_person_id=people["nurse"].id, actor_role="clinician")
    write(app.state.engine, action="view", actor_person_id=people["own"].id, actor_role="patient")

    rows = result_rows(form_post(as_admin, "/admin/audit", {"person": typed}).text)

    assert len(rows) == 1 and "Nora Nurse" in rows[0]


def test_a_name_that_matches_two_people_asks_for_an_email(as_admin, session, people) -> None:
    session.add(Person(display_name="Nora Nightingale"))
    session.commit()

    response = form_post(as_admin, "/admin/audit", {"person": "Nora"})

    assert response.status_code == 400
    assert 'id="person-problem"' in response.text and "enter their email" in response.text
    assert "<tbody>" not in response.text


def test_search_by_action(app, as_admin, people) -> None:
    write(app.state.engine, action="view", patient_id=people["patient"].id)
    write(app.state.engine, action="print", patient_id=people["patient"].id)

    rows = result_rows(form_post(as_admin, "/admin/audit", {"action": "print"}).text)

    assert len(rows) == 1 and " print " in f" {rows[0]} "


def test_dates_are_whole_days_at_the_clinic(app, as_admin) -> None:
    engine = app.state.engine
    write(engine, at=datetime(2026, 3, 10, 3, 0, tzinfo=UTC), action="print")  # 9 March, 11 pm in New York
    write(engine, at=datetime(2026, 3, 11, 2, 0, tzinfo=UTC), action="download")  # 10 March, 10 pm there
    write(engine, at=datetime(2026, 3, 11, 5, 0, tzinfo=UTC), action="export")  # 11 March, 1 am there

    rows = result_rows(
        form_post(as_admin, "/admin/audit", {"since": "2026-03-10", "until": "2026-03-10"}).text
    )

    assert len(rows) == 1 and "download" in rows[0]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"since": "10/03/2026"}, "since", "YYYY-MM-DD"),
        ({"until": "2026-02-30"}, "until", "YYYY-MM-DD"),
        ({"since": "9999-12-31"}, "since", "YYYY-MM-DD"),
        ({"since": "2026-03-10", "until": "2026-03-01"}, "until", "before the start date"),
        ({"action": "peek"}, "action", "Choose an action"),
        ({"patient": "nobody"}, "patient", "No patient has that FHIR id"),
        ({"person": "nobody@example.org"}, "person", "No one has that email or name"),
    ],
)
def test_bad_filters_get_a_message_next_to_the_field_and_no_results(
    app, as_admin, people, params, field, message
) -> None:
    write(app.state.engine, action="view", patient_id=people["patient"].id)

    response = form_post(as_admin, "/admin/audit", params)

    assert response.status_code == 400
    problem = re.search(rf'<p id="{field}-problem" class="error-text">([^<]*)</p>', response.text)
    assert problem is not None and message in problem.group(1)
    assert f'aria-describedby="{field}-problem"' in response.text
    assert "<tbody>" not in response.text and "No results" in response.text


def test_a_malformed_date_reads_nothing_and_records_nothing(app, as_admin) -> None:
    form_post(as_admin, "/admin/audit", {"since": "yesterday"})

    assert events(app.state.engine) == []


def test_searching_the_log_is_itself_audited(app, as_admin, people) -> None:
    form_post(as_admin, "/admin/audit", {"patient": "pat-ann", "action": "view"})

    [event] = events(app.state.engine)
    assert (event.action, event.resource_type, event.outcome) == ("view", "audit_event", "allowed")
    assert (event.actor_person_id, event.actor_role) == (people["admin"].id, "admin")
    assert (event.patient_id, event.route) == (people["patient"].id, "audit_search")
    assert event.request_id is not None


def page_turns(page: str) -> dict[str, dict[str, str]]:
    """The pager's forms, by label: each posts the filters (hidden) and the page its button names."""
    pager = (
        page.split('aria-label="Pages of events"', 1)[1].split("</nav>", 1)[0] if "Pages of" in page else ""
    )
    turns = {}
    for form in pager.split("</form>")[:-1]:
        assert 'method="post" action="/admin/audit"' in form and 'name="csrf_token"' in form
        fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form))
        button = re.search(r'<button class="link" name="page" value="(\d+)"[^>]*>([^<]+)</button>', form)
        assert button is not None
        fields.pop("csrf_token")
        turns[button.group(2)] = {**fields, "page": button.group(1)}
    return turns


def test_pages_turn_by_posting_the_filters(app, as_admin, people) -> None:
    for _ in range(51):
        write(app.state.engine, action="print", patient_id=people["patient"].id)

    first = form_post(as_admin, "/admin/audit", {"patient": "pat-ann", "action": "print"})
    second = form_post(as_admin, "/admin/audit", page_turns(first.text)["Older events"])

    assert len(result_rows(first.text)) == 50
    assert page_turns(first.text) == {"Older events": {"patient": "pat-ann", "action": "print", "page": "2"}}
    assert len(result_rows(second.text)) == 1
    assert page_turns(second.text) == {"Newer events": {"patient": "pat-ann", "action": "print", "page": "1"}}


def test_no_name_email_or_patient_id_reaches_a_url(app, as_admin, people) -> None:
    for _ in range(51):
        write(
            app.state.engine,
            action="view",
            actor_person_id=people["nurse"].id,
            patient_id=people["patient"].id,
        )
    filters = {"patient": "pat-ann", "person": "nora@clinic.example"}

    response = form_post(as_admin, "/admin/audit", filters)

    assert response.status_code == 200 and len(result_rows(response.text)) == 50
    assert str(response.url) == "https://localhost:8000/admin/audit"
    urls = re.findall(r'(?:href|action|hx-get|hx-post|hx-push-url)="([^"]*)"', response.text)
    assert urls and not [url for url in urls if "pat-ann" in url or "nora" in url.lower()]
    assert not [url for url in urls if "/admin/audit?" in url]
    assert 'method="get"' not in response.text and "hx-push-url" not in response.text


def test_a_search_in_the_query_string_is_not_read(app, as_admin, people) -> None:
    write(app.state.engine, action="view", patient_id=people["patient"].id)
    write(app.state.engine, action="view", patient_id=people["other"].id)

    response = as_admin.get("/admin/audit", params={"patient": "pat-bob"})

    assert len(result_rows(response.text)) == 2
    assert 'value="pat-bob"' not in response.text


def test_a_search_without_the_forms_token_is_refused(app, as_admin) -> None:
    csrf_token(as_admin)

    response = as_admin.post("/admin/audit", data={"patient": "pat-ann"}, headers={"Origin": ORIGIN})

    assert response.status_code == 403
    assert events(app.state.engine) == []


def test_a_page_turn_by_htmx_gets_just_the_table(app, as_admin) -> None:
    write(app.state.engine, action="view")

    response = form_post(as_admin, "/admin/audit", {"page": "1"}, headers={"HX-Request": "true"})

    assert response.template.name == "audit/_results.html"
    assert "<tbody>" in response.text and "<html" not in response.text


def test_a_page_past_the_end_links_back_to_the_last_one(app, as_admin) -> None:
    write(app.state.engine, action="print")

    response = form_post(as_admin, "/admin/audit", {"action": "print", "page": "7"})

    assert "No events match on this page" in response.text
    assert page_turns(response.text) == {"Newer events": {"action": "print", "page": "1"}}


def test_a_nonsense_page_number_shows_the_first_page(app, as_admin) -> None:
    write(app.state.engine, action="view")

    response = form_post(as_admin, "/admin/audit", {"page": "-3"})

    assert response.status_code == 200 and len(result_rows(response.text)) == 1


def test_the_account_page_links_admins_to_the_audit_log(client, session, people) -> None:
    log_in(client, session, people["admin"])
    admin_page = client.get("/account").text
    log_in(client, session, people["nurse"])
    nurse_page = client.get("/account").text

    assert 'href="/admin/audit"' in admin_page
    assert 'href="/admin/audit"' not in nurse_page


# -- the CSV download -------------------------------------------------------------------------------


def download(client, **filters):
    return form_post(client, "/admin/audit/export", filters)


def test_download_is_a_csv_of_the_filtered_events_with_a_name_free_of_patient_data(
    app, as_admin, people
) -> None:
    wanted = write(app.state.engine, action="view", patient_id=people["patient"].id,
                   resource_id="=HYPERLINK(\"http://x\")")  # fmt: skip
    write(app.state.engine, action="view", patient_id=people["other"].id)

    response = download(as_admin, patient="pat-ann", action="view")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="audit-log-\d{8}-\d{6}\.csv"', disposition)
    assert response.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["id"] for row in rows] == [str(wanted.id)]
    assert rows[0]["resource_id"].startswith("'=")


def test_a_download_is_recorded_as_an_export(app, as_admin, people) -> None:
    download(as_admin, patient="pat-ann")

    [event] = events(app.state.engine)
    assert (event.action, event.resource_type, event.route) == ("export", "audit_event", "audit_export")
    assert (event.actor_person_id, event.patient_id) == (people["admin"].id, people["patient"].id)


def test_a_download_with_a_bad_filter_explains_and_exports_nothing(app, as_admin) -> None:
    response = download(as_admin, until="not a day")

    assert response.status_code == 400
    assert 'id="until-problem"' in response.text
    assert events(app.state.engine) == []


def test_a_download_without_the_forms_token_is_refused(app, as_admin) -> None:
    csrf_token(as_admin)

    response = as_admin.post("/admin/audit/export", data={}, headers={"Origin": ORIGIN})

    assert response.status_code == 403
    assert events(app.state.engine) == []


def test_the_download_form_carries_the_current_filters(as_admin, people) -> None:
    page = form_post(as_admin, "/admin/audit", {"patient": "pat-ann", "since": "2026-01-01"}).text

    form = page.split('action="/admin/audit/export"', 1)[1].split("</form>", 1)[0]
    assert '<input type="hidden" name="patient" value="pat-ann">' in form
    assert '<input type="hidden" name="since" value="2026-01-01">' in form


def test_a_download_too_large_for_the_screen_points_to_the_command(app, as_admin, monkeypatch) -> None:
    monkeypatch.setattr(audit.screen, "EXPORT_LIMIT", 2)
    write(app.state.engine, action="view")
    write(app.state.engine, action="view")

    response = download(as_admin)

    assert response.status_code == 400
    assert "portal audit export" in response.text
    assert all(event.action == "view" for event in events(app.state.engine))


# -- "Who has viewed my record" -------------------------------------------------------------------


def viewed(client, patient: Patient, **params):
    return client.get(f"/p/{patient.public_id}/viewed", params=params)


def looks(page: str) -> list[str]:
    body = page.split('<ul class="card-list">', 1)[1].split("</ul>", 1)[0] if "card-list" in page else ""
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip() for item in body.split("</li>")[:-1]]


def test_a_page_past_the_end_links_back_to_the_last_page(app, client, session, people) -> None:
    for _ in range(30):
        write(
            app.state.engine,
            action="view",
            actor_person_id=people["nurse"].id,
            patient_id=people["patient"].id,
        )
    log_in(client, session, people["own"])

    response = viewed(client, people["patient"], page="9")

    assert "There is nothing more to show." in response.text
    assert f'href="/p/{people["patient"].public_id}/viewed?page=2"' in response.text


def test_the_patient_sees_staff_and_proxies_by_name_and_role_newest_first(
    app, client, session, people
) -> None:
    engine, patient = app.state.engine, people["patient"]
    write(engine, at=datetime(2026, 3, 1, 15, 0, tzinfo=UTC), action="view", actor_role="clinician",
          actor_person_id=people["nurse"].id, patient_id=patient.id, resource_type="Observation")  # fmt: skip
    write(engine, at=datetime(2026, 3, 2, 15, 0, tzinfo=UTC), action="download",
          actor_person_id=people["carer"].id, actor_role="proxy", on_behalf_of_person_id=people["own"].id,
          patient_id=patient.id, resource_type="Bundle")  # fmt: skip
    log_in(client, session, people["own"])

    response = viewed(client, patient)

    assert response.status_code == 200
    assert looks(response.text) == [
        "Carl Carer (Parent, guardian or caregiver) Downloaded: Your record Mar 2, 2026, 10:00:00 AM",
        "Nora Nurse (Doctor or nurse) Looked at: Test results Mar 1, 2026, 10:00:00 AM",
    ]


def test_what_was_seen_is_named_by_the_page_when_the_type_is_unknown(app, client, session, people) -> None:
    write(app.state.engine, action="view", actor_person_id=people["nurse"].id, actor_role="clinician",
          patient_id=people["patient"].id, resource_type="SomethingNew", route="visit_page")  # fmt: skip
    log_in(client, session, people["own"])

    [look] = looks(viewed(client, people["patient"]).text)

    assert "Looked at: Visits" in look


def test_the_patients_own_looks_and_other_patients_are_left_out(app, client, session, people) -> None:
    write(app.state.engine, action="view", actor_person_id=people["nurse"].id, patient_id=people["other"].id)
    log_in(client, session, people["own"])
    viewed(client, people["patient"])  # her own look, which is audited

    response = viewed(client, people["patient"])

    assert looks(response.text) == []
    assert "No one else has looked at this record yet." in response.text


def test_the_list_is_paged_newer_and_older(app, client, session, people) -> None:
    for _ in range(26):
        write(
            app.state.engine,
            action="view",
            actor_person_id=people["nurse"].id,
            patient_id=people["patient"].id,
        )
    log_in(client, session, people["own"])

    first = viewed(client, people["patient"])
    second = viewed(client, people["patient"], page="2")

    assert len(looks(first.text)) == 25 and f"/p/{people['patient'].public_id}/viewed?page=2" in first.text
    assert len(looks(second.text)) == 1 and "?page=1" in second.text


def test_the_page_is_in_spanish_for_a_spanish_reader(app, client, session, people) -> None:
    write(app.state.engine, action="view", actor_person_id=people["nurse"].id, actor_role="clinician",
          patient_id=people["patient"].id, resource_type="Immunization")  # fmt: skip
    log_in(client, session, people["own"])

    response = client.get(f"/p/{people['patient'].public_id}/viewed", headers={"Accept-Language": "es"})

    [look] = looks(response.text)
    assert "Vio: Vacunas" in look and "Looked at" not in look
    assert "Quién ha visto su expediente" in response.text


def test_a_proxy_may_not_see_who_viewed_the_record_and_the_attempt_is_kept(
    app, client, session, people
) -> None:
    log_in(client, session, people["carer"])

    response = viewed(client, people["patient"])

    assert response.status_code == 404
    [event] = events(app.state.engine)
    assert (event.outcome, event.route, event.actor_person_id) == (
        "denied",
        "viewed_page",
        people["carer"].id,
    )


def test_an_admin_may_open_a_patients_list(app, as_admin, people) -> None:
    response = viewed(as_admin, people["patient"])

    assert response.status_code == 200
    assert "Who has viewed this record" in response.text


def test_the_section_is_in_the_navigation_for_the_patient_only(client, session, people) -> None:
    log_in(client, session, people["own"])
    own = client.get(f"/p/{people['patient'].public_id}/summary").text
    log_in(client, session, people["carer"])
    carer = client.get(f"/p/{people['patient'].public_id}/summary").text

    assert f'href="/p/{people["patient"].public_id}/viewed"' in own
    assert "/viewed" not in carer


@pytest.mark.parametrize(
    ("level", "shown"),
    [(Level.SELF, True), (Level.FULL, False), (Level.LIMITED, False), (Level.STAFF, False), (None, False)],
)
def test_sections_limited_to_some_levels_are_left_out_for_others(level, shown) -> None:
    names = [name for name, _ in sections_for(level)]

    assert "summary" in names
    assert ("viewed" in names) is shown
