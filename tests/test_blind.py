"""Blind test sets (issue #14): `split.blind: [test]` publishes the test split without its
labels; the labels stay in the version's DVC data, listed by no route; the card and the
Croissant file say so; the Hugging Face tools read the blind split without them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import datasets
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import hub
from conftest import DEMO, uvicorn_thread
from hub.hashing import sha256_file

DATASET = "acme/blind-digits"
VERSION = "1.0.0"
LABELS = "data/blind/test-labels.parquet"


def blind_copy(root: Path, dataset: str = DATASET, **split: Any) -> Path:
    """demo/digits (400 records) as `dataset` in the hub at `root`, its split policy updated."""
    folder = root / "registry" / dataset
    shutil.copytree(DEMO / "digits", folder, ignore=shutil.ignore_patterns("versions"))
    doc = yaml.safe_load((folder / "dataset.yaml").read_text())
    doc["source"]["options"] = {"limit": 400}
    doc["split"].update(split)
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


@pytest.fixture(scope="module")
def blind(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """demo/digits published with a blind test split, behind a real uvicorn server."""
    from hub.server import create_app

    root = hub.init(tmp_path_factory.mktemp("blind") / "hub")
    blind_copy(root, blind=["test"], submissions_per_day=3)
    published = hub.publish(DATASET, root=root)
    app = create_app(root)
    with uvicorn_thread(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield {"root": root, "app": app, "url": url, "client": client, "path": published.path, "manifest": published.manifest}


def test_the_blind_split_is_published_without_its_labels(blind):
    path, manifest = blind["path"], blind["manifest"]
    test_shards = [f for f in manifest["files"] if f["split"] == "test"]
    for shard in test_shards:
        assert pq.read_schema(path / shard["path"]).names == ["id", "image", "group"]
        assert sha256_file(path / shard["path"]) == shard["sha256"]  # the manifest verifies: rewritten, then hashed
        assert (path / shard["path"]).stat().st_size == shard["size"]
    train = next(f for f in manifest["files"] if f["split"] == "train")
    assert pq.read_schema(path / train["path"]).names == ["id", "image", "label", "objects", "group"]
    assert manifest["splits"]["test"]["bytes"] == sum(f["size"] for f in test_shards)
    section = manifest["blind"]["test"]
    assert section["withheld"] == ["label", "objects"]
    assert section["labels"]["path"] == LABELS and LABELS not in {f["path"] for f in manifest["files"]}
    assert sha256_file(path / LABELS) == section["labels"]["sha256"]
    labels = pq.read_table(path / LABELS)
    assert labels.column_names == ["id", "label", "objects"] and labels.num_rows == manifest["splits"]["test"]["rows"] == section["labels"]["rows"]
    ids = [i for shard in test_shards for i in pq.read_table(path / shard["path"], columns=["id"]).column("id").to_pylist()]
    assert labels.column("id").to_pylist() == ids
    assert manifest["lineage"]["params"]["split"]["blind"] == ["test"]


def test_the_card_and_croissant_say_the_split_is_blind(blind):
    path = blind["path"]
    card = (path / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert [c["config_name"] for c in meta["configs"]] == ["default", "blind"]
    assert meta["configs"][1]["data_files"] == [{"split": "test", "path": "data/test-*"}]
    default, blind_info = meta["dataset_info"]
    assert [f["name"] for f in blind_info["features"]] == ["id", "image", "group"]
    assert [s["name"] for s in default["splits"]] == ["train", "validation"] and [s["name"] for s in blind_info["splits"]] == ["test"]
    sentence = ("The test split is blind (published without label, objects): the hub's server scores predictions on it "
                "(POST /api/datasets/{ns}/{name}/versions/{version}/evaluate).")
    assert f"## Blind splits\n\n{sentence} Its labels are kept by the hub and never served." in card
    doc = json.loads((path / "croissant.json").read_text())
    assert doc["description"].endswith(" " + sentence)
    label = next(f for f in doc["recordSet"][1]["field"] if f["name"] == "label")
    assert label["description"].endswith(". Withheld in the blind test split: not in its files.")
    test = datasets.load_dataset(str(path), "blind", split="test")
    assert sorted(test.features) == ["group", "id", "image"] and test.num_rows == blind["manifest"]["splits"]["test"]["rows"]
    train = datasets.load_dataset(str(path), split="train")
    assert type(train.features["label"]).__name__ == "ClassLabel"


def test_the_served_croissant_marks_the_blind_split_and_reads_it_without_its_labels(blind):
    """GET /api/.../croissant (generated per request, not the published file) says the split is
    blind; the blind split's record set has no withheld field; mlcroissant reads both record sets."""
    import mlcroissant as mlc

    doc = blind["client"].get(f"/api/datasets/{DATASET}/croissant", params={"version": VERSION}).json()
    assert doc["description"].endswith(" The test split is blind (published without label, objects): the hub's server scores predictions on it "
                                       "(POST /api/datasets/{ns}/{name}/versions/{version}/evaluate).")
    sets = {r["@id"]: r for r in doc["recordSet"]}
    assert list(sets) == ["splits", "default", "blind"]
    assert [f["name"] for f in sets["blind"]["field"]] == ["split", "id", "image", "group"]
    assert all(f["source"]["fileSet"] == {"@id": "parquet-files-blind"} for f in sets["blind"]["field"])
    assert [f["name"] for f in sets["default"]["field"]] == ["split", "id", "image", "label", "objects", "group"]
    filesets = {d["@id"]: d["includes"] for d in doc["distribution"] if d["@type"] == "cr:FileSet"}
    assert filesets == {"parquet-files": ["data/train-*-of-*.parquet", "data/validation-*-of-*.parquet"], "parquet-files-blind": ["data/test-*-of-*.parquet"]}
    written = json.loads((blind["path"] / "croissant.json").read_text())
    assert written["recordSet"] == doc["recordSet"] and written["description"] == doc["description"]  # the published file says it once, as served
    dataset = mlc.Dataset(jsonld=str(blind["path"] / "croissant.json"))
    test = list(dataset.records("blind"))
    assert len(test) == blind["manifest"]["splits"]["test"]["rows"]
    assert sorted(test[0]) == ["blind/group", "blind/id", "blind/image", "blind/split"] and {r["blind/split"] for r in test} == {b"test"}
    opened = {r["default/split"] for r in dataset.records("default")}
    assert opened == {b"train", b"validation"}


def test_no_route_serves_the_blind_labels(blind):
    client, base = blind["client"], f"/api/datasets/{DATASET}"
    listed = client.get(f"{base}/tree/{VERSION}", params={"recursive": True}).json()
    paths = {item["path"] for item in listed}
    assert "data/test-00000-of-00001.parquet" in paths and not any(p.startswith("data/blind") for p in paths)
    assert client.get(f"{base}/tree/{VERSION}/data/blind").status_code == 404
    info = client.post(f"{base}/paths-info/{VERSION}", data={"paths": [LABELS]})
    assert info.status_code == 200 and info.json() == []
    got = client.get(f"/datasets/{DATASET}/resolve/{VERSION}/{LABELS}")
    assert (got.status_code, got.json()["error"]) == (404, f"{DATASET}@{VERSION} has no file {LABELS!r}")
    shard = client.get(f"/datasets/{DATASET}/resolve/{VERSION}/data/test-00000-of-00001.parquet")
    assert shard.status_code == 200 and pq.read_schema(pa.BufferReader(shard.content)).names == ["id", "image", "group"]
    rows = client.get(f"{base}/versions/{VERSION}/rows", params={"split": "test", "length": 100}).json()["rows"]
    assert len(rows) == blind["manifest"]["splits"]["test"]["rows"] and all(sorted(r) == ["group", "id", "image"] for r in rows)
    image = client.get(f"{base}/versions/{VERSION}/media/{rows[0]['id']}/image")
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    page = client.get(f"/datasets/{DATASET}")
    assert page.status_code == 200
    if any(getattr(r, "path", "").endswith("/sql") for r in blind["app"].routes):  # the SQL console (#16), where it is served
        answer = client.get(f"{base}/versions/{VERSION}/sql", params={"query": "SELECT * FROM test"})
        assert answer.status_code == 200 and [c["name"] for c in answer.json()["columns"]] == ["id", "image", "group"]
        assert client.get(f"{base}/versions/{VERSION}/sql", params={"query": "SELECT label FROM test"}).status_code == 400


def test_the_hugging_face_clients_get_no_labels(blind, tmp_path):
    """snapshot_download and datasets.load_dataset with HF_ENDPOINT at the server: the user's setup."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    env.update(HF_ENDPOINT=blind["url"], HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_TELEMETRY="1")
    code = textwrap.dedent(f"""
        import json, os
        import datasets
        from huggingface_hub import snapshot_download
        path = snapshot_download(repo_id="{DATASET}", repo_type="dataset", revision="{VERSION}")
        files = sorted(os.path.relpath(os.path.join(d, n), path) for d, _, names in os.walk(path) for n in names)
        test = datasets.load_dataset("{DATASET}", "blind", revision="{VERSION}", split="test")
        print(json.dumps({{"files": files, "features": sorted(test.features), "rows": test.num_rows}}))
    """)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert not any(f.startswith("data/blind") for f in out["files"]) and "data/test-00000-of-00001.parquet" in out["files"]
    assert out["features"] == ["group", "id", "image"] and out["rows"] == blind["manifest"]["splits"]["test"]["rows"]


def test_hub_load_reads_a_blind_split_without_its_labels(blind, tmp_path):
    test = hub.load(DATASET, version=VERSION, split="test", endpoint=blind["url"], cache_dir=tmp_path / "cache")
    assert sorted(test.features) == ["group", "id", "image"] and test.num_rows == blind["manifest"]["splits"]["test"]["rows"]
    both = hub.load(DATASET, version=VERSION, split="train[:10]+test", endpoint=blind["url"], cache_dir=tmp_path / "cache")
    assert sorted(both.features) == ["group", "id", "image"] and both.num_rows == 10 + test.num_rows  # read with a blind split: no labels


def test_the_media_route_serves_no_withheld_label(blind):
    rows = blind["client"].get(f"/api/datasets/{DATASET}/versions/{VERSION}/rows", params={"split": "test", "length": 1}).json()["rows"]
    answer = blind["client"].get(f"/api/datasets/{DATASET}/versions/{VERSION}/media/{rows[0]['id']}/label")
    assert (answer.status_code, answer.json()["error"]) == (404, f"{DATASET}@{VERSION} has no media field 'label'")


def test_publishing_the_same_records_again_is_no_new_version(blind):
    """The blind split's labels are in its labels file, not its shards: the same records are
    unchanged (not a MINOR version whose label column looks added)."""
    again = hub.publish(DATASET, root=blind["root"], skip_unchanged=True)
    assert (again.unchanged, again.version) == (True, VERSION)


def test_a_blind_split_that_is_not_a_split_is_refused(hub_root):
    blind_copy(hub_root, "acme/odd-digits", blind=["holdout"])
    report = hub.validate("acme/odd-digits", root=hub_root)
    problem = next(p for p in report.problems if p.slug == "bad-split-policy")
    assert problem.message == "split.blind names 'holdout', not a split of split.ratios (train, validation, test)"
    assert problem.field == "split.blind"
