"""Croissant 1.1 JSON-LD of the demo versions, checked by the real mlcroissant (1.1): `mlcroissant
validate` passes, and the records load from the files next to the document."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hub.croissant import CONFORMS_TO, RECORD_SET, SPLITS, VOCABULARIES, croissant, usage_info
from hub.hashing import sha256_file
from hub.store import resolve_revision
from tests.conftest import DEMO_IDS

import mlcroissant as mlc
from mlcroissant._src.core.context import Context, CroissantVersion
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
    assert doc["@type"] == "sc:Dataset" and doc["conformsTo"] == CONFORMS_TO == "http://mlcommons.org/croissant/1.1"
    # mlcroissant's own Croissant 1.1 context, and the prefixes of the vocabularies the 1.1 spec uses beside it
    assert doc["@context"] == make_context(Context(conforms_to=CroissantVersion.V_1_1), **VOCABULARIES)
    assert VOCABULARIES == {"prov": "http://www.w3.org/ns/prov#", "odrl": "http://www.w3.org/ns/odrl/2/", "duo": "http://purl.obolibrary.org/obo/DUO_",
                            "cc": "http://creativecommons.org/ns#"}
    assert doc["version"] == "1.0.0"
    assert doc["datePublished"] == revision.manifest["created"]
    assert doc["citeAs"].startswith("@")
    licenses = revision.manifest["license"]["licenses"]
    expected = [{"@type": "sc:CreativeWork"} if k.startswith("LicenseRef-") else f"https://spdx.org/licenses/{k}.html" for k in licenses]
    assert [x if isinstance(x, str) else {"@type": x["@type"]} for x in doc["license"]] == expected


@pytest.mark.parametrize("dataset", DEMO_IDS)
def test_every_file_has_its_sha256(demo_root: Path, written: dict[str, Path], dataset: str):
    """Every file of the version folder is a FileObject with its sha256 (the shards' as the
    manifest records them), except the document itself."""
    revision = resolve_revision(demo_root, dataset, "1.0.0")
    doc = json.loads(written[dataset].read_text())
    objects = {d["@id"]: d for d in doc["distribution"] if d["@type"] == "cr:FileObject"}
    on_disk = {p.relative_to(revision.path).as_posix() for p in revision.path.rglob("*") if p.is_file() and not p.name.startswith(".")}
    shards = {f["path"]: f for f in revision.manifest["files"]}
    assert set(objects) == on_disk - {"croissant.json", "data.dvc", "data/index/fingerprints.parquet"} and set(shards) <= set(objects)
    assert {"README.md", "manifest.json", "stats.json", "leakage.json"} <= set(objects)
    for path, item in objects.items():
        assert item["sha256"] == sha256_file(revision.path / item["contentUrl"]) and item["contentSize"] == f"{(revision.path / path).stat().st_size} B"
    for path, shard in shards.items():
        assert objects[path]["sha256"] == shard["sha256"] and objects[path]["encodingFormat"] == "application/x-parquet"
    assert objects["README.md"]["encodingFormat"] == "text/markdown" and objects["manifest.json"]["encodingFormat"] == "application/json"


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


def test_splits_carry_the_certificate_figures(demo_root: Path):
    revision = resolve_revision(demo_root, "demo/digits", "1.0.0")
    doc = croissant(revision)
    sets = {r["@id"]: r for r in doc["recordSet"]}
    assert sets[SPLITS]["dataType"] == "cr:Split"
    assert [f["name"] for f in sets[SPLITS]["field"]] == ["name", "url", "rows", "groups", "target_share", "share", "class_share_deviation"]
    certificate = revision.manifest["certificate"]
    assert sets[SPLITS]["data"] == [
        {"splits/name": s, "splits/url": url, "splits/rows": revision.manifest["splits"][s]["rows"], "splits/groups": certificate["splits"][s]["groups"],
         "splits/target_share": certificate["splits"][s]["target_share"], "splits/share": certificate["splits"][s]["share"],
         "splits/class_share_deviation": certificate["stratification"]["deviation"][s]}
        for s, url in [("train", "cr:TrainingSplit"), ("validation", "cr:ValidationSplit"), ("test", "cr:TestSplit")]]
    assert sets[SPLITS]["data"][0]["splits/target_share"] == 0.8 and sets[SPLITS]["data"][0]["splits/rows"] == 1437
    assert sets[SPLITS]["description"] == ("The splits of the dataset, with the figures of its split certificate (leakage.json); "
                                           "the certificate holds: yes, groups crossing splits: 0, duplicate clusters crossing splits: 0.")
    split_field = sets[RECORD_SET]["field"][0]
    assert split_field["references"] == {"field": {"@id": f"{SPLITS}/name"}}
    fields = {f["name"]: f for f in sets[RECORD_SET]["field"]}
    assert fields["image"]["dataType"] == "sc:ImageObject"
    assert fields["label"]["dataType"] == ["sc:Integer", "cr:Label"]
    splits = {s["splits/name"]: s for s in mlc.Dataset(jsonld=doc).records(SPLITS)}  # mlcroissant reads the figures (inline data: str names)
    assert splits["train"]["splits/rows"] == 1437 and splits["test"]["splits/share"] == certificate["splits"]["test"]["share"]


def test_usage_conditions_come_from_the_license(demo_root: Path):
    """usageInfo: an ODRL offer from the license's terms (Croissant 1.1, Data Use Conditions)."""
    doc = croissant(resolve_revision(demo_root, "demo/digits", "1.0.0"))  # CC-BY-4.0
    assert doc["usageInfo"] == [{"@type": ["sc:CreativeWork", "odrl:Offer"], "name": "Terms of CC-BY-4.0",
                                 "description": "Attribution is required: credit the creators and cite the dataset.",
                                 "odrl:permission": [{"@type": "odrl:Permission", "odrl:action": [{"@id": "odrl:use"}, {"@id": "odrl:distribute"}, {"@id": "odrl:derive"}],
                                                      "odrl:duty": [{"@type": "odrl:Duty", "odrl:action": {"@id": "odrl:attribute"}}]}]}]
    from hub.license import check_license

    (nc,) = usage_info(check_license("CC-BY-NC-SA-4.0").to_dict())
    assert nc["odrl:prohibition"] == [{"@type": "odrl:Prohibition", "odrl:action": {"@id": "odrl:commercialize"}}]
    (permission,) = nc["odrl:permission"]
    assert [d["odrl:action"] for d in permission["odrl:duty"]] == [{"@id": "odrl:attribute"}, {"@id": "cc:ShareAlike"}]
    assert permission["odrl:constraint"] == [{"@type": "odrl:Constraint", "name": "Non-commercial use only", "odrl:leftOperand": {"@id": "odrl:purpose"},
                                              "odrl:operator": {"@id": "odrl:eq"}, "odrl:rightOperand": {"@id": "duo:0000018"}}]
    (nd,) = usage_info(check_license("CC-BY-ND-4.0").to_dict())
    assert {"@id": "odrl:derive"} not in nd["odrl:permission"][0]["odrl:action"]
    (custom,) = usage_info(check_license("LicenseRef-Inhouse").to_dict())
    assert "odrl:permission" not in custom and custom["description"].endswith("Custom license terms (LicenseRef-Inhouse): read the dataset card.")


def test_a_new_version_is_a_revision_of_the_last_with_its_semantic_bump(hub_root: Path, digit_pngs: list[bytes]):
    """Croissant 1.1 versioning: MAJOR.MINOR.PATCH; the document says which it is and of what."""
    import hub
    from tests.conftest import image_records, write_dataset

    records, files = image_records(digit_pngs, 20, ["cat", "dog"])
    write_dataset(hub_root, "test/rev", records, labels=["cat", "dog"], extra_files=files)
    hub.publish("test/rev", root=hub_root)
    first = croissant(resolve_revision(hub_root, "test/rev", "1.0.0"))
    assert "prov:wasRevisionOf" not in first
    hub.publish("test/rev", root=hub_root, bump="patch")
    doc = croissant(resolve_revision(hub_root, "test/rev", "1.0.1"))
    assert doc["version"] == "1.0.1"
    assert doc["prov:wasRevisionOf"] == {"@id": "test/rev@1.0.0", "@type": "prov:Entity", "version": "1.0.0",
                                         "description": "The previous version; this one is a PATCH (the same records)"}


def test_base_url_gives_absolute_urls(demo_root: Path, tmp_path: Path):
    revision = resolve_revision(demo_root, "demo/espeak-speech", "1.0.0")
    base = f"http://127.0.0.1:8000/datasets/demo/espeak-speech/resolve/{revision.commit}/"
    doc = croissant(revision, base_url=base)
    urls = [d["contentUrl"] for d in doc["distribution"] if d["@type"] == "cr:FileObject"]
    assert urls == [base + f.path for f in revision.split_files()] + [base + f.path for f in revision.files.values() if not f.sha256 and f.path != "croissant.json"]
    assert [u for u in urls if u.endswith(".parquet")] == [base + f["path"] for f in sorted(revision.manifest["files"], key=lambda f: f["path"])]
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
