"""Validation: read a dataset's source, check every record, report every problem.

Checks run over whole Arrow columns (so millions of rows cost seconds), and fall back to
one row at a time only where a batch fails, to say exactly which row and why. Rejected
rows are written, with their problems, to a quarantine JSONL file the report names.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hub import config, progress
from hub.annotations import apply_overlay, overlay_path
from hub.arrowutil import flat, leaf, per_row, repeated_rows, rows_where
from hub.entry import Entry, load_entry
from hub.errors import SourceError
from hub.report import Report
from hub.repo import work_dir
from hub.schema import RecordSchema
from hub.splits import Assignment, RowHasher, assign_leakproof
from hub.sources import SourceRowError, check_source_checksums, iter_rows, parquet_tables, resolve_media

log = logging.getLogger(__name__)

__all__ = ["Validated", "validate", "validate_entry"]

BATCH = 2048
_FILE, _ROW = "__file", "__row"


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
        (with the same `parent`: the published (id, split) the records keep).
        """
        if self._splits is None:
            return _assign(self.table, self.entry, parent)
        assignment = self._splits.result()
        return assignment if self.keep is None else assignment.select(self.keep)


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
    checks run (`Validated.split_assignment`).
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
    splits = _BACKGROUND.submit(_assign, table, entry, parent, hasher) if assign_splits and table.num_rows else None
    if splits is None and hasher is not None:
        hasher.close()  # no rows: nothing to split
    checker = _Checker(table, schema, entry, report, rejected)
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
    valid = table.filter(pa.array(keep)) if rejected else table
    return Validated(entry, valid.drop_columns([_FILE, _ROW]), report, keep if rejected else None, splits)


def _assign(table: pa.Table, entry: Entry, parent: pa.Table | None = None, hasher: RowHasher | None = None) -> Assignment:
    hashes = hasher.result(table.num_rows) if hasher is not None else None
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


def _blank(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """True where a string is empty or all (Unicode) whitespace; null where it is null.

    `utf8_is_space` stops at the first other character, so a text costs a byte or two, not a
    regex scan of all of it.
    """
    return pc.or_(pc.equal(pc.binary_length(values), 0), pc.utf8_is_space(values))


def _mismatching(values: pa.Array | pa.ChunkedArray, pattern: str) -> pa.Array | pa.ChunkedArray:
    """True where a string does not match `pattern` (nulls: false). Where values repeat (languages,
    speakers: most of the first 10,000 the same), the regex runs once per distinct value."""
    head = values.slice(0, 10_000)
    if len(values) > 10_000 and pc.count_distinct(head).as_py() <= len(head) // 2:
        distinct = pc.unique(values)
        wrong = distinct.filter(pc.fill_null(pc.invert(pc.match_substring_regex(distinct, pattern)), False))
        return pc.is_in(values, value_set=wrong)  # nulls: not in the set
    return pc.fill_null(pc.invert(pc.match_substring_regex(values, pattern)), False)


def _positioned_schema(schema: RecordSchema) -> pa.Schema:
    return schema.source_schema.append(pa.field(_FILE, pa.dictionary(pa.int32(), pa.string()))).append(pa.field(_ROW, pa.int64()))


def _read_parquet(entry: Entry, schema: RecordSchema, report: Report, unreadable: list, hasher: RowHasher | None = None) -> pa.Table:
    target = schema.source_schema
    tables = []
    for name, table in parquet_tables(entry, hasher.add if hasher is not None else None):
        for column in table.column_names:
            if column not in target.names:
                report.add("unknown-field", f"column {column!r} is not a field of {schema.record} records", file=name, field=column)
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
            rows = ((name, i + 1, r) for i, r in enumerate(table.to_pylist()))
            tables.append(_rows_to_table(rows, entry, schema, report, unreadable, total=table.num_rows))
            continue
        tables.append(_with_position(table, name, np.arange(1, table.num_rows + 1)))
    if not tables:
        return _positioned_schema(schema).empty_table()
    return pa.concat_tables(tables)


def _read_rows(entry: Entry, schema: RecordSchema, report: Report, unreadable: list) -> pa.Table:
    return _rows_to_table(iter_rows(entry), entry, schema, report, unreadable)


def _rows_to_table(rows, entry: Entry, schema: RecordSchema, report: Report, unreadable: list, total: int | None = None) -> pa.Table:
    """Arrow batches from (file, row, record) triples; rows that do not fit are reported."""
    target = schema.source_schema
    fields = set(target.names)
    validator = jsonschema.Draft202012Validator(schema.json)
    limit = config.max_row_bytes()
    batches: list[pa.Table] = []
    batch: list[dict] = []
    where: list[tuple[str, int]] = []

    def reject(file: str, row: int, record: Any, slug: str, message: str, field: str | None = None) -> None:
        report.add(slug, message, file=file, row=row, field=field, record_id=_id_of(record))
        unreadable.append({"file": file, "row": row, "record": record, "problems": [{"slug": slug, "message": message, "field": field}]})

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
        for file, row, record in rows:
            bar.update(1)
            if isinstance(record, SourceRowError):
                reject(file, row, None, "type-error", record.message)
                continue
            if not isinstance(record, dict):
                reject(file, row, record, "type-error", f"a record must be an object, not {type(record).__name__}")
                continue
            unknown = sorted(set(record) - fields)
            if unknown:
                reject(file, row, record, "unknown-field", f"field {unknown[0]!r} is not in the {schema.record} record schema", unknown[0])
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
            size = sum(len(v["bytes"]) for k, v in record.items() if k in schema.media_fields and isinstance(v, dict) and isinstance(v.get("bytes"), bytes))
            if size > limit:
                reject(file, row, record, "oversized-row", f"record is {size} bytes of media; the limit is {limit} (HUB_MAX_ROW_BYTES)")
                continue
            batch.append(record)
            where.append((file, row))
            if len(batch) >= BATCH:
                flush()
        flush()
    if not batches:
        return _positioned_schema(schema).empty_table()
    return pa.concat_tables([b.cast(_positioned_schema(schema)) for b in batches])


def _path(error: jsonschema.ValidationError) -> str | None:
    parts = [p for p in error.absolute_path if isinstance(p, str)]
    return ".".join(parts) or None


def _id_of(record: Any) -> str | None:
    return str(record["id"]) if isinstance(record, dict) and record.get("id") is not None else None


# -- checks over columns -----------------------------------------------------------------


class _Checker:
    """Column-wise checks of the record schema's constraints, labels, ids and media."""

    def __init__(self, table: pa.Table, schema: RecordSchema, entry: Entry, report: Report, rejected: dict) -> None:
        self.table, self.schema, self.entry, self.report, self.rejected = table, schema, entry, report, rejected

    # Positions are only turned into Python objects when something is flagged.
    @cached_property
    def files(self) -> list[str]:
        return flat(self.table.column(_FILE)).cast(pa.string()).to_pylist()

    @cached_property
    def rownos(self) -> np.ndarray:
        return flat(self.table.column(_ROW)).to_numpy()

    @cached_property
    def ids(self) -> list[str]:
        return flat(self.table.column("id")).to_pylist()

    def flag_where(self, mask: pa.Array, rows: Callable[[], np.ndarray], slug: str, message: str, field: str) -> None:
        """Flag the table rows where `mask` holds; `rows()` maps mask positions to table rows."""
        if pc.any(mask).as_py():
            self.flag(rows_where(mask, rows()), slug, message, field)

    def flag(self, rows: np.ndarray, slug: str, message: str, field: str) -> None:
        for r in np.unique(rows):
            r = int(r)
            self.report.add(slug, message, file=self.files[r], row=int(self.rownos[r]), field=field, record_id=self.ids[r])
            self.rejected[r].append({"slug": slug, "message": message, "field": field})

    def run(self) -> None:
        if not self.table.num_rows:
            return
        group_key = self.entry.split.group_key
        for name, prop in self.schema.properties.items():
            self.check_property(name, prop, name in self.schema.required, group_key)
        self.check_labels()
        self.check_duplicate_ids()
        if self.schema.record == "sensor":
            self.check_sensor_shapes()
        for name, kind in self.schema.media_fields.items():
            self.check_media(name, kind)

    def check_property(self, name: str, prop: dict, required: bool, group_key: str) -> None:
        array = self.table.column(name)  # chunked: no copy
        rows = functools.partial(np.arange, len(array))
        nullable = "null" in (prop.get("type") if isinstance(prop.get("type"), list) else [prop.get("type")])
        if name == group_key:
            blank = pc.fill_null(_blank(array), True) if pa.types.is_string(array.type) else pc.is_null(array)
            self.flag_where(blank, rows, "missing-group-key", f"the group key {name!r} (split.group_key) is missing or blank", name)
            return
        if required and not nullable and array.null_count:
            self.flag_where(pc.is_null(array), rows, "missing-field", f"required field {name!r} is missing", name)
        self._constraints(array, rows, prop, name)

    def _constraints(self, array: pa.Array, rows: Callable[[], np.ndarray], prop: dict, field: str) -> None:
        if prop.get("x-feature") in ("Audio", "Image", "ClassLabel"):
            return
        if pa.types.is_string(array.type):
            if prop.get("pattern") == r"\S" or prop.get("minLength"):
                self.flag_where(_blank(array), rows, "blank-text", f"{field} is empty or blank", field)
            pattern = prop.get("pattern")
            if pattern and pattern != r"\S":
                bad = _mismatching(array, pattern)
                if pc.any(bad).as_py():
                    mapped = rows()
                    for r in np.nonzero(flat(bad).to_numpy(zero_copy_only=False))[0][:1000]:
                        self.flag(mapped[[r]], "constraint-error", f"{field} {array[int(r)].as_py()!r} does not match {pattern}", field)
            if "enum" in prop:
                allowed = [v for v in prop["enum"] if v is not None]
                bad = pc.and_(pc.invert(pc.is_in(array, pa.array(allowed, pa.string()))), pc.is_valid(array))
                self.flag_where(bad, rows, "constraint-error", f"{field} must be one of {', '.join(allowed)}", field)
        elif pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
            for key, op, text in (("exclusiveMinimum", pc.less_equal, "greater than"), ("minimum", pc.less, "at least"), ("maximum", pc.greater, "at most")):
                if key in prop:
                    self.flag_where(op(array, prop[key]), rows, "constraint-error", f"{field} must be {text} {prop[key]}", field)
            if pa.types.is_floating(array.type):
                self.flag_where(pc.invert(pc.is_finite(array)), rows, "constraint-error", f"{field} must be a finite number", field)
        elif pa.types.is_list(array.type) or pa.types.is_fixed_size_list(array.type):
            if prop.get("minItems"):
                short = pc.less(pc.list_value_length(array), prop["minItems"])
                self.flag_where(short, rows, "constraint-error", f"{field} must have at least {prop['minItems']} item(s)", field)

            @functools.cache
            def item_rows() -> np.ndarray:
                return rows()[pc.list_parent_indices(flat(array)).to_numpy(zero_copy_only=False)]

            self._constraints(pc.list_flatten(array), item_rows, prop.get("items", {}), f"{field}[]")
        elif pa.types.is_struct(array.type):
            for sub_name, sub in prop.get("properties", {}).items():
                child = pc.struct_field(array, sub_name)
                if sub_name in prop.get("required", []) and "null" not in (sub.get("type") or []) and child.null_count:
                    missing = pc.and_(pc.is_null(child), pc.is_valid(array))
                    self.flag_where(missing, rows, "missing-field", f"required field {field}.{sub_name} is missing", f"{field}.{sub_name}")
                self._constraints(child, rows, sub, f"{field}.{sub_name}")

    def check_labels(self) -> None:
        labels = pa.array(list(self.schema.labels), pa.string())
        for path in self.schema.label_paths:
            values, rows = leaf(self.table, path)
            outside = pc.fill_null(pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, labels))), False)
            if not pc.any(outside).as_py():
                continue
            mapped = rows()
            for value in pc.unique(values.filter(outside)).to_pylist():
                hit = pc.and_(pc.equal(values, value), outside)
                self.flag(rows_where(hit, mapped), "label-not-in-set", f"label {value!r} in {'.'.join(path)} is not in the label set", ".".join(path))

    def check_duplicate_ids(self) -> None:
        """Rows whose id an earlier row has. Only the rows whose id's 64-bit hash repeats are
        compared by value (a hash collision is not a duplicate)."""
        ids = self.table.column("id")
        candidates = repeated_rows(per_row(pa.table({"id": ids}), "SELECT hash(id) FROM source_rows"))
        if not len(candidates):
            return
        values = ids.take(pa.array(candidates))
        counts = pc.value_counts(values)
        repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
        first: dict[str, int] = {}
        for r in rows_where(pc.is_in(values, value_set=repeated), candidates):
            value = self.ids[int(r)]
            if value in first:
                where = f"{self.files[first[value]]} row {int(self.rownos[first[value]])}"
                self.flag(np.array([r]), "duplicate-id", f"record id {value!r} repeats the one at {where}", "id")
            else:
                first[value] = int(r)

    def check_sensor_shapes(self) -> None:
        t = self.table
        n_channels = pc.list_value_length(flat(t.column("channels"))).to_numpy(zero_copy_only=False)
        n_units = pc.list_value_length(flat(t.column("units"))).to_numpy(zero_copy_only=False)
        series = flat(t.column("series"))
        n_series = pc.list_value_length(series).to_numpy(zero_copy_only=False)
        inner = pc.list_value_length(pc.list_flatten(series)).to_numpy(zero_copy_only=False)
        parents = pc.list_parent_indices(series).to_numpy(zero_copy_only=False)
        ragged = np.zeros(len(t), dtype=bool)
        if len(inner):
            lo = np.full(len(t), np.iinfo(np.int64).max)
            hi = np.zeros(len(t), dtype=np.int64)
            np.minimum.at(lo, parents, inner)
            np.maximum.at(hi, parents, inner)
            ragged = (hi > 0) & (lo != hi)
        bad = (n_channels != n_units) | (n_channels != n_series) | ragged
        self.flag(np.nonzero(bad)[0], "inconsistent-record", "channels, units and series must have one entry per channel, and every channel the same length", "series")

    def check_media(self, name: str, kind: str) -> None:
        column = flat(self.table.column(name))
        data = pc.struct_field(column, "bytes")
        decode = _decode_audio if kind == "Audio" else _decode_image
        slug = "undecodable-audio" if kind == "Audio" else "undecodable-image"
        with progress.bar(len(data), desc=f"decoding {name}") as bar:
            for r in range(len(data)):
                bar.update(1)
                blob = data[r].as_py()
                if blob is None:
                    if column[r].is_valid or name in self.schema.required:
                        self.flag(np.array([r]), "missing-field", f"{name} has no bytes", name)
                    continue
                try:
                    info = decode(blob)
                except Exception as exc:  # any decoder failure is the file's fault
                    self.flag(np.array([r]), slug, f"{name} cannot be decoded: {str(exc).strip()[:200] or type(exc).__name__}", name)
                    continue
                if kind == "Audio":
                    self._check_audio_fields(r, info)

    def _check_audio_fields(self, r: int, info: tuple[int, float]) -> None:
        rate, duration = info
        declared_rate = self.table.column("sample_rate")[r].as_py()
        declared = self.table.column("duration")[r].as_py()
        if declared_rate is not None and declared_rate != rate:
            self.flag(np.array([r]), "inconsistent-record", f"sample_rate says {declared_rate} Hz, the audio is {rate} Hz", "sample_rate")
        elif declared is not None and abs(declared - duration) > max(0.05, 0.02 * duration):
            self.flag(np.array([r]), "inconsistent-record", f"duration says {declared:.3f} s, the audio lasts {duration:.3f} s", "duration")


def _decode_audio(blob: bytes) -> tuple[int, float]:
    import soundfile

    with soundfile.SoundFile(io.BytesIO(blob)) as f:
        if f.frames <= 0:
            raise ValueError("the audio has no samples")
        f.read(frames=min(f.frames, 1024))  # the header can lie: decode some samples
        return f.samplerate, f.frames / f.samplerate


def _decode_image(blob: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as image:
        image.load()  # a truncated file fails here, not at open()
        return image.size


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
