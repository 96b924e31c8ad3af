"""Duplicates injected into real data never straddle a split boundary; the certificate says so."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import hub
from hub.entry import SplitPolicy
from hub.splits import assign, assign_leakproof, certify

SVG = "{http://www.w3.org/2000/svg}"

POLICY = {"ratios": {"train": 0.5, "validation": 0.25, "test": 0.25}, "seed": 11}


def _separated(table: pa.Table, key: str, a: int, b: int, seed_from: int = 0) -> int:
    """A seed under which rows a and b would land in different splits by their groups alone."""
    for seed in range(seed_from, seed_from + 500):
        policy = SplitPolicy(key, None, POLICY["ratios"], seed)
        index, _ = assign(table.column(key), policy)
        if index[a] != index[b]:
            return seed
    raise AssertionError("no separating seed")


def _check(table: pa.Table, key: str, record: str, a: int, b: int, kind: str) -> dict:
    seed = _separated(table, key, a, b)
    policy = SplitPolicy(key, None, POLICY["ratios"], seed)
    assignment = assign_leakproof(table, policy, record)
    assert assignment.index[a] == assignment.index[b], "the duplicate pair was split"
    assert assignment.moved_rows >= 1
    certificate = certify(table, assignment, policy, [])
    assert certificate["holds"] and certificate["groups_crossing_splits"] == 0
    assert certificate["duplicate_clusters_crossing_splits"] == 0
    assert certificate["duplicate_clusters_by_kind"][kind] >= 1
    return certificate


def test_dialogue_repeated_with_other_whitespace_and_case():
    from hub.demo.chatterbot import load

    rows = [r for r in load({}) if r["language"] == "en"][:300]
    copy = dict(rows[5], id="copy", dialogue_id="copy-dialogue")
    copy["turns"] = [dict(t, text="  " + t["text"].upper().replace(" ", "   ") + "\t") for t in rows[5]["turns"]]
    table = pa.Table.from_pylist([*rows, copy])
    _check(table, "dialogue_id", "dialogue", 5, len(rows), "exact-text")


def test_same_digit_image_under_two_groups():
    from hub.demo.digits import load

    rows = list(load({"limit": 300}))
    table = pa.Table.from_pylist([*rows, dict(rows[7], id="copy", group="another-writer")])
    _check(table, "group", "image", 7, len(rows), "exact-image")


def test_same_audio_under_two_speakers():
    from hub.demo.espeak_speech import load

    rows = list(load({}))
    copy = dict(rows[0], id="copy", speaker="impostor")
    table = pa.Table.from_pylist([*rows, copy])
    # Other speakers say the same sentence: that is not a duplicate, only identical audio is.
    certificate = _check(table, "speaker", "speech", 0, len(rows), "exact-audio")
    assert certificate["duplicate_clusters"] == 1


def test_overlapping_sensor_windows_from_two_assets():
    from hub.demo.basicmotions import load

    rows = list(load({}))
    shifted = dict(rows[3], id="shifted", asset_id="another-watch")
    shifted["series"] = [channel[20:] + [0.0] * 20 for channel in rows[3]["series"]]  # the same motion, 20 samples later
    table = pa.Table.from_pylist([*rows, shifted])
    _check(table, "asset_id", "sensor", 3, len(rows), "overlapping-window")


def test_group_disjointness_is_certified_from_the_data_not_trusted():
    from hub.dedup import DuplicateKeys, Thresholds
    from hub.splits import Assignment

    table = pa.table({"g": ["a", "a", "b"]})
    policy = SplitPolicy("g", None, POLICY["ratios"], 1)
    broken = Assignment(np.array([0, 1, 1], dtype=np.int8), ["train", "validation", "test"], 0, 0,
                        DuplicateKeys(np.array([0, 2]), np.array([0, 0]), {"exact-text": 1}, []), Thresholds())
    certificate = certify(table, broken, policy, [])
    assert (certificate["holds"], certificate["groups_crossing_splits"], certificate["duplicate_clusters_crossing_splits"]) == (False, 1, 1)


@pytest.mark.slow
def test_published_versions_carry_the_certificate(demo_root):
    for dataset in ("demo/digits", "demo/chatterbot-dialogue"):
        version = demo_root / "registry" / dataset / "versions" / "1.0.0"
        certificate = json.loads((version / "leakage.json").read_text())
        manifest = json.loads((version / "manifest.json").read_text())
        assert manifest["certificate"] == certificate
        assert certificate["holds"] is True
        assert sum(s["rows"] for s in certificate["splits"].values()) == manifest["rows"]
    dialogue = json.loads((demo_root / "registry/demo/chatterbot-dialogue/versions/1.0.0/leakage.json").read_text())
    assert dialogue["stratification"]["key"] == "intent"
    assert 0 <= dialogue["stratification"]["largest_deviation"] < 1
    assert hub.show("demo/digits@1.0.0", root=demo_root)["manifest"]["certificate"]["thresholds"]["image_mad"] == 0.03
    for dataset, metric in (("demo/digits", "width"), ("demo/chatterbot-dialogue", "turn_chars"), ("demo/espeak-speech", "duration_s"), ("demo/basicmotions", "channel_ranges")):
        version = demo_root / "registry" / dataset / "versions" / "1.0.0"
        stats = json.loads((version / "stats.json").read_text())
        manifest = json.loads((version / "manifest.json").read_text())
        assert {s: v["rows"] for s, v in stats["splits"].items() if v["rows"]} == {s: v["rows"] for s, v in manifest["splits"].items()}
        assert any(metric in v for v in stats["splits"].values())
        for name in stats["plots"]:
            assert f"](plots/{name})" in (version / "README.md").read_text()
        bars = ET.parse(version / "plots" / "splits.svg").getroot().iter(f"{SVG}rect")
        assert {b.get("data-category"): float(b.get("data-value")) for b in bars if b.get("class") == "bar"} == {s: v["rows"] for s, v in stats["splits"].items()}
        for field, counts in {f: {s: v["classes"][f] for s, v in stats["splits"].items()} for f in stats["splits"]["train"].get("classes", {})}.items():
            bars = [b for b in ET.parse(version / "plots" / f"classes-{field}.svg").getroot().iter(f"{SVG}rect") if b.get("class") == "bar"]
            shown = {(b.get("data-series"), b.get("data-category")): float(b.get("data-value")) for b in bars}
            assert shown == {(s, c): counts[s].get(c, 0) / sum(counts[s].values()) for s in counts for c in {c for v in counts.values() for c in v}}
    digits = json.loads((demo_root / "registry/demo/digits/versions/1.0.0/stats.json").read_text())
    assert sum(sum(s["classes"]["label"].values()) for s in digits["splits"].values()) == 1797
    assert digits["splits"]["train"]["width"] == {"min": 8.0, "median": 8.0, "max": 8.0, "mean": 8.0}
    assert digits["class_balance"]["label"]["largest_deviation"] <= 0.01
    digits_balance = json.loads((demo_root / "registry/demo/digits/versions/1.0.0/leakage.json").read_text())["stratification"]
    assert digits_balance["largest_deviation"] < digits_balance["largest_deviation_hashed"]
    speech = json.loads((demo_root / "registry/demo/espeak-speech/versions/1.0.0/leakage.json").read_text())
    assert {name: s["groups"] for name, s in speech["splits"].items()} == {"train": 6, "validation": 1, "test": 1}
    motions = demo_root / "registry/demo/basicmotions/versions/1.0.0"
    test = pq.read_table(motions / "data/test-00000-of-00001.parquet", columns=["channels", "series"]).to_pylist()
    values = np.asarray([r["series"] for r in test], dtype=np.float32)  # (records, channels, samples)
    ranges = json.loads((motions / "stats.json").read_text())["splits"]["test"]["channel_ranges"]
    assert ranges == {name: {"min": round(float(values[:, c].min()), 4), "max": round(float(values[:, c].max()), 4)} for c, name in enumerate(test[0]["channels"])}


@pytest.mark.slow
def test_growth_moves_no_published_record(hub_root):
    """Adding ~17% new digits (new groups, some of them near duplicates of old ones) moves nothing."""
    import datasets

    from conftest import copy_demo, set_source_options

    copy_demo(hub_root, "demo/digits")
    set_source_options(hub_root, "demo/digits", limit=1500)
    first = hub.publish("demo/digits", root=hub_root)
    set_source_options(hub_root, "demo/digits")
    second = hub.publish("demo/digits", root=hub_root)
    assert (second.version, second.manifest["parent"]) == ("1.1.0", {"version": "1.0.0", "change": "minor"})

    def splits(version):
        ds = datasets.load_dataset(str(version.path))
        return {i: s for s, part in ds.items() for i in part["id"]}

    old, new = splits(first), splits(second)
    assert len(old) == 1500 and len(new) == 1797
    assert [i for i in old if new[i] != old[i]] == []
    certificate = second.manifest["certificate"]
    assert certificate["holds"] and (certificate["records_moved"], certificate["moves"]) == (0, [])


# -- balancing within the group constraint --------------------------------------------------


def _demo_policy(dataset: str, seed: int | None = None) -> SplitPolicy:
    from conftest import REPO
    from hub.entry import load_entry

    policy = load_entry(REPO, dataset).split
    return policy if seed is None else SplitPolicy(policy.group_key, policy.stratify_key, policy.ratios, seed, policy.duplicates)


@pytest.fixture(scope="module")
def digits() -> pa.Table:
    from hub.demo.digits import load

    return pa.Table.from_pylist(list(load({})))


@pytest.fixture(scope="module")
def speech() -> pa.Table:
    from hub.demo.espeak_speech import load

    return pa.Table.from_pylist(list(load({})))


@pytest.mark.parametrize("seed", [20261122, 1, 2, 3])
def test_class_stratified_digits_are_balanced_better_than_hashing(digits, seed):
    policy = _demo_policy("demo/digits", seed)
    assignment = assign_leakproof(digits, policy, "image")
    certificate = certify(digits, assignment, policy, [])
    balance = certificate["stratification"]
    assert certificate["holds"] and balance["key"] == "label"
    assert balance["largest_deviation"] <= 0.01
    assert balance["largest_deviation"] < balance["largest_deviation_hashed"]
    rows = {name: s["rows"] for name, s in certificate["splits"].items()}
    assert abs(rows["validation"] - 0.1 * digits.num_rows) <= 2 and abs(rows["test"] - 0.1 * digits.num_rows) <= 2


@pytest.mark.parametrize("seed", range(8))
def test_few_speakers_leave_no_split_empty(speech, seed):
    policy = _demo_policy("demo/espeak-speech", None if seed == 0 else seed)
    assignment = assign_leakproof(speech, policy, "speech")
    certificate = certify(speech, assignment, policy, [])
    assert certificate["holds"]
    assert {name: s["groups"] for name, s in certificate["splits"].items()} == {"train": 6, "validation": 1, "test": 1}


def test_the_demo_speech_split_used_to_leave_validation_empty(speech):
    policy = _demo_policy("demo/espeak-speech")
    hashed, names = assign(speech.column("speaker"), policy)
    assert np.bincount(hashed, minlength=3)[names.index("validation")] == 0  # the symptom
    index = assign_leakproof(speech, policy, "speech").index
    assert np.bincount(index, minlength=3).min() > 0


def test_split_is_a_function_of_the_records_not_their_order(digits):
    policy = _demo_policy("demo/digits")
    shuffled = digits.take(pa.array(np.random.default_rng(5).permutation(digits.num_rows)))
    by_id = {}
    for table in (digits, shuffled):
        assignment = assign_leakproof(table, policy, "image")
        by_id[len(by_id)] = dict(zip(table.column("id").to_pylist(), assignment.index.tolist()))
    assert by_id[0] == by_id[1]


def test_growth_keeps_pinned_records_and_balances_the_new_ones(digits):
    policy = _demo_policy("demo/digits")
    first = assign_leakproof(digits.slice(0, 1500), policy, "image")
    pinned = np.full(digits.num_rows, -1, dtype=np.int16)
    pinned[:1500] = first.index
    grown = assign_leakproof(digits, policy, "image", pinned=pinned)
    assert (grown.index[:1500] != first.index).sum() == 0 and grown.moved_rows == 0
    balance = certify(digits, grown, policy, [])["stratification"]
    assert balance["largest_deviation"] <= 0.02


def test_a_colliding_text_hash_is_not_taken_for_a_duplicate(monkeypatch):
    """Every text's cheap hash made equal: md5 of the candidates still finds exactly the real clusters."""
    from hub import dedup
    from hub.demo.chatterbot import load

    rows = [r for r in load({}) if r["language"] == "en"][:300]
    copy = dict(rows[5], id="copy", dialogue_id="copy-dialogue")
    copy["turns"] = [dict(t, text=" " + t["text"].upper() + "  ") for t in rows[5]["turns"]]
    table = pa.Table.from_pylist([*rows, copy])

    def clusters() -> set[frozenset[int]]:
        found = dedup.find_duplicates(table, "dialogue", dedup.Thresholds(near=False))
        return {frozenset(found.rows[found.keys == k].tolist()) for k in np.unique(found.keys)}

    expected = clusters()
    assert frozenset({5, len(rows)}) in expected
    seen = []
    monkeypatch.setattr(dedup, "repeated_rows", lambda hashes: seen.append(len(hashes)) or np.arange(len(hashes)))  # all collide
    assert clusters() == expected
    assert seen == [table.num_rows]  # the cheap hashes of every row went through the patched search


def _parquet_dialogues(root, rows: list[dict]) -> str:
    """The demo dialogue entry with `rows` as a Parquet source instead of its loader."""
    import yaml

    from conftest import copy_demo

    dataset = "demo/chatterbot-dialogue"
    copy_demo(root, dataset)
    folder = root / "registry" / dataset
    (folder / "raw").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), folder / "raw" / "records.parquet")
    doc = yaml.safe_load((folder / "dataset.yaml").read_text())
    doc["source"] = {"format": "parquet", "files": [{"path": "raw/records.parquet"}]}
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return dataset


def _chatterbot_with_copies() -> list[dict]:
    """Real chit-chat dialogues, three of them repeated (case and whitespace changed) under other dialogue ids."""
    from hub.demo.chatterbot import load

    rows = list(load({}))
    for i in (5, 700, 2000):
        rows.append(dict(rows[i], id=f"copy-{i}", dialogue_id=f"copy-dialogue-{i}",
                         turns=[dict(t, text="  " + t["text"].upper().replace(" ", "  ")) for t in rows[i]["turns"]]))
    return rows


@pytest.mark.parametrize("batch", [97, 65_536])
def test_hashes_taken_while_reading_give_the_split_of_hashing_afterwards(hub_root, monkeypatch, batch):
    """The group and text hashes computed batch by batch while a Parquet source is read
    (`RowHasher`) put every record where hashing the whole table afterwards does."""
    import hub.sources
    import hub.splits
    from hub.splits import RowHasher
    from hub.validation import validate

    rows = _chatterbot_with_copies()
    dataset = _parquet_dialogues(hub_root, rows)
    monkeypatch.setattr(hub.sources, "_READ_BATCH", batch)
    results = []
    result = RowHasher.result
    monkeypatch.setattr(RowHasher, "result", lambda self, n: results.append(result(self, n)) or results[-1])
    hashed = []
    hash_rows = hub.splits.hash_rows
    monkeypatch.setattr(hub.splits, "hash_rows", lambda batch, *a: hashed.append(batch.num_rows) or hash_rows(batch, *a))
    validated = validate(hub_root, dataset, assign_splits=True)
    ahead = validated.split_assignment()
    assert len(results) == 1 and results[0] is not None and len(results[0].groups) == len(results[0].texts) == len(rows)
    assert len(hashed) == -(-len(rows) // batch) and sum(hashed) == len(rows)  # one query per batch read
    policy = validated.entry.split
    after = assign_leakproof(validated.table, policy, "dialogue", policy.thresholds())
    assert np.array_equal(ahead.index, after.index)
    assert ahead.duplicates.kinds["exact-text"] == after.duplicates.kinds["exact-text"] >= 3
    for i in (5, 700, 2000):
        assert ahead.index[i] == ahead.index[rows.index(next(r for r in rows if r["id"] == f"copy-{i}"))]


def test_hashes_taken_while_reading_are_dropped_when_an_overlay_or_a_null_key_could_change_them(hub_root, monkeypatch):
    """A record without a group key (before the fix, the split engine failed on it) or an
    annotation overlay that rewrites a group key: the engine hashes the table itself."""
    from hub.annotations import append_overlay
    from hub.splits import RowHasher
    from hub.validation import validate

    rows = _chatterbot_with_copies()
    rows[3] = dict(rows[3], dialogue_id=None)  # rejected by validation: the split is of the other rows
    dataset = _parquet_dialogues(hub_root, rows)
    results = []
    result = RowHasher.result
    monkeypatch.setattr(RowHasher, "result", lambda self, n: results.append(result(self, n)) or results[-1])
    validated = validate(hub_root, dataset, assign_splits=True)
    assert [p.slug for p in validated.report.problems] == ["missing-group-key"]
    ahead = validated.split_assignment()
    assert results == [None]
    policy = validated.entry.split
    assert np.array_equal(ahead.index, assign_leakproof(validated.table, policy, "dialogue", policy.thresholds()).index)
    published = hub.publish(dataset, root=hub_root, allow_rejects=True)  # the keyless record stays in quarantine
    assert published.manifest["rows"] == len(rows) - 1 and published.manifest["validation"]["rows_rejected"] == 1

    rows[3] = dict(rows[3], dialogue_id="d-3")
    pq.write_table(pa.Table.from_pylist(rows), hub_root / "registry" / dataset / "raw" / "records.parquet")
    append_overlay(hub_root / "registry" / dataset, [{"id": rows[0]["id"], "field": "dialogue_id", "value": rows[1]["dialogue_id"], "provenance": {}}])
    results.clear()
    validated = validate(hub_root, dataset, assign_splits=True)
    ahead = validated.split_assignment()
    assert results == [None]  # the overlay moved a record into another group: hashed afterwards
    assert ahead.index[0] == ahead.index[1]
