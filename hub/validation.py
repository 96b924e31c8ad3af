"""Validation: read a dataset's source, check every record, report every problem.

Two stages, the data going down once: reading (`hub.sources.read_table`: the source files as
Arrow rows carrying their file and row position, media resolved, the rows that cannot become
Arrow reported), then checking, batch by batch (`hub.checks.check_batch`, merged by
`finish_checks`: see `hub.batches` for how such a stage is written). Checks run over whole Arrow
columns of a batch (so millions of rows cost seconds) and flag the rows they concern. Rejected
rows are written, with their problems, to a quarantine JSONL file the report names.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hub import engine
from hub.annotations import apply_overlay, overlay_path
from hub.batches import slices
from hub.checks import CheckContext, check_batch, finish_checks
from hub.entry import Entry, load_entry
from hub.errors import SourceError
from hub.report import Report
from hub.repo import work_dir
from hub.sources import FILE, ROW, check_source_checksums, read_table
from hub.spill import filtered
from hub.spill import folder as spill_folder
from hub.split_modes import assign as assign_mode
from hub.split_modes import plan_time
from hub.splits import Assignment, RowHasher, RowHashes, assign_leakproof

log = logging.getLogger(__name__)

__all__ = ["Validated", "validate", "validate_entry"]

_FILE, _ROW = FILE, ROW
CHECK_BATCH = 65_536  # rows checked at a time (the Parquet reader's batch)


@dataclass
class Validated:
    """The outcome of validation: the entry, the valid rows and the report."""

    entry: Entry
    table: pa.Table  # valid rows, source schema (class labels still strings)
    report: Report
    keep: np.ndarray | None = None  # which rows read were kept (None: all)
    _splits: Future | None = None
    plan: Any = None  # a time split's boundaries (`hub.split_modes.plan_time`), found after the checks

    def split_assignment(self, parent: pa.Table | None = None) -> Assignment:
        """The leakage-proof split of every valid row (see `hub.splits.assign_leakproof`).

        Computed in the background while the checks ran, when `validate_entry` was asked to
        (with the same `parent`: the published (id, split) the records keep). It is always the
        split of the valid rows alone: when the checks reject rows, the split begun on every
        row read is dropped, and the valid rows are split again.
        """
        if self._splits is None:
            return _assign(self.table, self.entry, parent, plan=self.plan)
        return self._splits.result()


def validate(root: Path, dataset: str, *, assign_splits: bool = False, parent: pa.Table | None = None, batch_rows: int | None = CHECK_BATCH) -> Validated:
    """Validate `dataset`'s entry and every record of its source.

    Returns a `Validated` whose report lists every problem; raises only for an invalid id or
    an unregistered dataset. The rows are checked `batch_rows` at a time (None: all at once);
    the outcome is the same whatever the batch size.
    """
    validated = validate_entry(root, load_entry(root, dataset), assign_splits=assign_splits, parent=parent, batch_rows=batch_rows)
    from hub.split_rules import split_notices

    validated.report.notices = split_notices(root, validated.entry)  # a seed or ratios changed since the latest version: what that does
    return validated


_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-splits")


def validate_entry(root: Path, entry: Entry, *, assign_splits: bool = False, parent: pa.Table | None = None, batch_rows: int | None = CHECK_BATCH) -> Validated:
    """Validate an entry's records (see `validate`).

    With `assign_splits`, the split assignment is computed on the other core while the
    checks run (`Validated.split_assignment`), and again from the valid rows if any are rejected.
    """
    report = entry.report
    schema = entry.schema
    if not report.valid or schema is None or entry.split is None:
        return Validated(entry, pa.table({}), report)
    rel_yaml = str(entry.yaml_path.relative_to(root))
    for name, expected, actual in check_source_checksums(entry):
        report.add("checksum-mismatch", f"source file {name!r} has sha256 {actual}, dataset.yaml says {expected}", file=rel_yaml, field="source.files")
    rejected: dict[int, list[dict[str, Any]]] = defaultdict(list)  # table row -> problems
    unreadable: list[dict[str, Any]] = []  # rows that never became Arrow
    parquet = entry.data["source"].get("format") == "parquet"
    hash_mode = entry.split.mode == "hash"
    hasher = RowHasher(entry.split, schema.record, spill_folder(root)) if assign_splits and parquet and hash_mode else None  # the split engine's hashing, while reading
    try:
        table = read_table(entry, schema, report, unreadable, hasher)  # the read stage: positioned Arrow rows, media resolved
    except BaseException as exc:
        if hasher is not None:
            hasher.close()
        if not isinstance(exc, SourceError):
            raise
        report.add("source-error", exc.message, file=rel_yaml, field="source")
        return Validated(entry, pa.table({}), report)
    if hasher is not None and overlay_path(entry.path).is_file():
        hasher.discard()  # the overlay may rewrite group keys or texts
    table = apply_overlay(entry, table)  # labels pulled back from annotation (hub.annotations)
    ahead: dict[str, Any] = {}
    # A time split is found after the checks (it rejects rows in its gaps): not in the background.
    splits = _BACKGROUND.submit(_assign, table, entry, parent, hasher, ahead) if assign_splits and table.num_rows and entry.split.mode != "time" else None
    if splits is None and hasher is not None:
        hasher.close()  # no rows: nothing to split
    ctx = CheckContext(schema, entry, rows_sized=not parquet and "loader" not in entry.data["source"])
    finish_checks(engine.each(check_batch, slices(table, batch_rows), ctx), ctx, report, rejected,  # here, or on Ray (hub.engine)
                  table.select(["id", _FILE, _ROW]), spill_folder(root))
    plan = None
    if entry.split.mode == "time" and table.num_rows:
        plan = plan_time(table, entry, report, rejected, _pinned(table, entry, parent))
    report.rows_read = table.num_rows + len(unreadable)
    if not report.rows_read:
        report.add("source-error", "the source yielded no records", file=rel_yaml, field="source")
    keep = np.ones(table.num_rows, dtype=bool)
    if rejected:
        keep[np.fromiter(rejected.keys(), dtype=np.int64)] = False
    report.rows_valid = int(keep.sum())
    if rejected or unreadable:
        report.quarantine = str(_write_quarantine(root, entry, table, rejected, unreadable).relative_to(root))
    valid = table.drop_columns([_FILE, _ROW])
    if rejected:
        valid = filtered(valid, keep, spill_folder(root))  # a slice at a time (hub.spill)
    if rejected and splits is not None:
        # The split was begun on every row read, before the checks had rejected any. Its outcome is
        # dropped (it may even have failed on a rejected row's bad media or null text): the split
        # and duplicate engines decide on the valid rows alone, with the hashes taken while reading.
        wait([splits])
        hashes = ahead.get("hashes")
        splits = _BACKGROUND.submit(_assign, valid, entry, parent, None, None, hashes.select(keep, spill_folder(root)) if hashes is not None else None) if valid.num_rows else None
    return Validated(entry, valid, report, keep if rejected else None, splits, plan)


def _pinned(table: pa.Table, entry: Entry, parent: pa.Table | None) -> np.ndarray | None:
    """The published split index of every row (-1: a new record), or None without a parent."""
    if parent is None or not parent.num_rows:
        return None
    names = pa.array(list(entry.split.ratios), pa.string())
    parent_split = pc.fill_null(pc.index_in(parent.column("split"), value_set=names), -1).to_numpy(zero_copy_only=False)
    position = pc.fill_null(pc.index_in(table.column("id"), value_set=parent.column("id")), -1).to_numpy(zero_copy_only=False)
    found = position >= 0
    pinned = np.full(table.num_rows, -1, dtype=np.int16)
    pinned[found] = parent_split[position[found]]
    return pinned


def _assign(table: pa.Table, entry: Entry, parent: pa.Table | None = None, hasher: RowHasher | None = None,
            ahead: dict[str, Any] | None = None, hashes: RowHashes | None = None, plan: Any = None) -> Assignment:
    if hasher is not None:
        hashes = hasher.result(table.num_rows)
        if ahead is not None:
            ahead["hashes"] = hashes  # kept for a split of the valid rows alone, should the checks reject some
    pinned = _pinned(table, entry, parent)
    if entry.split.mode != "hash":  # given or time splits (hub.split_modes)
        return assign_mode(table, entry, pinned, plan)
    return assign_leakproof(table, entry.split, entry.schema.record, entry.split.thresholds(), pinned, hashes)


# -- quarantine --------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _write_quarantine(root: Path, entry: Entry, table: pa.Table, rejected: dict, unreadable: list) -> Path:
    folder = work_dir(root) / "quarantine" / entry.id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rejected.jsonl"
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for item in unreadable:
            f.write(json.dumps(_jsonable(item), ensure_ascii=False) + "\n")
        if rejected:
            order = sorted(rejected)
            rows = table.take(pa.array(order)).to_pylist()
            for r, record in zip(order, rows):
                file, row = record.pop(_FILE), record.pop(_ROW)
                f.write(json.dumps(_jsonable({"file": file, "row": row, "record": record, "problems": rejected[r]}), ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path
