"""The catalog as DCAT-AP JSON-LD (`GET /api/catalog/dcat`, hub.dcat), read back with rdflib."""

from __future__ import annotations

import shutil

import httpx
import pytest
import yaml
from rdflib import RDF, Graph, Namespace, URIRef

import hub
from conftest import DEMO, copy_demo, uvicorn_thread
from hub.server.app import create_app

DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The chatterbot demo published, and a private copy of its entry (not published)."""
    root = hub.init(tmp_path_factory.mktemp("dcat") / "hub")
    copy_demo(root, "demo/chatterbot-dialogue")
    hub.publish("demo/chatterbot-dialogue", root=root)
    shutil.copytree(DEMO / "chatterbot-dialogue", root / "registry" / "acme" / "secret-chat", ignore=shutil.ignore_patterns("versions"))
    path = root / "registry" / "acme" / "secret-chat" / "dataset.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "access": "private"}, sort_keys=False))
    token = hub.create_token("alice", root=root)
    with uvicorn_thread(create_app(root)) as url:
        yield url, token


def _graph(url: str, headers: dict[str, str] | None = None) -> Graph:
    got = httpx.get(f"{url}/api/catalog/dcat", headers=headers or {}, timeout=60)
    assert got.status_code == 200, got.text
    return Graph().parse(data=got.text, format="json-ld")


def test_the_catalog_parses_as_dcat_with_each_dataset_its_license_and_distributions(site):
    url, _ = site
    graph = _graph(url)
    catalog = URIRef(f"{url}/api/catalog/dcat")
    assert (catalog, RDF.type, DCAT.Catalog) in graph
    datasets = set(graph.objects(catalog, DCAT.dataset))
    chat = URIRef(f"{url}/datasets/demo/chatterbot-dialogue")
    assert datasets == {chat}  # the private entry is not listed without a token
    assert (chat, RDF.type, DCAT.Dataset) in graph
    assert str(graph.value(chat, DCT.title)) == "ChatterBot chit-chat dialogues (English, Spanish, Chinese)"
    assert {str(o) for o in graph.objects(chat, DCT.language)} == {f"http://id.loc.gov/vocabulary/iso639-1/{lang}" for lang in ("en", "es", "zh")}
    assert graph.value(chat, DCT.accessRights) == URIRef("http://publications.europa.eu/resource/authority/access-right/PUBLIC")
    distributions = set(graph.objects(chat, DCAT.distribution))
    assert {str(graph.value(d, DCAT.accessURL)) for d in distributions} == {
        f"{url}/api/datasets/demo/chatterbot-dialogue/versions/1.0.0", f"{url}/api/datasets/demo/chatterbot-dialogue/croissant?version=1.0.0"}
    assert {graph.value(d, DCT.license) for d in distributions} == {URIRef("https://spdx.org/licenses/BSD-3-Clause.html")}
    for d in distributions:  # each answers
        assert httpx.get(str(graph.value(d, DCAT.accessURL)), timeout=60).status_code == 200


def test_a_token_sees_the_private_entry_and_a_bad_one_is_refused(site):
    url, token = site
    graph = _graph(url, {"Authorization": f"Bearer {token}"})
    secret = URIRef(f"{url}/datasets/acme/secret-chat")
    assert (secret, RDF.type, DCAT.Dataset) in graph
    assert graph.value(secret, DCT.accessRights) == URIRef("http://publications.europa.eu/resource/authority/access-right/NON_PUBLIC")
    assert graph.value(secret, DCAT.distribution) is None  # no version published
    bad = httpx.get(f"{url}/api/catalog/dcat", headers={"Authorization": "Bearer nope"}, timeout=60)
    assert bad.status_code == 401
