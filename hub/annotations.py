"""Label overlays: labels that came back from annotation, laid over a dataset's source records.

`registry/<ns>/<name>/annotations/labels.jsonl` holds one line per labelled field of a record:
`{"id", "field", "value", "provenance"}` (later lines win). Validation applies the overlay
right after reading the source, so the labels are checked like any other value and a
published version holds them; the file is text in git, reviewed like the entry.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from hub.entry import Entry

log = logging.getLogger(__name__)

__all__ = ["OVERLAY", "apply_overlay", "append_overlay", "read_overlay"]

OVERLAY = Path("annotations") / "labels.jsonl"


def overlay_path(folder: Path) -> Path:
    return folder / OVERLAY


def read_overlay(folder: Path) -> dict[str, dict[str, Any]]:
    """field -> {record id -> the latest line for it} from the dataset folder's overlay."""
    path = overlay_path(folder)
    found: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return found
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                item = json.loads(line)
                found.setdefault(item["field"], {})[item["id"]] = item
    return found


def append_overlay(folder: Path, lines: list[dict[str, Any]]) -> Path:
    """Append `lines` ({id, field, value, provenance}) to the overlay; return its path."""
    path = overlay_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for item in lines:
            f.write(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n")
    return path


def apply_overlay(entry: Entry, table: pa.Table) -> pa.Table:
    """`table` (source schema) with the overlay's values in place of the source's."""
    overlay = read_overlay(entry.path)
    if not overlay or not table.num_rows:
        return table
    ids = table.column("id").combine_chunks()
    for field, items in overlay.items():
        if field not in table.column_names:
            log.warning("%s: the annotation overlay names field %r, which records do not have", entry.id, field)
            continue
        column = table.column(field)
        keys = pa.array(list(items), pa.string())
        values = pa.array([items[k]["value"] for k in items], column.type)
        position = pc.index_in(ids, value_set=keys)
        mask = pc.is_valid(position)
        if not pc.any(mask).as_py():
            continue
        taken = values.take(pc.fill_null(position, 0))
        new = pc.if_else(mask, taken, column.combine_chunks())
        table = table.set_column(table.column_names.index(field), field, new)
    return table
