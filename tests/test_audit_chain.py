"""The audit chain: written in the action's transaction, tamper-evident, guarded, purged only by prefix."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, func, select

from portal import db
from portal.models import AuditCheckpoint, AuditEvent, Person
from portal.models.base import utcnow
from portal.services import audit
from tests.audit_helpers import all_events, run_cli, sequence, tamper, write_events
from tests.conftest import POSTGRES_URL, log_in

# The only columns an audit row may have: ids, codes and chain fields, never a name, birth date or text.
AUDIT_COLUMNS = {
    "id",
    "seq",
    "occurred_at",
    "actor_person_id",
    "actor_role",
    "on_behalf_of_person_id",
    "patient_id",
    "action",
    "resource_type",
    "resource_id",
    "route",
    "outcome",
    "client_address",
    "request_id",
    "prev_hash",
    "hash",
    "mac",
}


def count_rows(engine, model) -> int:
    with db.transaction(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_events_are_numbered_densely_and_each_links_to_the_one_before(engine) -> None:
    write_events(engine, 4)

    events = all_events(engine)

    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert events[0].prev_hash == ""
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert len({e.hash for e in events}) == 4


def test_verify_passes_on_an_untouched_chain_and_counts_it(engine, settings) -> None:
    write_events(engine, 5)

    result = run_cli(settings, "audit", "verify")

    assert result.exit_code == 0, result.output
    assert "verified: 5 events, seq 1..5" in result.stdout


def test_verify_passes_on_an_empty_log(settings, engine) -> None:
    result = run_cli(settings, "audit", "verify")

    assert result.exit_code == 0
    assert "no events" in result.stdout


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("resource_id", "'obs-other'"),
        ("actor_person_id", "99"),
        ("patient_id", "NULL"),
        ("outcome", "'denied'"),
        ("action", "'print'"),
        ("occurred_at", "'2020-01-01 00:00:00.000000'"),
    ],
)
def test_changing_one_column_of_one_row_fails_verify_naming_the_event(
    engine, settings, column, value
) -> None:
    events = write_events(engine, 5, actor_person_id=7, patient_id=3)
    tamper(engine, f"UPDATE audit_event SET {column} = {value} WHERE seq = 3")

    result = run_cli(settings, "audit", "verify")

    assert result.exit_code == 1
    assert f"event id={events[2].id} (seq 3) was changed" in result.stderr


def test_deleting_a_row_fails_verify_naming_the_gap(engine, settings) -> None:
    events = write_events(engine, 5)
    tamper(engine, "DELETE FROM audit_event WHERE seq = 3")

    result = run_cli(settings, "audit", "verify")

    assert result.exit_code == 1
    assert f"event id={events[3].id} (seq 4): the event(s) at seq 3" in result.stderr
    assert f"after event id={events[1].id} (seq 2) are missing (deleted)" in result.stderr


def test_inserting_a_row_at_the_head_fails_verify_naming_it(engine, settings) -> None:
    events = write_events(engine, 3)
    tamper(
        engine,
        "INSERT INTO audit_event (id, seq, occurred_at, action, outcome, prev_hash, hash) "
        "VALUES (100, 4, '2026-01-01 00:00:00.000000', 'view', 'allowed', :prev, :forged)",
        prev=events[-1].hash,
        forged="0" * 64,
    )

    result = run_cli(settings, "audit", "verify")

    assert result.exit_code == 1
    assert "event id=100 (seq 4), the newest, was changed or inserted" in result.stderr


def test_inserting_a_copy_of_a_genuine_row_fails_verify_naming_it(engine, settings) -> None:
    events = write_events(engine, 3)
    original = events[1]
    tamper(
        engine,
        "INSERT INTO audit_event (id, seq, occurred_at, action, outcome, prev_hash, hash) "
        "SELECT 100, 10, occurred_at, action, outcome, prev_hash, hash FROM audit_event WHERE id = :id",
        id=original.id,
    )

    result = run_cli(settings, "audit", "verify")

    assert result.exit_code == 1
    assert "event id=100 (seq 10) was inserted" in result.stderr


def test_inserting_a_row_in_the_middle_fails_verify_naming_it(engine, settings) -> None:
    write_events(engine, 4)
    tamper(engine, "UPDATE audit_event SET seq = seq + 1000 WHERE seq >= 3")
    tamper(engine, "UPDATE audit_event SET seq = seq - 999 WHERE seq >= 1000")
    tamper(
        engine,
        "INSERT INTO audit_event (id, seq, occurred_at, action, outcome, prev_hash, hash) "
        "SELECT 100, 3, occurred_at, action, outcome, hash, :forged FROM audit_event WHERE seq = 2",
        forged="f" * 64,
    )

    result = run_cli(settings, "audit", "verify")

    assert result.exit_code == 1
    assert "event id=100 (seq 3) was inserted or its hash changed" in result.stderr


def noted_head(settings) -> str:
    """The head as `portal audit verify` prints it (SEQ:HASH), for an operator to keep."""
    return run_cli(settings, "audit", "verify").stdout.split("head ")[1].strip()


def test_a_head_noted_earlier_is_still_found_as_the_chain_grows(engine, settings) -> None:
    events = write_events(engine, 3)
    head = noted_head(settings)
    write_events(engine, 2)

    result = run_cli(settings, "audit", "verify", "--head", head)

    assert head == f"3:{events[-1].hash}"
    assert result.exit_code == 0, result.output


def test_removing_the_newest_events_is_caught_against_a_noted_head(engine, settings) -> None:
    write_events(engine, 4)
    head = noted_head(settings)
    tamper(engine, "DELETE FROM audit_event WHERE seq >= 3")

    result = run_cli(settings, "audit", "verify", "--head", head)

    assert result.exit_code == 1
    assert "the chain ends at seq 2, before the head noted earlier at seq 4" in result.stderr


def test_a_replaced_head_is_caught_against_a_noted_head(engine, settings) -> None:
    write_events(engine, 2)
    seq, _ = noted_head(settings).split(":")

    result = run_cli(settings, "audit", "verify", "--head", f"{seq}:{'a' * 64}")

    assert result.exit_code == 1
    assert "(seq 2) is not the head noted earlier" in result.stderr


def test_a_malformed_head_is_refused(settings) -> None:
    result = run_cli(settings, "audit", "verify", "--head", "12")

    assert result.exit_code == 2
    assert "SEQ:HASH" in result.stderr


def test_a_chain_rebuilt_without_the_key_does_not_verify(engine, settings) -> None:
    write_events(engine, 3)

    result = run_cli(settings, "audit", "verify", secret="another-secret-key-0123456789-0123456789")

    assert result.exit_code == 1
    assert "(seq 1) was changed" in result.stderr


def test_chain_key_has_its_own_purpose() -> None:
    key = audit.chain_key("a-secret")

    assert key != b"a-secret" and len(key) == 32
    assert key != audit.chain_key("another-secret")


def test_audit_row_holds_ids_and_codes_only(engine) -> None:
    with engine.connect() as conn:
        columns = {c.name for c in AuditEvent.__table__.columns}
        stored = set(conn.execute(text("SELECT * FROM audit_event WHERE 1 = 0")).keys())

    assert columns == AUDIT_COLUMNS
    assert stored == AUDIT_COLUMNS


def test_event_rolls_back_with_a_failing_action(engine) -> None:
    class ActionFailed(Exception):
        pass

    with pytest.raises(ActionFailed), db.transaction(engine) as session:
        session.add(Person(display_name="Ann Example"))
        audit.record(session, action="create", resource_type="Person")
        raise ActionFailed

    assert count_rows(engine, Person) == 0
    assert count_rows(engine, AuditEvent) == 0


def test_action_is_not_committed_when_the_audit_write_fails(engine, drop_refusal) -> None:
    make_audit_inserts_fail(engine)

    with pytest.raises(DBAPIError), db.transaction(engine) as session:
        session.add(Person(display_name="Ann Example"))
        session.flush()
        audit.record(session, action="create", resource_type="Person")

    assert count_rows(engine, Person) == 0


def make_audit_inserts_fail(engine) -> None:
    """A database that refuses audit rows (a full disk, a revoked grant), simulated with a trigger."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'no space left'; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER audit_refuse BEFORE INSERT ON audit_event "
                    "FOR EACH ROW EXECUTE FUNCTION audit_refuse()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER audit_refuse BEFORE INSERT ON audit_event "
                    "BEGIN SELECT RAISE(ABORT, 'no space left'); END"
                )
            )


@pytest.fixture
def drop_refusal(engine):
    yield
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_refuse ON audit_event"))
            conn.execute(text("DROP FUNCTION IF EXISTS audit_refuse()"))


def test_several_events_in_one_transaction_with_a_rolled_back_savepoint_still_chain(engine) -> None:
    with db.transaction(engine) as session:
        audit.record(session, action="view")
        savepoint = session.begin_nested()
        audit.record(session, action="update")
        savepoint.rollback()
        audit.record(session, action="view")
        with session.begin_nested():
            audit.record(session, action="print")
        audit.record(session, action="view")
    sequence(engine)

    events = all_events(engine)

    assert [(e.seq, e.action) for e in events] == [(1, "view"), (2, "view"), (3, "print"), (4, "view")]
    assert audit.verify(engine).ok


def test_an_engine_without_the_chain_key_refuses_the_action(settings) -> None:
    bare = db.make_engine(settings.database_url)

    with pytest.raises(audit.AuditKeyMissing), db.transaction(bare) as session:
        session.add(Person(display_name="Ann Example"))
        audit.record(session, action="create", resource_type="Person")

    bare.dispose()


def test_unknown_action_is_refused(engine) -> None:
    with pytest.raises(ValueError, match="unknown audit action"), db.transaction(engine) as session:
        audit.record(session, action="peek")


def test_time_survives_the_database_in_the_form_the_chain_signed(engine) -> None:
    whole_second = utcnow().replace(microsecond=0)
    with db.transaction(engine) as session:
        event = audit.append(session, AuditEvent(action="view", occurred_at=whole_second))

    stored = all_events(engine)[0]

    assert audit.utc_iso(stored.occurred_at) == audit.utc_iso(whole_second)
    assert stored.hash == event.hash
    assert audit.verify(engine).ok


# -- PostgreSQL's guard ---------------------------------------------------------------------------------

postgres_only = pytest.mark.skipif(not POSTGRES_URL, reason="the guard triggers are PostgreSQL's")


@postgres_only
def test_postgres_refuses_to_update_an_event(engine) -> None:
    write_events(engine, 2)

    with pytest.raises(DBAPIError, match="append-only: UPDATE refused"), engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET outcome = 'denied' WHERE seq = 1"))

    assert all_events(engine)[0].outcome == "allowed"


@postgres_only
def test_postgres_refuses_to_delete_an_event(engine) -> None:
    write_events(engine, 2)

    with pytest.raises(DBAPIError, match="append-only: DELETE refused"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq = 1"))

    assert count_rows(engine, AuditEvent) == 2


@postgres_only
def test_postgres_purge_path_lets_through_only_the_prefix_it_names(engine) -> None:
    write_events(engine, 3)

    with pytest.raises(DBAPIError, match="append-only: DELETE refused"), engine.begin() as conn:
        conn.execute(text("SELECT set_config('portal.audit_purge_through', '1', true)"))
        conn.execute(text("DELETE FROM audit_event WHERE seq <= 2"))

    assert count_rows(engine, AuditEvent) == 3


@postgres_only
def test_postgres_still_allows_truncate(engine) -> None:
    write_events(engine, 2)

    with engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_event"))

    assert count_rows(engine, AuditEvent) == 0


@postgres_only
def test_postgres_refuses_to_change_a_checkpoint(engine) -> None:
    old_events(engine, 2)
    with db.transaction(engine) as session:
        audit.purge(session, before=utcnow() - timedelta(days=1))

    with pytest.raises(DBAPIError, match="append-only: UPDATE refused"), engine.begin() as conn:
        conn.execute(text("UPDATE audit_checkpoint SET through_seq = 1"))


# -- retention ----------------------------------------------------------------------------------------


def old_events(engine, count: int, *, years_ago: float = 7) -> None:
    """Events from long ago, written with their own time (as if the portal had run that long)."""
    moment = utcnow() - timedelta(days=365.25 * years_ago)
    for number in range(count):
        with db.transaction(engine) as session:
            event = AuditEvent(action="view", resource_id=f"old-{number}", occurred_at=moment)
            audit.append(session, event)
    sequence(engine)


def test_purge_removes_the_old_prefix_and_the_rest_still_verifies(engine, settings) -> None:
    old_events(engine, 3)
    write_events(engine, 2)

    result = run_cli(settings, "audit", "purge")

    assert result.exit_code == 0, result.output
    assert "purged 3 audit events" in result.stdout
    verified = run_cli(settings, "audit", "verify")  # links the purge's own event first
    assert verified.exit_code == 0, verified.output
    remaining = all_events(engine)
    assert [e.seq for e in remaining] == [4, 5, 6]
    assert remaining[-1].action == "audit-purge"
    assert "3 events, seq 4..6" in verified.stdout


def test_purge_follows_the_retention_setting(engine, settings) -> None:
    old_events(engine, 2, years_ago=3)
    write_events(engine, 1)

    kept = run_cli(settings, "audit", "purge")
    purged = run_cli(settings, "audit", "purge", PORTAL_AUDIT_RETENTION_YEARS="2")

    assert "nothing to purge" in kept.stdout
    assert "purged 2 audit events" in purged.stdout


def test_purge_stops_at_the_first_event_still_within_retention(engine) -> None:
    old_events(engine, 1)
    write_events(engine, 1)
    old_events(engine, 1)

    with db.transaction(engine) as session:
        result = audit.purge(session, before=audit.retention_cutoff(6))

    assert result.purged == 1 and result.through_seq == 1
    assert [e.resource_id for e in all_events(engine)][:2] == ["obs-0", "old-0"]
    assert audit.verify(engine).ok


def test_purging_everything_leaves_a_chain_that_continues_from_the_checkpoint(engine) -> None:
    old_events(engine, 2)
    with db.transaction(engine) as session:
        audit.purge(session, before=utcnow())

    write_events(engine, 1)  # linked after the purge's own event

    assert [e.seq for e in all_events(engine)] == [3, 4]
    assert audit.verify(engine).ok


def test_deleting_the_first_event_after_a_purge_is_caught(engine, settings) -> None:
    old_events(engine, 2)
    write_events(engine, 2)
    with db.transaction(engine) as session:
        audit.purge(session, before=audit.retention_cutoff(6))
    tamper(engine, "DELETE FROM audit_event WHERE seq = 3")

    result = run_cli(settings, "audit", "verify")

    assert result.exit_code == 1
    assert "the event(s) at seq 3 at the start of the chain are missing (deleted)" in result.stderr


def test_a_forged_checkpoint_is_caught(engine, settings) -> None:
    old_events(engine, 2)
    write_events(engine, 2)
    with db.transaction(engine) as session:
        audit.purge(session, before=audit.retention_cutoff(6))
    tamper(engine, "UPDATE audit_checkpoint SET through_seq = 3")

    result = run_cli(settings, "audit", "verify")

    assert result.exit_code == 1
    assert "retention checkpoint id=1 was changed or forged" in result.stderr


def test_purge_keeps_its_checkpoint(engine) -> None:
    old_events(engine, 2)

    with db.transaction(engine) as session:
        audit.purge(session, before=audit.retention_cutoff(6))

    with db.transaction(engine) as session:
        checkpoint = session.exec(select(AuditCheckpoint)).one()
    assert (checkpoint.through_seq, checkpoint.purged_count) == (2, 2)


def test_retention_must_be_at_least_a_year(settings) -> None:
    result = run_cli(settings, "audit", "purge", PORTAL_AUDIT_RETENTION_YEARS="0")

    assert result.exit_code == 1
    assert "PORTAL_AUDIT_RETENTION_YEARS must be at least 1" in result.output


# -- the sequencer: requests write sealed events, the worker links them ------------------------------------


def test_a_requests_event_commits_with_it_and_waits_until_the_sequencer_links_it(
    app, client, session
) -> None:
    admin = Person(display_name="Ada Admin", staff_role="admin")
    session.add(admin)
    session.commit()
    log_in(client, session, admin)

    response = client.get("/admin/audit")

    assert response.status_code == 200
    [event] = all_events(app.state.engine)
    assert (event.action, event.route, event.actor_person_id) == ("view", "audit_search", admin.id)
    assert (event.seq, event.prev_hash, event.hash) == (None, None, None)
    assert sequence(app.state.engine) == 1
    [linked] = all_events(app.state.engine)
    assert (linked.id, linked.seq, linked.prev_hash) == (event.id, 1, "")
    assert audit.verify(app.state.engine).ok


def test_verify_reports_how_many_events_wait(engine) -> None:
    write_events(engine, 2)
    write_events(engine, 3, link=False)

    result = audit.verify(engine)

    assert result.ok
    assert (result.count, result.waiting) == (2, 3)


def test_the_verify_command_links_what_waits_first(engine, settings) -> None:
    write_events(engine, 3, link=False)

    result = run_cli(settings, "audit", "verify")

    assert result.exit_code == 0, result.output
    assert "verified: 3 events, seq 1..3" in result.stdout
    assert "wait" not in result.stdout


def test_the_verify_command_says_how_many_still_wait(engine, settings, monkeypatch) -> None:
    write_events(engine, 2)
    write_events(engine, 4, link=False)
    monkeypatch.setattr(audit, "sequence_pending", lambda engine, **_: 0)  # a worker mid-round

    result = run_cli(settings, "audit", "verify")

    assert result.exit_code == 0, result.output
    assert (
        "verified: 2 events, seq 1..2" in result.stdout and "4 events wait to be sequenced" in result.stdout
    )


def test_the_sequence_command_links_the_waiting_events(engine, settings) -> None:
    write_events(engine, 3, link=False)

    result = run_cli(settings, "audit", "sequence")

    assert result.exit_code == 0, result.output
    assert "linked 3 audit events" in result.stdout
    assert [e.seq for e in all_events(engine)] == [1, 2, 3]


def test_an_event_changed_while_it_waits_is_reported_and_never_linked(engine, settings) -> None:
    events = write_events(engine, 3, link=False)
    tamper(engine, "UPDATE audit_event SET outcome = 'denied' WHERE id = :id", id=events[1].id)

    result = run_cli(settings, "audit", "verify")

    assert result.exit_code == 1
    assert f"event id={events[1].id}, waiting to be linked, was changed or inserted" in result.stderr
    by_id = {e.id: e.seq for e in all_events(engine)}
    assert (by_id[events[0].id], by_id[events[1].id], by_id[events[2].id]) == (1, None, 2)


def test_an_event_forged_while_others_wait_is_reported(engine, settings) -> None:
    write_events(engine, 1, link=False)
    tamper(
        engine,
        "INSERT INTO audit_event (id, occurred_at, action, outcome, mac) "
        "VALUES (100, '2026-01-01 00:00:00.000000', 'view', 'allowed', :mac)",
        mac="0123456789abcdef:" + "0" * 64,
    )

    result = run_cli(settings, "audit", "verify")

    assert result.exit_code == 1
    assert "event id=100, waiting to be linked, was changed or inserted" in result.stderr


def test_a_copy_of_a_waiting_event_is_refused(engine) -> None:
    [event] = write_events(engine, 1, link=False)

    with pytest.raises(IntegrityError):
        tamper(
            engine,
            "INSERT INTO audit_event (id, occurred_at, action, outcome, mac) "
            "SELECT 100, occurred_at, action, outcome, mac FROM audit_event WHERE id = :id",
            id=event.id,
        )


def test_an_event_committed_late_with_a_lower_id_is_linked_after_the_head(engine) -> None:
    with db.transaction(engine) as session:
        audit.append(session, AuditEvent(id=10, action="view"))
        audit.append(session, AuditEvent(id=11, action="view"))
    sequence(engine)
    with db.transaction(engine) as session:  # a transaction that took its id before the others committed
        audit.append(session, AuditEvent(id=5, action="print"))

    sequence(engine)

    assert [(e.id, e.seq) for e in all_events(engine)] == [(10, 1), (11, 2), (5, 3)]
    assert audit.verify(engine).ok


@postgres_only
def test_two_requests_holding_their_transactions_open_do_not_wait_for_each_other(engine) -> None:
    first, second = Session(engine), Session(engine)
    try:
        for session in (first, second):
            session.begin()
            session.execute(text("SET LOCAL lock_timeout = '2s'"))
            session.execute(text("SET LOCAL statement_timeout = '5s'"))
            audit.record(session, action="view", resource_type="Observation")
        second.commit()  # the later one commits first, while the earlier is still open
        first.commit()
    finally:
        first.close()
        second.close()

    assert sequence(engine) == 2
    assert audit.verify(engine).ok


@postgres_only
def test_postgres_lets_the_sequencer_link_an_event_once_and_nothing_else(engine) -> None:
    [event] = write_events(engine, 1, link=False)
    refused = [
        "UPDATE audit_event SET outcome = 'denied'",
        "UPDATE audit_event SET seq = 1, prev_hash = '', hash = 'x', outcome = 'denied'",
        "UPDATE audit_event SET mac = NULL",
    ]
    for statement in refused:
        with pytest.raises(DBAPIError, match="append-only: UPDATE refused"), engine.begin() as conn:
            conn.execute(text(statement))

    sequence(engine)

    with pytest.raises(DBAPIError, match="append-only: UPDATE refused"), engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET seq = 7, prev_hash = '', hash = 'x'"))
    assert [(e.id, e.seq) for e in all_events(engine)] == [(event.id, 1)]
    assert audit.verify(engine).ok
