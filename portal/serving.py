"""Serving the app with uvicorn: one server per worker process, each on its own listening socket.

Why not `uvicorn.run(workers=N)`: its supervisor binds one socket and shares it. Every worker then accepts
from the same queue, and asyncio (or uvloop) accepts every pending connection at once, so a burst of
keep-alive connections all lands on whichever worker woke first. Older releases also bound that socket
without `IPPROTO_TCP`, so the accepted sockets kept Nagle's algorithm and each keep-alive response waited
about 40 ms for the client's delayed ACK. Gunicorn's uvicorn worker shares one socket the same way.

Here each worker binds its own socket with SO_REUSEPORT, so the kernel spreads connections across the
workers, and every listening socket is made for TCP with TCP_NODELAY set (Linux copies it to the sockets
it accepts; asyncio and uvloop set it too). Workers are spawned processes, so each configures its own
logging: the request log lines appear whatever the number of workers.
"""

from __future__ import annotations

import copy
import gc
import logging
import logging.config
import multiprocessing
import signal
import socket
import sys
import threading
import time
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from starlette.types import ASGIApp

APP = "portal.app:create_app"
STARTUP_FAILURE = 3  # uvicorn's exit status when the app, its lifespan or the socket cannot start
STOP_TIMEOUT_SECONDS = 30
RESTART_PAUSE_SECONDS = 1.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"

log = logging.getLogger("portal.serving")

# A page makes thousands of short-lived objects. With Python's default threshold (a collection every 700
# new objects) the collector ran about once per 2 pages and, now and then, walked the whole heap of a
# worker (modules, templates, tables): 25-35 % of a record page's CPU time. Once the app is built, what
# exists lives as long as the process, so it is frozen out of the collector's sight, and the youngest
# generation may grow larger before a collection (bench/page_cpu.py prints the difference).
GC_YOUNG_THRESHOLD = 5000


def settle_garbage_collector() -> None:
    """After the app is built: freeze what exists and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus the portal's loggers (the request log among them) on stderr."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["portal"] = {"format": LOG_FORMAT}
    config["handlers"]["portal"] = {
        "formatter": "portal",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    # Not propagated: the parent's root logger has a handler too, and each line must appear once.
    config["loggers"]["portal"] = {"handlers": ["portal"], "level": "INFO", "propagate": False}
    return config


def server_options() -> dict[str, Any]:
    # uvicorn's access log prints paths and query strings; our RequestLog prints route names instead.
    # uvicorn would believe X-Forwarded-For from 127.0.0.1 and ::1 (its forwarded_allow_ips default);
    # the app decides instead, trusting only PORTAL_TRUSTED_PROXIES (portal/security/forwarded.py).
    return {"access_log": False, "proxy_headers": False, "server_header": False}


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to host:port (not yet listening: uvicorn calls listen with its backlog)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def serve_one(host: str, port: int, sock: socket.socket, app: str | ASGIApp = APP) -> None:
    """Run one uvicorn server on an already bound socket, in this process: of the app factory `app`
    ("module:function"), or of an app already built (the demo's, which runs its worker beside it)."""
    import uvicorn

    config = uvicorn.Config(
        app,
        factory=isinstance(app, str),
        host=host,
        port=port,
        log_config=log_config(),
        **server_options(),
    )
    config.load()  # build the app now (uvicorn would, in run) so that what it made can be frozen
    settle_garbage_collector()
    uvicorn.Server(config).run(sockets=[sock])


def worker_main(host: str, port: int, app: str = APP) -> None:
    """A worker process: its own SO_REUSEPORT socket on the shared address, then one server."""
    logging.config.dictConfig(log_config())
    try:
        sock = listening_socket(host, port, reuse_port=True)
    except OSError as error:
        log.error("a worker cannot listen on %s:%d: %s", host, port, error.strerror)
        sys.exit(STARTUP_FAILURE)
    serve_one(host, port, sock, app)


def run(host: str, port: int, workers: int, *, app: str = APP) -> None:
    """Serve the app factory `app` ("module:function") on host:port with `workers` processes, until
    SIGINT or SIGTERM.

    Raises OSError when the address cannot be bound, before any worker starts."""
    if workers <= 1:
        serve_one(host, port, listening_socket(host, port, reuse_port=False), app)
        return
    # Bound but never listening, this socket receives no connections: it fails fast when the address is
    # taken, resolves port 0, and keeps the port reserved while workers restart.
    with listening_socket(host, port, reuse_port=True) as reservation:
        Supervisor(host, reservation.getsockname()[1], workers, app).run()


class Supervisor:
    """Starts the workers, replaces one that dies, and stops them all on SIGINT or SIGTERM."""

    def __init__(self, host: str, port: int, workers: int, app: str = APP) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.workers = workers
        self.context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked engine or loop
        self.stopping = threading.Event()
        self.failed = False

    def start_worker(self) -> BaseProcess:
        arguments = (self.host, self.port, self.app)
        process = self.context.Process(target=worker_main, args=arguments, name="portal-web")
        process.start()
        return process

    def handle_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping.set()

    def run(self) -> None:
        previous = {sig: signal.signal(sig, self.handle_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        log.info("serving on %s:%d with %d workers", self.host, self.port, self.workers)
        processes = [self.start_worker() for _ in range(self.workers)]
        try:
            while not self.stopping.wait(0.5):
                for index, process in enumerate(processes):
                    if not process.is_alive():
                        processes[index] = self.replace(process)
        finally:
            self.stop_all(processes)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.failed:
            raise SystemExit(1)

    def replace(self, process: BaseProcess) -> BaseProcess:
        process.join()
        if process.exitcode == STARTUP_FAILURE:
            # The app, its database or the socket is broken: every new worker would fail the same way.
            log.error("a worker could not start (exit status %d): stopping", STARTUP_FAILURE)
            self.failed = True
            self.stopping.set()
            return process
        log.warning("worker %s exited with status %s: starting another", process.pid, process.exitcode)
        time.sleep(RESTART_PAUSE_SECONDS)  # a worker that keeps crashing must not spin the CPU
        return self.start_worker()

    def stop_all(self, processes: list[BaseProcess]) -> None:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
