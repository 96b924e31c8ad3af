"""Contamination across the hub: a dataset whose train split holds another dataset's test records.

Real demo data: `demo/digits` and `demo/chatterbot-dialogue` published in a hub of this module;
the new corpora copy their test records under new ids, beside photo tiles from scikit-learn's
sample images (real photos, nothing like a digit).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import hub
from conftest import copy_demo, run_hub, write_dataset
from hub.contamination import Contaminated

DIGITS = "demo/digits"
CHAT = "demo/chatterbot-dialogue"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = hub.init(tmp_path_factory.mktemp("contamination") / "hub")
    for dataset in (DIGITS, CHAT):
        copy_demo(root, dataset)
        hub.publish(dataset, root=root, push=False)
    return root


def _split_rows(root: Path, dataset: str, split: str) -> list[dict]:
    version = root / "registry" / dataset / "versions" / "1.0.0"
    manifest = json.loads((version / "manifest.json").read_text())
    return [r for f in manifest["files"] if f["split"] == split for r in pq.read_table(version / f["path"]).to_pylist()]


def _photo_tiles(n: int) -> list[bytes]:
    from PIL import Image
    from sklearn.datasets import load_sample_images

    china = load_sample_images().images[0]
    tiles = []
    for i in range(n):
        y, x = divmod(i, 8)
        out = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(china[40 + 64 * y: 104 + 64 * y, 64 * x: 64 * x + 64])).save(out, format="PNG")
        tiles.append(out.getvalue())
    return tiles


def _mixed_corpus(root: Path, name: str, copies: int = 20) -> list[str]:
    """An image corpus, all train: `copies` of demo/digits' test images under new ids, and 20 photo tiles."""
    test = _split_rows(root, DIGITS, "test")[:copies]
    files, records = {}, []
    for i, row in enumerate(test):
        files[f"raw/copy-{i:03d}.png"] = row["image"]["bytes"]
        records.append({"id": f"copy-{i:03d}", "image": f"raw/copy-{i:03d}.png", "label": "digit", "group": f"c{i}"})
    for i, tile in enumerate(_photo_tiles(20)):
        files[f"raw/tile-{i:03d}.png"] = tile
        records.append({"id": f"tile-{i:03d}", "image": f"raw/tile-{i:03d}.png", "label": "photo", "group": f"t{i}"})
    write_dataset(root, name, records, labels=["digit", "photo"], extra_files=files,
                  split={"group_key": "group", "ratios": {"train": 1.0}, "seed": 1})
    return [row["id"] for row in test]


def test_train_holding_another_datasets_test_images_is_refused(site):
    copied = _mixed_corpus(site, "acme/mixed")
    with pytest.raises(Contaminated) as caught:
        hub.publish("acme/mixed", root=site, push=False)
    assert caught.value.message == (
        "acme/mixed: 20 records of train match demo/digits@1.0.0 test (exact: 20, near: 0); "
        "first ids: copy-000, copy-001, copy-002, copy-003, copy-004; see .hub/reports/acme/mixed/contamination.json")
    assert caught.value.hint.startswith("Drop those records from the training data (the report lists every id)")
    report = json.loads((site / ".hub/reports/acme/mixed/contamination.json").read_text())
    (match,) = report["matches"]
    assert match["ids"] == [f"copy-{i:03d}" for i in range(20)]  # every id, no photo tile
    assert set(copied) <= set(match["their_ids"])
    assert not list((site / "registry/acme/mixed").glob("versions/*"))  # nothing published

    cli = run_hub("publish", "acme/mixed", "--no-push", root=site)
    assert cli.returncode == 1
    assert cli.stderr.splitlines()[0] == f"Error: {caught.value.message}"


def test_allow_contamination_publishes_and_the_card_says_which_test_set(site):
    _mixed_corpus(site, "acme/mixed-allowed")
    cli = run_hub("publish", "acme/mixed-allowed", "--no-push", "--allow-contamination", root=site)
    assert cli.returncode == 0, cli.stderr
    assert ("  contains test records (--allow-contamination): 20 records of train match demo/digits@1.0.0 test "
            "(exact: 20, near: 0)") in cli.stdout.splitlines()
    version = site / "registry/acme/mixed-allowed/versions/1.0.0"
    contamination = json.loads((version / "manifest.json").read_text())["contamination"]
    assert contamination["train_contaminated"] is True and contamination["allowed"] is True
    assert [(m["dataset"], m["version"], m["split"], m["ours"], m["rows"], m["exact"], m["near"]) for m in contamination["matches"]] == [
        (DIGITS, "1.0.0", "test", "train", 20, 20, 0)]
    card = (version / "README.md").read_text()
    assert "## Contamination" in card
    assert "**Warning: the train split holds test records of other datasets** (published with --allow-contamination)." in card
    assert "- 20 records of train match demo/digits@1.0.0 test (exact: 20, near: 0); first ids: copy-000, copy-001, copy-002, copy-003, copy-004" in card


def test_lower_cased_copies_of_test_dialogues_are_found(site):
    test = _split_rows(site, CHAT, "test")[:6]
    records = [{"id": f"mine-{i}", "dialogue_id": f"mine-{i}", "language": "en",
                "turns": [{"speaker": t["speaker"], "text": t["text"].lower()} for t in row["turns"]]} for i, row in enumerate(test)]
    records.append({"id": "mine-own", "dialogue_id": "mine-own", "language": "en",
                    "turns": [{"speaker": "user", "text": "Is the kettle in the kitchen boiling yet?"}, {"speaker": "bot", "text": "Not yet."}]})
    write_dataset(site, "acme/chat", records, modality="dialogue", split={"group_key": "dialogue_id", "ratios": {"train": 1.0}, "seed": 1})
    result = hub.check_contamination("acme/chat", root=site)
    assert result["contaminated"] is True
    (match,) = result["matches"]
    assert (match["dataset"], match["split"], match["ours"], match["rows"]) == (CHAT, "test", "train", 6)
    assert match["exact"] + match["near"] == 6 and sorted(match["ids"]) == [f"mine-{i}" for i in range(6)]
    assert set(match["their_ids"]) >= {row["id"] for row in test}


def test_hub_contamination_checks_a_save_to_disk_folder(site, tmp_path):
    import datasets

    test = _split_rows(site, DIGITS, "test")[:3]
    tiles = _photo_tiles(4)
    train = datasets.Dataset.from_dict({
        "id": [f"x-{i}" for i in range(3)] + [f"tile-{i}" for i in range(4)],
        "image": [{"bytes": r["image"]["bytes"], "path": None} for r in test] + [{"bytes": t, "path": None} for t in tiles],
        "group": ["a"] * 7,
    })
    clean = datasets.Dataset.from_dict({"id": ["tile-9"], "image": [{"bytes": tiles[0], "path": None}], "group": ["b"]})
    datasets.DatasetDict({"train": train}).save_to_disk(str(tmp_path / "mine"))
    found = run_hub("contamination", str(tmp_path / "mine"), "--json", root=site)
    assert found.returncode == 1, found.stderr
    result = json.loads(found.stdout)
    assert result["contaminated"] is True
    assert [(m["dataset"], m["split"], m["ours"], m["rows"], m["exact"], m["ids"]) for m in result["matches"]] == [
        (DIGITS, "test", "train", 3, 3, ["x-0", "x-1", "x-2"])]
    datasets.DatasetDict({"train": clean}).save_to_disk(str(tmp_path / "clean"))
    ok = run_hub("contamination", str(tmp_path / "clean"), "--record", "image", root=site)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == [f"{tmp_path / 'clean'}: no training record matches a test set"]


# -- the index: fingerprints stored per version (issue #13) -----------------------------------


def test_the_version_stores_its_fingerprints_and_no_route_serves_them(site):
    from conftest import uvicorn_thread
    from hub.server.app import create_app

    version = site / "registry" / DIGITS / "versions" / "1.0.0"
    manifest = json.loads((version / "manifest.json").read_text())
    meta = manifest["fingerprints"]
    assert (meta["path"], meta["format"], meta["rows"]) == ("data/index/fingerprints.parquet", 1, sum(s["rows"] for s in manifest["splits"].values()))
    prints = pq.read_table(version / meta["path"])
    assert hub.hashing.sha256_file(version / meta["path"]) == meta["sha256"]
    assert prints.column_names == ["row", "split", "id", "exact", "bands", "near"]
    assert sorted(prints.column("id").to_pylist()) == sorted(r["id"] for s in ("train", "validation", "test") for r in _split_rows(site, DIGITS, s))
    assert meta["path"] not in [f["path"] for f in manifest["files"]]  # not a file of the dataset
    assert set(meta["seconds"]) == {"fingerprints", "contamination_check"}  # what the index cost this publish
    with uvicorn_thread(create_app(site)) as url:
        import httpx

        answer = httpx.get(f"{url}/datasets/{DIGITS}/resolve/1.0.0/data/index/fingerprints.parquet")
        assert answer.status_code == 404, answer.text
        tree = httpx.get(f"{url}/api/datasets/{DIGITS}/tree/1.0.0/data").json()
        assert "data/index/fingerprints.parquet" not in [f["path"] for f in tree]


def _digits_test_as_train(site: Path, n: int, edit=None) -> tuple[pa.Table, np.ndarray, list[str]]:
    """The first `n` of demo/digits' test records under new ids, as a train split (`edit` changes an image)."""
    rows = _split_rows(site, DIGITS, "test")[:n]
    images = [{"bytes": edit(r["image"]["bytes"]) if edit else r["image"]["bytes"], "path": None} for r in rows]
    table = pa.table({"id": [f"mine-{i}" for i in range(n)], "image": images, "group": ["g"] * n})
    return table, np.zeros(n, dtype=np.int8), ["train"]


def _one_pixel_lighter(png: bytes) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        pixels = np.array(image)
    pixels.flat[0] = min(255, int(pixels.flat[0]) + 8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_near_copies_are_found_through_the_stored_fingerprints(site):
    from hub import contamination

    table, split_of_row, names = _digits_test_as_train(site, 5, edit=_one_pixel_lighter)
    (match,) = contamination.check(site, "image", table, split_of_row, names, only=DIGITS)
    assert (match.dataset, match.version, match.split, match.ours, match.rows, match.exact, match.near) == (DIGITS, "1.0.0", "test", "train", 5, 0, 5)
    assert match.ids == [f"mine-{i}" for i in range(5)]


def test_our_test_records_in_another_datasets_train_are_reported_not_refused(site):
    """demo/digits' train images as our test split: found in its train (informational), and a
    train-only dataset is checked too (acme/mixed-allowed, published above, holds copies of its test images)."""
    from hub import contamination

    train = _split_rows(site, DIGITS, "train")[:3]
    copies = _split_rows(site, DIGITS, "test")[:2]
    table = pa.table({"id": ["t-0", "t-1", "t-2", "c-0", "c-1"], "image": [{"bytes": r["image"]["bytes"], "path": None} for r in train + copies],
                      "group": ["g"] * 5})
    matches = contamination.check(site, "image", table, np.zeros(5, dtype=np.int8), ["test"])
    assert [(m.dataset, m.split, m.ours, m.rows, m.ids) for m in matches] == [
        (DIGITS, "train", "test", 3, ["t-0", "t-1", "t-2"]),
        ("acme/mixed-allowed", "train", "test", 2, ["c-0", "c-1"]),
        (DIGITS, "test", "test", 2, ["c-0", "c-1"]),
    ]
    assert contamination.refusing(matches) == []


def test_a_near_copy_in_our_test_split_after_train_rows_is_decided_by_its_own_fingerprint(site):
    """Our test rows are matched against their train as a filtered table: each candidate's near
    value is its own row's, not the one at its position."""
    from hub import contamination

    train = _split_rows(site, DIGITS, "train")[:2]
    table = pa.table({"id": ["own-0", "near-0"], "image": [{"bytes": _photo_tiles(1)[0], "path": None},
                                                          {"bytes": _one_pixel_lighter(train[1]["image"]["bytes"]), "path": None}],
                      "group": ["a", "b"]})
    matches = contamination.check(site, "image", table, np.array([0, 1], dtype=np.int8), ["train", "test"], only=DIGITS)
    assert [(m.split, m.ours, m.rows, m.exact, m.near, m.ids) for m in matches] == [("train", "test", 1, 0, 1, ["near-0"])]


def test_a_fingerprint_file_that_does_not_match_its_manifest_is_refused_by_name(site):
    from hub import contamination

    path = site / "registry" / DIGITS / "versions" / "1.0.0" / "data" / "index" / "fingerprints.parquet"
    kept = path.read_bytes()
    try:
        path.write_bytes(kept[:-9] + b"tampered!")
        table, split_of_row, names = _digits_test_as_train(site, 3)
        with pytest.raises(hub.errors.StorageError) as caught:
            contamination.check(site, "image", table, split_of_row, names, only=DIGITS)
        assert caught.value.message == "demo/digits@1.0.0: data/index/fingerprints.parquet does not match the sha256 of its manifest"
        assert caught.value.hint == "The published fingerprints were changed on disk: restore them with `dvc checkout` (or `dvc pull`)."
    finally:
        path.write_bytes(kept)


def test_a_version_published_without_fingerprints_is_indexed_from_its_verified_shards(site):
    """A version from before the index (no `fingerprints` in its manifest), or of another format:
    its fingerprints are rebuilt from its shards into .hub/index, never read from the version."""
    from hub import contamination

    manifest_path = site / "registry" / CHAT / "versions" / "1.0.0" / "manifest.json"
    kept = manifest_path.read_text()
    manifest = json.loads(kept)
    manifest["fingerprints"]["format"] = 0  # an older hub's index
    try:
        manifest_path.write_text(json.dumps(manifest, indent=2))
        (ref,) = contamination.references(site, "dialogue", only=CHAT)
        assert ref.path.parent == site / ".hub" / "index" / "fingerprints" / CHAT
        test = _split_rows(site, CHAT, "test")[:4]
        table = pa.table({"id": [f"again-{i}" for i in range(4)], "dialogue_id": [f"again-{i}" for i in range(4)],
                          "turns": [row["turns"] for row in test]})
        (match,) = contamination.check(site, "dialogue", table, np.zeros(4, dtype=np.int8), ["train"], only=CHAT)
        assert (match.version, match.split, match.rows, match.exact) == ("1.0.0", "test", 4, 4)
    finally:
        manifest_path.write_text(kept)


def test_the_test_sets_page_says_which_datasets_hold_its_records(site):
    """After acme/mixed-allowed was published with --allow-contamination (above): demo/digits'
    page names it; a private dataset holding them is not named to a caller without a token."""
    import httpx

    from conftest import uvicorn_thread
    from hub.server.app import create_app

    with uvicorn_thread(create_app(site)) as url:
        page = httpx.get(f"{url}/datasets/{DIGITS}").text
    section = page[page.index('id="contaminated-by"'):]
    section = section[:section.index("</section>")]
    assert '<a href="/datasets/acme/mixed-allowed">acme/mixed-allowed</a>@1.0.0</td><td>train</td><td>test <span class="muted">(1.0.0)</span></td><td class="num">20</td><td class="num">20</td><td class="num">0</td>' in section
    assert "private" not in section


def test_every_version_of_a_standard_test_set_is_a_reference(site):
    """Runs last: it publishes demo/chatterbot-dialogue 1.0.1 (the same records, `--bump patch`)."""
    from hub import contamination

    hub.publish(CHAT, root=site, push=False, bump="patch")
    assert [r.version for r in contamination.references(site, "dialogue", only=CHAT)] == ["1.0.1"]
    entry = site / "registry" / CHAT / "dataset.yaml"
    entry.write_text(entry.read_text() + "standard: true\n")
    assert [r.version for r in contamination.references(site, "dialogue", only=CHAT)] == ["1.0.0", "1.0.1"]
    test = _split_rows(site, CHAT, "test")[:2]
    table = pa.table({"id": ["a", "b"], "dialogue_id": ["a", "b"], "turns": [row["turns"] for row in test]})
    matches = contamination.check(site, "dialogue", table, np.zeros(2, dtype=np.int8), ["train"], only=CHAT)
    assert [(m.version, m.split, m.rows) for m in matches] == [("1.0.0", "test", 2), ("1.0.1", "test", 2)]


@pytest.mark.parametrize("dataset", ["demo/digits", "demo/espeak-speech", "demo/chatterbot-dialogue", "demo/basicmotions", "demo/video-clips"])
def test_fingerprinting_is_a_stage_over_batches(demo_root, dataset):
    """Every record type's fingerprints of the published demo rows, 1 or 7 rows at a time or
    all at once (`hub.fingerprints.table_of`, as Ray runs it, a task a batch), are the same
    table; a rule on the data's size (dialogue's near_text_limit) holds for the data, not the batch."""
    import dataclasses

    from hub import fingerprints
    from hub.dedup import Thresholds

    version = demo_root / "registry" / dataset / "versions" / "1.0.0"
    manifest = json.loads((version / "manifest.json").read_text())
    table = pa.concat_tables([pq.read_table(version / f["path"]) for f in manifest["files"]])
    split = np.array([i for i, f in enumerate(manifest["files"]) for _ in range(f["rows"])])
    names = [f["split"] for f in manifest["files"]]
    whole = fingerprints.table_of(table, manifest["record"], split, names, Thresholds())
    assert whole.num_rows == table.num_rows and whole.column("exact").null_count == 0
    for rows in (1, 7):
        assert fingerprints.table_of(table, manifest["record"], split, names, Thresholds(), batch_rows=rows).equals(whole)
    if dataset == "demo/chatterbot-dialogue":
        assert any(whole.column("bands").to_pylist())
        capped = dataclasses.replace(Thresholds(), near_text_limit=table.num_rows - 1)
        for rows in (7, None):
            assert not any(fingerprints.table_of(table, "dialogue", split, names, capped, batch_rows=rows).column("bands").to_pylist())
