"""A source larger than memory (#18): past HUB_SPILL_BYTES, a publish keeps its decoded
batches in memory-mapped files under `.hub/spill/` (`hub.spill`) instead of in memory. The
published version must be the same byte for byte, the files must be gone afterwards, and a
source that breaks part-way must leave none behind.

The source is the chatterbot-corpus dialogues (English, Spanish, Chinese) as two Parquet files,
decoded 500 rows at a time, with a dialogue id of invalid UTF-8 in one batch (that batch alone
is read row by row) and an intent outside the label set (rejected by the checks, so the valid
rows are filtered a slice at a time)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import hub
import hub.sources
import hub.spill
from conftest import DEMO
from hub.demo.chatterbot import load

DATASET = "corpora/chatterbot-parquet"
BAD_UTF8, BAD_LABEL = 1234, 2345  # rows (0-based, over both files) spoiled


@pytest.fixture(scope="module")
def records() -> list[dict]:
    found = list(load({}))
    assert len(found) == 2773
    return found


def _hub(tmp: Path, records: list[dict]) -> Path:
    root = hub.init(tmp)
    folder = root / "registry" / DATASET
    (folder / "raw").mkdir(parents=True)
    demo = yaml.safe_load((DEMO / "chatterbot-dialogue" / "dataset.yaml").read_text(encoding="utf-8"))
    rows = [dict(r, dialogue_id=r["dialogue_id"].encode()) for r in records]
    rows[BAD_UTF8]["dialogue_id"] = b"\xff" + rows[BAD_UTF8]["dialogue_id"]
    rows[BAD_LABEL]["intent"] = "weather"
    half = len(rows) // 2
    for i, part in enumerate((rows[:half], rows[half:])):
        pq.write_table(pa.Table.from_pylist(part), folder / "raw" / f"part-{i}.parquet", row_group_size=700)
    doc = {**{k: demo[k] for k in ("title", "description", "modality", "record", "languages", "license", "labels", "split")},
           "source": {"format": "parquet", "files": [{"path": "raw/part-0.parquet"}, {"path": "raw/part-1.parquet"}]}}
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return root


def _version(root: Path) -> tuple[dict, dict[str, bytes]]:
    folder = root / "registry" / DATASET / "versions" / "1.0.0"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    files = {f["path"]: (folder / f["path"]).read_bytes() for f in manifest["files"]}
    files[manifest["fingerprints"]["path"]] = (folder / manifest["fingerprints"]["path"]).read_bytes()
    return manifest, files


@pytest.fixture
def mapped(monkeypatch) -> list[Path]:
    """Every spill file read back, as `hub.spill` maps it."""
    seen: list[Path] = []
    real = hub.spill._mapped

    def recording(path: Path) -> pa.Table:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(hub.spill, "_mapped", recording)
    monkeypatch.setattr(hub.sources, "_READ_BATCH", 500)
    return seen


def test_a_spilled_publish_is_the_publish_in_memory(tmp_path, records, mapped, monkeypatch):
    here = _hub(tmp_path / "here", records)
    in_memory = hub.publish(DATASET, root=here, allow_rejects=True, push=False)
    assert mapped == []  # 2,773 dialogues are far below the default threshold
    there = _hub(tmp_path / "there", records)
    (there / ".hub" / "spill").mkdir()
    dead, alive = there / ".hub" / "spill" / "999999999-killed.arrows", there / ".hub" / "spill" / f"{os.getppid()}-writing.arrows"
    dead.write_bytes(b"left by a publish that was killed")
    alive.write_bytes(b"another publish, still running")
    (there / ".hub" / "spill" / "999999999-killed.column").write_bytes(b"per-row hashes of that publish")
    columns = []
    array = hub.spill.Column.array
    monkeypatch.setattr(hub.spill.Column, "array", lambda self: columns.append(array(self)) or columns[-1])
    monkeypatch.setenv("HUB_SPILL_BYTES", "0")
    spilled = hub.publish(DATASET, root=there, allow_rejects=True, push=False)
    assert len(mapped) >= 3  # the read batches (one file per schema), the valid rows, the fingerprints
    assert list((there / ".hub" / "spill").iterdir()) == [alive]  # ours unlinked as soon as they were mapped; the dead process's removed
    assert [(len(c), c.dtype, isinstance(c.base, np.memmap)) for c in columns] == [(2772, np.uint64, True)]  # the id hashes of the rows read

    (m_here, files_here), (m_there, files_there) = _version(here), _version(there)
    assert files_there == files_here  # shards and fingerprints, byte for byte
    differ = {k for k in m_here.keys() | m_there.keys() if m_here.get(k) != m_there.get(k)}
    assert differ <= {"created", "fingerprints"}, differ
    assert m_there["fingerprints"]["sha256"] == m_here["fingerprints"]["sha256"]
    for published in (in_memory, spilled):
        report = published.report
        assert (report.rows_read, report.rows_valid) == (2773, 2771)
        problems = sorted((p.file, p.row, p.slug, p.message) for p in report.problems)
        assert problems == [("raw/part-0.parquet", BAD_UTF8 + 1, "type-error", "dialogue_id: b'\\xffen-tech-support-0519' is not of type 'string'"),
                            ("raw/part-1.parquet", BAD_LABEL - 1386 + 1, "label-not-in-set", "label 'weather' in intent is not in the label set")], problems
    quarantine = [(here / in_memory.report.quarantine).read_text(encoding="utf-8").replace(str(here), "ROOT"),
                  (there / spilled.report.quarantine).read_text(encoding="utf-8").replace(str(there), "ROOT")]
    assert quarantine[0] == quarantine[1]


def test_a_source_that_breaks_part_way_leaves_no_spill_files(tmp_path, records, mapped, monkeypatch):
    root = _hub(tmp_path / "hub", records)
    path = root / "registry" / DATASET / "raw" / "part-1.parquet"
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 2000] = b"\x00" * 2000  # a row group's pages spoiled; the footer intact
    path.write_bytes(bytes(data))
    monkeypatch.setenv("HUB_SPILL_BYTES", "0")
    with pytest.raises(hub.ValidationFailed) as raised:
        hub.publish(DATASET, root=root, allow_rejects=True, push=False)
    problems = [p for p in raised.value.fields["report"].problems if p.slug == "source-error"]
    assert len(problems) == 1 and problems[0].message.startswith("source file 'raw/part-1.parquet' is not readable Parquet: "), problems
    assert list((root / ".hub" / "spill").iterdir()) == []  # what was spilled before the break is gone
    assert not (root / "registry" / DATASET / "versions").exists() or not any((root / "registry" / DATASET / "versions").iterdir())


def test_a_spill_folder_that_cannot_be_written_fails_the_publish_by_name(tmp_path, records, mapped, monkeypatch):
    root = _hub(tmp_path / "hub", records)
    spill = root / ".hub" / "spill"
    spill.write_text("not a folder")  # what a full or read-only disk would do to the first file
    monkeypatch.setenv("HUB_SPILL_BYTES", "0")
    with pytest.raises(hub.StorageError) as raised:
        hub.publish(DATASET, root=root, allow_rejects=True, push=False)
    assert raised.value.message == f"cannot spill decoded rows to {spill} (0 bytes written so far): [Errno 17] File exists: '{spill}'"
    assert raised.value.hint == "Free space on that disk, or raise HUB_SPILL_BYTES (now 0) to keep more rows in memory. Nothing was published."
    assert not (root / "registry" / DATASET / "versions").exists()
    monkeypatch.delenv("HUB_SPILL_BYTES")  # below the threshold nothing is spilled: the folder is not even made
    assert hub.publish(DATASET, root=root, allow_rejects=True, push=False).version == "1.0.0"
    assert mapped == []


def test_per_row_values_that_cannot_be_spilled_fail_by_name(tmp_path, records, monkeypatch):
    """A `Column` of the dialogues' id hashes whose folder cannot be made: the error names it,
    and nothing is left behind; below its threshold, nothing is written at all."""
    from hub.dedup import text_hashes

    monkeypatch.delenv("HUB_SPILL_BYTES", raising=False)
    table = pa.Table.from_pylist(records)
    hashes = text_hashes(table, "dialogue").to_numpy()
    blocked = tmp_path / "spill"
    blocked.write_text("not a folder")
    column = hub.spill.Column(np.uint64, blocked, threshold=1000)
    column.append(hashes[:100])  # 800 bytes: held
    with pytest.raises(hub.StorageError) as raised:
        column.append(hashes[100:])
    assert raised.value.message == f"cannot spill per-row values to {blocked} ({hashes.nbytes} bytes so far): [Errno 17] File exists: '{blocked}'"
    assert raised.value.hint == "Free space on that disk, or raise HUB_SPILL_BYTES (now 268435456) to keep more in memory. Nothing was published."
    kept = hub.spill.Column(np.uint64, tmp_path / "unused", threshold=hashes.nbytes)
    kept.append(hashes[:7])
    kept.append(hashes[7:])
    assert np.array_equal(kept.array(), hashes) and not (tmp_path / "unused").exists()


def test_repeated_hashes_are_found_a_partition_at_a_time(records):
    """The rows of the chatterbot dialogues whose normalized text repeats another's: the same
    whether the hashes are sorted at once or a partition of their top bits at a time (as for
    a table past `part_values` rows), and the rows a count of the texts says."""
    from collections import Counter

    from hub.arrowutil import repeated_rows
    from hub.dedup import normalized_texts, text_hashes

    table = pa.Table.from_pylist(records)
    hashes = text_hashes(table, "dialogue")
    texts = normalized_texts(table, "dialogue").to_pylist()
    counts = Counter(texts)
    expected = [i for i, t in enumerate(texts) if counts[t] > 1]
    assert len(expected) > 50
    for part_values in (1 << 22, 1000, 97, 1):
        assert repeated_rows(hashes, part_values).tolist() == expected, part_values
        assert repeated_rows(hashes.to_numpy(), part_values).tolist() == expected, part_values
