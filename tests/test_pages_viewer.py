"""What a person sees on the pages (issue #16), in headless Chromium (Playwright) against a real
uvicorn server over a copy of the published demo hub: the SQL console's box on the version page,
and each record type drawn its own way. Screenshots of each page kind at 1280 px are written
under the test's temporary folder (printed with -s) for a person to look at."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from conftest import uvicorn_thread


PHOTOS = "demo/photo-boxes"
CHINESE = "demo/chinese-dialogue"
BOXES = {"china.jpg": ([[150, 40, 200, 250], [0, 300, 640, 127]], ["building", "tree"]), "flower.jpg": ([[180, 60, 300, 300]], ["flower"])}


@pytest.fixture(scope="module")
def site_root(demo_root: Path, tmp_path_factory) -> Path:
    """The demo hub copied, plus two datasets published for the viewer: scikit-learn's two
    sample photos with boxes, and the chatterbot corpus's Chinese conversations (long ones)
    between speakers named by UUIDs."""
    import hub
    from conftest import write_dataset

    root = tmp_path_factory.mktemp("viewer") / "hub"
    shutil.copytree(demo_root, root, symlinks=True)
    photos, files = _photo_records()
    write_dataset(root, PHOTOS, photos, extra_files=files, modality="image", labels=["photo", "building", "tree", "flower"], license="BSD-3-Clause",
                  split={"group_key": "group", "ratios": {"train": 0.5, "test": 0.5}, "seed": 1})
    write_dataset(root, CHINESE, _chinese_dialogues(), modality="dialogue", labels=["conversations"], license="BSD-3-Clause",
                  split={"group_key": "dialogue_id", "ratios": {"train": 0.5, "test": 0.5}, "seed": 1})
    hub.publish(PHOTOS, root=root)
    hub.publish(CHINESE, root=root, allow_contamination=True)  # demo/chatterbot-dialogue holds some of these conversations
    return root


def _photo_records() -> tuple[list[dict], dict[str, bytes]]:
    import io

    from PIL import Image
    from sklearn.datasets import load_sample_image

    records, files = [], {}
    for i, (name, (bbox, categories)) in enumerate(BOXES.items()):
        buffer = io.BytesIO()
        Image.fromarray(load_sample_image(name)).save(buffer, format="JPEG")
        files[f"raw/{name}"] = buffer.getvalue()
        for k in range(4):
            records.append({"id": f"{name.split('.')[0]}-{k}", "image": name, "label": "photo", "group": f"g{i}-{k}",
                            "objects": {"bbox": bbox, "category": categories}})
    return records, files


def _chinese_dialogues() -> list[dict]:
    import uuid

    import chatterbot_corpus
    import yaml

    path = Path(chatterbot_corpus.__file__).parent / "data" / "chinese" / "conversations.yml"
    speakers = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"speaker-{s}")) for s in "ab"]
    out = []
    for i, lines in enumerate(yaml.safe_load(path.read_text(encoding="utf-8"))["conversations"]):
        turns = [{"speaker": speakers[t % 2], "text": str(text)} for t, text in enumerate(lines)]
        out.append({"id": f"zh-{i:03d}", "dialogue_id": f"zh-{i:03d}", "language": "zh", "intent": "conversations", "turns": turns})
    return out


@pytest.fixture(scope="module")
def server(site_root: Path) -> Iterator[str]:
    from hub.server import create_app

    with uvicorn_thread(create_app(site_root)) as url:
        yield url


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


def manifest(site_root: Path, dataset: str) -> dict:
    return json.loads((site_root / "registry" / dataset / "versions/1.0.0/manifest.json").read_text())


def preview_rows(site_root: Path, dataset: str) -> list[dict]:
    """The rows the dataset page previews: the first ten of the test split, from its shard."""
    import pyarrow.parquet as pq

    found = manifest(site_root, dataset)
    shard = next(f["path"] for f in found["files"] if f["split"] == "test")
    return pq.read_table(site_root / "registry" / dataset / "versions/1.0.0" / shard).slice(0, 10).to_pylist()


def test_audio_players_show_their_duration(page, site_root, shots):
    page.goto("/datasets/demo/espeak-speech")
    players = page.locator("#preview audio[controls]")
    assert players.count() == 10
    assert players.first.get_attribute("preload") == "metadata"
    page.wait_for_function("[...document.querySelectorAll('#preview audio')].every(a => a.readyState >= 1)")  # nobody pressed play
    durations = players.evaluate_all("els => els.map(a => a.duration)")
    expected = [row["duration"] for row in preview_rows(site_root, "demo/espeak-speech")]
    assert durations == pytest.approx(expected, abs=0.01)
    assert page.locator("#preview .duration").all_inner_texts() == [f"{d:.2f} s" for d in expected]
    page.screenshot(path=str(shots / "speech.png"), full_page=True)


def test_the_speech_table_fits(page, site_root):
    """Columns empty in every previewed row are named below the table, not drawn; transcripts
    get room to wrap as sentences, and each column shows its type."""
    page.goto("/datasets/demo/espeak-speech")
    headers = page.locator("#preview table.rows th").all_inner_texts()
    assert [h.split("\n")[0] for h in headers] == ["id", "audio", "transcript", "speaker", "speaker_gender", "language", "duration", "sample_rate"]
    assert headers[-1] == "sample_rate\nint32" and headers[1] == "audio\naudio"
    assert page.inner_text("#preview .empty-columns") == "Empty in these rows: label, segments."
    table = page.locator("#preview table.rows").bounding_box()
    assert table["x"] + table["width"] <= 1280
    longest = max(preview_rows(site_root, "demo/espeak-speech"), key=lambda r: len(r["transcript"]))["transcript"]
    cell = page.locator("#preview td.long", has_text=longest)
    lines = cell.evaluate("td => { const r = document.createRange(); r.selectNodeContents(td); return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size; }")
    assert lines <= 3, f"{longest!r} wraps over {lines} lines"


def test_boxes_are_drawn_on_the_image_with_class_names(page, site_root, shots):
    page.goto(f"/datasets/{PHOTOS}")
    page.wait_for_load_state("load")
    rows = preview_rows(site_root, PHOTOS)
    names = manifest(site_root, PHOTOS)["features"]["objects"]["category"]["feature"]["names"]
    figures = page.locator("#preview figure.boxed")
    assert figures.count() == len(rows)
    for i, row in enumerate(rows):
        figure = figures.nth(i)
        assert figure.locator("svg.boxes text").all_text_contents() == [names[c] for c in row["objects"]["category"]]  # names, not indices
        rects = figure.locator("svg.boxes rect").evaluate_all("rs => rs.map(r => ['x', 'y', 'width', 'height'].map(k => r[k].baseVal.value))")
        assert rects == [pytest.approx(b) for b in row["objects"]["bbox"]]
        image, svg = figure.locator("img").bounding_box(), figure.locator("svg").bounding_box()
        assert image == pytest.approx(svg, abs=1)  # the overlay lies exactly on the picture
        assert figure.locator("img").evaluate("img => img.complete && img.naturalWidth") == 640
    assert page.inner_text("#preview td >> nth=3") in ("2 boxes: building, tree", "1 box: flower")
    page.screenshot(path=str(shots / "image-boxes.png"), full_page=True)


def test_sensor_windows_are_plotted_one_line_per_channel(page, site_root, shots):
    page.goto("/datasets/demo/basicmotions")
    rows = preview_rows(site_root, "demo/basicmotions")
    plots = page.locator("#preview figure.series-plot")
    assert plots.count() == len(rows)
    first = rows[0]
    lines = plots.first.locator("polyline")
    assert lines.count() == len(first["channels"]) == 6
    assert [len(p.split()) for p in lines.evaluate_all("ls => ls.map(l => l.getAttribute('points'))")] == [len(s) for s in first["series"]]
    legend = plots.first.locator(".legend").all_inner_texts()
    assert legend == [f"{c} ({u})" for c, u in zip(first["channels"], first["units"])]
    values = [v for channel in first["series"] for v in channel]
    assert plots.first.locator(".range").inner_text() == f"{min(values):.6g} … {max(values):.6g}"  # as stored, not rounded
    assert plots.first.locator(".range").inner_text() != f"{round(min(values))} … {round(max(values))}"
    colours = lines.evaluate_all("ls => ls.map(l => getComputedStyle(l).stroke)")
    assert len(set(colours)) == 6
    page.screenshot(path=str(shots / "sensor.png"), full_page=True)


def test_long_dialogues_fold_and_speakers_stay_short(page, site_root, shots):
    page.goto(f"/datasets/{CHINESE}")
    rows = preview_rows(site_root, CHINESE)
    cells = page.locator("#preview td.cell-turns")
    assert cells.count() == len(rows)
    longest = max(range(len(rows)), key=lambda i: len(rows[i]["turns"]))
    turns = rows[longest]["turns"]
    assert len(turns) > 4
    cell = cells.nth(longest)
    assert cell.locator("ol.turns >> nth=0").locator("li").count() == 4
    assert cell.locator("details.more-turns summary").inner_text() == f"{len(turns) - 4} more turns"
    assert not cell.locator("details.more-turns li").first.is_visible()
    cell.locator("details.more-turns summary").click()
    assert cell.locator("details.more-turns li").all_inner_texts()[-1] == f"{turns[-1]['speaker'][:11]}… {turns[-1]['text']}"
    speaker = cell.locator("li b").first
    assert speaker.inner_text() == turns[0]["speaker"][:11] + "…" and speaker.get_attribute("title") == turns[0]["speaker"]
    certificate = page.locator("#certificate").bounding_box()
    assert certificate["y"] < 3200, f"the certificate starts at {certificate['y']:.0f} px"
    page.screenshot(path=str(shots / "dialogue-chinese.png"), full_page=True)


def test_chinese_renders_as_glyphs(page, site_root):
    """A CJK font is installed (scripts/bootstrap) and Chromium draws two different characters
    differently: with no font both are the same empty box."""
    import subprocess

    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=True).stdout
    assert "Noto Sans CJK" in fonts, "no CJK font: run scripts/bootstrap (Debian's fonts-noto-cjk)"
    page.goto(f"/datasets/{CHINESE}")
    text = rows_text = preview_rows(site_root, CHINESE)[0]["turns"][0]["text"]
    assert rows_text in page.inner_text("#preview")
    chars = [c for c in dict.fromkeys(text) if "\u4e00" <= c <= "\u9fff"][:2]
    assert len(chars) == 2
    page.evaluate("""chars => { for (const [i, c] of chars.entries()) { const s = document.createElement('span');
        s.id = 'glyph' + i; s.textContent = c; s.style.fontSize = '40px'; document.querySelector('#preview td.cell-turns li').append(s); } }""", chars)
    first, second = (page.locator(f"#glyph{i}").screenshot() for i in range(2))
    assert first != second


@pytest.mark.parametrize("width", [1280, 390])
def test_no_page_is_wider_than_the_window(browser, server, width, shots):
    context = browser.new_context(base_url=server, viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        for path in ["/", "/datasets/demo/espeak-speech", "/datasets/demo/digits", "/datasets/demo/basicmotions", "/datasets/demo/chatterbot-dialogue",
                     "/datasets/demo/video-clips", f"/datasets/{PHOTOS}", f"/datasets/{CHINESE}", "/datasets/demo/espeak-speech/v/1.0.0"]:
            page.goto(path)
            page.wait_for_load_state("load")
            assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{path} is wider than {width} px"
            page.screenshot(path=str(shots / f"{width}{path.replace('/', '-')}.png"), full_page=True)
    finally:
        context.close()


def split_rows(site_root: Path, dataset: str, split: str) -> list[dict]:
    import pyarrow.parquet as pq

    files = [f["path"] for f in manifest(site_root, dataset)["files"] if f["split"] == split]
    return [row for path in files for row in pq.read_table(site_root / "registry" / dataset / "versions/1.0.0" / path).to_pylist()]


def shown_ids(page) -> list[str]:
    return page.locator("#preview table.rows tbody tr td:first-child").all_inner_texts()


def test_the_viewer_pages_through_a_split(page, site_root):
    rows = split_rows(site_root, "demo/espeak-speech", "train")
    page.goto("/datasets/demo/espeak-speech?split=train&offset=10")
    assert shown_ids(page) == [r["id"] for r in rows[10:20]]
    assert f"rows 11–20 of {len(rows)}" in page.inner_text("#preview h2")
    page.click("#preview a[rel=next]")
    page.wait_for_url("**offset=20*")
    assert shown_ids(page) == [r["id"] for r in rows[20:30]]
    page.click("#preview a[rel=prev]")
    page.wait_for_url("**offset=10*")
    page.select_option("#preview select[name=split]", "validation")
    page.click("#preview form.viewer button")
    page.wait_for_url("**split=validation*")
    assert shown_ids(page) == [r["id"] for r in split_rows(site_root, "demo/espeak-speech", "validation")[:10]]


def test_the_viewer_searches_the_text_fields(page, site_root):
    """Every string column and the text of the turns, any case; the count is of all matches."""
    rows = split_rows(site_root, "demo/chatterbot-dialogue", "train")

    def holds(row: dict, word: str) -> bool:
        texts = [v for v in row.values() if isinstance(v, str)] + [t["text"] for t in row["turns"]]
        return any(word.lower() in t.lower() for t in texts)

    matches = [r["id"] for r in rows if holds(r, "PYTHON")]
    assert len(matches) > 10
    page.goto("/datasets/demo/chatterbot-dialogue?split=train")
    page.fill("#preview input[name=search]", "PYTHON")
    page.click("#preview form.viewer button")
    page.wait_for_url("**search=PYTHON*")
    assert shown_ids(page) == matches[:10]
    assert f"{len(matches)} rows hold “PYTHON”, 1–10 shown" in page.inner_text("#preview h2")
    page.click("#preview a[rel=next]")
    assert shown_ids(page) == matches[10:20]
    page.goto("/datasets/demo/chatterbot-dialogue?split=train&search=zebra-unicorn-nothing")
    assert shown_ids(page) == [] and "0 rows hold “zebra-unicorn-nothing”" in page.inner_text("#preview h2")


def test_the_viewer_names_a_missing_split(page):
    response = page.goto("/datasets/demo/digits?split=nope")
    assert response.status == 400
    assert page.inner_text(".message") == "demo/digits@1.0.0 has no split 'nope'"
    assert page.inner_text(".hint") == "Choose one of: train, validation, test."


def test_the_certificate_is_summed_up_beside_the_splits(page):
    """The full certificate is below the rows; its verdict is near the top, with the splits."""
    page.goto("/datasets/demo/chatterbot-dialogue")
    summary = page.locator("#splits .certificate-summary")
    assert summary.inner_text() == "Leakage certificate: holds (0 groups and 0 duplicate clusters in more than one split)"
    assert summary.bounding_box()["y"] < page.locator("#preview").bounding_box()["y"]
    summary.locator("a").click()
    page.wait_for_url("**#certificate")


def test_the_viewer_filters_on_a_class(page, site_root):
    names = manifest(site_root, "demo/digits")["features"]["label"]["names"]
    rows = [r for r in split_rows(site_root, "demo/digits", "train") if names[r["label"]] == "3"]
    page.goto("/datasets/demo/digits?split=train")
    page.select_option("#preview select[name=label]", "3")
    page.click("#preview form.viewer button")
    page.wait_for_url("**label=3*")
    assert shown_ids(page) == [r["id"] for r in rows[:10]]
    assert f"({len(rows)} rows hold label 3, 1–10 shown" in page.inner_text("#preview h2")
    page.click("#preview a[rel=next]")
    page.wait_for_url("**offset=10*")
    assert shown_ids(page) == [r["id"] for r in rows[10:20]]
    assert page.locator("#preview select[name=label]").input_value() == "3"

    intents = manifest(site_root, "demo/chatterbot-dialogue")["features"]["intent"]["names"]
    both = [r["id"] for r in split_rows(site_root, "demo/chatterbot-dialogue", "train")
            if intents[r["intent"]] == "coding" and any("python" in t["text"].lower() for t in r["turns"])]
    page.goto("/datasets/demo/chatterbot-dialogue?split=train&search=python&intent=coding")
    assert shown_ids(page) == both[:10] and len(both) > 0
    assert f"({len(both)} rows hold “python” and intent coding" in page.inner_text("#preview h2")


def test_the_viewer_names_an_unknown_class(page):
    response = page.goto("/datasets/demo/digits?label=eleven")
    assert response.status == 400
    assert page.inner_text(".message") == "label has no class 'eleven'"
    assert page.inner_text(".hint") == "Choose one of: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9."


def test_a_short_card_leaves_no_gap(page):
    """The plots follow the card in its column, beside the side column, not below the longer of the two."""
    page.goto(f"/datasets/{PHOTOS}")  # no card at all
    plots, side = page.locator("#plots").bounding_box(), page.locator(".columns .side").bounding_box()
    assert plots["y"] < side["y"] + side["height"] and plots["x"] + plots["width"] <= side["x"]
