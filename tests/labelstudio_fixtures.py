"""A real Label Studio server for the annotate tests (installed by `scripts/labelstudio` into
its own virtualenv), simulated annotators, and a tiny real HTTP proxy to inject faults.

The server starts once per session, on a free port of 127.0.0.1, in a fresh data directory,
with the session's temporary folder as its local-files document root (every test's hub lives
below it), and stops at the end of the session. While developing, a running server can be
reused (it takes a minute to start): HUB_TEST_LABEL_STUDIO_URL=http://127.0.0.1:P, started
with this file's token and LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=D, and pytest run with
`--basetemp` below D (HUB_TEST_LABEL_STUDIO_DOCUMENT_ROOT=D).
"""

from __future__ import annotations

import http.client
import http.server
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
TOKEN = "hub0test0token0aaaabbbbccccddddeeeeffff01"
ADMIN = "admin@localhost"
PASSWORD = "hub-test-password"
ANNOTATORS = ["ann1@localhost", "ann2@localhost", "ann3@localhost", "reviewer@localhost"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabelStudioServer:
    url: str
    token: str
    document_root: Path
    users: dict[str, int] = field(default_factory=dict)  # email -> user id

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Token {self.token}"}, timeout=60)

    def annotate(self, task_id: int, who: str, result: list[dict[str, Any]], **extra: Any) -> int:
        """An annotation by `who` (an annotator's email) through the real API; its id."""
        with self.api() as api:
            r = api.post(f"/api/tasks/{task_id}/annotations/", json={"result": result, "completed_by": self.users[who], **extra})
            r.raise_for_status()
            return r.json()["id"]

    def sign_up(self, email: str) -> httpx.Client:
        """A new user who signs up through the server's invite link, as a person does in the
        browser; an API client with that user's own token (not the admin's)."""
        with self.api() as api:
            invite = api.get("/api/invite")
            invite.raise_for_status()
            link = invite.json()["invite_url"]
        with httpx.Client(base_url=self.url, timeout=60) as browser:
            browser.get(link).raise_for_status()
            form = {"email": email, "password": PASSWORD, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
            signed = browser.post(link, data=form, headers={"Referer": self.url + link})
            assert signed.status_code == 302, f"signing up {email} failed: HTTP {signed.status_code}"
            token = browser.get("/api/current-user/token")
            token.raise_for_status()
            me = browser.get("/api/current-user/whoami").json()
        self.users[email] = me["id"]
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Token {token.json()['token']}"}, timeout=60)

    def tasks(self, project: int) -> list[dict[str, Any]]:
        """The project's tasks in id order (id and data)."""
        out, page = [], 1
        with self.api() as api:
            while True:
                r = api.get("/api/tasks/", params={"project": project, "page": page, "page_size": 500, "fields": "task_only"})
                if r.status_code == 404:
                    return out
                r.raise_for_status()
                items = r.json()["tasks"]
                out += items
                if len(items) < 500:
                    return sorted(out, key=lambda t: t["id"])
                page += 1


def _start(data: Path, document_root: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "LABEL_STUDIO_USERNAME": ADMIN, "LABEL_STUDIO_PASSWORD": PASSWORD, "LABEL_STUDIO_USER_TOKEN": TOKEN,
           "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true", "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(document_root)}
    return subprocess.Popen([str(REPO / "scripts" / "labelstudio"), "start", str(data), str(port)], env=env, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _wait(url: str, process: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Label Studio exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"Label Studio did not answer on {url} within {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def _accounts(server: LabelStudioServer) -> LabelStudioServer:
    """`server` with the admin's id and the annotators' accounts (made once per server)."""
    with server.api() as api:
        me = api.get("/api/current-user/whoami")
        me.raise_for_status()  # our token on our port: not another server that took the port
        server.users[ADMIN] = me.json()["id"]
        known = {u["email"]: u["id"] for u in api.get("/api/users/").json()}
        for email in ANNOTATORS:
            if email not in known:
                r = api.post("/api/users/", json={"email": email, "username": email.split("@")[0]})
                r.raise_for_status()
                known[email] = r.json()["id"]
            server.users[email] = known[email]
    return server


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory) -> LabelStudioServer:
    """A real Label Studio server with an admin token and four annotator accounts."""
    reused = os.environ.get("HUB_TEST_LABEL_STUDIO_URL")
    if reused:  # its projects go: a test's hub has the path a hub of the last run had
        server = _accounts(LabelStudioServer(reused, TOKEN, Path(os.environ["HUB_TEST_LABEL_STUDIO_DOCUMENT_ROOT"])))
        with server.api() as api:
            for project in api.get("/api/projects/", params={"page_size": 1000}).json()["results"]:
                api.delete(f"/api/projects/{project['id']}/").raise_for_status()
        yield server
        return
    subprocess.run([str(REPO / "scripts" / "labelstudio"), "install"], check=True)
    base = tmp_path_factory.getbasetemp()
    data = tmp_path_factory.mktemp("label-studio-data")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = data / "server.log"
    process = _start(data, base, port, log)
    try:
        _wait(url, process, log)
        yield _accounts(LabelStudioServer(url, TOKEN, base))
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def ls_env(label_studio, monkeypatch) -> LabelStudioServer:
    """The hub pointed at the test server (HUB_LABEL_STUDIO_* variables)."""
    monkeypatch.setenv("HUB_LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("HUB_LABEL_STUDIO_TOKEN", label_studio.token)
    monkeypatch.setenv("HUB_LABEL_STUDIO_DOCUMENT_ROOT", str(label_studio.document_root))
    monkeypatch.setenv("HUB_ANNOTATOR_SALT", "test-salt")
    return label_studio


class FaultyProxy:
    """A real HTTP proxy in front of Label Studio that fails chosen requests.

    `fail_when(path_and_query) -> bool` picks them; `fault` is "500" (answer HTTP 500) or
    "drop" (close the connection without an answer, as a server that went away); `seen`
    lists every request's path.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.split("//", 1)[1]
        self.fail_when = lambda path: False
        self.fault = "500"
        self.seen: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                proxy.seen.append(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.fail_when(self.path) and proxy.fault == "drop":
                    self.close_connection = True
                    return
                if proxy.fail_when(self.path):
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "accept-encoding")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
                self.send_response(reply.status)
                for k, v in reply.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def faulty_proxy(label_studio):
    proxy = FaultyProxy(label_studio.url)
    yield proxy
    proxy.close()


def choice(value: str) -> list[dict]:
    """The result of an image classification (`label` on `image`) as the editor saves it."""
    return [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [value]}}]


@pytest.fixture
def digits(hub_root):
    """A hub with the first 40 records of demo/digits published: a small project to label."""
    from conftest import copy_demo, set_source_options
    import hub

    copy_demo(hub_root, "demo/digits")
    set_source_options(hub_root, "demo/digits", limit=40)
    hub.publish("demo/digits", root=hub_root)
    return hub_root

