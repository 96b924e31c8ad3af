"""Statistics of a split dataset, and their plots (SVG, for the card and the web pages).

Per split: rows, groups, the class balance of every class-label field, and per modality
audio durations, text lengths, image sizes or channel ranges. Per class-label field, the
largest gap between a class's share of a split and its share of the whole (`class_balance`).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hub.arrowutil import Series
from hub.entry import Entry
from hub.plots import bar_chart

__all__ = ["compute", "plot"]


def _summary(values: np.ndarray) -> dict[str, float]:
    if not len(values):
        return {}
    q = np.percentile(values, [0, 50, 100])
    return {"min": round(float(q[0]), 4), "median": round(float(q[1]), 4), "max": round(float(q[2]), 4), "mean": round(float(values.mean()), 4)}


def _image_sizes(column: pa.ChunkedArray) -> np.ndarray:
    from PIL import Image

    sizes = []
    for blob in pc.struct_field(column, "bytes").to_pylist():
        if blob is not None:
            with Image.open(io.BytesIO(blob)) as image:
                sizes.append(image.size)
    return np.asarray(sizes, dtype=np.int64).reshape(-1, 2)


def _metrics(table: pa.Table, record: str) -> tuple[dict[str, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Per-row metrics, and per-item metrics with the row each item belongs to, over whole columns."""
    per_row: dict[str, np.ndarray] = {}
    per_item: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if record == "speech":
        per_row["duration_s"] = table.column("duration").to_numpy(zero_copy_only=False).astype(np.float64)
        per_row["transcript_chars"] = pc.utf8_length(table.column("transcript")).to_numpy(zero_copy_only=False)
    elif record == "dialogue":
        turns = table.column("turns")  # chunk by chunk: no copy of the texts
        per_row["turns"] = pc.list_value_length(turns).to_numpy(zero_copy_only=False)
        lengths = pc.utf8_length(pc.struct_field(pc.list_flatten(turns), "text")).to_numpy(zero_copy_only=False)
        starts = np.cumsum([0, *(len(c) for c in turns.chunks)])
        parents = [pc.list_parent_indices(c).to_numpy(zero_copy_only=False) + start for c, start in zip(turns.chunks, starts)]
        per_item["turn_chars"] = (lengths, np.concatenate(parents) if parents else np.array([], np.int64))
    elif record in ("image", "inspection"):
        sizes = _image_sizes(table.column("image"))
        if len(sizes) == table.num_rows:
            per_row["width"], per_row["height"] = sizes[:, 0], sizes[:, 1]
    return per_row, per_item


def _sensor(part: pa.Table) -> dict[str, Any]:
    """Series lengths, and each channel's range when every record has the same shape."""
    series = Series(part.column("series"))
    channels = part.column("channels")[0].as_py() if part.num_rows else []
    ranges = {}
    shapes = series.shapes()
    if len(shapes) == 1 and len(series.values):
        (c, t), rows = next(iter(shapes.items()))
        if c == len(channels) and len(rows) == int((series.channels > 0).sum()):
            per_channel = np.arange(0, len(series.values), t)  # every channel of every record, in order
            low = np.fmin.reduceat(series.values, per_channel).reshape(-1, c)
            high = np.fmax.reduceat(series.values, per_channel).reshape(-1, c)
            for i, name in enumerate(channels):
                ranges[name] = {"min": round(float(np.nanmin(low[:, i])), 4), "max": round(float(np.nanmax(high[:, i])), 4)}
    return {"length": _summary(series.samples[series.channels > 0]), "channel_ranges": ranges}


def compute(table: pa.Table, index: np.ndarray, names: list[str], entry: Entry, certificate: dict[str, Any]) -> dict[str, Any]:
    """The stats of `table` (published schema) split by `index` into `names`; the groups per
    split are the leakage certificate's (`certify` counted them from the data)."""
    schema = entry.schema
    labels = list(schema.labels)
    class_fields = [path[0] for path in schema.label_paths if len(path) == 1]
    classes = {f: table.column(f).to_numpy(zero_copy_only=False) for f in class_fields}
    per_row, per_item = _metrics(table, schema.record)
    out: dict[str, Any] = {"rows": table.num_rows, "splits": {}}
    class_counts: dict[str, np.ndarray] = {f: np.zeros((len(names), len(labels)), dtype=np.int64) for f in classes}
    for i, name in enumerate(names):
        mask = index == i
        n = int(mask.sum())
        split: dict[str, Any] = {"rows": n, "fraction": round(n / table.num_rows, 4) if table.num_rows else 0,
                                 "groups": certificate["splits"][name]["groups"]}
        for field, values in classes.items():
            chosen = values[mask]
            known = chosen[~np.isnan(chosen)].astype(np.int64) if chosen.dtype.kind == "f" else chosen.astype(np.int64)
            if len(known):
                counts = np.bincount(known, minlength=len(labels))
                class_counts[field][i] = counts[: len(labels)]
                split.setdefault("classes", {})[field] = {labels[c]: int(counts[c]) for c in range(len(labels)) if counts[c]}
        for metric, values in per_row.items():
            split[metric] = _summary(values[mask])
        for metric, (values, rows) in per_item.items():
            split[metric] = _summary(values[mask[rows]])
        if schema.record == "speech" and n:
            split["hours"] = round(float(per_row["duration_s"][mask].sum()) / 3600, 4)
            split["speakers"] = split["groups"] if entry.split.group_key == "speaker" else pc.count_distinct(table.column("speaker").filter(pa.array(mask))).as_py()
        if schema.record == "sensor" and n:
            split.update(_sensor(table.filter(pa.array(mask))))
        out["splits"][name] = split
    if class_counts:
        out["class_balance"] = {field: {"largest_deviation": _largest_deviation(counts)} for field, counts in class_counts.items()}
    return out


def _largest_deviation(counts: np.ndarray) -> float:
    """The largest |share of a class in a split - its share in the whole|, over non-empty splits."""
    overall = counts.sum(axis=0)
    sizes = counts.sum(axis=1)
    if not overall.sum():
        return 0.0
    shares = counts[sizes > 0] / sizes[sizes > 0, None]
    return round(float(np.abs(shares - overall / overall.sum()).max(initial=0.0)), 4)


def plot(stats: dict[str, Any], folder: Path, title: str) -> list[str]:
    """Write SVG plots of `stats` into `folder` (`hub.plots`): rows per split, and each
    class-label field's share of every split. Return their file names."""
    folder.mkdir(parents=True, exist_ok=True)
    splits = stats["splits"]
    charts = {"splits.svg": bar_chart(f"{title}: rows per split", list(splits), {"rows": [s["rows"] for s in splits.values()]}, "rows")}
    for field in sorted({f for s in splits.values() for f in s.get("classes", {})}):
        classes = sorted({c for s in splits.values() for c in s.get("classes", {}).get(field, {})})
        shares = {}
        for name, s in splits.items():
            counts = s.get("classes", {}).get(field, {})
            total = sum(counts.values()) or 1
            shares[name] = [counts.get(c, 0) / total for c in classes]
        charts[f"classes-{field}.svg"] = bar_chart(f"{title}: {field} by split", classes, shares, "share of split", percent=True)
    for name, svg in charts.items():
        (folder / name).write_text(svg, encoding="utf-8")
    return list(charts)
