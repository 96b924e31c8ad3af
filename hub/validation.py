"""Validation: read a dataset's source, check every record, report every problem.

Checks run over whole Arrow columns (so millions of rows cost seconds), and fall back to
one row at a time only where a batch fails, to say exactly which row and why. Rejected
rows are written, with their problems, to a quarantine JSONL file the report names.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hub import config, progress
from hub.annotations import apply_overlay, overlay_path
from hub.checks import FILE, ROW, Checker
from hub.entry import Entry, load_entry
from hub.errors import SourceError
from hub.report import Report
from hub.repo import work_dir
from hub.schema import RecordSchema
from hub.splits import Assignment, RowHasher, RowHashes, assign_leakproof
from hub.sources import SourceRowError, check_source_checksums, iter_rows, may_repeat_keys, parquet_tables, repeated_key, resolve_media

log = logging.getLogger(__name__)

__all__ = ["Validated", "validate", "validate_entry"]

BATCH = 2048
_FILE, _ROW = FILE, ROW


@dataclass
class Validated:
    """The outcome of validation: the entry, the valid rows and the report."""

    entry: Entry
    table: pa.Table  # valid rows, source schema (class labels still strings)
    report: Report
    keep: np.ndarray | None = None  # which rows read were kept (None: all)
    _splits: Future | None = None

    def split_assignment(self, parent: pa.Table | None = None) -> Assignment:
        """The leakage-proof split of every valid row (see `hub.splits.assign_leakproof`).

        Computed in the background while the checks ran, when `validate_entry` was asked to
        (with the same `parent`: the published (id, split) the records keep). It is always the
        split of the valid rows alone: when the checks reject rows, the split begun on every
        row read is dropped, and the valid rows are split again.
        """
        if self._splits is None:
            return _assign(self.table, self.entry, parent)
        return self._splits.result()


def validate(root: Path, dataset: str, *, assign_splits: bool = False, parent: pa.Table | None = None) -> Validated:
    """Validate `dataset`'s entry and every record of its source.

    Returns a `Validated` whose report lists every problem; raises only for an invalid id or
    an unregistered dataset.
    """
    return validate_entry(root, load_entry(root, dataset), assign_splits=assign_splits, parent=parent)


_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-splits")


def validate_entry(root: Path, entry: Entry, *, assign_splits: bool = False, parent: pa.Table | None = None) -> Validated:
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
    hasher = RowHasher(entry.split, schema.record) if assign_splits and parquet else None  # the split engine's hashing, while reading
    try:
        table = _read_parquet(entry, schema, report, unreadable, hasher) if parquet else _read_rows(entry, schema, report, unreadable)
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
    splits = _BACKGROUND.submit(_assign, table, entry, parent, hasher, ahead) if assign_splits and table.num_rows else None
    if splits is None and hasher is not None:
        hasher.close()  # no rows: nothing to split
    checker = Checker(table, schema, entry, report, rejected, rows_sized=not parquet and "loader" not in entry.data["source"])
    checker.run()
    report.rows_read = table.num_rows + len(unreadable)
    if not report.rows_read:
        report.add("source-error", "the source yielded no records", file=rel_yaml, field="source")
    keep = np.ones(table.num_rows, dtype=bool)
    if rejected:
        keep[np.fromiter(rejected.keys(), dtype=np.int64)] = False
    report.rows_valid = int(keep.sum())
    if rejected or unreadable:
        report.quarantine = str(_write_quarantine(root, entry, table, rejected, unreadable).relative_to(root))
    valid = (table.filter(pa.array(keep)) if rejected else table).drop_columns([_FILE, _ROW])
    if rejected and splits is not None:
        # The split was begun on every row read, before the checks had rejected any. Its outcome is
        # dropped (it may even have failed on a rejected row's bad media or null text): the split
        # and duplicate engines decide on the valid rows alone, with the hashes taken while reading.
        wait([splits])
        hashes = ahead.get("hashes")
        splits = _BACKGROUND.submit(_assign, valid, entry, parent, None, None, hashes.select(keep) if hashes is not None else None) if valid.num_rows else None
    return Validated(entry, valid, report, keep if rejected else None, splits)


def _assign(table: pa.Table, entry: Entry, parent: pa.Table | None = None, hasher: RowHasher | None = None,
            ahead: dict[str, Any] | None = None, hashes: RowHashes | None = None) -> Assignment:
    if hasher is not None:
        hashes = hasher.result(table.num_rows)
        if ahead is not None:
            ahead["hashes"] = hashes  # kept for a split of the valid rows alone, should the checks reject some
    pinned = None
    if parent is not None and parent.num_rows:
        names = pa.array(list(entry.split.ratios), pa.string())
        parent_split = pc.fill_null(pc.index_in(parent.column("split"), value_set=names), -1).to_numpy(zero_copy_only=False)
        position = pc.fill_null(pc.index_in(table.column("id"), value_set=parent.column("id")), -1).to_numpy(zero_copy_only=False)
        found = position >= 0
        pinned = np.full(table.num_rows, -1, dtype=np.int16)
        pinned[found] = parent_split[position[found]]
    return assign_leakproof(table, entry.split, entry.schema.record, entry.split.thresholds(), pinned, hashes)


# -- reading -----------------------------------------------------------------------------


def _with_position(table: pa.Table, files: list[str] | str, rows: list[int] | np.ndarray) -> pa.Table:
    """`table` with the source file (one name for all rows, or one per row) and row of each record, for messages and quarantine."""
    if isinstance(files, str):
        where = pa.DictionaryArray.from_arrays(pa.array(np.zeros(table.num_rows, dtype=np.int32)), pa.array([files], pa.string()))
    else:
        where = pa.array(files, pa.string()).dictionary_encode()
    table = table.append_column(_FILE, where)
    return table.append_column(_ROW, pa.array(rows, pa.int64()))


def _positioned_schema(schema: RecordSchema) -> pa.Schema:
    return schema.source_schema.append(pa.field(_FILE, pa.dictionary(pa.int32(), pa.string()))).append(pa.field(_ROW, pa.int64()))


def _read_parquet(entry: Entry, schema: RecordSchema, report: Report, unreadable: list, hasher: RowHasher | None = None) -> pa.Table:
    target = schema.source_schema
    tables = []
    for name, table in parquet_tables(entry, hasher.add if hasher is not None else None):
        for column in table.column_names:
            if column not in target.names:
                report.add("unknown-field", f"column {column!r} is not a field of {schema.record} records", file=name, field=column)
        for column in table.column_names:
            if column in target.names:
                for slug, message, field in _silent_changes(table.schema.field(column).type, target.field(column).type, column, schema.record):
                    report.add(slug, f"column {column!r}: {message}", file=name, field=field)
        missing = [f for f in target.names if f not in table.column_names]
        for column in missing:
            if column in schema.required:
                report.add("missing-field", f"required column {column!r} is missing ({table.num_rows} rows)", file=name, field=column)
        for column in missing:
            table = table.append_column(column, pa.nulls(table.num_rows, target.field(column).type))
        table = table.select(target.names)
        try:
            table = table.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            if hasher is not None:
                hasher.discard()  # some rows may not become Arrow: the hashes would not line up
            rows = ((name, i + 1, r, None) for i, r in enumerate(table.to_pylist()))
            tables.append(_rows_to_table(rows, entry, schema, report, unreadable, total=table.num_rows))
            continue
        tables.append(_with_position(table, name, np.arange(1, table.num_rows + 1)))
    if not tables:
        return _positioned_schema(schema).empty_table()
    return pa.concat_tables(tables)


def _silent_changes(source: pa.DataType, target: pa.DataType, path: str, record: str) -> list[tuple[str, str, str]]:
    """What casting a column of type `source` to `target` would drop or change without an error:
    struct fields the record schema does not have, booleans taken as numbers."""
    if pa.types.is_struct(source) and pa.types.is_struct(target):
        found = []
        for i in range(source.num_fields):
            child = source.field(i)
            if target.get_field_index(child.name) < 0:
                found.append(("unknown-field", f"field {child.name!r} in {path} is not in the {record} record schema", f"{path}.{child.name}"))
            else:
                found += _silent_changes(child.type, target.field(child.name).type, f"{path}.{child.name}", record)
        return found
    lists = (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list)
    if any(f(source) for f in lists) and any(f(target) for f in lists):
        return _silent_changes(source.value_type, target.value_type, f"{path}[]", record)
    if pa.types.is_boolean(source) and (pa.types.is_integer(target) or pa.types.is_floating(target)):
        return [("type-error", f"{path} holds true/false where the {record} record schema wants numbers", path)]
    return []


def _read_rows(entry: Entry, schema: RecordSchema, report: Report, unreadable: list) -> pa.Table:
    return _rows_to_table(iter_rows(entry, config.max_row_bytes()), entry, schema, report, unreadable)


def _rows_to_table(rows, entry: Entry, schema: RecordSchema, report: Report, unreadable: list, total: int | None = None) -> pa.Table:
    """Arrow batches from (file, row, record, raw line or None) rows; rows that do not fit are reported."""
    target = schema.source_schema
    validator = jsonschema.Draft202012Validator(schema.json)
    limit = config.max_row_bytes()
    batches: list[pa.Table] = []
    batch: list[dict] = []
    where: list[tuple[str, int]] = []

    def reject(file: str, row: int, record: Any, slug: str, message: str, field: str | None = None, line: str | None = None) -> None:
        report.add(slug, message, file=file, row=row, field=field, record_id=_id_of(record))
        item = {"file": file, "row": row, "record": record, "problems": [{"slug": slug, "message": message, "field": field}]}
        if line is not None:
            item["line"] = line
        unreadable.append(item)

    def flush() -> None:
        if not batch:
            return
        try:
            batches.append(_with_position(pa.Table.from_pylist(batch, schema=target), [w[0] for w in where], [w[1] for w in where]))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
            for record, (file, row) in zip(batch, where):  # find the culprits one by one
                try:
                    one = pa.Table.from_pylist([record], schema=target)
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError) as exc:
                    errors = list(validator.iter_errors(record))
                    error = errors[0] if errors else None
                    message = f"{'.'.join(str(p) for p in error.absolute_path) or 'record'}: {error.message}" if error else str(exc)
                    reject(file, row, record, "type-error", message[:500], _path(error) if error else None)
                    continue
                batches.append(_with_position(one, [file], [row]))
        batch.clear()
        where.clear()

    with progress.bar(total, desc=f"reading {entry.id}") as bar:
        for file, row, record, raw in rows:
            bar.update(1)
            if isinstance(record, SourceRowError):
                reject(file, row, None, record.slug, record.message, line=record.line)
                continue
            if not isinstance(record, dict):
                reject(file, row, record, "type-error", f"a record must be an object, not {type(record).__name__}")
                continue
            problem, keys = schema.shape_problem(record)
            if raw is not None and may_repeat_keys(raw, keys) and (repeated := repeated_key(raw)) is not None:
                problem = _repeated_key_problem(*repeated)
            if problem is not None:
                reject(file, row, record, problem[0], problem[1], problem[2])
                continue
            missing = [f for f in schema.required if record.get(f) is None and f != entry.split.group_key]
            if missing:
                reject(file, row, record, "missing-field", f"required field {missing[0]!r} is missing", missing[0])
                continue
            try:
                record = {k: (resolve_media(v, entry.path) if k in schema.media_fields else v) for k, v in record.items()}
            except (ValueError, FileNotFoundError, OSError) as exc:
                slug = "unsafe-path" if "leaves the dataset folder" in str(exc) else "type-error"
                reject(file, row, record, slug, str(exc), next(iter(schema.media_fields)))
                continue
            media = sum(len(v["bytes"]) for k, v in record.items() if k in schema.media_fields and isinstance(v, dict) and isinstance(v.get("bytes"), bytes))
            if raw is not None and media + len(raw) > limit:  # the line and the media files it names
                reject(file, row, record, "oversized-row", f"record is {media + len(raw)} bytes (its line and its media); the limit is {limit} (HUB_MAX_ROW_BYTES)")
                continue
            if media > limit:  # the rest of a loader's record is counted once it is Arrow (`Checker.check_row_sizes`)
                reject(file, row, record, "oversized-row", f"record is more than {limit} bytes ({media} of media); the limit is {limit} (HUB_MAX_ROW_BYTES)")
                continue
            batch.append(record)
            where.append((file, row))
            if len(batch) >= BATCH:
                flush()
        flush()
    if not batches:
        return _positioned_schema(schema).empty_table()
    return pa.concat_tables([b.cast(_positioned_schema(schema)) for b in batches])


def _repeated_key_problem(where: tuple[str | int, ...], key: str) -> tuple[str, str, str]:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where).lstrip(".")
    place = f"in {path}" if path else "in the record"
    field = ".".join(p for p in (re.sub(r"\[\d+\]", "[]", path), key) if p)
    return "duplicate-key", f"key {key!r} is given twice {place}: JSON keeps only the last value", field


def _path(error: jsonschema.ValidationError) -> str | None:
    parts = [p for p in error.absolute_path if isinstance(p, str)]
    return ".".join(parts) or None


def _id_of(record: Any) -> str | None:
    return str(record["id"]) if isinstance(record, dict) and record.get("id") is not None else None


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
