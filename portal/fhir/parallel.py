"""FHIR import on several cores: whole files imported side by side in worker processes.

Most of an import's time goes into validating each resource with its fhir.resources model, which needs
nothing but the file. Each worker process reads and validates a file on its own, then writes it in one
transaction on its own engine (the same database URL), taking turns with the other workers: one file is
written at a time, as SQLite allows anyway, so that on PostgreSQL too two files never race for the same
Practitioner or see each other half-written. The end state is that of a serial import:

- files are handed out in the serial order, and a file waits until every file of an earlier rank
  (bundles, then each NDJSON type; see reading.file_rank) is in, so a reference to an earlier rank finds
  its target as it would in a serial import;
- a file refused for a reference to nothing, or because the database refused the write (a duplicate, a
  lock held by another program), is imported again after the others, one at a time in this process,
  exactly as the serial import retries (importer.import_files).

Results come back in the order of the files, so what the caller prints does not change. One job, one file,
an in-memory SQLite database or a transform that cannot be sent to another process take the serial path.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager
from itertools import groupby
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from portal import db
from portal.fhir import importer
from portal.fhir.importer import FileResult, ImportSummary, Transform
from portal.fhir.reading import collect_files, file_rank

MAX_JOBS = 4  # beyond this the one-at-a-time writing is the bottleneck


def default_jobs() -> int:
    """One worker per core, up to MAX_JOBS."""
    return max(1, min(os.cpu_count() or 1, MAX_JOBS))


def import_paths(
    engine: Engine, paths: Iterable[Path], *, transform: Transform | None = None, jobs: int | None = None
) -> ImportSummary:
    """Import every file found under the paths, each in its own transaction, on up to `jobs` cores."""
    return ImportSummary(list(import_files(engine, collect_files(paths), transform=transform, jobs=jobs)))


def import_files(
    engine: Engine, files: list[Path], *, transform: Transform | None = None, jobs: int | None = None
) -> Iterator[FileResult]:
    """importer.import_files on up to `jobs` worker processes (default: default_jobs())."""
    workers = min(default_jobs() if jobs is None else jobs, len(files))
    if workers < 2 or not _separate_processes_can_share(engine) or not _can_send(transform):
        yield from importer.import_files(engine, files, transform=transform)
        return
    again: list[Path] = []
    context = _context()
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(
            engine.url.render_as_string(hide_password=False),
            dict(engine.get_execution_options()),  # the audit chain key among them
            context.Lock(),
        ),
    )
    try:
        for _rank, group in groupby(files, key=file_rank):
            wave: list[Future[FileResult]] = [
                pool.submit(_import_in_worker, path, transform) for path in group
            ]
            for future in wave:
                result = future.result()
                if result.dangling or result.not_stored:
                    again.append(result.path)
                else:
                    yield result
    finally:
        pool.shutdown(cancel_futures=True)
    yield from importer.import_files(engine, again, transform=transform)


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
    # fork: the workers start at once with every module the parent has imported. They build their own
    # engine and never touch the parent's connections (a forked worker ends with os._exit, so not even
    # a finalizer of the parent's pool runs in it).
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


# In each worker process --------------------------------------------------------------------------------

_worker: tuple[Engine, AbstractContextManager[Any]] | None = None


def _start_worker(
    database_url: str, options: dict[str, Any], write_turn: AbstractContextManager[Any]
) -> None:
    global _worker
    engine = db.make_engine(database_url)
    engine.update_execution_options(**options)
    # Close the worker's connections when it ends (multiprocessing runs its finalizers on the way out).
    multiprocessing.util.Finalize(engine, engine.dispose, exitpriority=10)
    _worker = (engine, write_turn)


def _import_in_worker(path: Path, transform: Transform | None) -> FileResult:
    assert _worker is not None, "the pool's initializer sets up each worker"
    engine, write_turn = _worker
    return importer.import_file(engine, path, transform=transform, write_turn=write_turn)
