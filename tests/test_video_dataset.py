"""demo/video-clips end to end: published in a temp hub, read back with `datasets`, a broken
clip rejected at its row, first-frame thumbnails on the page (headless Chromium against a real
uvicorn), and a Label Studio round trip against the real server."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path
from typing import Iterator
from xml.etree import ElementTree

import pytest
import yaml

import hub
from conftest import copy_demo, uvicorn_thread

DATASET = "demo/video-clips"
LABELS = ["in-burrow", "stretching", "yawning"]
CLIPS = {"bigbuckbunny-000": "in-burrow", "bigbuckbunny-001": "stretching", "bigbuckbunny-002": "yawning"}


@pytest.fixture(scope="module")
def video_root(tmp_path_factory) -> Path:
    """A hub with demo/video-clips published once (shared by this module: do not modify)."""
    root = hub.init(tmp_path_factory.mktemp("video") / "hub")
    copy_demo(root, DATASET)
    hub.publish(DATASET, root=root)
    return root


def _version(root: Path, version: str = "1.0.0") -> Path:
    return root / "registry" / DATASET / "versions" / version


def test_publishes_one_clip_per_split(video_root):
    manifest = json.loads((_version(video_root) / "manifest.json").read_text())
    assert (manifest["record"], manifest["modality"], manifest["labels"]) == ("video", "video", LABELS)
    assert {s: v["rows"] for s, v in manifest["splits"].items()} == {"train": 1, "validation": 1, "test": 1}
    assert manifest["validation"] == {"rows_read": 3, "rows_rejected": 0, "problems": {}}
    assert manifest["features"]["video"] == {"bytes": {"dtype": "binary", "_type": "Value"}, "path": {"dtype": "string", "_type": "Value"}}
    assert manifest["certificate"]["holds"] is True
    assert manifest["certificate"]["duplicate_clusters_by_kind"] == {"exact-video": 0, "near-video": 0}
    stats = json.loads((_version(video_root) / "stats.json").read_text())
    assert stats["splits"]["train"]["fps"]["median"] == 25.0


def test_load_dataset_reads_the_version_without_a_video_decoder(video_root):
    import datasets

    from hub.records.video import probe

    loaded = datasets.load_dataset(str(_version(video_root)))
    assert sorted(loaded) == ["test", "train", "validation"]
    features = loaded["train"].features
    assert features["video"] == {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}
    assert features["label"].names == LABELS
    rows = {r["id"]: r for split in loaded.values() for r in split}
    assert {i: features["label"].int2str(r["label"]) for i, r in rows.items()} == CLIPS
    assert {i: r["group"] for i, r in rows.items()} == {
        "bigbuckbunny-000": "bigbuckbunny@0.00-2.00s", "bigbuckbunny-001": "bigbuckbunny@2.00-4.00s", "bigbuckbunny-002": "bigbuckbunny@4.00-5.28s"}
    first = rows["bigbuckbunny-000"]
    assert first["video"]["path"] == "bigbuckbunny-000.mp4"
    info = probe(first["video"]["bytes"])
    assert (info.width, info.height, info.frames, info.duration) == (320, 180, 50, 2.0)
    assert (first["width"], first["height"], first["frames"], first["duration"], first["fps"]) == (320, 180, 50, 2.0, 25.0)


def _clip_entry(root: Path, clips: dict[str, bytes], records: list[dict]) -> None:
    folder = root / "registry" / "test" / "clips"
    (folder / "raw").mkdir(parents=True)
    doc = {"title": "Clips", "description": "Clips written by a test.", "modality": "video", "license": "CC-BY-3.0",
           "source": {"format": "jsonl", "files": [{"path": "raw/records.jsonl"}]}, "labels": LABELS,
           "split": {"group_key": "group", "ratios": {"train": 0.8, "validation": 0.1, "test": 0.1}, "seed": 3}}
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    for name, data in clips.items():
        (folder / "raw" / name).write_bytes(data)
    (folder / "raw" / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_truncated_and_inconsistent_clips_are_row_problems(video_root, hub_root):
    loaded = {r["id"]: r for r in _rows(video_root)}
    good = loaded["bigbuckbunny-001"]["video"]["bytes"]
    base = {"duration": 2.0, "fps": 25.0, "width": 320, "height": 180, "label": "stretching"}
    clips = {"good.mp4": good, "cut.mp4": good[: len(good) // 2], "noise.mp4": b"not a video at all" * 10}
    records = [
        {"id": "good", "video": "raw/good.mp4", **base, "group": "g1"},
        {"id": "cut", "video": "raw/cut.mp4", **base, "group": "g2"},
        {"id": "noise", "video": "raw/noise.mp4", **base, "group": "g3"},
        {"id": "wide", "video": "raw/good.mp4", **base, "width": 640, "group": "g4"},
        {"id": "slow", "video": "raw/good.mp4", **base, "fps": 12.5, "group": "g5"},
    ]
    _clip_entry(hub_root, clips, records)
    report = hub.validate("test/clips", root=hub_root)
    found = {(p.slug, p.row, p.field): p.message for p in report.problems}
    assert found == {
        ("undecodable-video", 2, "video"): "video cannot be decoded: truncated: decoded 11 of 50 frames",
        ("undecodable-video", 3, "video"): found.get(("undecodable-video", 3, "video")),
        ("inconsistent-record", 4, "width"): "width x height says 640x180, the video is 320x180",
        ("inconsistent-record", 5, "fps"): "fps says 12.500, the video has 25.000 frames per second",
    }
    assert found[("undecodable-video", 3, "video")].startswith("video cannot be decoded: not a video container: FFmpeg cannot read it")
    assert (report.rows_read, report.rows_valid) == (5, 1)


def _rows(root: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [r for f in sorted((_version(root) / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


# -- the page ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(video_root, tmp_path_factory) -> Path:
    """The published hub copied, with a private copy of the dataset (the gate must hide its thumbnails)."""
    root = tmp_path_factory.mktemp("video-site") / "hub"
    shutil.copytree(video_root, root, symlinks=True)
    private = root / "registry" / "demo" / "private-clips"
    shutil.copytree(root / "registry" / DATASET, private, symlinks=True)
    doc = yaml.safe_load((private / "dataset.yaml").read_text())
    doc.update(title="Private clips", access="private")
    (private / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    from hub.server import create_app

    with uvicorn_thread(create_app(site)) as url:
        yield url


@pytest.fixture(scope="module")
def page(server, browser):
    context = browser.new_context(base_url=server)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_page_shows_first_frame_thumbnails(page, site):
    import pyarrow.parquet as pq
    from PIL import Image

    page.goto(f"/datasets/{DATASET}")
    page.wait_for_load_state("load")
    thumbs = page.locator("#preview img.video-thumb")
    assert thumbs.count() == 1  # the preview shows one split: one clip
    assert thumbs.first.get_attribute("alt") == "video: first frame"
    assert thumbs.first.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]") == [True, 160, 90]
    src = thumbs.first.get_attribute("src")
    assert src.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as image:
        assert (image.format, image.size) == ("PNG", (160, 90))
    version = _version(site)
    (shard,) = [f["path"] for f in json.loads((version / "manifest.json").read_text())["files"] if f["split"] == "test"]
    clip = pq.read_table(version / shard, columns=["duration", "fps"]).to_pylist()[0]
    assert page.locator("#preview td.cell-video .duration").first.inner_text() == f"{clip['duration']:.2f} s at {clip['fps']:g} fps"  # under the thumbnail


def test_private_clips_show_no_thumbnail_without_a_token(page):
    response = page.goto("/datasets/demo/private-clips")
    assert response.status == 404
    assert page.locator("img.video-thumb").count() == 0


# -- Label Studio -----------------------------------------------------------------------------


@pytest.mark.slow
def test_label_studio_round_trip_of_the_test_split(hub_root, ls_env):
    from hub.labelstudio.tasks import decode_value, read_records
    from hub.labelstudio.config import task_spec

    copy_demo(hub_root, DATASET)
    hub.publish(DATASET, root=hub_root)
    pushed = hub.annotate_push(f"{DATASET}@1.0.0", split="test", task="classification", root=hub_root)
    pid = pushed["project"]["id"]
    assert (pushed["imported"], pushed["already_there"]) == (1, 0)
    with ls_env.api() as api:
        project = api.get(f"/api/projects/{pid}").json()
    assert '<Video name="video" value="$video"/>' in project["label_config"]
    assert [c.get("value") for c in ElementTree.fromstring(project["label_config"]).iter("Choice")] == LABELS
    tasks = ls_env.tasks(pid)
    assert [t["data"]["record_id"] for t in tasks] == ["bigbuckbunny-000"]
    url = tasks[0]["data"]["video"]
    assert url.startswith("/data/local-files/?d=") and url.endswith(".mp4")
    with ls_env.api() as api:
        served = api.get(url)
    assert served.status_code == 200 and served.content[4:8] == b"ftyp"

    def choice(value: str) -> list[dict]:
        return [{"from_name": "label", "to_name": "video", "type": "choices", "value": {"choices": [value]}}]

    ls_env.annotate(tasks[0]["id"], "ann1@localhost", choice("stretching"))  # two annotators agree on a new label
    ls_env.annotate(tasks[0]["id"], "ann2@localhost", choice("stretching"))
    pulled = hub.annotate_pull(pid, root=hub_root)
    assert pulled["message"] == f"published {DATASET}@1.1.0: 1 records relabelled from project {pid}"
    spec = task_spec("video", "classification")
    path = hub_root / "registry" / DATASET / "versions"
    labels = {}
    for version in ("1.0.0", "1.1.0"):
        for split in ("train", "validation", "test"):
            table = read_records(path / version, split, ["label"])
            labels.setdefault(version, {}).update({r["id"]: decode_value(spec, r["label"], LABELS) for r in table.to_pylist()})
    assert labels["1.0.0"] == CLIPS
    assert labels["1.1.0"] == {**CLIPS, "bigbuckbunny-000": "stretching"}


@pytest.mark.slow
def test_label_studio_round_trip_of_timeline_segments(hub_root, ls_env):
    """Segments drawn on a clip's timeline (TimelineLabels, in frames at the clip's fps) come
    back as `segments` in seconds; the server accepts the config, a frame range it cannot hold
    is refused, and the clip's label stays as it was."""
    from hub.labelstudio.tasks import decode_value, read_records
    from hub.labelstudio.config import task_spec

    copy_demo(hub_root, DATASET)
    hub.publish(DATASET, root=hub_root)
    predicted = {"bigbuckbunny-000": [{"start": 0.5, "end": 1.0, "label": "yawning"}]}  # a model's segments, in seconds
    pushed = hub.annotate_push(f"{DATASET}@1.0.0", split="test", task="segments", predictions=predicted, model_version="m1", root=hub_root)
    pid = pushed["project"]["id"]
    assert (pushed["imported"], pushed["already_there"]) == (1, 0)
    with ls_env.api() as api:
        project = api.get(f"/api/projects/{pid}").json()
        task_id = ls_env.tasks(pid)[0]["id"]
        predictions = api.get("/api/predictions/", params={"task": task_id}).json()
        valid = api.post("/api/projects/validate/", json={"label_config": project["label_config"]})
        pointing_nowhere = api.post("/api/projects/validate/", json={"label_config": project["label_config"].replace('toName="video"', 'toName="clip"')})
    assert valid.status_code == 204  # the server's own check of a config passes ours, and refuses a broken one
    assert pointing_nowhere.status_code == 400 and 'toName=\\"clip\\" not found' in pointing_nowhere.text
    assert '<Video name="video" value="$video" framerate="$fps"/>' in project["label_config"]
    config = ElementTree.fromstring(project["label_config"])
    assert [(t.tag, t.get("name"), t.get("toName")) for t in config if t.tag != "Header"] == [("TimelineLabels", "segments", "video"), ("Video", "video", None)]
    assert [c.get("value") for c in config.iter("Label")] == LABELS
    tasks = ls_env.tasks(pid)
    published = read_records(_version(hub_root), "test", ["fps"]).to_pylist()
    assert [t["data"]["record_id"] for t in tasks] == [r["id"] for r in published] == ["bigbuckbunny-000"]
    fps = tasks[0]["data"]["fps"]
    assert fps == published[0]["fps"] and fps > 1
    assert [p["result"] for p in predictions] == [[{"from_name": "segments", "to_name": "video", "type": "timelinelabels",
                                                     "value": {"ranges": [{"start": round(0.5 * fps) + 1, "end": round(1.0 * fps)}], "timelinelabels": ["yawning"]}}]]

    def segments(*ranges: tuple[int, int, str]) -> list[dict]:
        return [{"id": f"s{i}", "from_name": "segments", "to_name": "video", "type": "timelinelabels",
                 "value": {"ranges": [{"start": start, "end": end}], "timelinelabels": [label]}} for i, (start, end, label) in enumerate(ranges)]

    drawn = segments((1, 12, "stretching"), (25, 48, "yawning"))  # frames 1-12 and 25-48
    ls_env.annotate(tasks[0]["id"], "ann1@localhost", drawn)
    ls_env.annotate(tasks[0]["id"], "ann2@localhost", drawn)
    pulled = hub.annotate_pull(pid, root=hub_root)
    assert pulled["message"] == f"published {DATASET}@1.1.0: 1 records relabelled from project {pid}"
    spec = task_spec("video", "segments")
    after = {r["id"]: r for split in ("train", "validation", "test") for r in read_records(_version(hub_root, "1.1.0"), split, ["segments", "label"]).to_pylist()}
    assert decode_value(spec, after["bigbuckbunny-000"]["segments"], LABELS) == [
        {"start": 0.0, "end": pytest.approx(round(12 / fps, 3), abs=1e-6), "label": "stretching"},
        {"start": pytest.approx(round(24 / fps, 3), abs=1e-6), "end": pytest.approx(round(48 / fps, 3), abs=1e-6), "label": "yawning"}]
    assert {i: r["segments"] for i, r in after.items() if i != "bigbuckbunny-000"} == {"bigbuckbunny-001": None, "bigbuckbunny-002": None}
    assert {i: LABELS[r["label"]] for i, r in after.items()} == CLIPS  # the clip labels are another task's: unchanged
