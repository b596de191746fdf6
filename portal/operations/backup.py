"""`portal backup FILE` and `portal restore FILE`: the whole database, online, on SQLite and PostgreSQL.

SQLite is copied with its online backup API, page by page, so the servers can keep running (and a WAL
database is copied whole, committed pages only). PostgreSQL is dumped with `pg_dump` in its custom format
and restored in one transaction (the dump as SQL from `pg_restore`, run by `psql` into an emptied schema).
A restore refuses to write over a database that holds any row unless forced, and is meant for a portal
whose servers and workers are stopped.

The file holds every patient's record: keep it as carefully as the database. SECRET_KEY is not in it
(the audit chain and the sign-in cookies are keyed with it): keep that too, apart from the backup.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, Engine, inspect, select, table
from sqlalchemy import func as sql_func
from sqlalchemy.engine import make_url

from portal import db

SQLITE_PAGES_PER_STEP = 1024  # the online backup copies this many pages, then lets writers in


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why, for the operator."""


@dataclass(frozen=True)
class Outcome:
    path: Path
    size: int


def backup(database_url: str, destination: Path) -> Outcome:
    """Copy the database into `destination` (written whole, then moved into place)."""
    url = make_url(database_url)
    destination = destination.resolve()
    if destination.is_dir():
        raise BackupError(f"{destination} is a folder: name the file to write")
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=destination.parent, prefix=".portal-backup-", delete=False) as tmp:
        partial = Path(tmp.name)
    try:
        if url.get_backend_name() == "sqlite":
            _sqlite_backup(_sqlite_path(url), partial)
        else:
            _run([_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={partial}", _libpq(url)], url)
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return Outcome(destination, destination.stat().st_size)


def restore(database_url: str, source: Path, *, force: bool = False) -> Outcome:
    """Replace the database with the backup in `source`; refused if the database holds data, unless forced."""
    url = make_url(database_url)
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    engine = db.make_engine(database_url)
    try:
        rows = rows_in(engine)
    except Exception as error:
        raise BackupError(f"cannot open the database to restore into ({type(error).__name__})") from None
    finally:
        engine.dispose()
    if rows and not force:
        raise BackupError(
            f"the database already holds {rows} rows: restore refuses to write over it "
            "(stop the servers and workers, then use --force to replace it)"
        )
    if url.get_backend_name() == "sqlite":
        _sqlite_restore(source, _sqlite_path(url))
    else:
        _run([_tool("pg_restore"), "--list", str(source)], url)  # a readable dump, or stop here
        # The dump as SQL, run by psql in one transaction after emptying the schema: pg_restore's own
        # --clean cannot drop the inherited keys of a partitioned table (the audit log is one per month).
        script = _run([_tool("pg_restore"), "--no-owner", "--file=-", str(source)], url)
        makes_schema = re.search(r"^CREATE SCHEMA public;$", script, flags=re.MULTILINE) is not None
        empty = "DROP SCHEMA IF EXISTS public CASCADE;\n"
        if not makes_schema:
            empty += "CREATE SCHEMA public;\n"
        _run(
            [
                _tool("psql"),
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                f"--dbname={_libpq(url)}",
            ],
            url,
            feed=empty + script,
        )
    return Outcome(source, source.stat().st_size)


def rows_in(engine: Engine) -> int:
    """How many rows the portal's tables hold (0 for a new or empty database)."""
    names = [name for name in inspect(engine).get_table_names() if name != "alembic_version"]
    with engine.connect() as conn:
        return sum(
            conn.execute(select(sql_func.count()).select_from(table(name))).scalar_one() for name in names
        )


# SQLite ---------------------------------------------------------------------------------------------


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up or restored")
    return Path(url.database)


def _sqlite_backup(source: Path, destination: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    with _sqlite(source) as reader, _sqlite(destination) as writer:
        reader.backup(writer, pages=SQLITE_PAGES_PER_STEP)
        writer.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it


def _sqlite_restore(source: Path, destination: Path) -> None:
    with _sqlite(source) as reader:
        try:
            check = reader.execute("PRAGMA quick_check").fetchone()
        except sqlite3.DatabaseError:
            raise BackupError(f"{source} is not a portal backup (not an SQLite database)") from None
        if check is None or check[0] != "ok":
            raise BackupError(f"{source} is damaged (SQLite's quick_check failed)")
        destination.parent.mkdir(parents=True, exist_ok=True)
        with _sqlite(destination) as writer:
            reader.backup(writer, pages=SQLITE_PAGES_PER_STEP)
            writer.execute("PRAGMA journal_mode=WAL")


class _sqlite:
    """A plain sqlite3 connection, closed on leaving (sqlite3's own context manager only commits)."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, timeout=30)

    def __enter__(self) -> sqlite3.Connection:
        return self.connection

    def __exit__(self, *exc: object) -> None:
        self.connection.close()


# PostgreSQL -----------------------------------------------------------------------------------------


def _libpq(url: URL) -> str:
    """The URL as libpq reads it, without its password (passed in PGPASSWORD: `ps` shows arguments)."""
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)


def _tool(name: str) -> str:
    """pg_dump or pg_restore: on the PATH (Debian's wrapper picks the newest), else the newest installed."""
    found = shutil.which(name)
    if found:
        return found
    installed = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if not installed:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return str(installed[-1])


def _run(command: list[str], url: URL, *, feed: str | None = None) -> str:
    """Run a PostgreSQL tool (with `feed` on its standard input); its standard output."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    result = subprocess.run(command, env=env, input=feed, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        # The tools' messages name tables and options, not rows: safe to show the operator.
        lines = [line for line in result.stderr.splitlines() if line.strip()][-5:]
        raise BackupError(f"{Path(command[0]).name} failed: " + (" / ".join(lines) or "no message"))
    return result.stdout
