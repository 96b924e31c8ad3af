"""The bad-input corpus (`tests/bad_inputs/`): every case's exact outcome, and what
`--allow-rejects` publishes from all the cases of a record type together."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest

import hub
from bad_inputs import CASES, RECORDS, Materials, dataset_doc, write_source
from bad_inputs.cases import MAX_ROW_BYTES, write_dataset_doc

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")]  # the bomb cases warn, then are refused


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, digit_pngs, espeak_wav):
    """A hub holding every case as a dataset of its own (`<record>/<case>`), and the publishable
    cases of each record type as one dataset of many source files (`corpus/<record>`)."""
    root = hub.init(tmp_path_factory.mktemp("corpus") / "hub")
    materials = Materials.make(digit_pngs, espeak_wav)
    built = {}
    for record in RECORDS:
        combined = root / "registry" / "corpus" / record
        files = []
        for case in (c for c in CASES if c.record == record):
            built[case.id] = b = case.build(materials, case.name)
            folder = root / "registry" / case.record / case.name
            path = write_source(folder, case.name, b)
            write_dataset_doc(folder, dataset_doc(record, [path], "parquet" if b.table is not None else "jsonl"))
            if case.publish and b.table is None:
                files.append(write_source(combined, case.name, b))
        doc = dataset_doc(record, files)
        doc["split"]["ratios"] = {"train": 1.0}  # the cases repeat their media (one espeak clip): one duplicate cluster fills no three splits
        write_dataset_doc(combined, doc)
    return root, built


def _expected(case, built):
    return [(slug, row, field, message(built) if callable(message) else message) for slug, row, field, message in case.problems]


def test_the_corpus_covers_every_record_type():
    assert len(CASES) >= 40
    assert Counter(c.record for c in CASES).keys() == set(RECORDS)
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(corpus, case, monkeypatch):
    """Rejected with its slug, row, field and message, the good rows kept; or accepted."""
    monkeypatch.setenv("HUB_MAX_ROW_BYTES", str(MAX_ROW_BYTES))
    root, built = corpus
    b = built[case.id]
    report = hub.validate(case.id, root=root)
    source = f"raw/{case.name}.{'parquet' if b.table is not None else 'jsonl'}"
    assert [(p.slug, p.row, p.field, p.message) for p in report.problems] == _expected(case, b)
    assert {p.file for p in report.problems} <= {source}
    rejected = {p.row for p in report.problems if p.row is not None}
    good = b.good_ids(rejected)
    assert (report.rows_valid, report.rows_rejected) == (len(good), len(rejected))
    if not rejected:
        assert report.quarantine is None
        return
    quarantined = [json.loads(line) for line in (root / report.quarantine).read_text(encoding="utf-8").splitlines()]
    assert sorted(q["row"] for q in quarantined) == sorted(rejected)  # every rejected row kept, at its line
    assert all(q["file"] == source for q in quarantined)
    by_row = {q["row"]: [p["slug"] for p in q["problems"]] for q in quarantined}
    assert by_row == {row: [p.slug for p in report.problems if p.row == row] for row in rejected}


@pytest.mark.parametrize("record", RECORDS)
def test_allow_rejects_publishes_exactly_the_good_rows(corpus, record, monkeypatch):
    """All the publishable cases of a record type in one dataset (one source file each):
    `--allow-rejects` publishes the good rows, every one of them, and nothing else."""
    monkeypatch.setenv("HUB_MAX_ROW_BYTES", str(MAX_ROW_BYTES))
    root, built = corpus
    cases = [c for c in CASES if c.record == record and c.publish and built[c.id].table is None]
    expected_ids, expected_problems = [], Counter()
    for case in cases:
        problems = _expected(case, built[case.id])
        expected_ids += built[case.id].good_ids({p[1] for p in problems})
        expected_problems.update(p[0] for p in problems)
    published = hub.publish(f"corpus/{record}", allow_rejects=True, root=root)
    ids = [i for path in sorted((published.path / "data").glob("*.parquet")) for i in pq.read_table(path, columns=["id"]).column("id").to_pylist()]
    assert sorted(ids) == sorted(expected_ids)
    rejected = sum(len({p[1] for p in case.problems}) for case in cases)
    assert published.manifest["rows"] == len(expected_ids)
    assert published.manifest["validation"] == {"rows_read": len(expected_ids) + rejected, "rows_rejected": rejected, "problems": dict(expected_problems)}
