"""Checking is a stage over batches (`hub.batches`): however the rows are cut, 1 or 7 at a time
or all at once, validation reports the same problems, rows and lines, quarantines the same rows
and keeps the same valid rows; the repeated ids that cross batches are still found."""

from __future__ import annotations

import numpy as np
import pytest

import hub
from hub import records
from bad_inputs import CASES, RECORDS, Materials, dataset_doc, write_source
from bad_inputs.cases import MAX_ROW_BYTES, write_dataset_doc
from conftest import copy_demo, image_records, write_dataset
from hub.entry import load_entry
from hub.report import render_report
from hub.splits import RowHashes, hash_rows
from hub.validation import validate

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # the bomb cases warn, then are refused

SIZES = (1, 7, None)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, digit_pngs, espeak_wav):
    """The demo speech, and per record type the bad-input cases that publish as one dataset of
    many files (`jsonl/<record>`; the Parquet one, of dialogues, as `parquet/dialogue`)."""
    root = hub.init(tmp_path_factory.mktemp("batches") / "hub")
    copy_demo(root, "demo/espeak-speech")
    materials = Materials.make(digit_pngs, espeak_wav)
    for record in RECORDS:
        files: dict[str, list[str]] = {"jsonl": [], "parquet": []}
        for case in (c for c in CASES if c.record == record and c.publish):
            built = case.build(materials, case.name)
            fmt = "parquet" if built.table is not None else "jsonl"
            files[fmt].append(write_source(root / "registry" / fmt / record, case.name, built))
        for fmt, paths in files.items():
            if paths:
                write_dataset_doc(root / "registry" / fmt / record, dataset_doc(record, paths, fmt))
    return root


def _outcome(root, dataset, batch_rows):
    validated = validate(root, dataset, batch_rows=batch_rows)
    report = validated.report.to_dict()
    quarantine = (root / report["quarantine"]).read_text(encoding="utf-8") if report["quarantine"] else None
    return report, render_report(report, limit=None), quarantine, validated.table


DATASETS = ["demo/espeak-speech"] + [f"jsonl/{r}" for r in RECORDS] + ["parquet/dialogue"]


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_outcome_does_not_depend_on_the_batches(corpus, dataset, monkeypatch):
    monkeypatch.setenv("HUB_MAX_ROW_BYTES", str(MAX_ROW_BYTES))
    outcomes = [_outcome(corpus, dataset, n) for n in SIZES]
    report, lines, quarantine, table = outcomes[-1]
    assert report["rows_read"] > 1
    if dataset != "demo/espeak-speech":
        assert report["problems"] and quarantine  # the corpus has bad rows
    for n, (other_report, other_lines, other_quarantine, other_table) in zip(SIZES, outcomes):
        assert other_report == report, n
        assert other_lines == lines, n
        assert other_quarantine == quarantine, n
        assert other_table.equals(table), n


def test_the_split_does_not_depend_on_the_batches(corpus):
    """The split begun while checking, of the demo speech: the same rows in the same splits."""
    splits = [validate(corpus, "demo/espeak-speech", assign_splits=True, batch_rows=n).split_assignment() for n in SIZES]
    assert all(np.array_equal(s.index, splits[-1].index) for s in splits)
    assert sorted(set(splits[-1].index.tolist())) == [0, 1, 2]


def test_repeated_ids_across_batches_keep_their_true_rows(hub_root, digit_pngs):
    """An id repeated 9 rows later (two batches of 7 apart) is reported at its own file and row,
    naming the first, and rejects that row alone; problems come by check, then by row."""
    records, files = image_records(digit_pngs, 12, ["0", "1"])
    records[9]["id"] = "img-000"
    records[10]["label"] = "nine"
    records[3]["label"] = "eight"
    write_dataset(hub_root, "demo/ids", records, labels=["0", "1"], group_key="group", extra_files=files)
    for n in SIZES:
        report = validate(hub_root, "demo/ids", batch_rows=n).report
        assert [(p.slug, p.row, p.message) for p in report.problems] == [
            ("label-not-in-set", 4, "label 'eight' in label is not in the label set"),
            ("label-not-in-set", 11, "label 'nine' in label is not in the label set"),
            ("duplicate-id", 10, "record id 'img-000' repeats the one at raw/records.jsonl row 1"),
        ], n
        assert (report.rows_read, report.rows_valid) == (12, 9), n


@pytest.mark.parametrize("spilled", [False, True], ids=["in-memory", "spilled"])
@pytest.mark.parametrize("dataset", ["demo/espeak-speech", "jsonl/dialogue"])
def test_row_hashes_merge_as_one_batch(corpus, dataset, spilled, tmp_path, monkeypatch):
    """The hashing stage gives, batch by batch then merged, the hashes of the whole table
    (and of the texts, for a record type that has them: dialogues); spilled (HUB_SPILL_BYTES=0),
    the same values, memory-mapped from files already removed."""
    entry = load_entry(corpus, dataset)
    table = validate(corpus, dataset).table
    texts = records.get(entry.schema.record).text_sql is not None
    whole = hash_rows(table, entry.split, entry.schema.record)
    if spilled:
        monkeypatch.setenv("HUB_SPILL_BYTES", "0")
    merged = RowHashes.merge([hash_rows(table.slice(s, 7), entry.split, entry.schema.record) for s in range(0, table.num_rows, 7)], texts,
                             tmp_path if spilled else None)
    assert np.array_equal(merged.groups, whole.groups) and len(merged.groups) == table.num_rows > 7
    assert isinstance(merged.groups.base, np.memmap) == spilled
    assert list(tmp_path.iterdir()) == []
    assert (merged.texts is not None) == texts == (dataset == "jsonl/dialogue")
    if texts:
        assert np.array_equal(merged.texts, whole.texts) and merged.texts.dtype == np.uint64
    assert RowHashes.merge([], texts).groups.dtype == np.uint64


@pytest.mark.parametrize("dataset", ["demo/espeak-speech", "demo/chatterbot-dialogue"])
def test_stats_do_not_depend_on_the_batches(tmp_path, dataset, monkeypatch):
    """The stats are measured `STATS_BATCH` rows at a time, each split's metrics kept as value
    counts: the same stats 1, 7 or all rows at a time, and each summary numpy's own over the
    split's values (durations of real speech, lengths of real dialogue turns)."""
    import hub.stats
    from hub.publishing import prepare

    root = hub.init(tmp_path / "hub")
    copy_demo(root, dataset)
    p = prepare(root, dataset)
    outcomes = []
    for n in (1, 7, 10**9):
        monkeypatch.setattr(hub.stats, "STATS_BATCH", n)
        outcomes.append(hub.stats.compute(p.table, p.assignment.index, p.assignment.names, p.entry, p.certificate))
    assert outcomes[0] == outcomes[1] == outcomes[2]
    per_row, per_item = records.get(p.entry.schema.record).metrics(p.table)
    metrics = {**per_row, **{m: values for m, (values, _) in per_item.items()}}
    assert metrics  # the record type measures something
    for i, name in enumerate(p.assignment.names):
        mask = p.assignment.index == i
        for metric, values in metrics.items():
            chosen = values[mask] if metric in per_row else values[mask[per_item[metric][1]]]
            q = np.percentile(chosen, [0, 50, 100])
            expected = {"min": round(float(q[0]), 4), "median": round(float(q[1]), 4), "max": round(float(q[2]), 4), "mean": round(float(chosen.mean()), 4)}
            assert outcomes[-1]["splits"][name][metric] == expected, (name, metric)
