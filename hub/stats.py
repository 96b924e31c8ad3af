"""Statistics of a split dataset, and their plots (SVG, for the card and the web pages).

Per split: rows, groups, the class balance of every class-label field, and what the record
type measures (`RecordType.metrics`, `RecordType.split_stats`: audio durations, text lengths,
image sizes, channel ranges). Per class-label field, the largest gap between a class's share
of a split and its share of the whole (`class_balance`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from hub import records
from hub.entry import Entry
from hub.plots import bar_chart

__all__ = ["compute", "plot", "summary"]


def summary(values: np.ndarray) -> dict[str, float]:
    """min, median, max and mean of `values` (4 decimals); {} when there are none."""
    if not len(values):
        return {}
    q = np.percentile(values, [0, 50, 100])
    return {"min": round(float(q[0]), 4), "median": round(float(q[1]), 4), "max": round(float(q[2]), 4), "mean": round(float(values.mean()), 4)}


def compute(table: pa.Table, index: np.ndarray, names: list[str], entry: Entry, certificate: dict[str, Any]) -> dict[str, Any]:
    """The stats of `table` (published schema) split by `index` into `names`; the groups per
    split are the leakage certificate's (`certify` counted them from the data)."""
    schema = entry.schema
    labels = list(schema.labels)
    class_fields = [path[0] for path in schema.label_paths if len(path) == 1 and not pa.types.is_list(table.schema.field(path[0]).type)]  # not tags
    classes = {f: table.column(f).to_numpy(zero_copy_only=False) for f in class_fields}
    kind = records.get(schema.record)
    per_row, per_item = kind.metrics(table)
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
            split[metric] = summary(values[mask])
        for metric, (values, rows) in per_item.items():
            split[metric] = summary(values[mask[rows]])
        if n:
            split.update(kind.split_stats(table, mask, per_row, split, entry))
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
