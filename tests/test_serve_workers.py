"""`hub serve --workers N`: N real worker processes behind one port, one catalog between them,
and catalog rebuilds that several processes may start at once."""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DEMO, copy_demo, free_port, run_hub, set_source_options

import hub


def small_digits(root: Path, dataset: str) -> None:
    """The demo digits entry under another id, 200 images: quick to publish."""
    if dataset == "demo/digits":
        copy_demo(root, dataset)
    else:
        shutil.copytree(DEMO / "digits", root / "registry" / dataset, ignore=shutil.ignore_patterns("versions"))
    set_source_options(root, dataset, limit=200)


def get(port: int, path: str, conn: http.client.HTTPConnection | None = None) -> tuple[int, dict]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    body = json.loads(response.read())
    if own:
        conn.close()
    return response.status, body


def on_worker(port: int, pid: int, path: str) -> tuple[int, dict]:
    """GET `path` from worker `pid`: a keep-alive connection stays with the worker that accepted it."""
    for _ in range(200):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            if get(port, "/health", conn)[1]["worker"] == pid:
                return get(port, path, conn)
        finally:
            conn.close()
    raise AssertionError(f"no connection reached worker {pid} in 200 tries")


def alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.fixture(scope="module")
def served_root(tmp_path_factory) -> Path:
    """A hub with one published dataset (the tests below publish one more)."""
    root = hub.init(tmp_path_factory.mktemp("workers") / "hub")
    small_digits(root, "demo/digits")
    hub.publish("demo/digits", root=root)
    return root


@pytest.fixture(scope="module")
def two_workers(served_root, tmp_path_factory):
    """`hub serve --workers 2` on `served_root`; yields (process, port, worker pids, log path)."""
    log_path = tmp_path_factory.mktemp("workers-log") / "serve.log"
    port = free_port()
    log = log_path.open("w")
    process = subprocess.Popen([sys.executable, "-m", "hub", "--root", str(served_root), "serve", "--port", str(port), "--workers", "2"],
                               stdout=log, stderr=subprocess.STDOUT)
    pids: set[int] = set()
    deadline = time.monotonic() + 120
    try:
        while len(pids) < 2:  # both workers answer once both have started
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"hub serve --workers 2 did not answer from 2 processes: {log_path.read_text()}")
            try:
                pids.add(get(port, "/health")[1]["worker"])
            except OSError:
                time.sleep(0.2)
        yield process, port, sorted(pids), log_path
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_two_workers_are_two_processes_of_the_server(two_workers):
    process, port, pids, log = two_workers
    assert len(pids) == 2 and process.pid not in pids
    assert [parent_of(pid) for pid in pids] == [process.pid, process.pid]
    assert log.read_text().startswith(f"Serving the catalog at http://127.0.0.1:{port}/ with 2 worker processes  (API docs ")


def listening_sockets(port: int) -> dict[int, set[int]]:
    """The inodes of the TCP sockets listening on `port` (Linux's /proc/net/tcp), with the pids holding each."""
    inodes = {int(line.split()[9]) for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
              if line.split()[3] == "0A" and int(line.split()[1].rsplit(":", 1)[1], 16) == port}
    holders: dict[int, set[int]] = {inode: set() for inode in inodes}
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and int(target[8:-1]) in holders:
            holders[int(target[8:-1])].add(int(fd.parent.parent.name))
    return holders


def test_each_worker_listens_on_a_socket_of_its_own(two_workers):
    """One shared socket let the first worker to wake accept every waiting connection (50 at
    once were split 44/6): with a socket each (SO_REUSEPORT) the kernel spreads them."""
    process, port, pids, _ = two_workers
    assert sorted(sorted(holders) for holders in listening_sockets(port).values()) == [[pids[0]], [pids[1]]]


def test_a_worker_that_dies_is_replaced(two_workers):
    process, port, pids, _ = two_workers
    os.kill(pids[0], signal.SIGKILL)
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while not (len(seen - {pids[0]}) == 2 and len(listening_sockets(port)) == 2):
        assert time.monotonic() < deadline, f"no second worker again in 120 s (answered: {seen})"
        try:
            seen.add(get(port, "/health")[1]["worker"])
        except OSError:
            time.sleep(0.2)
    assert pids[1] in seen and process.poll() is None
    two_workers[2][:] = sorted(seen - {pids[0]})  # the workers the next tests talk to


def test_a_worker_that_cannot_start_stops_the_server(hub_root):
    with socket.socket() as taken:  # a listener without SO_REUSEPORT: the workers cannot share its port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_hub("serve", "--port", str(port), "--workers", "2", root=hub_root)
    assert result.returncode == 1
    assert f"hub serve: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert f"Error: a worker of `hub serve` could not start (exit code 3) on 127.0.0.1:{port}\n" in result.stderr
    assert "Hint: See the worker's log above: the address may be in use, or the repository unreadable.\n" in result.stderr


def test_a_dataset_published_while_serving_is_seen_by_every_worker(two_workers, served_root):
    process, port, pids, _ = two_workers
    for pid in pids:
        assert on_worker(port, pid, "/api/datasets/demo/digits")[0] == 200
        status, body = on_worker(port, pid, "/api/datasets/acme/late-digits")
        assert (status, body["error"]) == (404, "dataset 'acme/late-digits' is not registered")

    small_digits(served_root, "acme/late-digits")
    hub.publish("acme/late-digits", root=served_root)  # from another process than the server's, as `hub publish` does
    manifest = served_root / "registry" / "acme" / "late-digits" / "versions" / "1.0.0" / "manifest.json"
    commit = hashlib.sha1(manifest.read_bytes()).hexdigest()  # the HF API's `sha` of the version

    for pid in pids:
        status, body = on_worker(port, pid, "/api/datasets/acme/late-digits")
        assert (status, body["id"], body["version"], body["versions"]) == (200, "acme/late-digits", "1.0.0", ["1.0.0"])
        assert body["sha"] == commit
        status, found = on_worker(port, pid, "/api/datasets?search=digits")
        assert status == 200 and [row["id"] for row in found] == ["acme/late-digits", "demo/digits"]


def test_connections_to_a_socket_bound_as_for_several_workers_have_nagle_off(hub_root, monkeypatch):
    """uvicorn binds the socket of `--workers N` itself and asyncio leaves Nagle's algorithm on for
    its connections (each keep-alive response after the first waited for a delayed ACK): the
    hub's protocol turns it off. The real app and uvicorn's own socket, served in a thread."""
    import socket
    import threading

    import uvicorn

    from hub.server.app import NoDelayH11Protocol

    monkeypatch.setenv("HUB_ROOT", str(hub_root))
    config = uvicorn.Config("hub.server.app:app_from_env", factory=True, host="127.0.0.1", port=free_port(), http=NoDelayH11Protocol, log_level="warning", log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [config.bind_socket()]})  # as uvicorn's supervisor of N workers
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        conn = http.client.HTTPConnection("127.0.0.1", config.port, timeout=30)
        assert get(config.port, "/health", conn)[0] == 200
        sockets = [p.transport.get_extra_info("socket") for p in server.server_state.connections]
        assert [s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets] == [1]
        conn.close()
    finally:
        server.should_exit = True
        thread.join(30)


def test_workers_below_one_are_refused():
    result = run_hub("serve", "--workers", "0")
    assert result.returncode == 2
    assert "Invalid value for '--workers': 0 is not in the range 1<=x<=64." in result.stderr


def test_concurrent_rebuilds_from_several_processes_build_the_index_once(hub_root):
    """Three processes find the registry changed at once: one rebuilds, the others then find
    the index current (the rebuild lock), instead of each rebuilding and renaming its own."""
    from hub.catalog import Catalog

    small_digits(hub_root, "demo/digits")
    catalog = Catalog(hub_root)
    catalog.refresh()
    (hub_root / "registry" / "demo" / "digits" / "README.md").write_text("# Digits\n\nEdited.\n")
    code = ("import sys; from pathlib import Path; from hub.catalog import Catalog; c = Catalog(Path(sys.argv[1])); "
            "print('ready', flush=True); sys.stdin.readline(); print(c.refresh(), flush=True)")
    lock = open(catalog.path.with_name(catalog.path.name + ".lock"), "a")
    fcntl.flock(lock, fcntl.LOCK_EX)  # held while the three start: none can rebuild yet
    procs = [subprocess.Popen([sys.executable, "-c", code, str(hub_root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        for p in procs:
            assert p.stdout.readline() == "ready\n"
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        time.sleep(0.5)  # not a timing assertion: only so that all three reach the lock before it is released
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    results = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert results == ["False", "False", "True"]
    assert [row["id"] for row in Catalog(hub_root).search("edited")] == ["demo/digits"]


def blocked_on(path: Path) -> int:
    """How many lock requests wait on file `path` (Linux's /proc/locks lists them with `->`)."""
    inode = path.stat().st_ino
    return sum(1 for line in Path("/proc/locks").read_text().splitlines() if "->" in line and line.split()[6].endswith(f":{inode}"))


def test_publishes_at_once_wait_for_each_others_dvc_step(hub_root):
    """Two publishes at once in one repository (two workers of a server, or `hub publish` beside
    one) used to fail one of them with DVC's "Unable to acquire lock" after 3 s: they now take
    turns. The lock is held here until both wait for it, then both publish."""
    for dataset in ("acme/one", "acme/two"):
        small_digits(hub_root, dataset)
    lock_path = hub_root / ".hub" / "dvc.lock"
    lock = open(lock_path, "a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    procs = [subprocess.Popen([sys.executable, "-m", "hub", "--no-progress", "--root", str(hub_root), "publish", d], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for d in ("acme/one", "acme/two")]
    try:
        deadline = time.monotonic() + 180
        while blocked_on(lock_path) < 2:
            finished = [p for p in procs if p.poll() is not None]
            assert not finished, f"a publish ended without waiting for the DVC lock: {finished[0].communicate()[0]}"
            assert time.monotonic() < deadline, "the publishes did not reach the DVC lock in 180 s"
            time.sleep(0.2)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert [(hub_root / "registry" / "acme" / d / "versions" / "1.0.0" / "manifest.json").is_file() for d in ("one", "two")] == [True, True]


def test_workers_stop_when_the_server_is_killed(hub_root):
    """Killed (SIGKILL: no chance to stop them), the server leaves no worker serving."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "hub", "--root", str(hub_root), "serve", "--port", str(port), "--workers", "2"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pids: set[int] = set()
    deadline = time.monotonic() + 120
    while len(pids) < 2:
        assert process.poll() is None and time.monotonic() < deadline, "hub serve --workers 2 did not start"
        try:
            pids.add(get(port, "/health")[1]["worker"])
        except OSError:
            time.sleep(0.2)
    process.kill()
    process.wait()
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < deadline + 60, f"workers {pids} still run after their parent was killed"
        time.sleep(0.2)
    with pytest.raises(ConnectionRefusedError):
        get(port, "/health")
