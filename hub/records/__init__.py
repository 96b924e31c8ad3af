"""Record types: one module per kind of record (its schema, media decoding, checks,
fingerprints, stats and Label Studio tasks), behind one interface (`hub.records.base`).

This registry lists them; the rest of the hub asks it, and never names a record type:

- `RECORD_TYPES`: record type name -> `RecordType`, in the order the catalog lists them;
- `get(name)`: one of them (`KeyError` for an unknown name);
- `modalities()`: the modalities, in order; `for_modality(m)`: its record types, the
  default first.

Adding a record type is one module here (a `RecordType` subclass and its instance), one
schema in `schemas/` and one line below.
"""

from __future__ import annotations

from hub.records import dialogue, image, inspection, sensor, speech, video
from hub.records.base import RecordType, TaskSpec

__all__ = ["RECORD_TYPES", "RecordType", "TaskSpec", "for_modality", "get", "infer", "modalities"]

RECORD_TYPES: dict[str, RecordType] = {
    t.name: t for t in (speech.SPEECH, image.IMAGE, dialogue.DIALOGUE, sensor.SENSOR, inspection.INSPECTION, video.VIDEO)
}


def get(name: str) -> RecordType:
    """The record type called `name`; raises `KeyError` when there is none."""
    return RECORD_TYPES[name]


def infer(columns: list[str] | set[str]) -> str | None:
    """The record type of rows with these columns, or None when none fits.

    A type fits when the columns hold its required fields (its group key aside: data from
    elsewhere may be grouped otherwise); of the types that fit, the one whose schema names
    the most of the columns wins (`image` + `defect` is an inspection, `image` + `label` an
    image); a tie goes to the first in registry order (bare `image` is an image)."""
    from hub.schema import load_json_schema

    columns = set(columns)
    scores = {}
    for name, kind in RECORD_TYPES.items():
        schema = load_json_schema(kind.schema)
        required = set(schema.get("required", [])) - {"id", kind.group_key}
        if required and required <= columns:
            scores[name] = len(columns & set(schema.get("properties", {})))
    return max(scores, key=scores.__getitem__) if scores else None


def modalities() -> list[str]:
    """Every modality a record type belongs to, in registry order."""
    return list(dict.fromkeys(t.modality for t in RECORD_TYPES.values()))


def for_modality(modality: str) -> list[RecordType]:
    """The record types of `modality` (the first is the default); [] for an unknown one."""
    return [t for t in RECORD_TYPES.values() if t.modality == modality]
