"""`portal serve --workers 2` as an operator runs it: a real multi-process server on a loopback port."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
WORKERS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_health(port: int, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.read_text().count("Application startup complete") >= WORKERS:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    return
            except OSError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"the server did not start:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server(migrated_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """One server for the module: starting two worker processes takes seconds."""
    tmp_path = tmp_path_factory.mktemp("serve")
    if "://" in migrated_database:
        database_url = migrated_database
    else:
        shutil.copyfile(migrated_database, tmp_path / "portal.db")
        database_url = f"sqlite:///{tmp_path / 'portal.db'}"
    port = free_port()
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT),
        "PORTAL_DATA_DIR": str(tmp_path),
        "DATABASE_URL": database_url,
        "PORTAL_ORIGIN": f"http://127.0.0.1:{port}",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
    }
    command = [sys.executable, "-m", "portal", "serve", "--port", str(port), "--workers", str(WORKERS)]
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, cwd=PROJECT, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_health(port, log)
        yield port, log
    finally:
        process.terminate()
        process.wait(timeout=30)


def request_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "portal.request" in line]


def test_keep_alive_responses_do_not_wait_for_delayed_acks(server) -> None:
    port, _ = server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/healthz")
    connection.getresponse().read()

    started = time.perf_counter()
    for _ in range(50):
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        assert response.read() == b"ok"
    average_ms = (time.perf_counter() - started) * 1000 / 50
    connection.close()

    # Nagle's algorithm against the client's delayed ACK costs about 40 ms a response.
    assert average_ms < 20, f"{average_ms:.1f} ms a request on one keep-alive connection"


def test_every_worker_writes_the_request_log_and_connections_spread(server) -> None:
    port, log = server
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(24)]
    for connection in connections:
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() == b"ok"
        connection.close()
    time.sleep(0.5)  # the log line is written as the response finishes

    lines = request_lines(log)
    workers = {re.search(r"\[(\d+)\]", line).group(1) for line in lines}

    assert any("route=health_check status=200" in line for line in lines)
    assert len(workers) == WORKERS, f"24 connections reached {len(workers)} of {WORKERS} workers"


def test_a_served_worker_freezes_its_heap_and_collects_young_objects_less_often(tmp_path) -> None:
    """What the app made at start-up is out of the collector's sight in a served worker (see serving.py)."""
    from portal import serving

    port = free_port()
    log = tmp_path / "probe.log"
    code = (
        "from portal import serving\n"
        f"sock = serving.listening_socket('127.0.0.1', {port}, reuse_port=False)\n"
        f"serving.serve_one('127.0.0.1', {port}, sock, 'tests.serving_probe:create_app')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", code], env=env, cwd=PROJECT, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while "Application startup complete" not in log.read_text():
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()
            time.sleep(0.05)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/gc")
        state = json.loads(connection.getresponse().read())
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=30)

    assert state["frozen"] > 10_000, state  # the modules, the app and its routes at least
    assert state["threshold"][0] == serving.GC_YOUNG_THRESHOLD
