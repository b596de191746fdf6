"""The database: engines, one transaction per call, and migrations."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, event, inspect, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

P = ParamSpec("P")
T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_WAIT_SECONDS = 30  # how long a writer waits for SQLite's write lock before the request fails


def make_engine(database_url: str) -> Engine:
    """An engine for SQLite (WAL, foreign keys on) or PostgreSQL."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_WAIT_SECONDS})
        event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLite's own BEGIN run so that "BEGIN IMMEDIATE" below takes the write lock up front:
        # two writers then queue instead of failing half-way with "database is locked". A transaction
        # that only reads (see `run_reading`) begins without it and waits for nobody.
        event.listen(engine, "begin", _sqlite_begin)
        _SQLITE_WRITERS[engine] = threading.RLock()
        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    # Many-row INSERTs as multi-row VALUES (as SQLAlchemy does for psycopg2), not one statement a row:
    # a 4,000-resource import sends tens of statements instead of thousands.
    engine.dialect.use_insertmanyvalues_wo_returning = True
    return engine


# SQLite lets one writer in at a time and makes the others poll, sleeping up to 100 ms between tries: under
# load the lock then sits free while the threads that want it sleep. Writers of one process queue on this
# lock instead and start the moment it is free (other processes still meet SQLite's own lock).
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()

READ_ONLY = "portal_read_only"  # the execution option of a transaction that will not write


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # pysqlite's own transaction handling is replaced by "begin"
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_WAIT_SECONDS * 1000}")
    cursor.close()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit when the block ends, roll back if it raises."""
    with _one_writer(engine), Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


@contextmanager
def _one_writer(engine: Engine) -> Iterator[None]:
    lock = _SQLITE_WRITERS.get(engine)
    if lock is None:
        yield
        return
    # As long as SQLite's own busy timeout: a writer stuck longer gives the caller a 503, not a hang.
    if not lock.acquire(timeout=SQLITE_WAIT_SECONDS):
        raise sa_exc.TimeoutError(f"no turn to write within {SQLITE_WAIT_SECONDS} s")
    try:
        yield
    finally:
        lock.release()


def run_in_transaction(
    engine: Engine, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    with transaction(engine) as session:
        return fn(session, *args, **kwargs)


def run_reading(
    engine: Engine, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """fn(session, ...) in a transaction that only reads: on SQLite it does not take the write lock, so it
    never waits for a writer. Nothing it does is committed (on SQLite the connection rolls back as it goes
    back to the pool; on PostgreSQL the transaction is READ ONLY, so a write fails); what it returns stays
    readable."""
    with Session(_reading(engine), expire_on_commit=False) as session:
        found = fn(session, *args, **kwargs)
        if _commits_readings(engine):
            session.commit()
        return found


def _reading(engine: Engine) -> Engine:
    return engine.execution_options(**{READ_ONLY: True, "postgresql_readonly": True})


def _commits_readings(engine: Engine) -> bool:
    # psycopg forgets every statement it has prepared on the server at each ROLLBACK (a rollback may undo
    # what they depend on), so ending the many read-only transactions with one would leave no statement
    # ever prepared. On PostgreSQL they are READ ONLY and end with COMMIT instead: nothing can have written.
    return engine.dialect.name == "postgresql"


async def run_db(
    request: Request, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """Run fn(session, ...) in a worker thread: commit on return, roll back on raise."""
    engine: Engine = request.app.state.engine
    return await run_in_threadpool(run_in_transaction, engine, fn, *args, **kwargs)


def alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (every branch head)."""
    command.upgrade(alembic_config(engine), "heads")


def ping(engine: Engine) -> bool:
    try:  # a read: on SQLite it must not wait behind a long write (an import) to say the database is up
        with _reading(engine).connect() as conn:
            conn.execute(text("SELECT 1"))
            if _commits_readings(engine):
                conn.commit()
        return True
    except Exception:
        return False


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())
