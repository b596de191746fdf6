"""Writers in several processes append to one chain without forking it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from sqlmodel import select

from portal import db
from portal.models import AuditEvent
from portal.services import audit

PROCESSES = 8
EVENTS_EACH = 1000
PER_TRANSACTION = 10  # keeps the run short on a small machine while writers still interleave

WRITER = """
import sys
from portal import db
from portal.services import audit

url, secret = sys.argv[1], sys.argv[2]
writer, count, batch = (int(arg) for arg in sys.argv[3:6])
engine = db.make_engine(url)
audit.use_chain_key(engine, secret)
print("ready", flush=True)
sys.stdin.readline()  # every writer starts together
for start in range(0, count, batch):
    with db.transaction(engine) as session:
        for number in range(start, min(count, start + batch)):
            audit.record(session, action="view", actor_person_id=writer, resource_type="Test",
                         resource_id=f"{writer}-{number}")
engine.dispose()
"""


def start_writers(settings) -> list[subprocess.Popen]:
    writers = []
    for writer in range(1, PROCESSES + 1):
        argv = [
            sys.executable,
            "-c",
            WRITER,
            settings.database_url,
            str(settings.secret_key),
            str(writer),
            str(EVENTS_EACH),
            str(PER_TRANSACTION),
        ]
        writers.append(
            subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=os.getcwd(),
            )
        )
    ready = [process.stdout.readline().strip() == "ready" for process in writers]
    if not all(ready):
        for process in writers:
            process.kill()
        errors = [process.communicate()[1] for process in writers]
        raise AssertionError(f"a writer did not start: {errors}")
    return writers


def writer_switches(events: list[AuditEvent]) -> int:
    """How often the chain passes from one writer's event to another's: proof that they ran together."""
    return sum(1 for a, b in zip(events, events[1:], strict=False) if a.actor_person_id != b.actor_person_id)


def test_eight_processes_writing_a_thousand_events_each_leave_one_chain(app, settings) -> None:
    writers = start_writers(settings)

    started = time.monotonic()
    for process in writers:
        process.stdin.write("go\n")
        process.stdin.flush()
    errors = [process.communicate(timeout=600)[1] for process in writers]
    elapsed = time.monotonic() - started

    assert [p.returncode for p in writers] == [0] * PROCESSES, errors
    result = audit.verify(app.state.engine)
    assert result.ok, result.problem
    assert result.count == PROCESSES * EVENTS_EACH
    assert (result.first_seq, result.last_seq) == (1, PROCESSES * EVENTS_EACH)
    with db.transaction(app.state.engine) as session:
        events = list(session.exec(select(AuditEvent).order_by(AuditEvent.seq)))
    assert len({e.resource_id for e in events}) == PROCESSES * EVENTS_EACH
    # One writer after another would switch exactly PROCESSES - 1 times.
    assert writer_switches(events) >= PROCESSES, f"writers did not interleave ({elapsed:.1f} s)"
