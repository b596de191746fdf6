"""Real-browser tests: the portal served by uvicorn on localhost, driven in Debian's Chromium.

Every test under tests/browser/ is marked `browser`. Chromium comes from Debian (`/usr/bin/chromium`),
never a downloaded build. WebAuthn needs a host name, so pages are opened on http://localhost:PORT.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.datastructures import Secret

from portal import db
from portal.app import create_app
from portal.config import Settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is a browser test. The reach suite crawls each persona's pages once per process and
    every check reads that crawl: under pytest-xdist (`--dist loadgroup`, as `make test` runs the browser
    tests) one persona's checks, in all its languages, share a process (a route walked by keyboard in one
    language is not walked again in the next), and the personas are spread over the processes."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
        if item.path.name == "test_reach.py" and hasattr(item, "callspec"):
            params = item.callspec.params
            if "run" in params:
                who = params["run"][0]
            elif "who" in params:
                who = params["who"]
            else:
                continue
            item.add_marker(pytest.mark.xdist_group(f"reach-{who.name}"))


@dataclass
class LiveServer:
    url: str
    app: Starlette
    settings: Settings

    @property
    def engine(self) -> Engine:
        return self.app.state.engine  # type: ignore[no-any-return]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    data_dir = Path(tempfile.mkdtemp(prefix="portal-browser-"))
    port = _free_port()
    settings = Settings(
        secret_key=Secret("browser-test-secret-key-0123456789-abcdefghij"),
        database_url=f"sqlite:///{data_dir / 'portal.db'}",
        data_dir=data_dir,
        origin=f"http://localhost:{port}",
    )
    app = create_app(settings)
    db.upgrade(app.state.engine)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield LiveServer(url=settings.origin, app=app, settings=settings)
    server.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
