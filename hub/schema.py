"""Record schemas: the JSON Schemas in `schemas/` are the single source, mapped here to
Arrow schemas and to `datasets.Features`.

Two extension keywords drive the mapping: `x-feature` (`Audio`, `Image`, `ClassLabel`) and
`x-dtype` (an Arrow/`datasets` dtype such as `float32`); `x-length` fixes a list's length.
Class-label fields hold strings in the source ("source schema") and class indices in the
published data, with the names taken from the dataset's label set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import datasets

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

# record type -> schema file stem; modality -> default record type
RECORD_SCHEMAS = {
    "speech": "speech",
    "image": "image",
    "dialogue": "dialogue",
    "sensor": "industrial-sensor",
    "inspection": "industrial-inspection",
}
MODALITY_RECORDS = {
    "speech": ("speech",),
    "image": ("image",),
    "dialogue": ("dialogue",),
    "industrial": ("sensor", "inspection"),
}
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

        return datasets.Features({n: _feature(p, list(self.labels)) for n, p in self.properties.items()})

    @cached_property
    def arrow_schema(self) -> pa.Schema:
        """The published Arrow schema, with the `huggingface` metadata `datasets` reads."""
        return self.features.arrow_schema

    @cached_property
    def source_schema(self) -> pa.Schema:
        """The Arrow schema records are read into: class labels still as strings."""
        import datasets

        features = datasets.Features({n: _feature(p, None) for n, p in self.properties.items()})
        return features.arrow_schema.remove_metadata()

    @cached_property
    def media_fields(self) -> dict[str, str]:
        """Top-level media fields and their kind (`Audio` or `Image`)."""
        return {n: p["x-feature"] for n, p in self.properties.items() if p.get("x-feature") in ("Audio", "Image")}

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


def record_schema(record: str, labels: list[str] | tuple[str, ...] = ()) -> RecordSchema:
    """The `RecordSchema` for a record type (`speech`, `image`, `dialogue`, `sensor`, `inspection`)."""
    if record not in RECORD_SCHEMAS:
        raise KeyError(record)
    return RecordSchema(record, tuple(labels))
