"""`hub pull` against servers that lie or fail: a real HTTP server (http.server on 127.0.0.1,
in a thread) that answers the hub API the client uses, with hostile paths, redirects,
connections cut mid-download and damaged bytes."""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import hub
from conftest import run_hub

DATASET, VERSION = "acme/x", "1.0.0"
SHARD = "data/test-00000-of-00001.parquet"


class FakeHub:
    """A real HTTP server speaking the hub's download API, serving what the test puts in it.

    `paths` are the file paths its manifest lists (each served with `payload`); `faults[path]`
    is a list of what the next requests of that file get: ("cut", n) sends n bytes of the
    asked range and closes the connection, ("status", code) an error answer, "corrupt" the
    bytes with one flipped, ("redirect", url) a 302. `requests` records (path, headers) and
    `sent` the body bytes sent per file."""

    def __init__(self, payload: bytes = b"", paths: list[str] | None = None, *, version: str = VERSION, access: str = "public") -> None:
        self.payload, self.version, self.access = payload, version, access
        self.paths = [SHARD] if paths is None else paths
        self.faults: dict[str, list[Any]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.sent: dict[str, int] = {}
        self.lock = threading.Lock()
        hub_ = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                hub_.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def manifest(self) -> dict[str, Any]:
        sha = hashlib.sha256(self.payload).hexdigest()
        files = [{"path": p, "split": "test", "rows": 1, "size": len(self.payload), "sha256": sha} for p in self.paths]
        return {"dataset": DATASET, "version": self.version, "rows": len(files), "splits": {"test": {"rows": len(files), "groups": 1}},
                "files": files, "license": {"expression": "CC0-1.0", "commercial": True, "obligations": []}}

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.requests.append((h.path, dict(h.headers)))
        resolve = f"/datasets/{DATASET}/resolve/"
        if h.path == f"/api/datasets/{DATASET}":
            return self.reply(h, 200, json.dumps({"id": DATASET, "version": self.version}).encode())
        if h.path.startswith(f"/api/datasets/{DATASET}/revision/"):
            return self.reply(h, 200, json.dumps({"id": DATASET, "title": "X", "access": self.access, "license": "CC0-1.0"}).encode())
        if h.path.startswith(resolve) and h.path.endswith("/manifest.json"):
            return self.reply(h, 200, json.dumps(self.manifest()).encode())
        if h.path.startswith(resolve) and h.path.endswith("/README.md"):
            return self.reply(h, 200, b"# X\n")
        if h.path.startswith(resolve):
            return self.file(h, h.path.split("/", 6)[6])
        return self.reply(h, 404, json.dumps({"error": f"no route {h.path}", "type": "NotFound"}).encode())

    def reply(self, h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(body)

    def file(self, h: BaseHTTPRequestHandler, path: str) -> None:
        with self.lock:
            fault = self.faults.get(path, []).pop(0) if self.faults.get(path) else None
        data = self.payload
        if fault == "corrupt":
            data = bytearray(data)
            data[len(data) // 2] ^= 0xFF
            data = bytes(data)
        if isinstance(fault, tuple) and fault[0] == "status":
            return self.reply(h, fault[1], json.dumps({"error": "overloaded", "type": "HubError"}).encode())
        if isinstance(fault, tuple) and fault[0] == "redirect":
            return self.reply(h, 302, b"", {"Location": fault[1]})
        start, status, headers = 0, 200, {"Accept-Ranges": "bytes"}
        if h.headers.get("Range"):
            start = int(h.headers["Range"].removeprefix("bytes=").split("-")[0])
            status, headers["Content-Range"] = 206, f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        h.send_response(status)
        h.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            h.send_header(key, value)
        h.end_headers()
        if isinstance(fault, tuple) and fault[0] == "cut":  # a server that dies mid-download
            body = body[: fault[1]]
            h.close_connection = True
        h.wfile.write(body)
        h.wfile.flush()
        with self.lock:
            self.sent[path] = self.sent.get(path, 0) + len(body)
        if h.close_connection:
            h.connection.shutdown(socket.SHUT_RDWR)

    def file_requests(self, path: str = SHARD) -> list[str | None]:
        """The Range header of each request of `path` (None: the whole file)."""
        return [headers.get("Range") for p, headers in self.requests if p.endswith("/resolve/1.0.0/" + path)]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake():
    servers: list[FakeHub] = []

    def make(*args: Any, **kwargs: Any) -> FakeHub:
        servers.append(FakeHub(*args, **kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if not p.is_dir()) if path.exists() else []


PAYLOAD = random.Random(7).randbytes(3 * 1024 * 1024 + 123)


# -- 6: paths from the server never leave the version's folder ------------------------------

HOSTILE = [
    ("../../../x", "leaves the version's folder (a '..' part)"),
    ("../../../../x", "leaves the version's folder (a '..' part)"),
    ("data/../../../../../x", "leaves the version's folder (a '..' part)"),
    ("a/../../x", "leaves the version's folder (a '..' part)"),
    ("{abs}", "is an absolute path"),
    ("..\\..\\..\\..\\x", "contains a backslash"),
    ("data\\test.parquet", "contains a backslash"),
    ("C:/x", "is an absolute path"),
    ("data/a\x00b", "contains a control character"),
    ("", "is empty"),
    ("data//x", "has an empty or '.' part"),
    ("data/./x", "has an empty or '.' part"),
    ("manifest.json", "is not below data/"),
    ("data/.hidden", "is a hidden name or ends in .part, .lock or .tmp (names the cache keeps for itself)"),
    ("data/test.parquet.part", "is a hidden name or ends in .part, .lock or .tmp (names the cache keeps for itself)"),
]


@pytest.mark.parametrize("path, why", HOSTILE, ids=[p or "empty" for p, _ in HOSTILE])
def test_a_manifest_path_outside_the_version_folder_is_refused_before_anything_is_written(fake, tmp_path, path, why):
    path = path.replace("{abs}", str(tmp_path / "outside" / "x"))
    server = fake(PAYLOAD, [path])
    cache = tmp_path / "cache"
    with pytest.raises(hub.HubError) as excinfo:
        hub.pull(f"{DATASET}@{VERSION}", endpoint=server.url, cache_dir=cache)
    assert excinfo.value.message == f"the server at {server.url} gave the file path {path!r} for {DATASET}@{VERSION}, which {why}: refused, nothing was written"
    assert excinfo.value.path == path
    assert excinfo.value.hint.startswith("Pull only from a hub server you trust (--endpoint, HUB_ENDPOINT)")
    assert os.listdir(tmp_path) in ([], ["cache"]) and files_under(cache) == []
    assert [p for p, _ in server.requests] == [f"/api/datasets/{DATASET}/revision/{VERSION}", f"/datasets/{DATASET}/resolve/{VERSION}/manifest.json"]  # no file asked for


def test_a_path_listed_twice_is_refused(fake, tmp_path):
    server = fake(PAYLOAD, [SHARD, SHARD])
    with pytest.raises(hub.HubError) as excinfo:
        hub.pull(f"{DATASET}@{VERSION}", endpoint=server.url, cache_dir=tmp_path / "cache")
    assert excinfo.value.message == f"the server at {server.url} gave the file path {SHARD!r} for {DATASET}@{VERSION}, which is listed twice: refused, nothing was written"
    assert files_under(tmp_path) == []


def test_a_symlink_in_the_cache_does_not_lead_writes_outside(fake, tmp_path):
    server = fake(PAYLOAD)
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "cache" / DATASET / VERSION
    folder.mkdir(parents=True)
    (folder / "data").symlink_to(outside)  # planted by someone else who can write to the shared cache
    with pytest.raises(hub.HubError) as excinfo:
        hub.pull(f"{DATASET}@{VERSION}", endpoint=server.url, cache_dir=tmp_path / "cache")
    assert excinfo.value.message == (f"the server at {server.url} gave the file path {SHARD!r} for {DATASET}@{VERSION}, which leads out of the "
                                     f"version's folder through a symbolic link (to {os.path.realpath(outside / Path(SHARD).name)}): refused, nothing was written")
    assert list(outside.iterdir()) == [] and files_under(folder) == []


def test_a_hostile_latest_version_is_refused(fake, tmp_path):
    server = fake(PAYLOAD, version="../../../../x")
    with pytest.raises(hub.HubError) as excinfo:
        hub.pull(DATASET, endpoint=server.url, cache_dir=tmp_path / "cache")
    assert excinfo.value.message == f"the server at {server.url} gave the version '../../../../x' for {DATASET}, which is not MAJOR.MINOR.PATCH: refused, nothing was written"
    assert os.listdir(tmp_path) == []


def test_the_cli_says_refused_and_never_all_verified(fake, tmp_path):
    server = fake(PAYLOAD, ["../../../../x"])
    result = run_hub("pull", f"{DATASET}@{VERSION}", "--endpoint", server.url, "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"Error: the server at {server.url} gave the file path '../../../../x' for {DATASET}@{VERSION}, which leaves the version's folder (a '..' part): refused, nothing was written",
        "Hint: Pull only from a hub server you trust (--endpoint, HUB_ENDPOINT) and tell its operator: a hub names its files like "
        "data/train-00000-of-00001.parquet, inside the version's folder.",
    ]
    assert os.listdir(tmp_path) in ([], ["cache"]) and files_under(tmp_path) == []


def test_a_redirect_to_another_host_does_not_get_the_token(fake, tmp_path):
    elsewhere = fake(PAYLOAD)
    server = fake(PAYLOAD)
    server.faults[SHARD] = [("redirect", f"{elsewhere.url}/datasets/{DATASET}/resolve/{VERSION}/{SHARD}")]
    pulled = hub.pull(f"{DATASET}@{VERSION}", endpoint=server.url, token="hub_secret", cache_dir=tmp_path)
    assert (pulled.path / SHARD).read_bytes() == PAYLOAD
    assert [h.get("Authorization") for p, h in server.requests if p.endswith(SHARD)] == ["Bearer hub_secret"]
    assert [h.get("Authorization") for p, h in elsewhere.requests] == [None]


# -- 7: a download that is cut off resumes with Range ---------------------------------------

@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setenv("HUB_DOWNLOAD_BACKOFF", "0")


@pytest.mark.parametrize("faults, ranges", [
    ([("cut", 1_000_000)], [None, "bytes=1000000-"]),
    ([("cut", 1_000_000), ("cut", 5), ("status", 503)], [None, "bytes=1000000-", "bytes=1000005-", "bytes=1000005-"]),
], ids=["one-cut", "two-cuts-and-a-503"])
def test_a_cut_download_resumes_with_range_in_the_same_pull(fake, tmp_path, quick_retries, faults, ranges):
    server = fake(PAYLOAD)
    server.faults[SHARD] = list(faults)
    pulled = hub.pull(f"{DATASET}@{VERSION}", endpoint=server.url, cache_dir=tmp_path)
    assert server.file_requests() == ranges
    assert (pulled.path / SHARD).read_bytes() == PAYLOAD
    assert server.sent[SHARD] == len(PAYLOAD) and pulled.downloaded_bytes == len(PAYLOAD)  # every byte sent once
    assert not list(tmp_path.rglob("*.part"))


def test_a_download_cut_more_often_than_the_retries_keeps_its_part_for_the_next_pull(fake, tmp_path, quick_retries, monkeypatch):
    monkeypatch.setenv("HUB_DOWNLOAD_RETRIES", "1")
    server = fake(PAYLOAD)
    server.faults[SHARD] = [("cut", 400_000), ("cut", 400_000)]
    part = tmp_path / DATASET / VERSION / (SHARD + ".part")
    with pytest.raises(hub.HubError) as excinfo:
        hub.pull(f"{DATASET}@{VERSION}", endpoint=server.url, cache_dir=tmp_path)
    assert excinfo.value.message == (f"the download of {SHARD} of {DATASET}@{VERSION} from {server.url} was cut off 2 times "
                                     f"(the connection closed after 800000 of {len(PAYLOAD)} bytes); 800000 of {len(PAYLOAD)} bytes are kept in {part}")
    assert excinfo.value.hint == "Run the command again: it resumes from there (HUB_DOWNLOAD_RETRIES sets how often one pull retries)."
    assert part.read_bytes() == PAYLOAD[:800_000]
    pulled = hub.pull(f"{DATASET}@{VERSION}", endpoint=server.url, cache_dir=tmp_path)
    assert server.file_requests() == [None, "bytes=400000-", "bytes=800000-"]
    assert pulled.downloaded_bytes == len(PAYLOAD) - 800_000 and server.sent[SHARD] == len(PAYLOAD)
    assert (pulled.path / SHARD).read_bytes() == PAYLOAD and not part.exists()


def test_a_corrupt_partial_file_is_discarded_and_downloaded_whole_once(fake, tmp_path):
    server = fake(PAYLOAD)
    part = tmp_path / DATASET / VERSION / (SHARD + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 1_000_000)  # what a crash (or a bad disk) left behind
    pulled = hub.pull(f"{DATASET}@{VERSION}", endpoint=server.url, cache_dir=tmp_path)
    assert server.file_requests() == ["bytes=1000000-", None]
    assert (pulled.path / SHARD).read_bytes() == PAYLOAD and not part.exists()
    assert pulled.downloaded_bytes == 2 * len(PAYLOAD) - 1_000_000


def test_a_file_that_never_matches_is_a_clear_integrity_error(fake, tmp_path):
    server = fake(PAYLOAD)
    server.faults[SHARD] = ["corrupt", "corrupt"]
    part = tmp_path / DATASET / VERSION / (SHARD + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:1_000_000])
    with pytest.raises(hub.IntegrityError) as excinfo:
        hub.pull(f"{DATASET}@{VERSION}", endpoint=server.url, cache_dir=tmp_path)
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    assert excinfo.value.message == f"{SHARD} of {DATASET}@{VERSION} does not match its sha256 {sha}: a resumed download and then a whole one from {server.url} gave other bytes"
    assert server.file_requests() == ["bytes=1000000-", None]
    assert not part.exists() and not (part.parent / Path(SHARD).name).exists()
