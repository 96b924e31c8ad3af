"""`hub serve` against the real clients: huggingface_hub, datasets, curl-like raw HTTP, and
the robustness cases (path tricks, unknown versions, Range headers, long queries, access)."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
import textwrap
import urllib.parse
from pathlib import Path

import pytest

SHARD = "data/test-00000-of-00001.parquet"


def manifest(server, dataset: str, version: str = "1.0.0") -> dict:
    return json.loads((server.root / "registry" / dataset / "versions" / version / "manifest.json").read_text())


def raw(server, method: str, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One request sent exactly as written (no client-side path normalization)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True)
    for key, value in (headers or {}).items():
        conn.putheader(key, value)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def error_of(status: int, headers: dict, body: bytes) -> dict:
    """The one error shape: JSON with error, type, status (equal to the HTTP status)."""
    assert headers["content-type"] == "application/json"
    data = json.loads(body)
    assert isinstance(data["error"], str) and data["error"]
    assert data["status"] == status and data["type"]
    return data


def hf_client(server, tmp_path: Path, code: str, token: str | None = None) -> subprocess.CompletedProcess:
    """Run `code` in a fresh Python with HF_ENDPOINT pointing at the server: the user's setup."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    env.update(HF_ENDPOINT=server.url, HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_TELEMETRY="1")
    if token:
        env["HF_TOKEN"] = token
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=300)


def test_snapshot_download_gets_the_version_with_its_checksums(served, tmp_path):
    result = hf_client(served, tmp_path, """
        import hashlib, json, os
        from huggingface_hub import snapshot_download
        path = snapshot_download(repo_id="demo/digits", repo_type="dataset", revision="1.0.0")
        files = {}
        for folder, _, names in os.walk(path):
            for name in names:
                full = os.path.join(folder, name)
                files[os.path.relpath(full, path)] = hashlib.sha256(open(full, "rb").read()).hexdigest()
        print(json.dumps(files))
    """)
    assert result.returncode == 0, result.stderr
    files = json.loads(result.stdout)
    m = manifest(served, "demo/digits")
    for shard in m["files"]:
        assert files[shard["path"]] == shard["sha256"]
    assert {"README.md", "manifest.json", "stats.json", "leakage.json"} <= set(files)
    assert "data.dvc" not in files


def test_hf_hub_download_of_one_file_and_load_dataset_of_one_split(served, tmp_path):
    result = hf_client(served, tmp_path, """
        import json
        import datasets
        from huggingface_hub import hf_hub_download
        path = hf_hub_download("demo/espeak-speech", "data/test-00000-of-00001.parquet", repo_type="dataset", revision="1.0.0")
        ds = datasets.load_dataset("demo/espeak-speech", revision="1.0.0", split="test")
        print(json.dumps({"path": path, "rows": ds.num_rows, "features": sorted(ds.features), "audio": type(ds.features["audio"]).__name__,
                          "speakers": sorted(set(ds["speaker"])), "first": ds[0]["id"]}))
    """)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    m = manifest(served, "demo/espeak-speech")
    shard = next(f for f in m["files"] if f["split"] == "test")
    assert hashlib.sha256(Path(out["path"]).read_bytes()).hexdigest() == shard["sha256"]
    assert out["rows"] == m["splits"]["test"]["rows"]
    assert out["audio"] == "Audio" and "transcript" in out["features"]
    import pyarrow.parquet as pq

    table = pq.read_table(served.root / "registry/demo/espeak-speech/versions/1.0.0" / shard["path"], columns=["id", "speaker"])
    assert out["first"] == table["id"][0].as_py()
    assert out["speakers"] == sorted(set(table["speaker"].to_pylist()))


def test_versions_are_revisions_with_stable_commit_ids(served):
    status, _, body = raw(served, "GET", "/api/datasets/demo/digits/revision/1.0.0")
    info = json.loads(body)
    assert status == 200 and len(info["sha"]) == 40 and info["version"] == "1.0.0"
    raw_manifest = (served.root / "registry/demo/digits/versions/1.0.0/manifest.json").read_bytes()
    assert info["sha"] == hashlib.sha1(raw_manifest).hexdigest()
    status, headers, _ = raw(served, "HEAD", f"/datasets/demo/digits/resolve/{info['sha']}/{SHARD}")
    shard = next(f for f in manifest(served, "demo/digits")["files"] if f["path"] == SHARD)
    assert status == 200 and headers["x-repo-commit"] == info["sha"]
    assert headers["x-linked-etag"] == f'"{shard["sha256"]}"' and headers["content-length"] == str(shard["size"])
    tree = json.loads(raw(served, "GET", "/api/datasets/demo/digits/tree/1.0.0/data")[2])
    assert [e["path"] for e in tree] == sorted(f["path"] for f in manifest(served, "demo/digits")["files"])
    assert all(e["lfs"]["oid"] == next(f["sha256"] for f in manifest(served, "demo/digits")["files"] if f["path"] == e["path"]) for e in tree)


@pytest.mark.parametrize("path", [
    "/datasets/demo/digits/resolve/1.0.0/../../dataset.yaml",
    "/datasets/demo/digits/resolve/1.0.0/..%2F..%2Fdataset.yaml",
    "/datasets/demo/digits/resolve/1.0.0/%2E%2E/%2E%2E/dataset.yaml",
    "/datasets/demo/digits/resolve/1.0.0//etc/passwd",
    "/datasets/demo/digits/resolve/1.0.0/data.dvc",
    "/datasets/demo/..%2F..%2Fetc/resolve/1.0.0/passwd",
    "/api/datasets/demo/digits/tree/1.0.0/..%2F..",
    "/datasets/demo/digits/resolve/1.0.0/data%00.parquet",
])
def test_path_tricks_are_4xx_with_the_error_shape(served, path):
    status, headers, body = raw(served, "GET", path)
    assert 400 <= status < 500, (status, body)
    error_of(status, headers, body)
    assert b"root:" not in body and b"registry" not in body.split(b'"error"')[0]


def test_unknown_dataset_and_version_use_the_hf_error_codes(served):
    status, headers, body = raw(served, "GET", "/api/datasets/demo/digits/revision/9.9.9")
    data = error_of(status, headers, body)
    assert (status, headers["x-error-code"]) == (404, "RevisionNotFound")
    assert data["error"] == "demo/digits has no version '9.9.9' (versions: 1.0.0)"
    status, headers, body = raw(served, "GET", "/api/datasets/demo/nothing")
    assert (status, headers["x-error-code"], error_of(status, headers, body)["error"]) == (404, "RepoNotFound", "dataset 'demo/nothing' is not registered")
    status, headers, body = raw(served, "GET", "/no/such/endpoint")
    assert error_of(status, headers, body)["error"] == "no such endpoint: GET /no/such/endpoint"


@pytest.mark.parametrize("header, status, message", [
    ("bytes=abc-", 400, "malformed Range header 'bytes=abc-': expected `bytes=START-[END]` or `bytes=-SUFFIX`"),
    ("items=0-10", 400, "malformed Range header 'items=0-10': expected `bytes=START-[END]` or `bytes=-SUFFIX`"),
    ("bytes=0-1,5-9", 400, "unsupported Range header 'bytes=0-1,5-9': ask for one range, `bytes=START-[END]`"),
    ("bytes=10-5", 416, None),
    ("bytes=999999999-", 416, None),
])
def test_bad_range_headers_are_4xx_with_the_error_shape(served, header, status, message):
    got, headers, body = raw(served, "GET", f"/datasets/demo/digits/resolve/1.0.0/{SHARD}", {"Range": header})
    data = error_of(got, headers, body)
    assert got == status
    if message:
        assert data["error"] == message
    else:
        assert headers["content-range"].startswith("bytes */")


def test_a_range_resumes_the_exact_bytes(served):
    path = served.root / "registry/demo/digits/versions/1.0.0" / SHARD
    status, headers, body = raw(served, "GET", f"/datasets/demo/digits/resolve/1.0.0/{SHARD}", {"Range": "bytes=100-"})
    assert status == 206 and body == path.read_bytes()[100:]
    assert headers["content-range"] == f"bytes 100-{path.stat().st_size - 1}/{path.stat().st_size}"


def test_a_huge_query_string_is_414(served):
    status, headers, body = raw(served, "GET", "/api/datasets?search=" + "x" * 20_000)
    assert status == 414
    assert error_of(status, headers, body)["error"] == "the query string is 20007 bytes; the most this server takes is 8192"


def test_search_filters_and_the_json_api(served):
    status, _, body = raw(served, "GET", "/api/datasets?" + urllib.parse.urlencode({"search": "speech", "modality": "speech", "commercial": "true"}))
    assert status == 200 and [d["id"] for d in json.loads(body)] == ["demo/espeak-speech"]
    ids = [d["id"] for d in json.loads(raw(served, "GET", "/api/datasets?commercial=false")[2])]
    assert ids == ["demo/basicmotions"]
    status, headers, body = raw(served, "GET", "/api/datasets?modality=smell")
    assert status == 422 and error_of(status, headers, body)["type"] == "RequestValidationError"
    version = json.loads(raw(served, "GET", "/api/datasets/demo/digits/versions/1.0.0")[2])
    assert version["leakage"]["groups_crossing_splits"] == 0 and version["plots"]
    status, headers, body = raw(served, "GET", urllib.parse.urlsplit(version["plots"][0]).path)
    assert status == 200 and headers["content-type"] == "image/svg+xml" and body.startswith(b"<svg ")
    assert headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    rows = json.loads(raw(served, "GET", "/api/datasets/demo/digits/versions/1.0.0/rows?split=test&length=3")[2])
    assert rows["total"] == manifest(served, "demo/digits")["splits"]["test"]["rows"] and len(rows["rows"]) == 3
    image_url = urllib.parse.urlsplit(rows["rows"][0]["image"]["url"])
    status, headers, body = raw(served, "GET", image_url.path)
    assert status == 200 and headers["content-type"] == "image/png" and body.startswith(b"\x89PNG")


def test_private_datasets_are_invisible_without_a_token(served):
    listed = [d["id"] for d in json.loads(raw(served, "GET", "/api/datasets")[2])]
    assert "acme/secret-digits" not in listed and "acme/gated-digits" in listed
    status, headers, body = raw(served, "GET", "/api/datasets/acme/secret-digits")
    assert status == 404 and error_of(status, headers, body)["error"] == "dataset 'acme/secret-digits' is not registered"
    status, _, _ = raw(served, "GET", f"/datasets/acme/secret-digits/resolve/1.0.0/{SHARD}")
    assert status == 404
    auth = {"Authorization": f"Bearer {served.tokens['bob']}"}
    listed = [d["id"] for d in json.loads(raw(served, "GET", "/api/datasets", auth)[2])]
    assert "acme/secret-digits" in listed
    assert raw(served, "GET", "/api/datasets/acme/secret-digits", auth)[0] == 200
    status, headers, body = raw(served, "GET", "/api/datasets", {"Authorization": "Bearer hub_not-a-token"})
    assert status == 401 and error_of(status, headers, body)["error"] == "the token is not valid"
    bad = {"Authorization": "Bearer hub_not-a-token"}  # a bad token tells a private dataset from a missing one no more than none
    for dataset in ("acme/secret-digits", "acme/no-such-digits"):
        status, headers, body = raw(served, "GET", f"/api/datasets/{dataset}", bad)
        assert (status, headers["x-error-code"], error_of(status, headers, body)["error"]) == (404, "RepoNotFound", f"dataset {dataset!r} is not registered")


def test_gated_downloads_need_an_accepted_token_and_the_acceptance_is_recorded(served, tmp_path):
    url = f"/datasets/acme/gated-digits/resolve/1.0.0/{SHARD}"
    status, headers, body = raw(served, "GET", url)
    assert (status, headers["x-error-code"]) == (403, "GatedRepo")
    assert error_of(status, headers, body)["error"] == "dataset 'acme/gated-digits' is gated: downloads need a token whose user accepted its terms"
    assert raw(served, "GET", "/datasets/acme/gated-digits/resolve/1.0.0/README.md")[0] == 200  # the card stays readable
    carol = __import__("hub").create_token("carol", root=served.root)
    auth = {"Authorization": f"Bearer {carol}"}
    status, headers, body = raw(served, "GET", url, auth)
    assert status == 403 and error_of(status, headers, body)["error"] == "user 'carol' has not accepted the terms of 'acme/gated-digits'"
    result = hf_client(served, tmp_path, """
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import GatedRepoError
        try:
            hf_hub_download("acme/gated-digits", "data/test-00000-of-00001.parquet", repo_type="dataset", revision="1.0.0")
        except GatedRepoError:
            print("gated")
    """, token=carol)
    assert result.stdout.strip() == "gated", result.stderr
    accepted = json.loads(raw(served, "POST", "/api/datasets/acme/gated-digits/accept", auth)[2])
    assert accepted["user"] == "carol" and accepted["terms"] == "Use for evaluation only; do not redistribute."
    status, _, body = raw(served, "GET", url, auth)
    assert status == 200 and hashlib.sha256(body).hexdigest() == next(f["sha256"] for f in manifest(served, "acme/gated-digits")["files"] if f["path"] == SHARD)
    records = [json.loads(line) for line in (served.root / ".hub/access/acceptances.jsonl").read_text().splitlines()]
    assert [r["dataset"] for r in records if r["user"] == "carol"] == ["acme/gated-digits"]  # recorded once (the server is shared)
    stored = (served.root / ".hub/access/tokens.json").read_text()
    assert carol not in stored and hashlib.sha256(carol.encode()).hexdigest() in stored


def test_publishing_through_the_api_needs_a_publish_token(served):
    body = json.dumps({"bump": "patch"})
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    path = "/api/datasets/demo/basicmotions/publish"

    def post(extra):
        conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=300)
        conn.request("POST", path, body=body, headers={**headers, **extra})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()

    status, h, data = post({})
    assert status == 401 and error_of(status, h, data)["error"] == "publishing needs a token"
    status, h, data = post({"Authorization": f"Bearer {served.tokens['bob']}"})
    assert status == 403 and error_of(status, h, data)["error"] == "user 'bob' may not publish"
    assert not (served.root / "registry/demo/basicmotions/versions/1.0.1").exists()
    status, h, data = post({"Authorization": f"Bearer {served.tokens['alice']}"})
    assert status == 200, data
    assert json.loads(data)["version"] == "1.0.1"
    assert json.loads(data)["path"] == "registry/demo/basicmotions/versions/1.0.1"  # relative to the repository
    assert str(served.root).encode() not in data and str(served.root.parent).encode() not in data  # no path of the server's
    assert json.loads(raw(served, "GET", "/api/datasets/demo/basicmotions")[2])["versions"] == ["1.0.0", "1.0.1"]


def test_croissant_from_the_api_validates_and_the_snapshot_loads_with_mlcroissant(served, tmp_path):
    cli = Path(sys.executable).parent / "mlcroissant"
    status, headers, body = raw(served, "GET", "/api/datasets/demo/chatterbot-dialogue/croissant?version=1.0.0")
    assert status == 200 and headers["content-type"] == "application/ld+json"
    doc = json.loads(body)
    m = manifest(served, "demo/chatterbot-dialogue")
    folder = served.root / "registry/demo/chatterbot-dialogue/versions/1.0.0"
    base = f"{served.url}/datasets/demo/chatterbot-dialogue/resolve/{hashlib.sha1((folder / 'manifest.json').read_bytes()).hexdigest()}/"
    objects = {f["contentUrl"]: f["sha256"] for f in doc["distribution"] if f["@type"] == "cr:FileObject"}
    assert {url: sha for url, sha in objects.items() if url.endswith(".parquet")} == {base + f["path"]: f["sha256"] for f in m["files"]}
    assert objects[base + "README.md"] == hashlib.sha256((folder / "README.md").read_bytes()).hexdigest()  # every file, with its sha256
    written = json.loads((folder / "croissant.json").read_text(encoding="utf-8"))  # the published file is the served document, with relative URLs
    assert {k: v for k, v in written.items() if k not in ("distribution", "url", "sameAs")} == {k: v for k, v in doc.items() if k not in ("distribution", "url", "sameAs")}
    assert [{**d, "contentUrl": base + d["contentUrl"]} if "contentUrl" in d else d for d in written["distribution"]] == doc["distribution"]
    (tmp_path / "api.json").write_bytes(body)
    validated = subprocess.run([str(cli), "validate", "--jsonld", str(tmp_path / "api.json")], capture_output=True, text=True, timeout=300)
    assert validated.returncode == 0, validated.stderr[-2000:]
    result = hf_client(served, tmp_path, """
        from huggingface_hub import snapshot_download
        print(snapshot_download(repo_id="demo/chatterbot-dialogue", repo_type="dataset", revision="1.0.0"))
    """)
    snapshot = Path(result.stdout.strip().splitlines()[-1])
    loaded = subprocess.run([str(cli), "load", "--jsonld", str(snapshot / "croissant.json"), "--record_set", "default", "--num_records", "3"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    records = [line for line in (loaded.stdout + loaded.stderr).splitlines() if line.startswith("{'default/split'")]
    import pyarrow.parquet as pq

    first = pq.read_table(snapshot / "data/test-00000-of-00001.parquet", columns=["id"])["id"][0].as_py()
    assert len(records) == 3 and records[0].startswith(f"{{'default/split': b'test', 'default/id': b'{first}'")


@pytest.mark.parametrize("pinned", [False, True], ids=["any-ids", "demo-digits"])
def test_the_openapi_document_survives_a_fuzzer_with_no_5xx(served, tmp_path, pinned):
    """schemathesis generates requests from /openapi.json; the server must never answer 5xx,
    nor a status its OpenAPI document does not list (`status_code_conformance`).

    Once with any path parameters (mostly unknown datasets), once pinned to a real dataset
    and version so the fuzzer reaches rows, media, trees and files."""
    cli = Path(sys.executable).parent / "schemathesis"
    config = tmp_path / "schemathesis.toml"
    config.write_text('[parameters]\n"path.ns" = "demo"\n"path.name" = "digits"\n"path.version" = "1.0.0"\n"path.revision" = "1.0.0"\n' if pinned else "")
    result = subprocess.run(
        [str(cli), "--config-file", str(config), "run", f"{served.url}/openapi.json", "--checks", "not_a_server_error,status_code_conformance", "--max-examples", "20",
         "--exclude-path-regex", "/publish$", "--generation-deterministic", "--request-timeout", "30", "--no-color"],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    import re

    assert int(re.search(r"Tested: (\d+)", result.stdout).group(1)) >= 12  # every GET/POST operation but publish


def test_the_server_catalog_answers_from_its_index_while_a_rebuild_runs(hub_root, monkeypatch):
    """A hand edit of the registry is picked up in a thread of its own (`Catalog(background=True)`,
    the server's): requests are answered from the index they have until the new one is in place."""
    import threading

    import yaml

    from conftest import copy_demo
    from hub import catalog as catalog_module
    from hub.catalog import Catalog

    copy_demo(hub_root, "demo/digits")
    catalog = Catalog(hub_root, background=True)
    assert [d["title"] for d in catalog.list()] == ["Handwritten digits (UCI, 8x8)"]  # the first read builds, in the request
    path = hub_root / "registry" / "demo" / "digits" / "dataset.yaml"
    doc = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**doc, "title": "Handwritten digits, edited"}, sort_keys=False))
    monkeypatch.setattr(catalog_module, "RECHECK_SECONDS", 0.0)
    started, release = threading.Event(), threading.Event()
    build = Catalog._build

    def held(self, fingerprint):  # the real rebuild, held until the test lets it go
        started.set()
        assert release.wait(60)
        build(self, fingerprint)

    monkeypatch.setattr(Catalog, "_build", held)
    assert catalog.list()[0]["title"] == "Handwritten digits (UCI, 8x8)"  # starts the check
    assert started.wait(60)
    assert catalog.show("demo/digits")["title"] == "Handwritten digits (UCI, 8x8)"  # answered during the rebuild
    release.set()
    checking = catalog._checking
    if checking is not None:
        checking.join(60)
    assert catalog.show("demo/digits")["title"] == "Handwritten digits, edited"
