"""Semantic versions: MINOR when records are added or only labels change, MAJOR when data changes; splits stay put."""

from __future__ import annotations

import json

import datasets
import pytest

import hub
from conftest import image_records, write_dataset

LABELS = ["0", "1", "2"]


def _split_of_ids(root, dataset, version):
    ds = datasets.load_dataset(str(root / "registry" / dataset / "versions" / version))
    return {row: split for split, part in ds.items() for row in part["id"]}


def test_adding_records_is_minor_and_moves_nothing(hub_root, digit_pngs):
    records, files = image_records(digit_pngs, 30, LABELS)
    write_dataset(hub_root, "acme/digits", records, labels=LABELS, extra_files=files)
    assert hub.publish("acme/digits", root=hub_root).version == "1.0.0"

    more, more_files = image_records(digit_pngs, 36, LABELS)  # the same 30, plus 6 new
    write_dataset(hub_root, "acme/digits", more, labels=LABELS, extra_files=more_files)
    second = hub.publish("acme/digits", root=hub_root)
    assert second.version == "1.1.0"
    assert second.manifest["parent"] == {"version": "1.0.0", "change": "minor"}
    old, new = _split_of_ids(hub_root, "acme/digits", "1.0.0"), _split_of_ids(hub_root, "acme/digits", "1.1.0")
    assert {k: new[k] for k in old} == old

    relabelled = [dict(r, label="2") if r["id"] == "img-000" else r for r in more]  # only a label changed: MINOR
    write_dataset(hub_root, "acme/digits", relabelled, labels=LABELS, extra_files=more_files)
    third = hub.publish("acme/digits", root=hub_root)
    assert third.version == "1.2.0" and third.manifest["parent"] == {"version": "1.1.0", "change": "minor"}

    changed = [dict(r, image="raw/other.png") if r["id"] == "img-000" else r for r in relabelled]  # the data changed: MAJOR
    write_dataset(hub_root, "acme/digits", changed, labels=LABELS, extra_files={**more_files, "raw/other.png": digit_pngs[38]})
    fourth = hub.publish("acme/digits", root=hub_root)
    assert fourth.version == "2.0.0" and fourth.manifest["parent"]["change"] == "major"
    assert json.loads((fourth.path / "manifest.json").read_text())["version"] == "2.0.0"
    assert [v for v in hub.show("acme/digits", root=hub_root)["versions"]] == ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]


def test_explicit_patch_republishes_same_records(hub_root, digit_pngs):
    records, files = image_records(digit_pngs, 10, LABELS)
    write_dataset(hub_root, "acme/d", records, labels=LABELS, extra_files=files)
    hub.publish("acme/d", root=hub_root)
    assert hub.publish("acme/d", bump="patch", root=hub_root).version == "1.0.1"
    with pytest.raises(hub.InvalidVersion) as err:
        hub.publish("acme/d", version="2.0", root=hub_root)
    assert err.value.message == "invalid version '2.0': expected MAJOR.MINOR.PATCH"


def test_splits_roll_over_into_numbered_shards(hub_root, digit_pngs, monkeypatch):
    monkeypatch.setenv("HUB_SHARD_ROWS", "7")
    records, files = image_records(digit_pngs, 40, LABELS)
    write_dataset(hub_root, "acme/sharded", records, labels=LABELS, extra_files=files)
    published = hub.publish("acme/sharded", root=hub_root)
    by_split = {}
    for f in published.manifest["files"]:
        by_split.setdefault(f["split"], []).append((f["path"], f["rows"]))
    for split, shards in by_split.items():
        n = len(shards)
        assert [p for p, _ in shards] == [f"data/{split}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
        assert [r for _, r in shards[:-1]] == [7] * (n - 1) and 1 <= shards[-1][1] <= 7
    ds = datasets.load_dataset(str(published.path))
    assert {s: len(ds[s]) for s in ds} == {s: published.manifest["splits"][s]["rows"] for s in by_split}
    assert sorted(r for part in ds.values() for r in part["id"]) == sorted(r["id"] for r in records)


@pytest.mark.parametrize("rows, per_shard", [(1, 500_000), (800_000, 500_000), (1_050_000, 525_000), (10, 3), (1_000_000, 100_000), (250_001, 250_000)])
def test_no_shard_gets_more_rows_than_allowed(rows, per_shard):
    from hub.shards import shard_count

    group, k = shard_count(rows, per_shard)
    groups = -(-rows // group)
    most = -(-groups // k) * group  # row groups are dealt to the k shards in turn
    assert group <= per_shard and (most <= per_shard or rows <= per_shard)
    assert k == 1 or -(-groups // (k - 1)) * group > per_shard  # and no more shards than needed


def test_shards_dictionary_encode_only_repeating_columns(tmp_path):
    """Speakers and languages repeat: dictionary pages; free text and ids do not: plain. Only
    top-level columns carry min/max statistics. The rows read back unchanged."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hub.demo.chatterbot import load
    from hub.shards import write_splits

    table = pa.Table.from_pylist(list(load({})))
    (tmp_path / "data").mkdir()
    files = write_splits(tmp_path, table, np.zeros(table.num_rows, dtype=np.int8), ["train"], 100_000)
    assert [(f["path"], f["rows"]) for f in files] == [("data/train-00000-of-00001.parquet", table.num_rows)]
    shard = pq.ParquetFile(tmp_path / files[0]["path"])
    group = shard.metadata.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    assert {path for path, c in columns.items() if c.has_dictionary_page} == {"language", "intent", "turns.list.element.speaker"}
    assert {path for path, c in columns.items() if c.is_stats_set} == {"id", "dialogue_id", "language", "intent"}
    assert {c.compression for c in columns.values()} == {"ZSTD"}
    assert shard.read().equals(table)


@pytest.mark.parametrize("batch_rows", [1, 7, None])
def test_the_shard_writer_stage_gives_the_same_bytes_however_the_batches_are_cut(tmp_path, batch_rows):
    """Shard writing is a stage over batches (`hub.shards.ShardWriter`): fed the demo dialogues
    1 or 7 rows at a time, or all at once, with a plan summed from the batches (rows per split,
    mean row bytes, the encodings from the first rows), it writes the very shards that
    `write_splits` writes from the whole table: same names, rows and sha256."""
    import numpy as np
    import pyarrow as pa

    from hub.batches import slices
    from hub.demo.chatterbot import load
    from hub.shards import ShardPlan, ShardWriter, sample_rows, write_splits, writer_options

    table = pa.Table.from_pylist(list(load({})))
    split = (np.arange(table.num_rows) * 7 % 10 >= 2).astype(np.int8) + (np.arange(table.num_rows) % 10 == 9)  # 3 splits, interleaved
    names, per_shard = ["train", "validation", "test"], 40  # row groups of 40 rows, cut across batches
    (tmp_path / "whole" / "data").mkdir(parents=True)
    whole = write_splits(tmp_path / "whole", table, split, names, per_shard)

    batches = list(slices(table, batch_rows))
    counts, nbytes = np.zeros(3, dtype=np.int64), 0
    for offset, batch in zip(np.cumsum([0] + [b.num_rows for b in batches]), batches):  # the summaries, merged
        counts += np.bincount(split[offset : offset + batch.num_rows], minlength=3)
        nbytes += batch.nbytes
    row_bytes = nbytes // int(counts.sum())
    first = pa.concat_tables(batches).slice(0, sample_rows(row_bytes))
    plan = ShardPlan(names, counts.tolist(), per_shard, table.schema, writer_options(first, row_bytes))
    (tmp_path / "batched" / "data").mkdir(parents=True)
    with ShardWriter(tmp_path / "batched", plan) as writer:
        offset = 0
        for batch in batches:
            writer.write(batch, split[offset : offset + batch.num_rows])
            offset += batch.num_rows
        batched = writer.close()
    assert len(whole) > 3 and batched == whole
    assert [(f["split"], f["rows"]) for f in whole][:2] == [("train", 40), ("train", 40)]


def test_the_shard_writer_refuses_rows_its_plan_did_not_count(tmp_path):
    import numpy as np
    import pyarrow as pa

    from hub.demo.chatterbot import load
    from hub.shards import ShardPlan, ShardWriter, writer_options

    table = pa.Table.from_pylist(list(load({}))).slice(0, 10)
    plan = ShardPlan(["train", "test"], [6, 4], 100, table.schema, writer_options(table))
    (tmp_path / "data").mkdir()
    with ShardWriter(tmp_path, plan) as writer, pytest.raises(ValueError, match="^split 'test' got more rows than its plan's 4$"):
        writer.write(table, np.array([0] * 5 + [1] * 5, dtype=np.int8))
    with ShardWriter(tmp_path, plan) as writer:
        with pytest.raises(ValueError, match="^split numbers must be from 0 to 1$"):
            writer.write(table, np.array([0] * 9 + [2], dtype=np.int8))
        writer.write(table.slice(0, 9), np.array([0] * 6 + [1] * 3, dtype=np.int8))
        with pytest.raises(ValueError, match="^splits got fewer rows than planned: test 3 of 4$"):
            writer.close()


def test_the_shard_codec_is_a_setting_and_a_bogus_one_is_refused(hub_root, digit_pngs, monkeypatch):
    import pyarrow.parquet as pq

    records, files = image_records(digit_pngs, 20, LABELS)
    write_dataset(hub_root, "acme/codec", records, labels=LABELS, extra_files=files)
    monkeypatch.setenv("HUB_PARQUET_COMPRESSION", "Snappy")
    published = hub.publish("acme/codec", root=hub_root)
    for f in published.manifest["files"]:
        group = pq.ParquetFile(published.path / f["path"]).metadata.row_group(0)
        assert {group.column(i).compression for i in range(group.num_columns)} == {"SNAPPY"}
    monkeypatch.setenv("HUB_PARQUET_COMPRESSION", "zip")
    with pytest.raises(hub.HubError) as err:
        hub.publish("acme/codec", bump="patch", root=hub_root)
    assert err.value.message == "HUB_PARQUET_COMPRESSION='zip' is not a codec the hub writes"
    assert err.value.hint == "Unset it (zstd) or use one of: zstd, snappy, lz4, gzip, brotli, none."
    assert hub.show("acme/codec", root=hub_root)["versions"] == ["1.0.0"]  # nothing half-published
