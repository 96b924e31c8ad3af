"""The HTML pages in a real browser: headless Chromium (Playwright) against a real uvicorn server
over a copy of the published demo hub, plus one private dataset."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from conftest import uvicorn_thread
from hub.access import AccessStore

PRIVATE = "demo/secret-digits"
GATED = "demo/gated-speech"
TERMS = "Use for research only; do not try to identify the speakers."


@pytest.fixture(scope="module")
def site_root(demo_root: Path, tmp_path_factory) -> Path:
    """The demo hub copied (the shared one stays untouched) with a private, unpublished entry
    whose card tries to inject HTML."""
    root = tmp_path_factory.mktemp("pages") / "hub"
    shutil.copytree(demo_root, root, symlinks=True)
    folder = root / "registry" / PRIVATE
    shutil.copytree(root / "registry" / "demo" / "digits", folder, ignore=shutil.ignore_patterns("versions"))
    doc = yaml.safe_load((folder / "dataset.yaml").read_text())
    doc.update(title="Secret digits", access="private")
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (folder / "README.md").write_text("# Secret digits\n\n<script>document.title='pwned'</script> <b>bold?</b>\n\n*emphasis*\n")
    gated = root / "registry" / GATED  # published: the version folder comes along
    shutil.copytree(root / "registry" / "demo" / "espeak-speech", gated, symlinks=True)
    doc = yaml.safe_load((gated / "dataset.yaml").read_text())
    doc.update(access="gated", terms=TERMS)
    (gated / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def token(site_root: Path) -> str:
    return AccessStore(site_root).create_token("alice")


@pytest.fixture(scope="module")
def server(site_root: Path) -> Iterator[str]:
    """`hub serve` in a thread on a free port; yields its base URL."""
    from hub.server import create_app

    with uvicorn_thread(create_app(site_root)) as url:
        yield url


@pytest.fixture
def page(browser, server):
    context = browser.new_context(base_url=server)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def listed(page) -> list[str]:
    return page.locator("table.results a.dataset").all_inner_texts()


def test_search_by_words(page):
    page.goto("/")
    assert set(listed(page)) >= {"demo/digits", "demo/espeak-speech", "demo/basicmotions", "demo/chatterbot-dialogue", "demo/video-clips"}
    page.fill("input[name=search]", "digits")
    page.click("button[type=submit]")
    page.wait_for_url("**/?search=digits*")
    assert listed(page) == ["demo/digits"]
    assert page.input_value("input[name=search]") == "digits"


@pytest.mark.parametrize("field, value, expected", [
    ("modality", "speech", ["demo/espeak-speech", GATED]),
    ("modality", "image", ["demo/digits"]),
    ("task", "image-classification", ["demo/digits"]),
    ("commercial", "no", ["demo/basicmotions"]),
])
def test_filters(page, field, value, expected):
    page.goto("/")
    page.select_option(f"select[name={field}]", value)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{field}={value}*")
    got = listed(page)
    assert got == expected
    assert page.locator(f"select[name={field}]").input_value() == value


def test_no_match_says_so(page):
    page.goto("/?search=zebra-unicorn-nothing")
    assert listed(page) == []
    assert "No dataset matches" in page.inner_text("main")


def test_open_dataset_from_results(page):
    page.goto("/?search=digits")
    page.click("a.dataset:text-is('demo/digits')")
    page.wait_for_url("**/datasets/demo/digits")
    assert page.inner_text("h1") == "Handwritten digits (UCI, 8x8)"
    assert "Cascading Classifiers" in page.inner_text("#license")  # the citation
    assert page.inner_text("#license .commercial") == "yes"
    assert "Attribution is required" in page.inner_text("#license .obligations")
    assert "Public" in page.inner_text("#access")
    assert page.locator("#card h1").inner_text() == "Handwritten digits (UCI, 8x8)"  # the Markdown card, rendered
    splits = page.inner_text("#splits")
    assert "train" in splits and "test" in splits
    page.wait_for_load_state("load")
    plots = page.locator("img.plot")
    assert plots.count() >= 1
    for i in range(plots.count()):
        assert plots.nth(i).evaluate("img => img.complete && img.naturalWidth") > 0


def test_certificate_shown(page):
    page.goto("/datasets/demo/espeak-speech")
    assert page.inner_text("#certificate .groups-crossing") == "0"
    assert page.inner_text("#certificate .clusters-crossing") == "0"
    assert "Holds" in page.inner_text("#certificate")
    assert "speaker" in page.inner_text("#certificate")


@pytest.mark.parametrize("dataset", ["demo/digits", "demo/espeak-speech", "demo/chatterbot-dialogue", "demo/basicmotions"])
def test_every_media_source_answers(page, dataset):
    page.goto(f"/datasets/{dataset}")
    page.wait_for_load_state("load")
    sources = page.locator("audio[src], img[src]").evaluate_all("els => els.map(e => e.src)")
    assert sources
    for src in sources:
        response = page.request.get(src)
        assert response.status == 200, (src, response.status, response.text()[:200])
        assert response.headers["content-type"].split("/")[0] in ("audio", "image"), src
    broken = page.locator("img").evaluate_all("els => els.filter(e => !(e.complete && e.naturalWidth > 0)).map(e => e.src)")
    assert broken == []


def test_speech_page_has_audio_players(page):
    page.goto("/datasets/demo/espeak-speech")
    players = page.locator("#preview audio[controls]")
    assert players.count() == 10
    assert page.locator("#preview").inner_text().count("test") >= 1
    duration = players.first.evaluate("a => new Promise(ok => { a.onloadedmetadata = () => ok(a.duration); a.onerror = () => ok(-1); a.preload = 'metadata'; a.load(); })")
    assert duration > 0.5  # the browser decoded the WAV


def test_digits_page_has_thumbnails(page):
    page.goto("/datasets/demo/digits")
    page.wait_for_load_state("load")
    thumbs = page.locator("#preview img.thumb")
    assert thumbs.count() == 10
    assert thumbs.first.evaluate("img => img.naturalWidth") == 8


def test_dialogue_and_series_are_readable(page, site_root):
    page.goto("/datasets/demo/chatterbot-dialogue")
    turns = page.locator("#preview ol.turns").first.inner_text()
    assert "user" in turns and "bot" in turns
    page.goto("/datasets/demo/basicmotions")
    import json

    import pyarrow.parquet as pq

    version = site_root / "registry/demo/basicmotions/versions/1.0.0"
    manifest = json.loads((version / "manifest.json").read_text())
    lines = page.locator("#preview .series")
    assert lines.count() == 6 * min(10, manifest["splits"]["test"]["rows"])  # one line per channel of each row previewed
    # the sensor record type draws its channels: named, with their unit, values as stored
    shard = next(f["path"] for f in manifest["files"] if f["split"] == "test")
    first = pq.read_table(version / shard).slice(0, 1).to_pylist()[0]
    values = ", ".join(f"{v:.6g}" for v in first["series"][0][:8])
    assert lines.first.text_content() == f"acc_x (unknown): {values}, … (100 values)"  # folded under the plot
    assert lines.nth(5).text_content().startswith("gyro_z (unknown): ")


def test_version_page(page, site_root, server):
    import json

    page.goto("/datasets/demo/digits")
    page.click("#versions a.version:text-is('1.0.0')")
    page.wait_for_url("**/datasets/demo/digits/v/1.0.0")
    manifest = json.loads((site_root / "registry/demo/digits/versions/1.0.0/manifest.json").read_text())
    files = page.inner_text("#files")
    for f in manifest["files"]:
        assert f["path"] in files and f["sha256"] in files
    download = page.inner_text("#download")
    assert "hub pull demo/digits@1.0.0 --split test" in download
    assert f"HF_ENDPOINT={server}" in download
    assert 'datasets.load_dataset("demo/digits", revision="1.0.0")' in download
    assert "hub.demo.digits:load" in page.inner_text("#lineage")
    assert page.inner_text("#certificate .groups-crossing") == "0"
    croissant = page.request.get(page.get_attribute("a.croissant", "href"))
    assert croissant.status == 200 and croissant.json()["name"]
    shard = page.request.get(page.locator("#files a").filter(has_text="test-00000").get_attribute("href"))
    assert shard.status == 200 and shard.body()[:4] == b"PAR1"


def test_private_dataset_hidden_without_token(page, browser, server, token):
    page.goto("/")
    assert PRIVATE not in listed(page)
    response = page.goto(f"/datasets/{PRIVATE}")
    assert response.status == 404
    assert f"dataset '{PRIVATE}' is not registered" in page.inner_text(".message")

    context = browser.new_context(base_url=server, extra_http_headers={"Authorization": f"Bearer {token}"})
    try:
        with_token = context.new_page()
        with_token.goto("/")
        assert PRIVATE in listed(with_token)
        response = with_token.goto(f"/datasets/{PRIVATE}")
        assert response.status == 200
        card = with_token.locator("#card")
        assert "<script>document.title='pwned'</script>" in card.inner_text()  # shown as text, not run
        assert card.locator("script, b").count() == 0
        assert card.locator("em").inner_text() == "emphasis"
        assert with_token.title() == "Secret digits · hub"
        assert "Not published yet" in with_token.inner_text("#versions")
    finally:
        context.close()


def test_gated_dataset_shows_terms_and_hides_the_preview_until_accepted(page, browser, server, site_root):
    """The preview's rows are records: without a token whose user accepted the terms, neither
    media nor text of a gated dataset is on its page (the download gate of `hub.server.gate`)."""
    import pyarrow.parquet as pq

    from hub.access import User

    test_shard = site_root / "registry" / GATED / "versions/1.0.0/data/test-00000-of-00001.parquet"
    first_transcript = pq.read_table(test_shard, columns=["transcript"])["transcript"][0].as_py()
    page.goto(f"/datasets/{GATED}")
    assert TERMS in page.inner_text("#access .terms")
    assert "Gated" in page.inner_text("#access")
    assert page.locator("audio").count() == 0
    assert page.inner_text("#preview .hidden-preview") == f"Preview hidden: dataset '{GATED}' is gated: downloads need a token whose user accepted its terms"
    assert first_transcript not in page.inner_text("main")
    for src in page.locator("img[src]").evaluate_all("els => els.map(e => e.src)"):  # the plots stay
        assert page.request.get(src).status == 200, src

    store = AccessStore(site_root)
    token = store.create_token("gina")
    store.accept(User("gina"), GATED)
    context = browser.new_context(base_url=server, extra_http_headers={"Authorization": f"Bearer {token}"})
    try:
        accepted = context.new_page()
        accepted.goto(f"/datasets/{GATED}")
        assert first_transcript in accepted.inner_text("#preview")
        assert accepted.locator("#preview audio[controls]").count() == 10
        assert accepted.locator("#preview .hidden-preview").count() == 0
    finally:
        context.close()


@pytest.mark.parametrize("path, status, message", [
    ("/datasets/demo/nope", 404, "dataset 'demo/nope' is not registered"),
    ("/datasets/demo/digits/v/9.9.9", 404, "demo/digits has no version '9.9.9' (versions: 1.0.0)"),
    ("/?modality=smell", 400, "unknown modality 'smell'"),
])
def test_errors_are_html_pages(page, path, status, message):
    response = page.goto(path)
    assert response.status == status
    assert response.headers["content-type"].startswith("text/html")
    assert page.inner_text(".message") == message
    assert page.locator("a[href='/']").count() >= 1
