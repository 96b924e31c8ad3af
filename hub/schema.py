"""Record schemas: the JSON Schemas in `schemas/` are the single source, mapped here to
Arrow schemas and to `datasets.Features`.

Two extension keywords drive the mapping: `x-feature` (`Audio`, `Image`, `ClassLabel`) and
`x-dtype` (an Arrow/`datasets` dtype such as `float32`); `x-length` fixes a list's length.
Class-label fields hold strings in the source ("source schema") and class indices in the
published data, with the names taken from the dataset's label set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from hub import records

if TYPE_CHECKING:
    import datasets

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

# record type -> schema file stem; modality -> its record types (the default first): from the registry
RECORD_SCHEMAS = {name: kind.schema for name, kind in records.RECORD_TYPES.items()}
MODALITY_RECORDS = {m: tuple(kind.name for kind in records.for_modality(m)) for m in records.modalities()}
MEDIA_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


@lru_cache(maxsize=None)
def load_json_schema(stem: str) -> dict[str, Any]:
    """The JSON Schema `schemas/<stem>.schema.json` as a dict."""
    return json.loads((SCHEMA_DIR / f"{stem}.schema.json").read_text(encoding="utf-8"))


def _types(prop: dict[str, Any]) -> list[str]:
    kind = prop.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def _feature(prop: dict[str, Any], labels: list[str] | None) -> Any:
    """One JSON Schema property as a `datasets` feature; `labels=None` keeps class labels as strings."""
    import datasets  # here, not at the top: listing and searching the catalog never need it (0.5 s of imports)

    special = prop.get("x-feature")
    if special == "Audio":
        return datasets.Audio(decode=False)
    if special == "Image":
        return datasets.Image()
    if special == "Video":  # stored undecoded: datasets.Video would need a decoder (torchcodec) to load
        return {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}
    if special == "ClassLabel":
        return datasets.Value("string") if labels is None else datasets.ClassLabel(names=list(labels))
    kinds = [k for k in _types(prop) if k != "null"]
    kind = kinds[0] if kinds else "string"
    if kind == "array":
        inner = dict(prop.get("items", {}))
        if "x-dtype" in prop and "x-dtype" not in inner:
            inner["x-dtype"] = prop["x-dtype"]
        return datasets.List(_feature(inner, labels), length=prop.get("x-length", -1))
    if kind == "object":
        return {name: _feature(sub, labels) for name, sub in prop.get("properties", {}).items()}
    dtype = prop.get("x-dtype") or {"string": "string", "integer": "int64", "number": "float64", "boolean": "bool"}[kind]
    return datasets.Value(dtype)


@dataclass(frozen=True)
class RecordSchema:
    """The record schema of one record type, bound to a dataset's label set."""

    record: str
    labels: tuple[str, ...] = ()
    extras: tuple[pa.Field, ...] = ()  # fields the source has beyond the schema's (`source.fields`, `hub.mapping`), types inferred
    nested: tuple[tuple[tuple[str, ...], pa.Field], ...] = ()  # keys the objects inside a field have beyond the schema's: (path, field), e.g. (("turns",), emotion)

    def with_extras(self, extras: list[pa.Field] | tuple[pa.Field, ...], nested: Any = ()) -> RecordSchema:
        """This schema with the source's extra fields, published after the schema's own, and its
        nested extra fields (`nested`: (path, field) pairs), each after the keys of its object."""
        return replace(self, extras=tuple(extras), nested=tuple((tuple(path), f) for path, f in nested))

    def _extra_features(self) -> dict[str, Any]:
        import datasets

        return dict(datasets.Features.from_arrow_schema(pa.schema(list(self.extras)))) if self.extras else {}

    def _features(self, labels: list[str] | None) -> dict[str, Any]:
        """The schema's features (class labels as `labels`, or strings for None), with the nested
        extra fields in their objects, then the extra fields."""
        import datasets

        features = {n: _feature(p, labels) for n, p in self.properties.items()}
        for path, child in self.nested:
            holder = features
            for name in path:
                holder = holder[name]
                while isinstance(holder, (datasets.List, datasets.LargeList)):
                    holder = holder.feature
            holder[child.name] = datasets.Features.from_arrow_schema(pa.schema([child]))[child.name]
        return {**features, **self._extra_features()}

    @cached_property
    def json(self) -> dict[str, Any]:
        return load_json_schema(RECORD_SCHEMAS[self.record])

    @property
    def properties(self) -> dict[str, Any]:
        return self.json["properties"]

    @property
    def required(self) -> list[str]:
        return self.json.get("required", [])

    @cached_property
    def features(self) -> datasets.Features:
        """The published features: class labels as `ClassLabel` with the label set's names."""
        import datasets

        return datasets.Features(self._features(list(self.labels)))

    @cached_property
    def arrow_schema(self) -> pa.Schema:
        """The published Arrow schema, with the `huggingface` metadata `datasets` reads."""
        return self.features.arrow_schema

    @cached_property
    def source_schema(self) -> pa.Schema:
        """The Arrow schema records are read into: class labels still as strings."""
        import datasets

        return datasets.Features(self._features(None)).arrow_schema.remove_metadata()

    @cached_property
    def media_fields(self) -> dict[str, str]:
        """Top-level media fields and their kind (`Audio`, `Image` or `Video`)."""
        return {n: p["x-feature"] for n, p in self.properties.items() if p.get("x-feature") in ("Audio", "Image", "Video")}

    @cached_property
    def label_paths(self) -> list[tuple[str, ...]]:
        """Paths to every class-label field, e.g. ('intent',), ('turns', 'intent'), ('objects', 'category')."""
        found: list[tuple[str, ...]] = []

        def walk(prop: dict[str, Any], path: tuple[str, ...]) -> None:
            if prop.get("x-feature") == "ClassLabel":
                found.append(path)
            elif "array" in _types(prop):
                walk(prop.get("items", {}), path)
            elif "properties" in prop and prop.get("x-feature") is None:
                for name, sub in prop["properties"].items():
                    walk(sub, (*path, name))

        for name, prop in self.properties.items():
            walk(prop, (name,))
        return found

    @cached_property
    def _shape(self) -> Callable[[Any, list[int]], _Found | None]:
        return _compile({"type": "object", "properties": self.properties})

    def shape_problem(self, record: dict[str, Any]) -> tuple[tuple[str, str, str] | None, int]:
        """What converting `record` to Arrow would silently change, and how many keys it has.

        Returns ((slug, message, field) of the first problem, or None) and the number of
        object keys it went through (every key of a record of the right shape). Arrow drops keys
        a struct does not have, turns `true` into 1.0 and truncates 16000.7 to 16000; this
        reports them instead (`unknown-field`, `type-error`).
        """
        count = [0]
        found = self._shape(record, count)
        if found is None:
            return None, count[0]
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in reversed(found.where)).lstrip(".")
        field = re.sub(r"\[\d+\]", "[]", path)
        if found.slug == "unknown-field":
            place = f" in {path}" if path else ""
            field = f"{field}.{found.detail}" if field else found.detail
            return ("unknown-field", f"field {found.detail!r}{place} is not in the {self.record} record schema", field), count[0]
        return (found.slug, f"{path}: {found.detail}", field), count[0]


@dataclass
class _Found:
    """A problem found by a shape check: where (innermost first) and what."""

    slug: str
    detail: str
    where: list[str | int]


_MEDIA = ("Audio", "Image", "Video")  # {"bytes", "path"} once read


def _compile(prop: dict[str, Any]) -> Callable[[Any, list[int]], _Found | None]:
    """A check of one value against `prop` for what Arrow would change without saying so.

    Values of the wrong kind are left alone: Arrow refuses them, and the JSON Schema says why.
    """
    kinds = set(_types(prop))
    if prop.get("x-feature") in _MEDIA:
        def media(value: Any, count: list[int]) -> _Found | None:
            if isinstance(value, dict):
                count[0] += len(value)
                extra = sorted(set(value) - {"bytes", "path"})
                if extra:
                    return _Found("unknown-field", extra[0], [])
            return None
        return media
    if "object" in kinds and "properties" in prop:
        allowed = frozenset(prop["properties"])
        children = [(name, _compile(sub)) for name, sub in prop["properties"].items() if _needs_check(sub)]

        def obj(value: Any, count: list[int]) -> _Found | None:
            if not isinstance(value, dict):
                return None
            count[0] += len(value)
            if not value.keys() <= allowed:
                return _Found("unknown-field", sorted(set(value) - allowed)[0], [])
            for name, check in children:
                child = value.get(name)
                if child is not None and (found := check(child, count)) is not None:
                    found.where.append(name)
                    return found
            return None
        return obj
    if "array" in kinds:
        items = prop.get("items", {})
        item_kinds = set(_types(items))
        if item_kinds and item_kinds <= {"number", "integer", "null"}:
            integer = "integer" in item_kinds

            def numbers(value: Any, count: list[int]) -> _Found | None:
                if not isinstance(value, list):
                    return None
                types = set(map(type, value))
                if bool in types or (integer and float in types):
                    for i, v in enumerate(value):
                        if (found := _number(v, integer)) is not None:
                            found.where.append(i)
                            return found
                return None
            return numbers
        if not _needs_check(items):
            return lambda value, count: None
        if "properties" in items and not any(_needs_check(sub) for sub in items["properties"].values()):
            allowed = frozenset(items["properties"])

            def flat_objects(value: Any, count: list[int]) -> _Found | None:  # dialogue turns: the common case, inline
                if not isinstance(value, list):
                    return None
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        count[0] += len(item)
                        if not item.keys() <= allowed:
                            return _Found("unknown-field", sorted(set(item) - allowed)[0], [i])
                return None
            return flat_objects
        check_item = _compile(items)

        def array(value: Any, count: list[int]) -> _Found | None:
            if not isinstance(value, list):
                return None
            for i, item in enumerate(value):
                if item is not None and (found := check_item(item, count)) is not None:
                    found.where.append(i)
                    return found
            return None
        return array
    if kinds & {"number", "integer"}:
        integer = "number" not in kinds
        return lambda value, count: _number(value, integer)
    return lambda value, count: None


def _number(value: Any, integer: bool) -> _Found | None:
    """True or 16000.7 where a number (or an integer) is wanted: Arrow would take 1.0 and 16000."""
    if isinstance(value, bool) or (integer and isinstance(value, float) and not value.is_integer()):
        return _Found("type-error", f"{value!r} is not of type {'integer' if integer else 'number'!r}", [])
    return None


def _needs_check(prop: dict[str, Any]) -> bool:
    """Whether a value of `prop` can hold anything Arrow would change silently."""
    kinds = set(_types(prop))
    if prop.get("x-feature") in _MEDIA or kinds & {"number", "integer"}:
        return True
    if "object" in kinds and "properties" in prop:
        return True
    return "array" in kinds and _needs_check(prop.get("items", {}))


def record_schema(record: str, labels: list[str] | tuple[str, ...] = ()) -> RecordSchema:
    """The `RecordSchema` for a record type (one of `hub.records.RECORD_TYPES`); KeyError for another."""
    if record not in RECORD_SCHEMAS:
        raise KeyError(record)
    return RecordSchema(record, tuple(labels))
