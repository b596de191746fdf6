"""Lighthouse in Debian's Chromium, mobile preset (simulated slow 4G, 4x CPU slowdown), against the demo.

    .venv/bin/python bench/lighthouse.py                   # the sign-in page of a fresh demo portal
    .venv/bin/python bench/lighthouse.py /login /nowhere   # several pages
    .venv/bin/python bench/lighthouse.py --url http://localhost:8000 --cookie portal_session=... /records

Lighthouse comes from npm into bench/.lighthouse/ (git-ignored) the first time. Without --url the script
creates a demo clinic in a temporary folder and serves it on a free port for the length of the run.
Prints performance, accessibility, total bytes, LCP and TBT for each page. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

HERE = Path(__file__).parent
LIGHTHOUSE_DIR = HERE / ".lighthouse"
LIGHTHOUSE_CLI = LIGHTHOUSE_DIR / "node_modules" / "lighthouse" / "cli" / "index.js"
LIGHTHOUSE_VERSION = "12"  # 12.x runs on the Node.js that Debian ships
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROME_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def ensure_lighthouse() -> None:
    if LIGHTHOUSE_CLI.exists():
        return
    print(f"installing lighthouse@{LIGHTHOUSE_VERSION} into {LIGHTHOUSE_DIR}", file=sys.stderr)
    LIGHTHOUSE_DIR.mkdir(exist_ok=True)
    subprocess.run(
        ["npm", "install", "--prefix", str(LIGHTHOUSE_DIR), "--no-audit", "--no-fund", "--loglevel=error",
         f"lighthouse@{LIGHTHOUSE_VERSION}"],
        check=True,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def demo_portal() -> Iterator[str]:
    """A demo clinic on a throwaway SQLite database, served on localhost until the block ends."""
    data_dir = tempfile.mkdtemp(prefix="portal-lighthouse-")
    port = free_port()
    origin = f"http://localhost:{port}"
    env = {**os.environ, "PORTAL_DATA_DIR": data_dir, "PORTAL_ORIGIN": origin, "PORTAL_ENV": "development"}
    env.pop("DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "portal", "demo", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("the demo portal did not start")
        yield origin
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)


class LighthouseFailed(Exception):
    pass


def lighthouse(url: str, headers: dict[str, str]) -> dict[str, float]:
    command = [
        "node",
        str(LIGHTHOUSE_CLI),
        url,
        "--output=json",
        "--output-path=stdout",
        "--quiet",
        "--only-categories=performance,accessibility",
        "--form-factor=mobile",  # the default preset: simulated slow 4G and a 4x slower CPU
        "--throttling-method=simulate",
        f"--chrome-flags={' '.join(CHROME_FLAGS)}",
    ]
    if headers:
        command.append(f"--extra-headers={json.dumps(headers)}")
    env = {**os.environ, "CHROME_PATH": CHROMIUM}
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
        raise LighthouseFailed((lines or [f"exit status {result.returncode}"])[-1].strip())
    report = json.loads(result.stdout)
    audits = report["audits"]
    return {
        "performance": report["categories"]["performance"]["score"] * 100,
        "accessibility": report["categories"]["accessibility"]["score"] * 100,
        "bytes": audits["total-byte-weight"]["numericValue"],
        "lcp": audits["largest-contentful-paint"]["numericValue"],
        "tbt": audits["total-blocking-time"]["numericValue"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("paths", nargs="*", default=["/login"], help="pages to measure (default: /login)")
    parser.add_argument("--url", help="a portal that is already running (default: start a demo)")
    parser.add_argument("--cookie", action="append", default=[], help="NAME=VALUE sent with every request")
    parser.add_argument("--lang", help="Accept-Language to send, e.g. es")
    args = parser.parse_args()
    headers = {}
    if args.cookie:
        headers["Cookie"] = "; ".join(args.cookie)
    if args.lang:
        headers["Accept-Language"] = args.lang
    ensure_lighthouse()
    with nullcontext(args.url) if args.url else demo_portal() as origin:
        print(f"{'page':<32} {'perf':>5} {'a11y':>5} {'bytes':>8} {'LCP ms':>7} {'TBT ms':>7}")
        for path in args.paths:
            try:
                figures = lighthouse(origin.rstrip("/") + path, headers)
            except LighthouseFailed as error:
                print(f"{path:<32} failed: {error}")
                continue
            print(
                f"{path:<32} {figures['performance']:>5.0f} {figures['accessibility']:>5.0f} "
                f"{figures['bytes']:>8.0f} {figures['lcp']:>7.0f} {figures['tbt']:>7.0f}"
            )


if __name__ == "__main__":
    main()
