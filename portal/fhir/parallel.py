"""FHIR import on several cores: whole files imported side by side in worker processes.

Most of an import's time goes into validating each resource with its fhir.resources model, which needs
nothing but the file. Each worker process reads and validates a file on its own engine (the same database
URL); then the files are written one at a time, each in its own transaction, in the order of the files,
exactly as the serial import (importer.import_files) writes them. So the end state is a serial import's:
a file sees every earlier file in (the Practitioner another bundle created, the Patient file of a bulk
export), never a later one half-written, and when two files carry the same resource the later one wins as
it would. On SQLite only one transaction writes at a time anyway; on PostgreSQL this keeps two files from
racing for the same row.

A file refused for a reference to nothing is imported again after the others, as the serial import does;
so is a file whose write the database refused (a lock held by another program), one at a time in this
process. Results come back in the order of the files, so what the caller prints does not change. One job,
one file, an in-memory SQLite database or a transform that cannot be sent to another process take the
serial path.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import pickle
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from portal import db
from portal.fhir import importer
from portal.fhir.importer import FileResult, ImportSummary, Transform
from portal.fhir.reading import collect_files

MAX_JOBS = 4  # beyond this the one-at-a-time writing is the bottleneck
PARENT_CHECK_SECONDS = 0.5  # how soon a worker notices that the importing process is gone


def default_jobs() -> int:
    """One worker per core this process may run on, up to MAX_JOBS."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_JOBS))


def import_paths(
    engine: Engine, paths: Iterable[Path], *, transform: Transform | None = None, jobs: int | None = None
) -> ImportSummary:
    """Import every file found under the paths, each in its own transaction, on up to `jobs` cores."""
    return ImportSummary(list(import_files(engine, collect_files(paths), transform=transform, jobs=jobs)))


def import_files(
    engine: Engine, files: list[Path], *, transform: Transform | None = None, jobs: int | None = None
) -> Iterator[FileResult]:
    """importer.import_files on up to `jobs` worker processes (default: default_jobs()). Call it with no
    transaction open on the engine in this process, as the workers write from other processes."""
    workers = min(default_jobs() if jobs is None else jobs, len(files))
    if workers < 2 or not _separate_processes_can_share(engine) or not _can_send(transform):
        yield from importer.import_files(engine, files, transform=transform)
        return
    # The workers are forked: close this process's idle connections first, so that none of them (nor
    # SQLite's record of its locks and WAL index, kept in the process's memory) is copied into a worker.
    # The workers open their own; this process reconnects when it next needs to.
    engine.dispose()
    context = _context()
    turns = Turns(context, len(files))
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(
            engine.url.render_as_string(hide_password=False),
            dict(engine.get_execution_options()),  # the audit chain key among them
            turns,
        ),
    )
    again: list[Path] = []
    try:
        futures = [
            pool.submit(_import_in_worker, ticket, path, transform) for ticket, path in enumerate(files)
        ]
        for future in futures:
            result = future.result()
            if result.dangling or result.not_stored:
                again.append(result.path)
            else:
                yield result
    finally:
        turns.abandon()  # if the caller stopped early: workers waiting for a turn give up
        pool.shutdown(cancel_futures=True)
    yield from importer.import_files(engine, again, transform=transform)


class Abandoned(Exception):
    """The import stopped before this file's turn to write came."""


class Turns:
    """The files' turns to write, shared by the workers: file number t writes once every file before it
    is done (written, or refused before writing), and only then."""

    def __init__(self, context: BaseContext, count: int) -> None:
        self.condition = context.Condition()
        self.done = context.Array("b", count, lock=False)
        self.first_open = context.Value("i", 0, lock=False)  # every file before it is done
        self.abandoned = context.Value("b", 0, lock=False)

    @contextmanager
    def turn(self, ticket: int) -> Iterator[None]:
        with self.condition:
            self.condition.wait_for(lambda: self.abandoned.value or self.first_open.value == ticket)
            if self.abandoned.value:
                raise Abandoned
        try:
            yield
        finally:
            self.finish(ticket)

    def finish(self, ticket: int) -> None:
        with self.condition:
            if self.done[ticket]:
                return
            self.done[ticket] = 1
            while self.first_open.value < len(self.done) and self.done[self.first_open.value]:
                self.first_open.value += 1
            self.condition.notify_all()

    def abandon(self) -> None:
        with self.condition:
            self.abandoned.value = 1
            self.condition.notify_all()


def _separate_processes_can_share(engine: Engine) -> bool:
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return True
    database = url.database or ""
    return (
        database not in ("", ":memory:")
        and not database.startswith("file::memory:")
        and (url.query.get("mode") != "memory")
    )


def _can_send(transform: Transform | None) -> bool:
    """Whether the transform can go to another process (a module-level function, or a partial of one)."""
    try:
        pickle.dumps(transform)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


def _context() -> BaseContext:
    # fork: the workers start at once with every module this process has imported (spawning them would
    # import portal, SQLAlchemy and fhir.resources again in each, over a second of CPU apiece). Each
    # builds its own engine.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


# In each worker process --------------------------------------------------------------------------------

_worker: tuple[Engine, Turns] | None = None


def _start_worker(database_url: str, options: dict[str, Any], turns: Turns) -> None:
    global _worker
    _end_with_parent(os.getppid())
    engine = db.make_engine(database_url)
    engine.update_execution_options(**options)
    # Close the worker's connections when it ends (multiprocessing runs its finalizers on the way out).
    multiprocessing.util.Finalize(engine, engine.dispose, exitpriority=10)
    _worker = (engine, turns)


def _end_with_parent(parent: int) -> None:
    """End this worker when the importing process is gone (killed, out of memory): the worker would
    otherwise wait forever for work or a turn, its database connection open. Its transaction, if any, is
    rolled back by the database when the connection drops."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def _import_in_worker(ticket: int, path: Path, transform: Transform | None) -> FileResult:
    assert _worker is not None, "the pool's initializer sets up each worker"
    engine, turns = _worker
    try:
        return importer.import_file(engine, path, transform=transform, write_turn=turns.turn(ticket))
    finally:
        turns.finish(ticket)  # a file refused before writing never took its turn
