"""`hub serve --workers N`: N uvicorn processes, each on a listening socket of its own.

uvicorn's own supervisor hands every worker one shared socket, and whichever worker wakes
first accepts every connection waiting (asyncio accepts a whole backlog per wake-up): 50
clients connecting at once were split 44/6 or 37/13, and the busier worker's clients waited
twice as long. Here each worker binds the same address with `SO_REUSEPORT`, and the kernel
spreads the connections evenly (by a hash of the client's address and port).

The parent restarts a worker that dies after it started serving; one that dies before (the
address is in use, the repository cannot be read) stops them all: restarting would fail the
same way. SIGINT and SIGTERM stop every worker gracefully (uvicorn finishes the requests under
way), and a worker whose parent was killed stops too. Linux and macOS (`SO_REUSEPORT`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

import uvicorn

from hub.errors import HubError

log = logging.getLogger(__name__)

__all__ = ["run_workers"]

STARTUP_FAILURE = 3  # a worker's exit code when it never served (uvicorn's own value)


def run_workers(workers: int, *, host: str, port: int, uvicorn_options: dict[str, Any]) -> None:
    """Serve `hub.server.app:app_from_env` in `workers` processes until SIGINT or SIGTERM.

    Raises `HubError` when a worker cannot start (its log says why).
    """
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or DuckDB handles of the parent
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    running = [_start(context, host, port, uvicorn_options) for _ in range(workers)]
    failed = None
    try:
        while not stop.wait(0.5):
            for i, (process, ready) in enumerate(running):
                if process.is_alive():
                    continue
                if not ready.is_set():
                    failed = process.exitcode
                    stop.set()
                    break
                log.warning("worker %s exited with %s; starting another", process.pid, process.exitcode)
                running[i] = _start(context, host, port, uvicorn_options)
    finally:
        for process, _ in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn's graceful shutdown
        for process, _ in running:
            process.join(30)
            if process.is_alive():
                process.kill()
                process.join()
    if failed is not None:
        raise HubError(f"a worker of `hub serve` could not start (exit code {failed}) on {host}:{port}",
                       hint="See the worker's log above: the address may be in use, or the repository unreadable.")


def _start(context: Any, host: str, port: int, uvicorn_options: dict[str, Any]) -> tuple[Any, Any]:
    ready = context.Event()
    process = context.Process(target=_serve_one, args=(host, port, uvicorn_options, ready), name="hub-serve-worker")
    process.start()
    return process, ready


def _serve_one(host: str, port: int, uvicorn_options: dict[str, Any], ready: Any) -> None:
    """One worker: its own `SO_REUSEPORT` socket on (host, port), the app from `app_from_env`."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        print(f"hub serve: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr, flush=True)
        sys.exit(STARTUP_FAILURE)
    config = uvicorn.Config("hub.server.app:app_from_env", factory=True, host=host, port=port, **uvicorn_options)
    server = _Server(config, ready)
    threading.Thread(target=_exit_with_parent, args=(server, os.getppid()), daemon=True).start()
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _exit_with_parent(server: uvicorn.Server, parent: int) -> None:
    """Stop the worker (gracefully) if the parent is gone, killed without the chance to stop it."""
    while not server.should_exit:
        if os.getppid() != parent:
            server.should_exit = True
            return
        time.sleep(1)


class _Server(uvicorn.Server):
    """A uvicorn `Server` that sets `ready` once it serves."""

    def __init__(self, config: uvicorn.Config, ready: Any) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready.set()
