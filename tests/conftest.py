"""Fixtures chain: database_url -> settings -> app -> client / session.

The suite runs on SQLite by default and on PostgreSQL when PORTAL_TEST_DATABASE_URL is set
(tests/with_postgres.sh sets it). The schema is migrated once per run; each test gets a clean copy.
Under pytest-xdist each worker (gw0, gw1, ...) has its own SQLite template and its own PostgreSQL
database (portal_test_gw0, ...), made on the test server by the worker itself.

On PostgreSQL only the tests that reach a database run: those whose fixtures lead to `migrated_database` or
`database_url` (and so every test using settings, app, client or session), and those whose code, or the
code of their fixtures and of the tests package's helpers they call, names the test server. The rest (the
forecast engine's cases, catalogue and lint-like checks...) would run the same code a second time.
`--every-test-on-postgres` runs them all.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, make_url, text
from sqlmodel import Session, SQLModel
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from portal import db
from portal.app import create_app
from portal.config import Settings
from portal.security import csrf, hashing, sessions

# The tests hash with argon2id at its smallest cost: they check which secret matches, not what guessing
# costs (a tenth of the suite's time went to hashing). tests/test_hashing.py checks the real parameters.
PRODUCTION_HASHERS = {"PASSWORDS": hashing.PASSWORDS, "CODES": hashing.CODES}
for _name in PRODUCTION_HASHERS:
    _cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    setattr(hashing, _name, _cheap)
    hashing._DUMMY[id(_cheap)] = _cheap.hash("not-a-real-secret")

SERVER_URL = os.environ.get("PORTAL_TEST_DATABASE_URL")
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # set in each worker process by pytest-xdist


def worker_database_url(server_url: str | None, worker: str | None) -> str | None:
    """This test process's PostgreSQL database: the server's own, or one per xdist worker beside it."""
    if not server_url or not worker:
        return server_url
    url = make_url(server_url)
    return url.set(database=f"{url.database}_{worker}").render_as_string(hide_password=False)


POSTGRES_URL = worker_database_url(SERVER_URL, XDIST_WORKER)


def create_worker_database(server_url: str, url: str) -> None:
    """(Re)create this worker's database on the test server: nothing is left from an earlier run."""
    name = make_url(url).database
    engine = db.make_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


# ---------------------------------------------------------------------- which tests run on PostgreSQL

DATABASE_FIXTURES = frozenset({"migrated_database", "database_url"})
# Names through which a test may reach the test server without those fixtures.
SERVER_NAMES = frozenset({"POSTGRES_URL", "SERVER_URL", "PORTAL_TEST_DATABASE_URL", "create_worker_database"})


def is_ours(function: object) -> bool:
    """A function of the tests package (pytest's and the app's own code are not followed)."""
    return isinstance(function, types.FunctionType) and function.__module__.startswith("tests")


def names_the_server(code: types.CodeType, namespace: dict, seen: set[types.CodeType]) -> bool:
    """Whether this code, its nested functions or the tests package's functions it calls name the server."""
    if code in seen:
        return False
    seen.add(code)
    for name in code.co_names:
        if name in SERVER_NAMES:
            return True
        called = namespace.get(name)
        if is_ours(called) and names_the_server(called.__code__, called.__globals__, seen):
            return True
    for const in code.co_consts:
        if isinstance(const, str) and const in SERVER_NAMES:
            return True
        if isinstance(const, types.CodeType) and names_the_server(const, namespace, seen):
            return True
    return False


def uses_a_database(item: pytest.Item) -> bool:
    if DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    if any(item.iter_markers("skipif")):  # a condition may differ between SQLite and PostgreSQL: keep it
        return True
    functions = [getattr(item, "function", None)]
    fixture_info = getattr(item, "_fixtureinfo", None)
    if fixture_info is not None:
        functions += [fdef.func for fdefs in fixture_info.name2fixturedefs.values() for fdef in fdefs]
    seen: set[types.CodeType] = set()
    for function in functions:
        function = getattr(function, "__wrapped__", function)
        if is_ours(function) and names_the_server(function.__code__, function.__globals__, seen):
            return True
    return False


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--every-test-on-postgres",
        action="store_true",
        help="on PostgreSQL, also run the tests that use no database (they run on SQLite anyway)",
    )


NO_DATABASE_KEY = "no_database_deselected"
NO_DATABASE_STASH = pytest.StashKey[int]()


@pytest.hookimpl(trylast=True)  # after -m and -k, so the count names only what this rule left out
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not POSTGRES_URL or config.getoption("every_test_on_postgres"):
        return
    kept = [item for item in items if uses_a_database(item)]
    if len(kept) == len(items):
        return
    kept_ids = {id(item) for item in kept}
    left_out = [item for item in items if id(item) not in kept_ids]
    config.hook.pytest_deselected(items=left_out)
    items[:] = kept
    config.stash[NO_DATABASE_STASH] = len(left_out)
    if hasattr(config, "workeroutput"):  # an xdist worker: tell the controller, which prints the summary
        config.workeroutput[NO_DATABASE_KEY] = len(left_out)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist's: every worker collects the same tests, so any one of them gives the count."""
    count = getattr(node, "workeroutput", {}).get(NO_DATABASE_KEY)
    if count is not None:
        node.config.stash[NO_DATABASE_STASH] = count


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    count = config.stash.get(NO_DATABASE_STASH, 0)
    if count and not hasattr(config, "workerinput"):
        terminalreporter.write_line(
            f"PostgreSQL run: {count} tests that use no database were deselected (they run on SQLite; "
            "--every-test-on-postgres runs them here too)"
        )


ORIGIN = "https://localhost:8000"  # https so the client's cookie jar sends the Secure cookies back
_AT_ORIGIN = Settings(secret_key=Secret("names only"), database_url="", origin=ORIGIN)
SESSION_COOKIE = sessions.cookie_name(_AT_ORIGIN)  # "__Host-portal_session" over https
CSRF_COOKIE = csrf.cookie_name(_AT_ORIGIN)


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database at the newest migration: a template file for SQLite, the test server for PostgreSQL."""
    if POSTGRES_URL:
        if SERVER_URL and POSTGRES_URL != SERVER_URL:
            create_worker_database(SERVER_URL, POSTGRES_URL)
        engine = db.make_engine(POSTGRES_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.upgrade(engine)
        engine.dispose()
        return POSTGRES_URL
    path = tmp_path_factory.mktemp("template") / "portal.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()  # the last connection to close folds the WAL back into the file
    return str(path)


@pytest.fixture
def database_url(migrated_database: str, tmp_path: Path) -> Iterator[str]:
    if POSTGRES_URL:
        yield POSTGRES_URL
        engine = db.make_engine(POSTGRES_URL)
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return
    path = tmp_path / "portal.db"
    shutil.copyfile(migrated_database, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        secret_key=Secret("test-secret-key-that-is-long-enough-0123456789"),
        database_url=database_url,
        data_dir=tmp_path,
        origin=ORIGIN,
    )


@pytest.fixture
def app(settings: Settings):
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def engine(app) -> Engine:
    return app.state.engine


@pytest.fixture
def rng() -> random.Random:
    return random.Random()


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url=ORIGIN) as test_client:
        yield test_client


@pytest.fixture
def session(app) -> Iterator[Session]:
    with Session(app.state.engine, expire_on_commit=False) as db_session:
        yield db_session


def csrf_token(client: TestClient) -> str:
    """The CSRF token for this client, as a page's form would carry it."""
    if CSRF_COOKIE not in client.cookies:
        client.get("/login")
    return client.cookies[CSRF_COOKIE]


def form_post(client: TestClient, url: str, data: dict[str, str] | None = None, **kwargs):
    """POST a form the way the portal's own pages do: with the CSRF token and our Origin."""
    fields = {"csrf_token": csrf_token(client), **(data or {})}
    headers = {"Origin": ORIGIN, **kwargs.pop("headers", {})}
    return client.post(url, data=fields, headers=headers, **kwargs)


# --------------------------------------------------------------------------------- people and sign-in


def make_patient(session: Session, **overrides):
    """A patient as the FHIR import would leave them (no account yet)."""
    from datetime import date

    from portal.models import Patient

    fields = {
        "fhir_id": f"pat-{secrets.token_hex(4)}",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "birth_date": date(1990, 12, 10),
        **overrides,
    }
    patient = Patient(**fields)
    session.add(patient)
    session.commit()
    return patient


def make_person(session: Session, **overrides):
    from portal.models import Person

    person = Person(**{"display_name": "Grace Hopper", **overrides})
    session.add(person)
    session.commit()
    return person


def log_in(client: TestClient, session: Session, person, **options):
    """Open a session row and set its signed cookie; passkey ceremonies have their own tests."""
    login = sessions.open_session(session, person_id=person.id, method="test", **options)
    session.commit()
    client.cookies.delete(SESSION_COOKIE)  # a cookie the server set earlier would shadow this one
    client.cookies.set(SESSION_COOKIE, sessions.sign(client.app.state.settings, login.id))
    return login


def reload(session: Session, model, key):
    """Read a row as it is now, in a short session of its own (SQLite lets one writer in at a time)."""
    session.commit()  # end the test's own read, which would hold SQLite's lock
    with Session(session.get_bind(), expire_on_commit=False) as fresh:
        row = fresh.get(model, key)
        fresh.commit()
        return row
