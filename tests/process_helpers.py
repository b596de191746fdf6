"""Real processes for the operations tests: `portal serve`, `portal worker`, a load balancer (HAProxy).

Everything listens on loopback ports chosen free at the time, and is stopped by the test that started it.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SECRET_KEY = "operations-test-secret-key-0123456789-abcdefghij"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def portal_env(database_url: str, data_dir: Path, origin: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(PROJECT),
        "PORTAL_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "PORTAL_ORIGIN": origin,
        "SECRET_KEY": SECRET_KEY,
    }


def portal(*arguments: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run a `portal` command to its end."""
    command = [sys.executable, "-m", "portal", *arguments]
    return subprocess.run(command, env=env, cwd=PROJECT, capture_output=True, text=True, timeout=timeout)


def healthy(port: int) -> int | None:
    """The status /healthz answers on port, or None when nothing answers."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/healthz")
        status = connection.getresponse().status
        connection.close()
        return status
    except OSError:
        return None


@dataclass
class Server:
    """One `portal serve` process on a loopback port, its output in a log file."""

    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        """kill -9: no shutdown, no flush, what a power cut or the OOM killer does."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_server(env: dict[str, str], log: Path, port: int | None = None, timeout: float = 90) -> Server:
    port = port or free_port()
    command = [sys.executable, "-m", "portal", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("a") as output:
        process = subprocess.Popen(command, env=env, cwd=PROJECT, stdout=output, stderr=subprocess.STDOUT)
    server = Server(port, log, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"portal serve exited with {process.returncode}:\n{log.read_text()}")
        if healthy(port) == 200:
            return server
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"portal serve did not answer /healthz:\n{log.read_text()}")


HAPROXY_CONFIG = """\
global
    maxconn 256

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option forwardfor
    option http-server-close

frontend portal
    bind 127.0.0.1:{port}
    default_backend servers

backend servers
    balance roundrobin
    option httpchk GET /healthz
{servers}
"""


@dataclass
class LoadBalancer:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_haproxy(folder: Path, port: int, backends: list[int]) -> LoadBalancer:
    """HAProxy in the foreground, round robin over the backends, with its config in `folder`."""
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        raise AssertionError("HAProxy is not installed: `make system-deps` installs it (Debian's haproxy)")
    servers = "\n".join(f"    server app{i} 127.0.0.1:{p} check inter 1s" for i, p in enumerate(backends))
    config = folder / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(port=port, servers=servers))
    log = folder / "haproxy.log"
    check = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    with log.open("w") as output:
        process = subprocess.Popen(
            [binary, "-db", "-f", str(config)], stdout=output, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"haproxy exited:\n{log.read_text()}")
        if healthy(port) == 200:
            return LoadBalancer(port, process, log)
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"haproxy did not answer:\n{log.read_text()}")


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, on a Unix socket in a folder of its own, to stop and start."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
        assert found, "PostgreSQL's server binaries are not installed (apt-get install postgresql)"
        self.bin = found[-1].parent
        # Not under pytest's tmp_path: its parent is root's alone, and the server runs as postgres.
        self.folder = folder = Path(tempfile.mkdtemp(prefix="portal-pg-"))
        self.run_as: list[str] = []
        if os.getuid() == 0:  # the server refuses to run as root
            shutil.chown(folder, "postgres")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self._tool("initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "postgres", "--no-sync")
        self.url = f"postgresql+psycopg://postgres@/portal?host={folder}"

    def _tool(self, name: str, *arguments: str) -> None:
        command = [*self.run_as, str(self.bin / name), *arguments]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-k {self.folder} -c listen_addresses='' -c fsync=off"
        self._tool(
            "pg_ctl",
            "-D",
            str(self.folder / "data"),
            "-l",
            str(self.folder / "log"),
            "-w",
            "-o",
            options,
            "start",
        )

    def create_database(self) -> None:
        self._tool("createdb", "-h", str(self.folder), "-U", "postgres", "portal")

    def stop(self) -> None:
        self._tool("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        command = [
            *self.run_as,
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.folder / "data"),
            "-m",
            "immediate",
            "stop",
        ]
        subprocess.run(command, capture_output=True, check=False, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)
