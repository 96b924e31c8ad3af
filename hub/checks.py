"""Checks over whole Arrow columns: the record schema's constraints, labels, ids, media, boxes
and spans, each problem flagged on the rows it concerns. The record type decodes its media and
adds its own checks (`RecordType.decode`, `check_decoded`, `check`: see `hub.records`).

Checking is a stage over batches (`hub.batches`): `check_batch` checks one batch of rows on its
own and returns its problems with a summary of what the cross-row checks need (every row's id
hash, for repeated ids); `finish_checks` merges the batches' results in batch order, runs the
cross-row checks on the merged summary and reports every problem, ordered by check and then by
row, so that the report is the same whatever the batches were.

Positions (file and row of every record) travel in two extra columns, `FILE` and `ROW`, and
are only turned into Python objects when something is flagged.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hub import config, deriving, license_rules, pii, progress, records
from hub.arrowutil import flat, leaf, per_row, repeated_rows, row_nbytes, rows_where
from hub.entry import Entry
from hub.report import Problem, Report
from hub.schema import RecordSchema
from hub.sources import FILE, ROW  # the position columns the read stage adds

__all__ = ["FILE", "ROW", "BatchChecks", "CheckContext", "Checker", "add_shape_hints", "check_batch", "finish_checks", "label_hint", "shape_of"]


@dataclass(frozen=True)
class CheckContext:
    """What checking needs besides the rows: the same for every batch of a dataset."""

    schema: RecordSchema
    entry: Entry
    rows_sized: bool = False  # the reader already held every row to HUB_MAX_ROW_BYTES (JSONL lines)


@dataclass
class BatchChecks:
    """What checking one batch found: its problems, by the batch's own rows, and the summary the
    cross-row checks merge (`hashes`: every row's id's 64-bit hash)."""

    rows: int  # the batch's rows (where the next batch's rows start)
    problems: list[tuple[int, int, Problem]]  # (check step, batch row, problem), in the order found
    hashes: np.ndarray  # uint64 hash of every row's id (the ids themselves the merge reads from the table)
    learned: dict[str, Any] = field(default_factory=dict)  # what the checks counted of the dataset (the PII summary), merged in finish_checks


def check_batch(batch: pa.Table, ctx: CheckContext) -> BatchChecks:
    """Check one batch of positioned rows (`hub.sources.read_batches`) on its own."""
    checker = Checker(batch, ctx)
    checker.run()
    hashes = per_row(pa.table({"id": batch.column("id")}), "SELECT hash(id) FROM source_rows").to_numpy() if batch.num_rows else np.empty(0, np.uint64)
    return BatchChecks(batch.num_rows, checker.found, hashes, checker.learned)


def finish_checks(parts: Iterable[BatchChecks], ctx: CheckContext, report: Report, rejected: dict[int, list[dict[str, Any]]],
                  ids: pa.Table, spill: Path | None = None) -> None:
    """Merge the checks of consecutive batches (in their order, as they come) and report every problem.

    The rows of each batch are numbered on from the previous batch's; the repeated ids are
    found in the merged id hashes (held in a `hub.spill.Column`, in `spill` once large), their
    values and positions in `ids` (the id, FILE and ROW columns of the rows the batches were
    cut from). Problems are reported ordered by check step, then by row (those of one row and
    one step in the order found), and each rejects its row in `rejected` (row -> problems), so
    the report does not depend on where the batches were cut.
    """
    from hub.spill import Column

    found: list[tuple[int, int, Problem]] = []
    learned: list[Any] = []
    hashes = Column(np.uint64, spill)
    start, any_part = 0, False
    for part in parts:
        found += [(step, start + row, problem) for step, row, problem in part.problems]
        hashes.append(part.hashes)
        learned.append(part.learned.get("pii"))
        start += part.rows
        any_part = True
    try:
        if any_part:
            step = Checker(ids.slice(0, 0), ctx).steps().index(None)
            found += [(step, row, problem) for row, problem in _duplicate_ids(hashes.array(), ids)]
        found.sort(key=lambda item: item[:2])  # stable: one row's problems of one step stay in order
        for _, row, p in found:
            report.add(p.slug, p.message, file=p.file, row=p.row, field=p.field, record_id=p.record_id, hint=p.hint)
            rejected[row].append({"slug": p.slug, "message": p.message, "field": p.field})
        pii.merge(ctx.entry, learned)  # the batches' PII counts, for the manifest and the card
        deriving.license_problems(ctx.entry, report)  # a derived entry's license against its parents': once, not per batch
    finally:
        add_shape_hints(report, ctx.schema)


def _duplicate_ids(hashes: np.ndarray, ids: pa.Table) -> list[tuple[int, Problem]]:
    """Rows whose id an earlier row has (`hashes`: every row's id hash; `ids`: their id, FILE
    and ROW). Only the rows whose id's hash repeats are compared by value (a hash collision is
    not a duplicate)."""
    candidates = repeated_rows(hashes)
    if not len(candidates):
        return []
    values = ids.column("id").take(pa.array(candidates))
    counts = pc.value_counts(values)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
    rows = rows_where(pc.is_in(values, value_set=repeated), candidates)
    where = ids.take(pa.array(rows, pa.int64())).to_pylist()
    first: dict[str, dict[str, Any]] = {}
    found = []
    for r, record in zip(rows, where):
        value = record["id"]
        if value in first:
            earlier = f"{first[value][FILE]} row {first[value][ROW]}"
            found.append((int(r), Problem("duplicate-id", f"record id {value!r} repeats the one at {earlier}", file=record[FILE], row=record[ROW], field="id", record_id=value)))
        else:
            first[value] = record
    return found


class Checker:
    """Column-wise checks of one batch's schema constraints, labels, media and the record
    type's own; what they flag goes to `found` (see `check_batch`)."""

    def __init__(self, table: pa.Table, ctx: CheckContext) -> None:
        self.table, self.ctx, self.schema, self.entry = table, ctx, ctx.schema, ctx.entry
        self.found: list[tuple[int, int, Problem]] = []  # (step, row, problem)
        self.learned: dict[str, Any] = {}  # what a check counts of the dataset (never kept in the entry: batches may run elsewhere)
        self.step = 0  # the check running, as `steps` numbers them
        self.image_sizes: np.ndarray | None = None  # (width, height) of every row's image; 0 where it did not decode
        self.record_type = records.get(ctx.schema.record)

    # Positions are only turned into Python objects when something is flagged.
    @cached_property
    def files(self) -> list[str]:
        return flat(self.table.column(FILE)).cast(pa.string()).to_pylist()

    @cached_property
    def rownos(self) -> np.ndarray:
        return flat(self.table.column(ROW)).to_numpy()

    @cached_property
    def ids(self) -> list[str]:
        return flat(self.table.column("id")).to_pylist()

    def flag_where(self, mask: pa.Array, rows: Callable[[], np.ndarray], slug: str, message: str, field: str, hint: str | None = None) -> None:
        """Flag the table rows where `mask` holds; `rows()` maps mask positions to table rows."""
        if pc.any(mask).as_py():
            self.flag(rows_where(mask, rows()), slug, message, field, hint)

    def flag(self, rows: np.ndarray, slug: str, message: str, field: str, hint: str | None = None) -> None:
        for r in np.unique(rows):
            r = int(r)
            self.found.append((self.step, r, Problem(slug, message, file=self.files[r], row=int(self.rownos[r]), field=field, record_id=self.ids[r], hint=hint)))

    def steps(self) -> list[Callable[[], None] | None]:
        """The checks, in the order their problems are reported; None is the cross-row one
        (repeated ids), found when the batches are merged (`finish_checks`)."""
        group_key = self.entry.split.group_key
        steps: list[Callable[[], None] | None] = [
            functools.partial(self.check_property, name, prop, name in self.schema.required, group_key) for name, prop in self.schema.properties.items()]
        steps += [self.check_labels, None, functools.partial(self.record_type.check, self)]  # then the record type's own checks
        steps += [functools.partial(self.check_media, name, kind) for name, kind in self.schema.media_fields.items()]
        if "objects" in self.schema.properties:
            steps.append(self.check_boxes)
        steps.append(self.check_spans)
        steps.append(functools.partial(pii.check, self))  # the PII gate (hub.pii)
        steps.append(functools.partial(license_rules.check_records, self))  # each record's own license and attribution
        if not self.ctx.rows_sized:
            steps.append(self.check_row_sizes)
        return steps

    def run(self) -> None:
        if not self.table.num_rows:
            return
        for self.step, check in enumerate(self.steps()):
            if check is not None:
                check()

    def check_property(self, name: str, prop: dict, required: bool, group_key: str) -> None:
        array = self.table.column(name)  # chunked: no copy
        rows = functools.partial(np.arange, len(array))
        nullable = "null" in (prop.get("type") if isinstance(prop.get("type"), list) else [prop.get("type")])
        if name == group_key:
            blank = pc.fill_null(_blank(array), True) if pa.types.is_string(array.type) else pc.is_null(array)
            self.flag_where(blank, rows, "missing-group-key", f"the group key {name!r} (split.group_key) is missing or blank", name,
                            hint=f"Give every record a non-blank {name!r} (records that share it stay in one split), or name another field in split.group_key.")
            return
        if required and not nullable and array.null_count:
            self.flag_where(pc.is_null(array), rows, "missing-field", f"required field {name!r} is missing", name)
        self._constraints(array, rows, prop, name)

    def _constraints(self, array: pa.Array, rows: Callable[[], np.ndarray], prop: dict, field: str) -> None:
        if prop.get("x-feature") in ("Audio", "Image", "Video", "ClassLabel"):
            return
        if pa.types.is_string(array.type):
            if prop.get("pattern") == r"\S" or prop.get("minLength"):
                self.flag_where(_blank(array), rows, "blank-text", f"{field} is empty or blank", field)
            pattern = prop.get("pattern")
            if pattern and pattern != r"\S":
                bad = _mismatching(array, pattern)
                if pc.any(bad).as_py():
                    mapped = rows()
                    for r in np.nonzero(flat(bad).to_numpy(zero_copy_only=False))[0]:
                        self.flag(mapped[[r]], "constraint-error", f"{field} {array[int(r)].as_py()!r} does not match {pattern}", field)
            if "maxLength" in prop:
                lengths = pc.utf8_length(array)
                long = pc.fill_null(pc.greater(lengths, prop["maxLength"]), False)
                if pc.any(long).as_py():
                    mapped = rows()
                    for r in np.nonzero(flat(long).to_numpy(zero_copy_only=False))[0]:
                        self.flag(mapped[[r]], "constraint-error", f"{field} is {lengths[int(r)].as_py()} characters long; the limit is {prop['maxLength']}", field)
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

            items = prop.get("items", {})
            values = pc.list_flatten(array)
            kinds = items.get("type") if isinstance(items.get("type"), list) else [items.get("type")]
            if values.null_count and items.get("type") and "null" not in kinds:  # Arrow takes a null item where the schema has none
                _, position = _parents(flat(array))
                mapped = item_rows()
                for i in np.flatnonzero(pc.is_null(values).to_numpy(zero_copy_only=False)):
                    self.flag(mapped[[i]], "type-error", f"{field}[{position[i]}]: None is not of type {kinds[0]!r}", f"{field}[]")
            self._constraints(values, item_rows, items, f"{field}[]")
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
                self.flag(rows_where(hit, mapped), "label-not-in-set", f"label {value!r} in {'.'.join(path)} is not in the label set", ".".join(path),
                          hint=label_hint(value, self.schema.labels))

    def check_media(self, name: str, kind: str) -> None:
        column = flat(self.table.column(name))
        data = pc.struct_field(column, "bytes")
        decode = functools.partial(self.record_type.decode, kind)
        slug = f"undecodable-{kind.lower()}"
        if kind == "Image":
            self.image_sizes = np.zeros((len(data), 2), dtype=np.int64)
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
                    self.flag(np.array([r]), slug, f"{name} cannot be decoded: {_reason(exc)}", name)
                    continue
                if kind == "Image":
                    self.image_sizes[r] = info
                self.record_type.check_decoded(self, r, name, kind, info)

    def check_boxes(self) -> None:
        """One category per box; boxes of positive size, inside their image (`objects`, COCO [x, y, w, h])."""
        objects = flat(self.table.column("objects"))
        bbox, category = pc.struct_field(objects, "bbox"), pc.struct_field(objects, "category")
        n_boxes = pc.fill_null(pc.list_value_length(bbox), 0).to_numpy(zero_copy_only=False)
        n_categories = pc.fill_null(pc.list_value_length(category), 0).to_numpy(zero_copy_only=False)
        for r in np.flatnonzero(n_boxes != n_categories):
            self.flag(np.array([r]), "inconsistent-record", f"objects has {_count(n_boxes[r], 'box', 'boxes')} and {_count(n_categories[r], 'category', 'categories')}: "
                      "give one category per box", "objects.category")
        boxes = pc.list_flatten(bbox)
        if not len(boxes):
            return
        rows, position = _parents(bbox)
        valid = pc.is_valid(boxes).to_numpy(zero_copy_only=False)  # null boxes: flagged as items of no value
        values = pc.list_flatten(boxes.filter(pa.array(valid))).to_numpy(zero_copy_only=False).reshape(-1, 4).astype(np.float64)
        rows, position = rows[valid], position[valid]
        x, y, w, h = values.T
        size = self.image_sizes[rows] if self.image_sizes is not None else np.zeros((len(rows), 2), dtype=np.int64)
        width, height = size[:, 0], size[:, 1]
        empty = (w <= 0) | (h <= 0)
        slack = 0.01  # float32 rounding
        outside = ~empty & (width > 0) & ((x < -slack) | (y < -slack) | (x + w > width + slack) | (y + h > height + slack))
        for i in np.flatnonzero(empty | outside):
            box = "[" + ", ".join(f"{v:g}" for v in values[i]) + "]"
            if empty[i]:
                message = f"objects.bbox[{position[i]}] {box} has width {w[i]:g} and height {h[i]:g}: both must be above 0"
            else:
                message = (f"objects.bbox[{position[i]}] {box} lies outside the {width[i]}x{height[i]} image "
                           f"(x {x[i]:g} to {x[i] + w[i]:g}, y {y[i]:g} to {y[i] + h[i]:g})")
            self.flag(rows[[i]], "bad-box", message, "objects.bbox")

    def check_spans(self) -> None:
        """Time spans (`segments`, `anomalies`: lists of {start, end}) that end before they start."""
        for name, prop in self.schema.properties.items():
            if {"start", "end"} - set(prop.get("items", {}).get("properties", {})):
                continue
            column = flat(self.table.column(name))
            spans = pc.list_flatten(column)
            if not len(spans):
                continue
            start, end = pc.struct_field(spans, "start"), pc.struct_field(spans, "end")
            reversed_ = flat(pc.fill_null(pc.less(end, start), False)).to_numpy(zero_copy_only=False)
            if not reversed_.any():
                continue
            rows, position = _parents(column)
            for i in np.flatnonzero(reversed_):
                self.flag(rows[[i]], "bad-span", f"{name}[{position[i]}] ends at {end[int(i)].as_py():g} s, before it starts ({start[int(i)].as_py():g} s)", f"{name}[].end")

    def check_row_sizes(self) -> None:
        """Rows larger than HUB_MAX_ROW_BYTES, counted whole (text, numbers and media) as Arrow holds them."""
        limit = config.max_row_bytes()
        sizes = row_nbytes(self.table.drop_columns([FILE, ROW]))
        for r in np.flatnonzero(sizes > limit):
            self.flag(np.array([r]), "oversized-row", f"record is {int(sizes[r])} bytes; the limit is {limit} (HUB_MAX_ROW_BYTES)", None)


def label_hint(value: str, labels: tuple[str, ...] | list[str]) -> str:
    """The fix of a label outside the label set: the nearest labels, or how to add it."""
    import difflib

    folded = {str(label).casefold(): str(label) for label in labels}
    close = [folded[value.casefold()]] if value.casefold() in folded else \
        [folded[c] for c in difflib.get_close_matches(value.casefold(), list(folded), n=3, cutoff=0.6)]
    listed = ", ".join(repr(str(x)) for x in list(labels)[:12]) + (", ..." if len(labels) > 12 else "")
    add = f"or add {value!r} to `labels` in dataset.yaml (now: {listed or 'none'})"
    if close:
        return f"Did you mean {' or '.join(repr(c) for c in close)}? Correct the record, {add}."
    return f"Correct the record, {add}."


_SHAPED = ("type-error", "missing-field")


def add_shape_hints(report: Report, schema: RecordSchema) -> None:
    """Give the type and missing-field problems without a fix of their own the expected shape of their field."""
    for problem in report.problems:
        if problem.slug in _SHAPED and problem.hint is None and problem.field:
            top = problem.field.split(".")[0].split("[")[0]
            prop = schema.properties.get(top)
            if prop is not None and top not in schema.media_fields:  # a media path's problem is the file, not the shape
                about = f" ({prop['description'].rstrip('.')})" if prop.get("description") else ""
                problem.hint = f"Give {top!r} as {shape_of(prop)}{about}; see schemas/{records.get(schema.record).schema}.schema.json."


def shape_of(prop: dict[str, Any], depth: int = 0) -> str:
    """A JSON Schema property as an example shape: `{"bbox": [[number, number, number, number], ...], "category": [text, ...]}`."""
    if prop.get("x-feature") in ("Audio", "Image", "Video"):
        return "a media file's path (text), or {\"bytes\": base64 text}"
    if "oneOf" in prop or "anyOf" in prop:
        return " or ".join(shape_of(p, depth) for p in prop.get("oneOf") or prop.get("anyOf"))
    kinds = [k for k in (prop.get("type") if isinstance(prop.get("type"), list) else [prop.get("type")]) if k and k != "null"]
    kind = kinds[0] if kinds else None
    if kind == "object" and "properties" in prop and depth < 3:
        return "{" + ", ".join(f'"{k}": {shape_of(v, depth + 1)}' for k, v in prop["properties"].items()) + "}"
    if kind == "array":
        items = prop.get("items", {})
        if prop.get("x-length"):
            return "[" + ", ".join([shape_of(items, depth + 1)] * int(prop["x-length"])) + "]"
        return f"[{shape_of(items, depth + 1)}, ...]"
    if kind == "string":
        return "text" if "enum" not in prop else " or ".join(repr(v) for v in prop["enum"] if v is not None)
    if kind == "integer":
        return "an integer" if depth == 0 else "integer"
    if kind == "number":
        return "a number" if depth == 0 else "number"
    if kind == "boolean":
        return "true or false"
    return "a value"


def _reason(exc: Exception) -> str:
    """A decoder's error message, without the memory address of the buffer it was given."""
    text = re.sub(r" ?<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", str(exc)).replace(" :", ":").strip()
    return text[:200] or type(exc).__name__


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _parents(lists: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """For every item of a list column (as `pc.list_flatten` gives them): its row and its position in that row's list."""
    rows = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    first = np.searchsorted(rows, rows, side="left")
    return rows, np.arange(len(rows)) - first


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
