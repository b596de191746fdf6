"""What the audit screens and the export will call: search, CSV export, "Who has viewed my record"."""

from __future__ import annotations

import csv
import importlib
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from portal import db
from portal.models import AuditEvent, Patient, Person
from portal.services import audit
from tests.audit_helpers import all_events, run_cli, sequence


@pytest.fixture
def people(engine):
    """A patient with her own account, her mother (a proxy), a clinician and an unrelated patient."""
    with db.transaction(engine) as session:
        ann = Person(display_name="Ann Own")
        mother = Person(display_name="Mary Mother")
        nurse = Person(display_name="Nora Nurse", staff_role="clinician")
        session.add_all([ann, mother, nurse])
        session.flush()
        patient = Patient(fhir_id="pat-ann", given_name="Ann", family_name="Own", person_id=ann.id)
        other = Patient(fhir_id="pat-bob", given_name="Bob", family_name="Other")
        session.add_all([patient, other])
        session.flush()
        return {"ann": ann, "mother": mother, "nurse": nurse, "patient": patient, "other": other}


def write(engine, at: datetime | None = None, **fields) -> AuditEvent:
    with db.transaction(engine) as session:
        if at is None:
            return audit.record(session, **fields)
        return audit.append(session, AuditEvent(occurred_at=at, **fields))


def search(engine, **filters) -> audit.AuditPage:
    with db.transaction(engine) as session:
        return audit.search(session, **filters)


def who_viewed(engine, patient_id: int, **options) -> audit.ViewingPage:
    with db.transaction(engine) as session:
        return audit.who_viewed(session, patient_id, **options)


def test_search_by_patient_returns_only_that_patients_events_newest_first(engine, people) -> None:
    patient, other = people["patient"].id, people["other"].id
    first = write(engine, action="view", patient_id=patient, resource_type="Observation")
    write(engine, action="view", patient_id=other, resource_type="Observation")
    second = write(engine, action="download", patient_id=patient, resource_type="DocumentReference")

    page = search(engine, patient_id=patient)

    assert [row.event.id for row in page.rows] == [second.id, first.id]
    assert page.total == 2
    assert {row.patient_fhir_id for row in page.rows} == {"pat-ann"}


def test_search_by_person_finds_them_as_actor_and_as_proxy(engine, people) -> None:
    mother, nurse = people["mother"].id, people["nurse"].id
    acted = write(engine, action="view", actor_person_id=mother, actor_role="proxy")
    on_behalf = write(engine, action="view", actor_person_id=nurse, on_behalf_of_person_id=mother)
    write(engine, action="view", actor_person_id=nurse)

    page = search(engine, person_id=mother)

    assert [row.event.id for row in page.rows] == [on_behalf.id, acted.id]
    assert page.rows[1].actor_name == "Mary Mother"


def test_search_by_person_pages_both_sides_newest_first_counting_each_event_once(engine, people) -> None:
    mother, nurse = people["mother"].id, people["nurse"].id
    events = []
    for turn in range(7):  # acting herself, acted for, both at once (counted once), and others' events
        kind = turn % 3
        events.append(
            write(
                engine,
                action="view" if turn != 5 else "print",
                actor_person_id=mother if kind != 1 else nurse,
                on_behalf_of_person_id=mother if kind != 0 else None,
            )
        )
        write(engine, action="view", actor_person_id=nurse)
    newest_first = [event.id for event in reversed(events)]

    pages = [search(engine, person_id=mother, page=number, per_page=3) for number in (1, 2, 3)]
    printed = search(engine, person_id=mother, action="print")

    assert [[row.event.id for row in page.rows] for page in pages] == [
        newest_first[0:3],
        newest_first[3:6],
        newest_first[6:],
    ]
    assert {(page.total, page.pages) for page in pages} == {(7, 3)}
    assert [row.event.id for row in printed.rows] == [events[5].id]
    assert printed.total == 1


def test_search_by_person_stops_counting_at_the_limit(engine, people, monkeypatch) -> None:
    monkeypatch.setattr(importlib.import_module("portal.services.audit.search"), "COUNT_LIMIT", 3)
    for _ in range(4):
        write(engine, action="view", actor_person_id=people["mother"].id)
        write(
            engine,
            action="view",
            actor_person_id=people["nurse"].id,
            on_behalf_of_person_id=people["mother"].id,
        )

    capped = search(engine, person_id=people["mother"].id, per_page=2)

    assert (capped.total, capped.counted_all, len(capped.rows)) == (3, False, 2)


def test_search_by_action(engine, people) -> None:
    write(engine, action="view")
    printed = write(engine, action="print")

    page = search(engine, action="print")

    assert [row.event.id for row in page.rows] == [printed.id]


def test_search_by_date_range_includes_both_whole_days(engine, people) -> None:
    day = datetime(2026, 3, 10, tzinfo=UTC)
    write(engine, at=day - timedelta(microseconds=1), action="view")
    start = write(engine, at=day, action="view")
    end = write(engine, at=day + timedelta(days=2) - timedelta(microseconds=1), action="view")
    write(engine, at=day + timedelta(days=2), action="view")

    page = search(engine, since=date(2026, 3, 10), until=date(2026, 3, 11))

    assert [row.event.id for row in page.rows] == [end.id, start.id]


def test_search_pages_through_results_with_a_total(engine, people) -> None:
    events = [write(engine, action="view") for _ in range(5)]

    page = search(engine, page=2, per_page=2)

    assert [row.event.id for row in page.rows] == [events[2].id, events[1].id]
    assert (page.total, page.pages) == (5, 3)


@pytest.mark.parametrize("filters", [{"page": 0}, {"per_page": 0}, {"per_page": 501}, {"action": "peek"}])
def test_search_refuses_bad_paging_or_an_unknown_action(engine, filters) -> None:
    with pytest.raises(ValueError):
        search(engine, **filters)


def test_search_refuses_a_naive_datetime(engine) -> None:
    with pytest.raises(ValueError, match="naive"):
        search(engine, since=datetime(2026, 1, 1))


# -- "Who has viewed my record" ---------------------------------------------------------------


def test_who_viewed_names_staff_and_proxies_with_their_roles_newest_first(engine, people) -> None:
    patient = people["patient"].id
    write(engine, action="view", actor_person_id=people["nurse"].id, actor_role="clinician",
          patient_id=patient, resource_type="Observation", resource_id="obs-1")  # fmt: skip
    write(engine, action="download", actor_person_id=people["mother"].id, actor_role="proxy",
          on_behalf_of_person_id=people["mother"].id, patient_id=patient, resource_type="Bundle")  # fmt: skip

    page = who_viewed(engine, patient)

    assert [(v.actor_name, v.actor_role, v.action) for v in page.rows] == [
        ("Mary Mother", "proxy", "download"),
        ("Nora Nurse", "clinician", "view"),
    ]
    assert page.rows[1].resource_type == "Observation" and page.rows[1].resource_id == "obs-1"
    assert page.rows[0].on_behalf and not page.rows[1].on_behalf
    assert page.rows[0].occurred_at >= page.rows[1].occurred_at


def test_who_viewed_leaves_out_the_patients_own_looks(engine, people) -> None:
    patient = people["patient"].id
    write(engine, action="view", actor_person_id=people["ann"].id, actor_role="patient", patient_id=patient)

    page = who_viewed(engine, patient)

    assert page.rows == [] and page.total == 0


def test_who_viewed_leaves_out_denied_attempts_and_non_access_actions(engine, people) -> None:
    patient, nurse = people["patient"].id, people["nurse"].id
    write(engine, action="view", outcome="denied", actor_person_id=nurse, patient_id=patient)
    write(engine, action="code-issued", actor_person_id=nurse, patient_id=patient)
    write(engine, action="view", patient_id=patient)  # the system, nobody signed in

    page = who_viewed(engine, patient)

    assert page.rows == []


def test_who_viewed_shows_only_this_patient(engine, people) -> None:
    write(engine, action="view", actor_person_id=people["nurse"].id, patient_id=people["other"].id)

    page = who_viewed(engine, people["patient"].id)

    assert page.rows == []


def test_who_viewed_pages(engine, people) -> None:
    for _ in range(3):
        write(engine, action="view", actor_person_id=people["nurse"].id, patient_id=people["patient"].id)

    page = who_viewed(engine, people["patient"].id, page=2, per_page=2)

    assert (len(page.rows), page.total) == (1, 3)


# -- CSV ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("obs-1", "obs-1"),
        (None, ""),
        (42, "42"),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_defused(value, cell) -> None:
    assert audit.csv_cell(value) == cell


def export(engine, **filters) -> list[dict[str, str]]:
    out = io.StringIO()
    with db.transaction(engine) as session:
        count = audit.export_csv(session, out, **filters)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == count
    return rows


def test_export_writes_one_row_per_event_oldest_first_with_ids_only(engine, people) -> None:
    first = write(engine, action="view", actor_person_id=people["nurse"].id, patient_id=people["patient"].id,
                  resource_type="Observation", resource_id="=cmd|' /C calc'!A0")  # fmt: skip
    second = write(engine, action="print", patient_id=people["other"].id)

    rows = export(engine)

    assert [row["id"] for row in rows] == [str(first.id), str(second.id)]
    assert rows[0]["patient_fhir_id"] == "pat-ann"
    assert rows[0]["resource_id"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["occurred_at"] == audit.utc_iso(first.occurred_at)
    assert "Nora" not in str(rows) and "Ann Own" not in str(rows)


def test_export_shows_events_waiting_for_the_sequencer_and_their_links_once_made(engine, people) -> None:
    write(engine, action="view", patient_id=people["patient"].id)
    write(engine, action="print", patient_id=people["other"].id)
    waiting = export(engine)

    sequence(engine)

    linked = export(engine)
    assert [(row["seq"], row["hash"]) for row in waiting] == [("", ""), ("", "")]
    assert [row["seq"] for row in linked] == ["1", "2"]
    assert linked[1]["prev_hash"] == linked[0]["hash"] != ""


def test_export_filters_by_patient_and_since(engine, people) -> None:
    patient = people["patient"].id
    write(engine, at=datetime(2026, 1, 1, tzinfo=UTC), action="view", patient_id=patient)
    recent = write(engine, at=datetime(2026, 2, 1, tzinfo=UTC), action="view", patient_id=patient)
    write(engine, at=datetime(2026, 2, 1, tzinfo=UTC), action="view", patient_id=people["other"].id)

    rows = export(engine, patient_id=patient, since=date(2026, 1, 15))

    assert [row["id"] for row in rows] == [str(recent.id)]


def test_export_command_writes_csv_to_stdout_and_audits_itself(engine, people, settings) -> None:
    event = write(engine, action="view", patient_id=people["patient"].id)
    write(engine, action="view", patient_id=people["other"].id)

    result = run_cli(settings, "audit", "export", "--patient", "pat-ann", "--since", "2000-01-01")

    assert result.exit_code == 0, result.output
    newest = all_events(engine)[-1]
    assert (newest.action, newest.patient_id, newest.route) == (
        "export",
        people["patient"].id,
        "cli:audit_export",
    )
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["id"] for row in rows] == [str(event.id), str(newest.id)]
    assert "exported 2 audit events" in result.stderr


def test_export_in_chunks_writes_the_same_csv_as_one_transaction(engine, people) -> None:
    for _ in range(7):
        write(engine, action="view", patient_id=people["patient"].id)
    whole, chunked = io.StringIO(), io.StringIO()
    with db.transaction(engine) as session:
        audit.export_csv(session, whole)

    count = audit.export_csv_in_chunks(engine, chunked, chunk=3)

    assert count == 7
    assert chunked.getvalue() == whole.getvalue()


def test_export_command_writes_to_a_file(engine, people, settings, tmp_path) -> None:
    write(engine, action="view")
    target = tmp_path / "audit.csv"

    result = run_cli(settings, "audit", "export", "-o", str(target))

    assert result.exit_code == 0, result.output
    assert target.read_text().splitlines()[0].startswith("id,seq,occurred_at,")
    assert len(target.read_text().splitlines()) == 3  # the header, the event, the export itself


def test_export_command_refuses_an_unknown_patient(engine, settings) -> None:
    result = run_cli(settings, "audit", "export", "--patient", "nobody")

    assert result.exit_code == 1
    assert "no patient has that FHIR id" in result.stderr
    assert all_events(engine) == []


def test_export_command_refuses_a_bad_date(settings) -> None:
    result = run_cli(settings, "audit", "export", "--since", "last week")

    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.stderr


def test_search_stops_counting_at_the_limit_and_says_so(engine, people, monkeypatch) -> None:
    monkeypatch.setattr(importlib.import_module("portal.services.audit.search"), "COUNT_LIMIT", 3)
    for _ in range(5):
        write(engine, action="view", patient_id=people["patient"].id, resource_type="Observation")

    capped = search(engine, patient_id=people["patient"].id, per_page=2)
    exact = search(engine, patient_id=people["other"].id)

    assert (capped.total, capped.counted_all, len(capped.rows)) == (3, False, 2)
    assert (exact.total, exact.counted_all) == (0, True)
