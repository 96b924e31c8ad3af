"""What a person sees on the pages (issue #16), in headless Chromium (Playwright) against a real
uvicorn server over a copy of the published demo hub: the SQL console's box on the version page,
and each record type drawn its own way. Screenshots of each page kind at 1280 px are written
under the test's temporary folder (printed with -s) for a person to look at."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from conftest import uvicorn_thread

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def site_root(demo_root: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("viewer") / "hub"
    shutil.copytree(demo_root, root, symlinks=True)
    return root


@pytest.fixture(scope="module")
def server(site_root: Path) -> Iterator[str]:
    from hub.server import create_app

    with uvicorn_thread(create_app(site_root)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: the page tests need Debian's chromium. Run scripts/bootstrap to install it.", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture
def page(browser, server):
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_the_sql_box_returns_a_count(page, site_root, shots):
    import json

    manifest = json.loads((site_root / "registry/demo/espeak-speech/versions/1.0.0/manifest.json").read_text())
    page.goto("/datasets/demo/espeak-speech/v/1.0.0")
    box = page.locator("#sql textarea[name=query]")
    assert box.input_value() == "SELECT count(*) AS records FROM test"
    page.click("#sql button:text-is('Run')")
    page.wait_for_selector("#sql table.sql-rows")
    assert page.locator("#sql table.sql-rows th").all_inner_texts() == ["records BIGINT"]
    assert page.locator("#sql table.sql-rows td").all_inner_texts() == [str(manifest["splits"]["test"]["rows"])]
    assert page.inner_text("#sql .sql-status").startswith("1 row in ")

    box.fill("SELECT speaker, count(*) AS n FROM train GROUP BY speaker ORDER BY speaker")
    page.click("#sql button:text-is('Run')")
    page.wait_for_function("document.querySelector('#sql table.sql-rows th')?.textContent.startsWith('speaker')")
    import pyarrow.parquet as pq

    data = site_root / "registry/demo/espeak-speech/versions/1.0.0"
    speakers = [s for f in manifest["files"] if f["split"] == "train" for s in pq.read_table(data / f["path"], columns=["speaker"])["speaker"].to_pylist()]
    expected = [[s, str(speakers.count(s))] for s in sorted(set(speakers))]
    rows = page.locator("#sql table.sql-rows tbody tr")
    assert [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())] == expected
    page.screenshot(path=str(shots / "version-sql.png"), full_page=True)

    box.fill("SELECT * FROM read_csv('/etc/passwd')")
    page.click("#sql button:text-is('Run')")
    page.wait_for_selector("#sql .sql-error")
    assert page.inner_text("#sql .sql-error").startswith('the query failed: Permission Error: Cannot access file "/etc/passwd"')
    assert page.locator("#sql table.sql-rows").count() == 0


def test_the_sql_box_downloads_csv(page):
    page.goto("/datasets/demo/digits/v/1.0.0")
    page.fill("#sql textarea[name=query]", "SELECT label, count(*) AS n FROM test GROUP BY label ORDER BY label")
    with page.expect_download() as download:
        page.click("#sql button:text-is('CSV')")
    assert download.value.suggested_filename == "demo-digits-1.0.0.csv"
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0] == '"label","n"'
