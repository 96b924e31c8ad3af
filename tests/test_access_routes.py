"""Every route of the server, taken from its router, against a private and a gated dataset:
without a token, with a bad token, with a token whose user did not accept the terms, and
with one whose user did (issue #20, items 1 and 3).

Each route is classified below; a route the table does not know fails the test, so a route
added later is checked as soon as it exists. The classification is checked too: a route
that answers records (transcripts, audio, shards) must be `records` (or `page`), and one
classified as metadata must never answer a record, whoever asks.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import httpx
import markupsafe
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import uvicorn_thread
from hub.access import AccessStore, User
from hub.store import resolve_revision

PRIVATE = "acme/private-speech"
GATED = "acme/gated-speech"
MISSING = "acme/no-such-speech"
TERMS = "Evaluation only; do not redistribute the recordings."
SOURCE = "demo/espeak-speech"
VERSION = "1.0.0"
SHARD = "data/test-00000-of-00001.parquet"

# What each route answers. `site`: nothing about one dataset; `listing`: the catalog (a private
# dataset is left out without a token); `metadata`: a dataset's entry, versions, files, card,
# stats, certificate (visible for a gated dataset, never records); `records`: record content,
# behind the download gate; `page`: metadata, and the preview's records behind the gate;
# `action`: POSTs that change state, checked only for what they tell a caller who may not
# see the dataset. `resolve` is `records` for shards and `metadata` for the version's other files.
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/openapi.json"): "site",
    ("HEAD", "/openapi.json"): "site",
    ("GET", "/docs"): "site",
    ("HEAD", "/docs"): "site",
    ("GET", "/docs/oauth2-redirect"): "site",
    ("HEAD", "/docs/oauth2-redirect"): "site",
    ("GET", "/redoc"): "site",
    ("HEAD", "/redoc"): "site",
    ("GET", "/health"): "site",
    ("GET", "/static/{name}"): "site",
    ("GET", "/api/whoami-v2"): "site",
    ("GET", "/api/datasets"): "listing",
    ("GET", "/api/catalog/dcat"): "listing",
    ("GET", "/"): "listing",
    ("GET", "/api/datasets/{ns}/{name}"): "metadata",
    ("GET", "/api/datasets/{ns}/{name}/revision/{revision}"): "metadata",
    ("GET", "/api/datasets/{ns}/{name}/versions/{version}"): "metadata",
    ("GET", "/api/datasets/{ns}/{name}/croissant"): "metadata",
    ("GET", "/api/datasets/{ns}/{name}/tree/{revision}"): "metadata",
    ("GET", "/api/datasets/{ns}/{name}/tree/{revision}/{path:path}"): "metadata",
    ("POST", "/api/datasets/{ns}/{name}/paths-info/{revision}"): "metadata",
    ("GET", "/api/datasets/{ns}/{name}/refs"): "metadata",
    ("GET", "/datasets/{ns}/{name}/v/{version}"): "metadata",
    ("GET", "/datasets/{ns}/{name}"): "page",
    ("GET", "/api/datasets/{ns}/{name}/versions/{version}/rows"): "records",
    ("GET", "/api/datasets/{ns}/{name}/versions/{version}/media/{record_id}/{field}"): "records",
    ("GET", "/api/datasets/{ns}/{name}/versions/{version}/sql"): "records",
    ("GET", "/datasets/{ns}/{name}/resolve/{revision}/{path:path}"): "resolve",
    ("HEAD", "/datasets/{ns}/{name}/resolve/{revision}/{path:path}"): "resolve",
    ("POST", "/api/datasets/{ns}/{name}/accept"): "action",
    ("POST", "/api/datasets/{ns}/{name}/publish"): "action",
    ("POST", "/api/datasets/{ns}/{name}/versions/{version}/evaluate"): "action",
    ("GET", "/api/datasets/{ns}/{name}/leaderboard"): "metadata",
    ("GET", "/datasets/{ns}/{name}/leaderboard"): "metadata",
}
CALLERS = ("anonymous", "bad-token", "not-accepted", "accepted")


def app_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route the app answers, from its router (included routers too)."""
    found: list[tuple[str, str]] = []

    def walk(routes, prefix: str) -> None:
        for route in routes:
            if hasattr(route, "original_router"):  # FastAPI keeps an included router as one object
                walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif getattr(route, "methods", None):
                found.extend((method, prefix + route.path) for method in sorted(route.methods))
            else:
                raise AssertionError(f"a route the test cannot read: {route!r}")

    walk(app.routes, "")
    return sorted(found)


@pytest.fixture(scope="module")
def site(demo_root: Path, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The published demo hub plus a private and a gated copy of the speech set (with its
    version), behind a real uvicorn server in a thread; tokens for each caller."""
    from hub.server import create_app

    root = tmp_path_factory.mktemp("routes") / "hub"
    shutil.copytree(demo_root, root, symlinks=True)
    for dataset, access in ((PRIVATE, {"access": "private"}), (GATED, {"access": "gated", "terms": TERMS})):
        folder = root / "registry" / dataset
        shutil.copytree(root / "registry" / SOURCE, folder, symlinks=True)
        doc = yaml.safe_load((folder / "dataset.yaml").read_text())
        doc.update(access)
        (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    store = AccessStore(root)
    tokens = {"anonymous": None, "bad-token": "hub_not-a-token", "not-accepted": store.create_token("una"), "accepted": store.create_token("ada")}
    store.accept(User("ada"), GATED)
    app = create_app(root)
    version = root / "registry" / SOURCE / "versions" / VERSION
    tables = [pq.read_table(p) for p in sorted((version / "data").glob("*.parquet"))]
    transcripts = {t for table in tables for t in table["transcript"].to_pylist() if len(t) >= 20}
    markers = set()
    for t in transcripts:  # as the text, in JSON (escaped or not) and in HTML
        markers |= {t, json.dumps(t)[1:-1], json.dumps(t, ensure_ascii=False)[1:-1], html.escape(t), str(markupsafe.escape(t))}
    first = tables[0].slice(0, 1).to_pylist()[0]
    with uvicorn_thread(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield {"root": root, "app": app, "client": client, "tokens": tokens, "markers": markers,
               "files": sorted(resolve_revision(root, SOURCE, VERSION).files),  # every file the server lists
               "record_id": first["id"]}


def has_records(body: bytes, markers: set[str]) -> bool:
    """Whether a response carries record content: a shard, an audio file, or a transcript."""
    if body.startswith((b"PAR1", b"RIFF")):
        return True
    text = body.decode("utf-8", "replace")
    return any(m in text for m in markers)


def cases(site: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, route, kind, request) for every route, its path parameters filled."""
    params = {"version": VERSION, "revision": VERSION, "record_id": site["record_id"], "field": "audio", "name": "{name}", "ns": "{ns}"}
    out = []
    for method, route in app_routes(site["app"]):
        kind = ROUTES.get((method, route))
        if route.startswith("/datasets/{ns}/{name}/resolve/"):
            for path in site["files"]:
                url = route.replace("{path:path}", path).replace("{revision}", VERSION)
                out.append((method, route, "records" if path.startswith("data/") else "metadata", {"url": url}))
            continue
        url = route.replace("{path:path}", "data").replace("{name}", "hub.css" if route == "/static/{name}" else "{name}")
        for key, value in params.items():
            url = url.replace("{" + key + "}", value)
        request: dict[str, Any] = {"url": url}
        if route.endswith("/rows"):
            request["params"] = {"split": "test", "length": 5}
        if route.endswith("/sql"):
            request["params"] = {"query": "SELECT transcript FROM test"}
        if route.endswith("/paths-info/{revision}"):
            request["data"] = {"paths": [SHARD, "README.md"]}
        if route.endswith("/publish"):
            request["json"] = {"bump": "patch"}
        out.append((method, route, kind, request))
    return out


def send(site: dict[str, Any], method: str, request: dict[str, Any], dataset: str | None, caller: str) -> httpx.Response:
    token = site["tokens"][caller]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = dict(request)
    if dataset:
        ns, name = dataset.split("/")
        request["url"] = request["url"].replace("{ns}", ns).replace("{name}", name)
    return site["client"].request(method, headers=headers, **request)


def test_every_route_is_classified(site):
    """A route nobody classified (a new one) fails here: add it to ROUTES with what it answers."""
    found = set(app_routes(site["app"]))
    assert found - set(ROUTES) == set(), "unclassified routes: say in ROUTES whether they return records"
    assert set(ROUTES) - found == set(), "ROUTES names routes the app no longer has"


def _expected(kind: str, dataset: str, caller: str) -> int:
    """The status a route of `kind` answers for `caller` on `dataset`."""
    may_see = dataset == GATED or caller in ("not-accepted", "accepted")
    if not may_see:
        return 404
    if kind == "records" and dataset == GATED:
        return {"anonymous": 403, "bad-token": 401, "not-accepted": 403, "accepted": 200}[caller]
    return 200


@pytest.mark.parametrize("dataset", [PRIVATE, GATED])
def test_every_dataset_route_against_every_caller(site, dataset):
    """Records only through the download gate; a private dataset answers exactly as a missing one."""
    markers, checked = site["markers"], []
    for method, route, kind, request in cases(site):
        if "{ns}" not in route:
            continue
        for caller in CALLERS:
            if kind == "action" and caller in ("not-accepted", "accepted"):
                continue  # would accept terms or publish; what they tell an outsider is checked below
            got = send(site, method, request, dataset, caller)
            where = f"{method} {request['url']} ({kind}) on {dataset} as {caller}"
            if kind == "action":
                expected = None
            else:
                expected = _expected(kind, dataset, caller)
                assert got.status_code == expected, f"{where}: {got.status_code} {got.text[:300]}"
            if method != "HEAD":
                body_has_records = has_records(got.content, markers)
                may_read = expected == 200 and (dataset == PRIVATE or caller == "accepted")
                if kind in ("records", "page") and may_read:
                    assert body_has_records, f"{where}: classified as returning records, but none came back"
                else:
                    assert not body_has_records, f"{where}: records in the answer of a route the download gate did not let through"
            if dataset == PRIVATE and caller in ("anonymous", "bad-token"):
                missing = send(site, method, request, MISSING, caller)
                assert got.status_code == missing.status_code, f"{where}: {got.status_code}, a missing dataset {missing.status_code}"
                assert got.content.replace(PRIVATE.encode(), MISSING.encode()) == missing.content, where
                assert got.headers.get("x-error-code") == missing.headers.get("x-error-code"), where
            checked.append((method, route))
    assert {r for _, r in checked} >= {r for (_, r), k in ROUTES.items() if k not in ("site", "listing")}


def test_listings_and_site_routes_never_carry_records(site):
    markers = site["markers"]
    for method, route, kind, request in cases(site):
        if kind not in ("site", "listing"):
            continue
        for caller in CALLERS:
            got = send(site, method, request, None, caller)
            where = f"{method} {request['url']} as {caller}"
            if caller == "bad-token" and route in ("/api/datasets", "/api/catalog/dcat", "/", "/api/whoami-v2"):
                assert got.status_code == 401, where
            elif route == "/api/whoami-v2" and caller == "anonymous":
                assert got.status_code == 401, where
            else:
                assert got.status_code == 200, f"{where}: {got.status_code} {got.text[:300]}"
            assert not has_records(got.content, markers), where
            if kind == "listing" and got.status_code == 200:
                assert (PRIVATE in got.text) == (caller in ("not-accepted", "accepted")), where
                assert GATED in got.text, where


def test_a_bad_token_gets_the_404_of_a_missing_dataset(site):
    """Issue #20, item 3: a private name must not be told apart from a free one by the status."""
    for dataset in (PRIVATE, MISSING):
        got = send(site, "GET", {"url": "/api/datasets/{ns}/{name}"}, dataset, "bad-token")
        assert (got.status_code, got.headers["x-error-code"], got.json()["error"]) == (404, "RepoNotFound", f"dataset {dataset!r} is not registered")
        shard = send(site, "GET", {"url": f"/datasets/{{ns}}/{{name}}/resolve/{VERSION}/{SHARD}"}, dataset, "bad-token")
        assert shard.status_code == 404 and shard.json()["error"] == f"dataset {dataset!r} is not registered"


def test_gated_rows_need_an_accepted_token(site):
    """Issue #20, item 1: the rows of a gated dataset, as its shards, need accepted terms."""
    url = f"/api/datasets/{{ns}}/{{name}}/versions/{VERSION}/rows"
    got = send(site, "GET", {"url": url, "params": {"split": "test"}}, GATED, "anonymous")
    assert (got.status_code, got.headers["x-error-code"]) == (403, "GatedRepo")
    assert got.json()["error"] == f"dataset {GATED!r} is gated: downloads need a token whose user accepted its terms"
    got = send(site, "GET", {"url": url, "params": {"split": "test"}}, GATED, "not-accepted")
    assert got.status_code == 403 and got.json()["error"] == f"user 'una' has not accepted the terms of {GATED!r}"
    got = send(site, "GET", {"url": url, "params": {"split": "test"}}, GATED, "accepted")
    assert got.status_code == 200 and got.json()["total"] == len(got.json()["rows"]) > 0
