"""Print the resident memory of each worker of `portal serve --workers 2`, idle and after REQUESTS requests.

The server runs on a fresh SQLite database on a free loopback port; the requests alternate between the
sign-in page (/login, templates, CSRF, gzip) and /healthz, over several keep-alive connections so that
both workers serve some. The design's aim: at most 120 MB per idle web worker.

    .venv/bin/python bench/memory.py [--requests 10000] [--project PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from keepalive import PROJECT, KeepAlive, served

TARGET_IDLE_MB = 120.0
CONNECTIONS = 8


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no VmRSS for process {pid}")


def web_workers(server_pid: int) -> list[int]:
    """The worker processes under the server (spawned interpreters), not multiprocessing's helpers."""
    children = [
        int(pid)
        for task in Path(f"/proc/{server_pid}/task").iterdir()
        for pid in (task / "children").read_text().split()
    ]
    return [pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--project", type=Path, default=PROJECT, help="the checkout to serve")
    args = parser.parse_args()

    with served(2, args.project) as (port, server_pid):
        time.sleep(2)  # let start-up garbage settle
        workers = web_workers(server_pid)
        idle = {pid: rss_mb(pid) for pid in workers}
        connections = [KeepAlive(port) for _ in range(CONNECTIONS)]
        started = time.perf_counter()
        for number in range(args.requests):
            status = connections[number % CONNECTIONS].get("/login" if number % 2 else "/healthz")
            if status != 200:
                raise SystemExit(f"request {number} answered {status}")
        elapsed = time.perf_counter() - started
        for connection in connections:
            connection.sock.close()
        loaded = {pid: rss_mb(pid) for pid in workers}

    print(f"{args.requests} requests (/login and /healthz) in {elapsed:.1f} s over {CONNECTIONS} connections")
    for pid in workers:
        verdict = "within" if idle[pid] <= TARGET_IDLE_MB else "over"
        print(
            f"worker {pid}: idle {idle[pid]:.0f} MB ({verdict} the {TARGET_IDLE_MB:.0f} MB aim), "
            f"after the requests {loaded[pid]:.0f} MB"
        )


if __name__ == "__main__":
    main()
