"""What the read stage makes of a corpus as it comes: `source.fields` in dataset.yaml (its
columns mapped to record fields), the columns the schema does not name (kept as extra fields,
`Shaper`), and the fields its media tell (`derive_fields`).

A mapping is `{record_field: column}` (a rename), or `{record_field: {column: ..., ...}}` with
one of the small transforms a field's format may need:

| field               | keys                                   | what it does                                         |
|---------------------|----------------------------------------|------------------------------------------------------|
| any                 | `column`                               | a rename                                             |
| a number            | `column`, `unit: s` or `ms`            | milliseconds to seconds (`unit: ms` divides by 1000) |
| `objects` (boxes)   | `column`, `format`, `relative`, `bbox`, `category` | a list of `{bbox, category}` objects (or parallel lists) to the schema's parallel lists; boxes given as `xywh` (COCO, the default), `xyxy` or `cxcywh`, in pixels or (`relative: true`) as fractions of the image's size |
| `series` (sensors)  | `column`, `units`                      | a `{channel: samples}` dict to `channels` and `series`; `units` names a `{channel: unit}` column, or is that dict itself |

A field that is not in the record schema renames a column to an extra field of that name.
Mapped columns are consumed: they are not also kept as extra fields under their own name.

Keys that an object inside a field does not name (an `emotion` in a dialogue turn, a
`confidence` in a speech segment) are nested extra fields: `Shaper` takes them out of the
record for the checks, under their dotted name (`turns[].emotion`), and `fold_nested` puts them
back into the field's struct with their inferred type, after the schema's own keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from hub.arrowutil import is_list_type

if TYPE_CHECKING:
    from hub.report import Report
    from hub.schema import RecordSchema

__all__ = ["BOX_FORMATS", "FieldMap", "Mapping", "MappingProblem", "Nested", "Shaper", "arrow_nested_extras", "derive_fields", "edit_distance", "extra_columns", "fold_nested",
           "likely_typo", "name_mapped_columns", "nested_field", "nested_slots", "parse_mapping", "reject_keyless", "unify_extras", "unify_nested"]

BOX_FORMATS = ("xywh", "xyxy", "cxcywh")
UNITS = {"s": 1.0, "ms": 0.001}


class MappingProblem(ValueError):
    """A value the mapping cannot transform (`str` is the message; `field` the record field)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True)
class FieldMap:
    """One record field and the column it is read from, with its transform."""

    field: str
    column: str
    unit: str | None = None  # s, ms
    box_format: str | None = None  # objects: xywh, xyxy, cxcywh
    relative: bool = False  # objects: boxes as fractions of the image's width and height
    bbox_key: str = "bbox"
    category_key: str = "category"
    units: str | dict[str, str] | None = None  # series: the column of {channel: unit}, or that dict

    @property
    def columns(self) -> list[str]:
        """Every column this field reads."""
        return [self.column] + ([self.units] if isinstance(self.units, str) else [])

    @property
    def fills(self) -> list[str]:
        """Every record field this map writes."""
        return ["channels", "units", "series"] if self.field == "series" and self.units is not None else [self.field]

    def describe(self) -> str:
        return f"column {self.column!r} (source.fields.{self.field})"


@dataclass
class Mapping:
    """A dataset's `source.fields`: the field maps, in order, and the problems found in them."""

    maps: list[FieldMap] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (field, message): the mapping itself is wrong

    def __bool__(self) -> bool:
        return bool(self.maps)

    @property
    def renames_only(self) -> bool:
        return all(m.unit in (None, "s") and m.box_format is None and m.units is None and not m.relative for m in self.maps)

    def origin(self, record_field: str) -> FieldMap | None:
        """The map that writes `record_field` (a top-level field), if any."""
        return next((m for m in self.maps if record_field in m.fills), None)

    @property
    def consumed(self) -> set[str]:
        return {c for m in self.maps for c in m.columns}

    def conflict(self, record: dict[str, Any]) -> tuple[FieldMap, str] | None:
        """(map, field) when `record` has a column named like a field that a map also writes:
        two columns for one field."""
        consumed = self.consumed
        for m in self.maps:
            for name in m.fills:
                if name in record and name not in consumed:
                    return m, name
        return None

    def apply(self, record: dict[str, Any], image_size: Any = None) -> dict[str, Any]:
        """`record` with its columns renamed and transformed into record fields.

        `image_size(record)` gives (width, height) of the mapped record's image, for relative boxes.
        Raises `MappingProblem` for a value the transform does not fit.
        """
        out = {k: v for k, v in record.items() if k not in self.consumed}
        boxes = []
        for m in self.maps:
            if m.column not in record:
                continue
            value = record[m.column]
            if value is None:
                for name in m.fills:
                    out.setdefault(name, None)
            elif m.unit is not None:
                out[m.field] = _scaled(value, m)
            elif m.box_format is not None or m.relative or (m.field == "objects" and isinstance(value, list)):
                boxes.append((m, value))  # after the rest: relative boxes need the image
            elif m.units is not None:
                units = record.get(m.units) if isinstance(m.units, str) else m.units
                out.update(_channels(value, units, m))
            else:
                out[m.field] = value
        for m, value in boxes:
            out[m.field] = _boxes(value, m, (lambda: image_size(out)) if image_size is not None else None)
        return out


def parse_mapping(source: dict[str, Any], properties: dict[str, Any]) -> Mapping:
    """The `Mapping` of a `source` section (its shape already checked by the dataset schema);
    problems of meaning (a transform a field cannot take) are listed in `Mapping.problems`."""
    mapping = Mapping()
    raw = source.get("fields") or {}
    if not isinstance(raw, dict):
        return mapping
    for name, spec in raw.items():
        if isinstance(spec, str):
            mapping.maps.append(FieldMap(str(name), spec))
            continue
        if not isinstance(spec, dict) or not isinstance(spec.get("column"), str):
            continue  # the dataset schema reports it
        m = FieldMap(str(name), spec["column"], unit=spec.get("unit"), box_format=spec.get("format"), relative=bool(spec.get("relative", False)),
                     bbox_key=spec.get("bbox", "bbox"), category_key=spec.get("category", "category"), units=spec.get("units"))
        kinds = _kinds(properties.get(m.field, {}))
        if m.unit is not None and not kinds & {"number", "integer"}:
            mapping.problems.append((m.field, f"source.fields.{m.field}: `unit` converts numbers, and {m.field!r} is not a number field"))
        elif (m.box_format is not None or m.relative or "bbox" in spec or "category" in spec) and m.field != "objects":
            mapping.problems.append((m.field, f"source.fields.{m.field}: box options (format, relative, bbox, category) apply to `objects` only"))
        elif (m.box_format is not None or m.relative) and "objects" not in properties:
            mapping.problems.append((m.field, f"source.fields.{m.field}: these records have no boxes (`objects`)"))
        elif m.units is not None and (m.field != "series" or "series" not in properties):
            mapping.problems.append((m.field, f"source.fields.{m.field}: `units` applies to `series` (sensor records) only"))
        else:
            mapping.maps.append(m)
    writers: dict[str, str] = {}
    for m in mapping.maps:
        for name in m.fills:
            if name in writers:
                mapping.problems.append((m.field, f"source.fields: columns {writers[name]!r} and {m.column!r} are both mapped to {name!r}: map one column per field"))
            writers.setdefault(name, m.column)
    return mapping


def _kinds(prop: dict[str, Any]) -> set[str]:
    kind = prop.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scaled(value: Any, m: FieldMap) -> Any:
    if not _number(value):
        raise MappingProblem(f"{m.describe()} holds {value!r}: `unit: {m.unit}` needs a number", m.field)
    return value * UNITS[m.unit] if m.unit != "s" else value


def _boxes(value: Any, m: FieldMap, image_size: Any) -> dict[str, list]:
    """Boxes in any of the formats as the schema's `{bbox: [[x, y, w, h]...], category: [...]}` in pixels."""
    shape = f"a list of {{{m.bbox_key!r}: [4 numbers], {m.category_key!r}: label}} objects"
    if isinstance(value, dict) and isinstance(value.get(m.bbox_key), list):
        boxes, categories = value[m.bbox_key], value.get(m.category_key)
    elif isinstance(value, list) and all(isinstance(o, dict) for o in value):
        missing = next((o for o in value if m.bbox_key not in o or m.category_key not in o), None)
        if missing is not None:
            raise MappingProblem(f"{m.describe()} holds an object with keys {sorted(missing)}: expected {shape}", m.field)
        boxes, categories = [o[m.bbox_key] for o in value], [o[m.category_key] for o in value]
    else:
        raise MappingProblem(f"{m.describe()} holds {_short(value)}: expected {shape}", m.field)
    size = None
    if m.relative:
        size = image_size() if image_size is not None else None
        if size is None:
            raise MappingProblem(f"{m.describe()}: relative boxes need the record's image, which did not open", m.field)
    out = []
    fmt = m.box_format or "xywh"
    for i, box in enumerate(boxes):
        if not (isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box)):
            out.append(box)  # the record schema reports it
            continue
        a, b, c, d = (float(v) for v in box)
        if m.relative:
            if max(a, b, c, d) > 1.0 + 1e-9 or min(a, b, c, d) < -1e-9:
                raise MappingProblem(f"{m.describe()}: box {i} {_fmt(box)} has values outside 0..1: not relative (drop `relative: true`)", m.field)
            w_img, h_img = size
            a, b, c, d = a * w_img, b * h_img, c * w_img, d * h_img
        if fmt == "xyxy":
            if c < a or d < b:
                raise MappingProblem(f"{m.describe()}: box {i} {_fmt(box)} ends before it starts (x2 < x1 or y2 < y1): not `format: xyxy` (is it xywh?)", m.field)
            c, d = c - a, d - b
        elif fmt == "cxcywh":
            if c < 0 or d < 0:
                raise MappingProblem(f"{m.describe()}: box {i} {_fmt(box)} has a negative width or height: not `format: cxcywh`", m.field)
            a, b = a - c / 2, b - d / 2
        out.append([round(v, 4) for v in (a, b, c, d)])
    return {"bbox": out, "category": categories}


def _channels(value: Any, units: Any, m: FieldMap) -> dict[str, Any]:
    """A `{channel: samples}` dict and a `{channel: unit}` dict as channels, units and series."""
    if not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values()):
        raise MappingProblem(f"{m.describe()} holds {_short(value)}: expected a {{channel: [samples]}} object", m.field)
    where = f"column {m.units!r}" if isinstance(m.units, str) else "source.fields.series.units"
    if not isinstance(units, dict):
        raise MappingProblem(f"{where} holds {_short(units)}: expected a {{channel: unit}} object", m.field)
    missing = [name for name in value if name not in units]
    if missing:
        raise MappingProblem(f"{where} gives no unit for channel {missing[0]!r} (units for: {', '.join(map(str, units)) or 'none'})", "units")
    return {"channels": list(value), "units": [units[name] for name in value], "series": list(value.values())}


def _fmt(box: list) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- reading with a mapping: extra fields, typos, dataset-level problems ---------------------


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (a swap of two neighbours counts one edit)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def likely_typo(key: str, fields: Iterable[str]) -> str | None:
    """The schema field `key` is probably a misspelling of: within 2 edits (1 for names of 4
    characters or fewer, none for shorter ones), case aside; None when there is none."""
    best, best_distance = None, 99
    for name in fields:
        limit = 0 if len(name) < 3 else 1 if len(name) <= 4 else 2
        d = edit_distance(key.casefold(), name.casefold())
        if 0 < d <= limit or (d == 0 and key != name):
            if d < best_distance:
                best, best_distance = name, d
    return best


def extra_columns(rows: list[dict[str, Any]], names: list[str]) -> list[tuple[str, pa.Array]]:
    """(name, Arrow array) of every extra field of `rows` (dicts of extras), the type inferred;
    values that mix types (a number here, a text there) become their JSON text."""
    import pyarrow as pa

    out = []
    for name in names:
        values = [r.get(name) for r in rows]
        try:
            array = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
            array = as_json_text(values)
        out.append((name, array))
    return out


def as_json_text(values: list[Any]) -> pa.Array:
    import pyarrow as pa

    return pa.array([None if v is None else json.dumps(v, ensure_ascii=False, default=str) for v in values], pa.string())


def unify_extras(tables: list[pa.Table], names: list[str]) -> list[pa.Table]:
    """The batches with each extra column of one type in all of them (numbers promoted; a
    column whose types do not unify becomes JSON text everywhere)."""
    import pyarrow as pa

    for name in names:
        fields = [t.schema.field(name) for t in tables if name in t.column_names]
        if len({f.type for f in fields}) <= 1:
            continue
        try:
            target = pa.unify_schemas([pa.schema([f]) for f in fields], promote_options="permissive").field(name).type
            tables = [t.set_column(t.column_names.index(name), name, t.column(name).cast(target)) if name in t.column_names else t for t in tables]
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            tables = [t.set_column(t.column_names.index(name), name, as_json_text(t.column(name).to_pylist())) if name in t.column_names else t for t in tables]
    return tables


# -- nested extra fields: keys an object inside a field does not name ----------------------------

_MEDIA = ("Audio", "Image", "Video")


@dataclass(frozen=True)
class Nested:
    """One nested extra field: `key` in the objects at `path` (property names from the top,
    through arrays: `("turns",)`), shown as `name` (`turns[].emotion`)."""

    name: str
    path: tuple[str, ...]
    key: str


def _slot(prop: dict[str, Any]) -> tuple | None:
    """The objects inside a property that may hold extra keys, as a tree: ("array", item) or
    ("object", its keys, {child: tree}); None when there are none (media structs are closed)."""
    if prop.get("x-feature") in _MEDIA:
        return None
    kinds = _kinds(prop)
    if "array" in kinds:
        item = _slot(prop.get("items", {}))
        return None if item is None else ("array", item)
    if "object" in kinds and "properties" in prop:
        children = {name: node for name, sub in prop["properties"].items() if (node := _slot(sub)) is not None}
        return ("object", frozenset(prop["properties"]), children)
    return None


def nested_slots(properties: dict[str, Any]) -> dict[str, tuple]:
    """{top-level field: slot tree} for every field of a record schema with objects inside."""
    return {name: node for name, prop in properties.items() if (node := _slot(prop)) is not None}


def _strip(value: Any, node: tuple, where: str, shown: str, path: tuple[str, ...], found: list) -> Any:
    """`value` without the keys its objects do not name (copied where it changes, else itself);
    each key taken out goes to `found` as (shown parent, key, where, the object's keys that
    hold a value, the keys it may have, path)."""
    if node[0] == "array":
        if not isinstance(value, list):
            return value
        out = None
        for i, item in enumerate(value):
            stripped = _strip(item, node[1], f"{where}[{i}]", f"{shown}[]", path, found)
            if stripped is not item:
                if out is None:
                    out = list(value)
                out[i] = stripped
        return value if out is None else out
    _, allowed, children = node
    if not isinstance(value, dict):
        return value
    out = value
    if not value.keys() <= allowed:
        out = {k: v for k, v in value.items() if k in allowed}
        given = {k for k, v in value.items() if v is not None}
        found.extend((shown, k, where, given, allowed, path) for k in value if k not in allowed)
    for name, child in children.items():
        inner = out.get(name)
        if inner is not None:
            stripped = _strip(inner, child, f"{where}.{name}", f"{shown}.{name}", (*path, name), found)
            if stripped is not inner:
                if out is value:
                    out = dict(value)
                out[name] = stripped
    return out


def _objects_at(values: Iterable[Any], node: tuple, path: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Every object at `path` (below the field) in the values of one field."""
    for value in values:
        if value is None:
            continue
        if node[0] == "array":
            if isinstance(value, list):
                yield from _objects_at(value, node[1], path)
        elif isinstance(value, dict):
            if not path:
                yield value
            elif path[0] in node[2]:
                yield from _objects_at([value.get(path[0])], node[2][path[0]], path[1:])


def _typed(kind: pa.DataType) -> pa.DataType:
    """A nested extra's type: text when no object has a value (an Arrow cast of lists of structs
    with a null-typed field gets that field's length wrong)."""
    return pa.string() if pa.types.is_null(kind) else kind


def _insert(kind: pa.DataType, path: tuple[str, ...], child: pa.Field) -> pa.DataType:
    """`kind` (a struct, or lists of structs) with `child` after the fields of the struct at `path` (or in place of its namesake)."""
    if pa.types.is_fixed_size_list(kind):
        return pa.list_(kind.value_field.with_type(_insert(kind.value_type, path, child)), kind.list_size)
    if pa.types.is_large_list(kind):
        return pa.large_list(kind.value_field.with_type(_insert(kind.value_type, path, child)))
    if pa.types.is_list(kind):
        return pa.list_(kind.value_field.with_type(_insert(kind.value_type, path, child)))
    fields = [kind.field(i) for i in range(kind.num_fields)]
    if path:
        return pa.struct([f.with_type(_insert(f.type, path[1:], child)) if f.name == path[0] else f for f in fields])
    if any(f.name == child.name for f in fields):
        return pa.struct([child if f.name == child.name else f for f in fields])
    return pa.struct([*fields, child])


def nested_field(kind: pa.DataType, path: tuple[str, ...], key: str) -> pa.Field | None:
    """The field `key` of the struct at `path` (below a field of type `kind`), if there is one."""
    while is_list_type(kind):
        kind = kind.value_type
    if not pa.types.is_struct(kind):
        return None
    index = kind.get_field_index(path[0] if path else key)
    if index < 0:
        return None
    return kind.field(index) if not path else nested_field(kind.field(index).type, path[1:], key)


def fold_nested(values: list[Any], kind: pa.DataType, node: tuple, nested: list[Nested]) -> pa.Array:
    """The values of one field, with their nested extra keys, as Arrow: `kind` (the field's type
    in the schema) with each of `nested` after the schema's keys, its type inferred; values that
    mix types (a number here, a text there) become their JSON text."""
    for n in nested:
        objects = list(_objects_at(values, node, n.path[1:]))
        try:
            inferred = _typed(pa.array([o.get(n.key) for o in objects]).type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
            inferred = pa.string()
            for o in objects:
                if o.get(n.key) is not None:
                    o[n.key] = json.dumps(o[n.key], ensure_ascii=False, default=str)
        kind = _insert(kind, n.path[1:], pa.field(n.key, inferred))
    return pa.array(values, kind)


def _nested_as_json_text(table: pa.Table, node: tuple, n: Nested) -> pa.Table:
    column = n.path[0]
    kind = table.schema.field(column).type
    if nested_field(kind, n.path[1:], n.key) is None:
        return table
    values = table.column(column).to_pylist()
    for o in _objects_at(values, node, n.path[1:]):
        if o.get(n.key) is not None:
            o[n.key] = json.dumps(o[n.key], ensure_ascii=False, default=str)
    kind = _insert(kind, n.path[1:], pa.field(n.key, pa.string()))
    return table.set_column(table.column_names.index(column), pa.field(column, kind), pa.array(values, kind))


def unify_nested(tables: list[pa.Table], nested: list[Nested], schema: pa.Schema, slots: dict[str, tuple]) -> list[pa.Table]:
    """The batches with each field that holds nested extras of one type in all of them: its type
    in `schema`, then the extras in the order they were first met (numbers promoted; an extra
    whose types do not unify becomes JSON text everywhere; a batch without it has nulls)."""
    for column in dict.fromkeys(n.path[0] for n in nested):
        final = schema.field(column).type
        for n in (n for n in nested if n.path[0] == column):
            kinds = [f.type for t in tables if (f := nested_field(t.schema.field(column).type, n.path[1:], n.key)) is not None]
            try:
                unified = _typed(pa.unify_schemas([pa.schema([pa.field(n.key, k)]) for k in kinds], promote_options="permissive").field(n.key).type if kinds else pa.null())
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                unified = pa.string()
                tables = [_nested_as_json_text(t, slots[column], n) for t in tables]
            final = _insert(final, n.path[1:], pa.field(n.key, unified))
        tables = [t.set_column(t.column_names.index(column), pa.field(column, final), t.column(column).cast(final)) for t in tables]
    return tables


def arrow_nested_extras(source: pa.DataType, target: pa.DataType, node: tuple, shown: str, path: tuple[str, ...]) -> list[tuple[str, tuple[str, ...], pa.Field, set[str], frozenset[str]]]:
    """The struct fields of a Parquet column of type `source` that its objects in the schema
    (`target`, slot tree `node`) do not name: (shown parent, path, the field, the struct's
    fields, the fields it may have)."""
    if node[0] == "array":
        if is_list_type(source) and is_list_type(target):
            return arrow_nested_extras(source.value_type, target.value_type, node[1], f"{shown}[]", path)
        return []
    if not (pa.types.is_struct(source) and pa.types.is_struct(target)):
        return []
    _, allowed, children = node
    names = {source.field(i).name for i in range(source.num_fields)}
    found = []
    for i in range(source.num_fields):
        f = source.field(i)
        if f.name not in allowed:
            found.append((shown, path, f, names, allowed))
        elif f.name in children and (index := target.get_field_index(f.name)) >= 0:
            found += arrow_nested_extras(f.type, target.field(index).type, children[f.name], f"{shown}.{f.name}", (*path, f.name))
    return found


class Shaper:
    """One read of a source: each record's columns mapped to fields (`source.fields`), its
    extra fields set aside (or dropped: `source.extras: drop`), likely typos of field names
    found; `finish` reports what only the whole source shows (a mapped column no record has)."""

    def __init__(self, source: dict[str, Any], schema: RecordSchema) -> None:
        self.mapping = parse_mapping(source, schema.properties)
        self.keep = source.get("extras", "keep") != "drop"
        self.schema = schema
        self.fields = frozenset(schema.properties)
        self.renamed = {m.field for m in self.mapping.maps}  # a column renamed to an extra's name is no typo
        self.columns: dict[str, None] = {}  # every top-level column seen, in order
        self.extras: dict[str, None] = {}  # every extra field kept (or dropped), in order
        self.slots = nested_slots(schema.properties)  # the fields with objects inside, which may hold nested extras
        self.nested: dict[str, Nested] = {}  # every nested extra field kept (or dropped), in order: `turns[].emotion`
        self.conflict: tuple[FieldMap, str, str, int] | None = None

    def row(self, file: str, row: int, record: dict[str, Any], image_size: Any = None, *, mapped: bool = False) -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, str, str]]]:
        """(the record's fields, its extra fields, its problems as (slug, message, field)).

        `mapped`: the record's columns are already renamed (a Parquet file read row by row).
        Nested extra fields are still in the record: `take_nested` takes them out."""
        problems: list[tuple[str, str, str]] = []
        if not mapped:
            self.columns.update(dict.fromkeys(record))
        if self.mapping and not mapped:
            if self.conflict is None and (hit := self.mapping.conflict(record)) is not None:
                self.conflict = (*hit, file, row)
            try:
                record = self.mapping.apply(record, image_size)
            except MappingProblem as exc:
                problems.append(("bad-mapping", exc.message, exc.field))
        extras = {k: record[k] for k in record if k not in self.fields}
        if extras:
            record = {k: v for k, v in record.items() if k in self.fields}
            for key in extras:
                if key not in self.renamed and (close := likely_typo(key, self.fields - record.keys())) is not None:
                    problems.append(("unknown-field", f"field {key!r} is not in the {self.schema.record} record schema: did you mean {close!r}?", key))
            self.extras.update(dict.fromkeys(extras))
            if not self.keep:
                extras = {}
        return record, extras, problems

    def holds_nested(self, field: str | None) -> bool:
        """Whether a shape problem's field (`turns[].emotion`) is in a field whose objects may hold nested extras."""
        return bool(field) and re.split(r"[.\[]", field, maxsplit=1)[0] in self.slots and ("." in field or "[" in field)

    def take_nested(self, record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, str, str]], int]:
        """(the record without the keys its objects do not name, the fields that had some as they
        came (for `fold_nested`; none when they are dropped), the problems (a key that is likely a
        typo of one the object lacks), how many keys were taken out).

        Called for a record whose shape check found such a key: the common record, whose objects
        have the schema's keys only, costs nothing more."""
        problems: list[tuple[str, str, str]] = []
        originals: dict[str, Any] = {}
        taken = 0
        for name, node in self.slots.items():
            value = record.get(name)
            if value is None:
                continue
            found: list = []
            stripped = _strip(value, node, name, name, (name,), found)
            if stripped is value:
                continue
            record = {**record, name: stripped}
            taken += len(found)
            typos: set[str] = set()
            for shown, key, where, keys, allowed, path in found:
                dotted = f"{shown}.{key}"
                if (close := likely_typo(key, allowed - keys)) is not None:
                    if dotted not in typos:  # the first object with it
                        problems.append(("unknown-field", f"field {key!r} in {where} is not in the {self.schema.record} record schema: did you mean {close!r}?", dotted))
                    typos.add(dotted)
                elif dotted not in self.nested:
                    self.nested[dotted] = Nested(dotted, path, key)
            if self.keep and not typos:
                originals[name] = value
        return record, originals, problems, taken

    def table_nested(self, types: dict[str, pa.DataType], target: pa.Schema) -> tuple[dict[str, pa.DataType], dict[str, str]]:
        """For a Parquet file's columns (name: type): ({column: the type it is read as, the
        schema's with the nested extras it keeps}, {nested field: the schema's key it is likely
        a typo of})."""
        kinds, typos = {}, {}
        for column, node in self.slots.items():
            if column not in types or column not in target.names:
                continue
            kind = target.field(column).type
            for shown, path, child, keys, allowed in arrow_nested_extras(types[column], kind, node, column, (column,)):
                dotted = f"{shown}.{child.name}"
                if (close := likely_typo(child.name, allowed - keys)) is not None:
                    typos[dotted] = close
                    continue
                self.nested.setdefault(dotted, Nested(dotted, path, child.name))
                if self.keep:
                    kind = _insert(kind, path[1:], child.with_type(_typed(child.type)))
            if kind != target.field(column).type:
                kinds[column] = kind
        return kinds, typos

    def table_columns(self, file: str, columns: list[str]) -> tuple[dict[str, str], list[str], list[tuple[str, str, str]]]:
        """For a Parquet file's columns: (renames old -> new, extra columns kept, problems)."""
        self.columns.update(dict.fromkeys(columns))
        renames = {m.column: m.field for m in self.mapping.maps if m.column in columns}
        if self.conflict is None and (hit := self.mapping.conflict(dict.fromkeys(columns))) is not None:
            self.conflict = (*hit, file, 0)
        names = [renames.get(c, c) for c in columns]
        extras, problems = [], []
        for name in names:
            if name in self.fields:
                continue
            close = likely_typo(name, self.fields - set(names)) if name not in self.renamed else None
            if close is not None:
                problems.append(("unknown-field", f"column {name!r} is not a field of {self.schema.record} records: did you mean {close!r}?", name))
                continue
            self.extras[name] = None
            if self.keep:
                extras.append(name)
        return renames, extras, problems

    def start(self) -> list[tuple[str, str, str]]:
        """Problems of the mapping itself, before any record is read: (slug, message, field), for dataset.yaml."""
        return [("bad-mapping", message, f"source.fields.{name}") for name, message in self.mapping.problems]

    def finish(self, rows: int) -> list[tuple[str, str, str]]:
        """Problems of the mapping that the whole source shows: (slug, message, field), for dataset.yaml."""
        import difflib

        found = []
        if self.conflict is not None:
            m, name, file, row = self.conflict
            where = f"{file} row {row}" if row else file
            found.append(("bad-mapping", f"source.fields maps column {m.column!r} to {name!r}, but the records also have a column {name!r} (first at {where}): "
                          f"two columns for one field; map the other one to a name of its own (e.g. `{name}_original: {name}`) or remove it", f"source.fields.{m.field}"))
        if rows:
            seen = [c for c in self.columns]
            for m in self.mapping.maps:
                for column in m.columns:
                    if column not in self.columns:
                        close = difflib.get_close_matches(column, seen, n=1, cutoff=0.6)
                        hint = f"did you mean {close[0]!r}? " if close else ""
                        listed = ", ".join(seen[:20]) + (", ..." if len(seen) > 20 else "")
                        found.append(("bad-mapping", f"source.fields.{m.field} names column {column!r}, which no record has: {hint}(columns: {listed})", f"source.fields.{m.field}"))
        return found

    def describe(self, field: str | None) -> str | None:
        """Where a top-level field was read from, when a map wrote it: for messages."""
        if not field or not self.mapping:
            return None
        m = self.mapping.origin(field.split(".")[0].split("[")[0])
        return None if m is None or m.column == m.field else f"column {m.column!r} via source.fields.{m.field}"


# -- after the read: group keys among the extras, the columns named in messages, derived fields ----


def reject_keyless(table: pa.Table, key: str, report: Report, unreadable: list[dict[str, Any]]) -> pa.Table:
    """Rows whose group key (an extra field, which the checks do not see) is missing or blank: reported and set aside."""
    import pyarrow.compute as pc

    column = table.column(key)
    blank = pc.is_null(column)
    if pa.types.is_string(column.type):
        blank = pc.or_(blank, pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), ""), True))
    mask = blank.to_numpy(zero_copy_only=False) if isinstance(blank, pa.Array) else pa.concat_arrays(blank.chunks).to_numpy(zero_copy_only=False)
    if not mask.any():
        return table
    message = f"the group key {key!r} (split.group_key) is missing or blank"
    from hub.sources import FILE, ROW

    for record in table.filter(pa.array(mask)).to_pylist():
        file, row = record.pop(FILE), record.pop(ROW)
        report.add("missing-group-key", message, file=file, row=row, field=key, record_id=None if record.get("id") is None else str(record["id"]))
        unreadable.append({"file": file, "row": row, "record": record, "problems": [{"slug": "missing-group-key", "message": message, "field": key}]})
    return table.filter(pa.array(~mask))


def name_mapped_columns(shaper: Shaper, problems: list, unreadable: list[dict[str, Any]]) -> None:
    """Say which column a mapped field was read from in the read stage's problems about it."""
    if not shaper.mapping:
        return
    for problem in problems:
        if problem.slug in ("type-error", "missing-field") and (origin := shaper.describe(problem.field)) is not None:
            problem.message += f" ({origin})"
    for item in unreadable:
        for problem in item["problems"]:
            if problem["slug"] in ("type-error", "missing-field") and (origin := shaper.describe(problem["field"])) is not None:
                problem["message"] += f" ({origin})"


def derive_fields(table: pa.Table, schema: RecordSchema) -> pa.Table:
    """`table` with the fields its media tell filled in where they are null (`RecordType.derived`:
    a clip's duration and sample rate, say), from the decoded media; media that do not decode
    leave them null, for the checks to report the file. Given values are kept (and checked)."""
    from hub import records

    kind_of = records.get(schema.record)
    wanted = [f for f in kind_of.derived if f in table.column_names]
    if not wanted or not table.num_rows or not any(table.column(f).null_count for f in wanted):
        return table
    import pyarrow.compute as pc

    columns = {f: table.column(f).to_pylist() for f in wanted}
    for media, kind in schema.media_fields.items():
        blobs = pc.struct_field(table.column(media), "bytes") if table.column(media).null_count < table.num_rows else None
        if blobs is None:
            continue
        for r in range(table.num_rows):
            if all(columns[f][r] is not None for f in wanted) or (blob := blobs[r].as_py()) is None:
                continue
            try:
                told = kind_of.derive(kind, kind_of.decode(kind, blob))
            except Exception:  # the media checks report the file
                continue
            for f in wanted:
                if columns[f][r] is None and told.get(f) is not None:
                    columns[f][r] = told[f]
    for f in wanted:
        table = table.set_column(table.column_names.index(f), table.schema.field(f), pa.array(columns[f], table.schema.field(f).type))
    return table
