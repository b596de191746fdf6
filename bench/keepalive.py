"""Print the latency of /healthz over one keep-alive connection, served by 2 workers and by 1.

Each run starts `python -m portal serve --workers N` on a free loopback port with a fresh SQLite database,
sends REQUESTS GETs of /healthz one after another on a single keep-alive connection (as a browser or a
load balancer keeps one open), prints the median and p99 in milliseconds, and stops its server. A
response that waited for the client's delayed ACK (Nagle's algorithm left on for the accepted socket)
costs about 40 ms; the target is well under 1 ms.

    .venv/bin/python bench/keepalive.py [--requests 2000] [--workers 2 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
TARGET_MEDIAN_MS = 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(workers: int, project: Path = PROJECT) -> Iterator[tuple[int, int]]:
    """`portal serve --workers N` of `project` on a fresh database and a free port: (port, server pid)."""
    data_dir = Path(tempfile.mkdtemp(prefix="portal-keepalive-"))
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(project),
        "PORTAL_DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite:///{data_dir}/portal.db",
        "PORTAL_ORIGIN": f"http://127.0.0.1:{port}",
        "SECRET_KEY": "benchmark-secret-key-0123456789-abcdefghijklmnop",
    }
    command = [sys.executable, "-m", "portal", "serve", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(command, env=env, cwd=project, stderr=subprocess.DEVNULL)
    try:
        wait_until_serving(port)
        yield port, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


def wait_until_serving(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with KeepAlive(port) as connection:
                if connection.get("/healthz") == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the server on port {port} did not answer /healthz within {timeout:.0f} s")


class KeepAlive:
    """One HTTP/1.1 connection reused for every request, as plain as a client can be: no pooling library
    between the measurement and the socket. The socket keeps the kernel's defaults (delayed ACKs on)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""

    def __enter__(self) -> KeepAlive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def get(self, path: str) -> int:
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode())
        while b"\r\n\r\n" not in self.buffer:
            self.receive()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next(
            int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
        )
        while len(self.buffer) < length:
            self.receive()
        self.buffer = self.buffer[length:]
        return int(lines[0].split()[1])

    def receive(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the keep-alive connection")
        self.buffer += chunk


def measure(port: int, requests: int) -> list[float]:
    timings = []
    with KeepAlive(port) as connection:
        for _ in range(50):  # warm up the worker that owns this connection
            connection.get("/healthz")
        for _ in range(requests):
            started = time.perf_counter()
            status = connection.get("/healthz")
            timings.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise SystemExit(f"/healthz answered {status}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 1])
    args = parser.parse_args()

    for workers in args.workers:
        with served(workers) as (port, _):
            timings = measure(port, args.requests)
        median = statistics.median(timings)
        p99 = statistics.quantiles(timings, n=100)[98]
        verdict = "within" if median < TARGET_MEDIAN_MS else "over"
        print(
            f"/healthz, one keep-alive connection, {workers} worker{'s' if workers > 1 else ''}: "
            f"{len(timings)} requests, median {median:.2f} ms, p99 {p99:.2f} ms "
            f"({verdict} the {TARGET_MEDIAN_MS:.0f} ms target)"
        )


if __name__ == "__main__":
    main()
