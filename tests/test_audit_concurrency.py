"""Writers in several processes and a sequencer beside them leave one chain: nothing lost, none forked."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
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


def keep_sequencing(engine, done: threading.Event, rounds: list[int]) -> None:
    """The worker's sequencer, round after round while the writers run."""
    key = audit.engine_key(engine)
    while not done.is_set():
        rounds.append(audit.sequence_pending(engine, key=key, limit=2000))
        time.sleep(0.05)


def test_eight_processes_writing_a_thousand_events_each_leave_one_chain(app, settings) -> None:
    engine = app.state.engine
    writers = start_writers(settings)
    done, rounds = threading.Event(), []
    sequencer = threading.Thread(target=keep_sequencing, args=(engine, done, rounds))

    started = time.monotonic()
    sequencer.start()
    for process in writers:
        process.stdin.write("go\n")
        process.stdin.flush()
    errors = [process.communicate(timeout=600)[1] for process in writers]
    done.set()
    sequencer.join(timeout=600)
    rounds.append(audit.sequence_pending(engine, key=audit.engine_key(engine)))
    elapsed = time.monotonic() - started

    assert [p.returncode for p in writers] == [0] * PROCESSES, errors
    assert sum(rounds) == PROCESSES * EVENTS_EACH
    result = audit.verify(engine)
    assert result.ok, result.problem
    assert result.waiting == 0
    assert result.count == PROCESSES * EVENTS_EACH
    assert (result.first_seq, result.last_seq) == (1, PROCESSES * EVENTS_EACH)
    with db.transaction(app.state.engine) as session:
        events = list(session.exec(select(AuditEvent).order_by(AuditEvent.seq)))
    assert len({e.resource_id for e in events}) == PROCESSES * EVENTS_EACH
    # One writer after another would switch exactly PROCESSES - 1 times.
    assert writer_switches(events) >= PROCESSES, f"writers did not interleave ({elapsed:.1f} s)"
