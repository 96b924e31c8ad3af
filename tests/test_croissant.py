"""Croissant JSON-LD of the demo versions, checked by the real mlcroissant: `mlcroissant
validate` passes, and the records load from the files next to the document."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hub.croissant import CONFORMS_TO, RECORD_SET, SPLITS, croissant
from hub.hashing import sha256_file
from hub.store import resolve_revision
from tests.conftest import DEMO_IDS

import mlcroissant as mlc
from mlcroissant._src.core.rdf import make_context
MLCROISSANT = Path(sys.executable).parent / "mlcroissant"
REQUIRED = ["@context", "@type", "conformsTo", "name", "description", "license", "url", "creator", "datePublished"]


def _text(value: object) -> str:
    """mlcroissant yields `sc:Text` values as bytes."""
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.fixture(scope="module")
def written(demo_root: Path) -> dict[str, Path]:
    """The `croissant.json` that publishing wrote into each demo version (relative contentUrls)."""
    out = {}
    for dataset in DEMO_IDS:
        revision = resolve_revision(demo_root, dataset, "1.0.0")
        path = revision.path / "croissant.json"
        assert json.loads(path.read_text(encoding="utf-8")) == croissant(revision)
        out[dataset] = path
    return out


@pytest.mark.parametrize("dataset", DEMO_IDS)
def test_dataset_properties(demo_root: Path, dataset: str):
    revision = resolve_revision(demo_root, dataset, "1.0.0")
    doc = croissant(revision)
    assert [key for key in REQUIRED if not doc.get(key)] == []
    assert doc["@type"] == "sc:Dataset" and doc["conformsTo"] == CONFORMS_TO == "http://mlcommons.org/croissant/1.0"
    assert doc["@context"] == make_context()  # mlcroissant's own Croissant 1.0 context
    assert doc["version"] == "1.0.0"
    assert doc["datePublished"] == revision.manifest["created"]
    assert doc["citeAs"].startswith("@")
    licenses = revision.manifest["license"]["licenses"]
    expected = [{"@type": "sc:CreativeWork"} if k.startswith("LicenseRef-") else f"https://spdx.org/licenses/{k}.html" for k in licenses]
    assert [x if isinstance(x, str) else {"@type": x["@type"]} for x in doc["license"]] == expected


@pytest.mark.parametrize("dataset", DEMO_IDS)
def test_file_objects_carry_the_manifest_checksums(demo_root: Path, written: dict[str, Path], dataset: str):
    revision = resolve_revision(demo_root, dataset, "1.0.0")
    doc = json.loads(written[dataset].read_text())
    objects = {d["@id"]: d for d in doc["distribution"] if d["@type"] == "cr:FileObject"}
    shards = {f["path"]: f for f in revision.manifest["files"]}
    assert set(objects) == set(shards)
    for path, shard in shards.items():
        item = objects[path]
        assert item["sha256"] == shard["sha256"] == sha256_file(revision.path / item["contentUrl"])
        assert item["contentSize"] == f"{shard['size']} B"
        assert item["encodingFormat"] == "application/x-parquet"


@pytest.mark.parametrize("dataset", DEMO_IDS)
def test_mlcroissant_validates(written: dict[str, Path], dataset: str):
    result = subprocess.run([str(MLCROISSANT), "validate", "--jsonld", str(written[dataset])], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "error" not in output.lower() and "warning" not in output.lower(), output


@pytest.mark.parametrize("dataset", DEMO_IDS)
def test_mlcroissant_loads_records(demo_root: Path, written: dict[str, Path], dataset: str):
    revision = resolve_revision(demo_root, dataset, "1.0.0")
    records = mlc.Dataset(jsonld=str(written[dataset])).records(RECORD_SET)
    counts: collections.Counter[str] = collections.Counter()
    first_ids: dict[str, str] = {}
    for record in records:
        split = _text(record[f"{RECORD_SET}/split"])
        counts[split] += 1
        first_ids.setdefault(split, _text(record[f"{RECORD_SET}/id"]))
    expected = {name: s["rows"] for name, s in revision.manifest["splits"].items() if s["rows"]}
    assert dict(counts) == expected
    for split in expected:
        shard = sorted(f["path"] for f in revision.manifest["files"] if f["split"] == split)[0]
        assert first_ids[split] == pq.read_table(revision.path / shard, columns=["id"]).column("id")[0].as_py()


def test_split_record_set_is_the_1_0_way(demo_root: Path):
    doc = croissant(resolve_revision(demo_root, "demo/digits", "1.0.0"))
    sets = {r["@id"]: r for r in doc["recordSet"]}
    assert sets[SPLITS]["dataType"] == "cr:Split"
    assert [d[f"{SPLITS}/name"] for d in sets[SPLITS]["data"]] == ["train", "validation", "test"]
    assert [d[f"{SPLITS}/url"] for d in sets[SPLITS]["data"]] == ["cr:TrainingSplit", "cr:ValidationSplit", "cr:TestSplit"]
    split_field = sets[RECORD_SET]["field"][0]
    assert split_field["references"] == {"field": {"@id": f"{SPLITS}/name"}}
    fields = {f["name"]: f for f in sets[RECORD_SET]["field"]}
    assert fields["image"]["dataType"] == "sc:ImageObject"
    assert fields["label"]["dataType"] == ["sc:Integer", "cr:Label"]


def test_base_url_gives_absolute_urls(demo_root: Path, tmp_path: Path):
    revision = resolve_revision(demo_root, "demo/espeak-speech", "1.0.0")
    base = f"http://127.0.0.1:8000/datasets/demo/espeak-speech/resolve/{revision.commit}/"
    doc = croissant(revision, base_url=base)
    urls = [d["contentUrl"] for d in doc["distribution"] if d["@type"] == "cr:FileObject"]
    assert urls == [base + f["path"] for f in sorted(revision.manifest["files"], key=lambda f: f["path"])]
    assert doc["url"] == "http://127.0.0.1:8000/datasets/demo/espeak-speech"
    path = tmp_path / "croissant.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = subprocess.run([str(MLCROISSANT), "validate", "--jsonld", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("dataset", "column", "kind"), [
    ("demo/digits", "image", "sc:ImageObject"), ("demo/espeak-speech", "audio", "sc:AudioObject"), ("demo/video-clips", "video", "sc:VideoObject")])
def test_media_columns_are_schema_org_media_objects(demo_root: Path, written: dict[str, Path], dataset: str, column: str, kind: str):
    """A clip is published as a plain struct<bytes, path>; its field still says it is a video."""
    doc = json.loads(written[dataset].read_text(encoding="utf-8"))
    fields = {f["name"]: f for f in doc["recordSet"][1]["field"]}
    assert fields[column]["dataType"] == kind
    assert fields[column]["source"]["extract"] == {"column": column} and fields[column]["source"]["transform"] == {"jsonPath": "bytes"}
    revision = resolve_revision(demo_root, dataset, "1.0.0")
    record = next(iter(mlc.Dataset(jsonld=str(written[dataset])).records(RECORD_SET)))
    shard = sorted(f["path"] for f in revision.manifest["files"] if f["split"] == _text(record[f"{RECORD_SET}/split"]))[0]
    first = pq.read_table(revision.path / shard, columns=["id", column]).slice(0, 1).to_pylist()[0]
    assert _text(record[f"{RECORD_SET}/id"]) == first["id"]
    if kind != "sc:ImageObject":  # mlcroissant hands audio and video over as the stored bytes (images: decoded by PIL)
        assert record[f"{RECORD_SET}/{column}"] == first[column]["bytes"]
