"""Publishing the demo registry and reading it back with `datasets`, as a user would."""

from __future__ import annotations

import hashlib
import json

import datasets
import pyarrow.parquet as pq
import pytest

import hub
from conftest import DEMO_IDS

pytestmark = pytest.mark.slow


def _load(root, dataset, version="1.0.0"):
    return datasets.load_dataset(str(root / "registry" / dataset / "versions" / version))


def test_demo_round_trip_with_datasets(demo_root):
    loaded = {d: _load(demo_root, d) for d in DEMO_IDS}

    digits = loaded["demo/digits"]
    assert set(digits) == {"train", "validation", "test"}
    assert sum(len(s) for s in digits.values()) == 1797
    features = digits["train"].features
    assert isinstance(features["image"], datasets.Image)
    assert features["label"].names == [str(i) for i in range(10)]
    first = digits["train"][0]
    assert first["image"].size == (8, 8)
    assert features["label"].int2str(first["label"]) in features["label"].names

    speech = loaded["demo/espeak-speech"]
    audio = speech["train"].features["audio"]
    assert isinstance(audio, datasets.Audio) and audio.decode is False
    row = speech["train"][0]
    assert row["audio"]["bytes"][:4] == b"RIFF" and row["transcript"].strip()
    import io

    import soundfile

    samples, rate = soundfile.read(io.BytesIO(row["audio"]["bytes"]))
    assert rate == row["sample_rate"] and abs(len(samples) / rate - row["duration"]) < 0.05
    assert {r for s in speech.values() for r in s["language"]} == {"en", "es"}
    assert len({r for s in speech.values() for r in s["speaker"]}) >= 6

    dialogue = loaded["demo/chatterbot-dialogue"]
    turns = dialogue["train"].features["turns"]
    assert isinstance(turns, datasets.List)
    assert isinstance(turns.feature["intent"], datasets.ClassLabel)
    assert {"en", "zh"} <= {r for s in dialogue.values() for r in s["language"]}
    assert any("你" in t["text"] for s in dialogue.values() for d in s["turns"] for t in d)

    motions = loaded["demo/basicmotions"]
    assert motions["train"].features["fault"].names == ["badminton", "running", "standing", "walking"]
    row = motions["train"][0]
    assert len(row["series"]) == 6 and len(row["series"][0]) == 100 and row["channels"][0] == "acc_x"


@pytest.mark.parametrize("dataset", DEMO_IDS)
def test_manifest_describes_every_file(demo_root, dataset):
    version_dir = demo_root / "registry" / dataset / "versions" / "1.0.0"
    manifest = json.loads((version_dir / "manifest.json").read_text())
    assert manifest["dataset"] == dataset and manifest["version"] == "1.0.0"
    on_disk = sorted(p.relative_to(version_dir).as_posix() for p in (version_dir / "data").glob("*.parquet"))
    assert sorted(f["path"] for f in manifest["files"]) == on_disk
    for f in manifest["files"]:
        path = version_dir / f["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == f["sha256"]
        assert path.stat().st_size == f["size"]
        assert pq.ParquetFile(path).metadata.num_rows == f["rows"]
    assert manifest["rows"] == sum(f["rows"] for f in manifest["files"])
    lineage = manifest["lineage"]
    assert lineage["source"]["loader"].startswith("hub.demo.") and len(lineage["source"]["code_sha256"]) == 64
    assert lineage["params"]["split"]["seed"] == 20261122
    assert manifest["parent"] is None


@pytest.mark.parametrize("dataset", DEMO_IDS)
def test_groups_never_cross_splits(demo_root, dataset):
    info = hub.show(f"{dataset}@1.0.0", root=demo_root)
    key = info["split"]["group_key"]
    ds = _load(demo_root, dataset)
    seen = {}
    for split, part in ds.items():
        for group in part[key]:
            assert seen.setdefault(group, split) == split, f"{key} {group!r} in {seen[group]} and {split}"


def test_bytes_are_in_the_dvc_cache_and_remote(demo_root):
    from dvc.repo import Repo

    version_dir = demo_root / "registry" / "demo" / "digits" / "versions" / "1.0.0"
    assert (version_dir / "data.dvc").is_file()
    with Repo(str(demo_root)) as repo:
        status = repo.status(targets=[str(version_dir / "data.dvc")], cloud=True)
    assert status == {}  # in sync with the remote: nothing new, nothing missing
    # The md5 handed to DVC (computed while writing) names the right content, in cache and remote.
    for store in (demo_root / ".dvc" / "cache" / "files" / "md5", demo_root / ".hub" / "remote" / "files" / "md5"):
        objects = [p for p in store.rglob("*") if p.is_file() and not p.name.endswith(".dir")]
        assert len(objects) >= 11  # the four demo versions' shards
        for obj in objects:
            assert hashlib.md5(obj.read_bytes()).hexdigest() == obj.parent.name + obj.name
    # The shards went into the remote several at a time (hub.publishing._copy_to_local_remote):
    # each is still a copy of its own, read-only as DVC leaves it, not a link to the cache.
    remote, cache = demo_root / ".hub" / "remote" / "files" / "md5", demo_root / ".dvc" / "cache" / "files" / "md5"
    for obj in (p for p in remote.rglob("*") if p.is_file() and not p.name.endswith(".dir")):
        twin = cache / obj.relative_to(remote)
        assert twin.is_file() and not obj.samefile(twin) and obj.stat().st_nlink == 1
        assert not obj.stat().st_mode & 0o222
    assert not [p for p in remote.rglob("*") if p.is_file() and ".tmp" in p.name]  # no copy left half-done


def test_catalog_lists_and_searches_the_demo(demo_root):
    ids = [d["id"] for d in hub.list_datasets(root=demo_root)]
    assert ids == DEMO_IDS
    assert [d["id"] for d in hub.search("digits", root=demo_root)] == ["demo/digits"]
    assert [d["id"] for d in hub.search(modality="speech", root=demo_root)] == ["demo/espeak-speech"]
    assert [d["id"] for d in hub.search(language="zh", root=demo_root)] == ["demo/chatterbot-dialogue"]
    non_commercial = [d["id"] for d in hub.search(commercial=False, root=demo_root)]
    assert non_commercial == ["demo/basicmotions"]  # LicenseRef-: terms unknown to the hub
    assert hub.search("no-such-word-anywhere", root=demo_root) == []


def test_republishing_identical_records_is_refused_and_nothing_changes(demo_root):
    version_dir = demo_root / "registry" / "demo" / "basicmotions" / "versions"
    before = sorted(p.name for p in version_dir.iterdir())
    with pytest.raises(hub.VersionExists) as err:
        hub.publish("demo/basicmotions", root=demo_root)
    assert err.value.message == "demo/basicmotions@1.0.0 already holds exactly these records"
    with pytest.raises(hub.VersionExists) as err:
        hub.publish("demo/basicmotions", version="1.0.0", root=demo_root)
    assert err.value.message == "demo/basicmotions@1.0.0 is not newer than the latest published version 1.0.0"
    assert sorted(p.name for p in version_dir.iterdir()) == before
    same = hub.publish("demo/basicmotions", skip_unchanged=True, root=demo_root)
    assert same.unchanged and same.version == "1.0.0"
