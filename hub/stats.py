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

__all__ = ["STATS_BATCH", "Counts", "compute", "plot", "summary"]


def summary(values: np.ndarray) -> dict[str, float]:
    """min, median, max and mean of `values` (4 decimals); {} when there are none."""
    counts = Counts()
    counts.add(values)
    return counts.summary()


class Counts:
    """A metric's distinct values and how often each comes, merged batch by batch: the exact
    min, median, max and mean in memory that grows with the distinct values (text lengths,
    turn counts: a few thousand), not with the rows."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, values: np.ndarray) -> None:
        if len(values):
            self.parts.append(np.unique(values, return_counts=True))
            if len(self.parts) >= 64:
                self._compact()

    def _compact(self) -> tuple[np.ndarray, np.ndarray]:
        if len(self.parts) > 1:
            values, where = np.unique(np.concatenate([u for u, _ in self.parts]), return_inverse=True)
            counts = np.zeros(len(values), dtype=np.int64)
            np.add.at(counts, where, np.concatenate([c for _, c in self.parts]))
            self.parts = [(values, counts)]
        return self.parts[0]

    def summary(self) -> dict[str, float]:
        if not self.parts:
            return {}
        values, counts = self._compact()
        n = int(counts.sum())
        ends = np.cumsum(counts)

        def at(rank: int) -> float:  # the value of 0-based rank `rank` in sorted order
            return float(values[np.searchsorted(ends, rank, side="right")])

        middle = (n - 1) / 2  # numpy's default (linear) percentile 50
        low, high = at(int(np.floor(middle))), at(int(np.ceil(middle)))
        median = low + (high - low) * (middle - np.floor(middle))
        mean = float((values.astype(np.float64) * counts).sum() / n)
        return {"min": round(float(values[0]), 4), "median": round(median, 4), "max": round(float(values[-1]), 4), "mean": round(mean, 4)}


STATS_BATCH = 65_536  # rows measured at a time


def compute(table: pa.Table, index: np.ndarray, names: list[str], entry: Entry, certificate: dict[str, Any]) -> dict[str, Any]:
    """The stats of `table` (published schema) split by `index` into `names`; the groups per
    split are the leakage certificate's (`certify` counted them from the data).

    The record type measures `STATS_BATCH` rows at a time and each split keeps its metrics'
    value counts (`Counts`), so a large table is never measured whole; only a record type with
    its own `split_stats` (durations, channel ranges) gets every row's metrics at the end.
    """
    from hub.batches import slices
    from hub.records.base import RecordType

    schema = entry.schema
    labels = list(schema.labels)
    class_fields = [path[0] for path in schema.label_paths if len(path) == 1 and not pa.types.is_list(table.schema.field(path[0]).type)]  # not tags
    kind = records.get(schema.record)
    whole_rows = type(kind).split_stats is not RecordType.split_stats  # it reads every row's metrics
    index = np.asarray(index)
    class_counts: dict[str, np.ndarray] = {f: np.zeros((len(names), len(labels)), dtype=np.int64) for f in class_fields}
    counts: list[dict[str, Counts]] = [{} for _ in names]
    kept: dict[str, list[np.ndarray]] = {}
    start = 0
    for batch in slices(table, STATS_BATCH):
        split_of = index[start:start + batch.num_rows]
        start += batch.num_rows
        masks = [split_of == i for i in range(len(names))]  # each split's rows of the batch
        for field in class_fields:
            values = batch.column(field).to_numpy(zero_copy_only=False)
            for i, mask in enumerate(masks):
                chosen = values[mask]
                known = chosen[~np.isnan(chosen)].astype(np.int64) if chosen.dtype.kind == "f" else chosen.astype(np.int64)
                if len(known):
                    class_counts[field][i] += np.bincount(known, minlength=len(labels))[: len(labels)]
        per_row, per_item = kind.metrics(batch)
        for metric, values in per_row.items():
            for i, mask in enumerate(masks):
                counts[i].setdefault(metric, Counts()).add(values[mask])
            if whole_rows:
                kept.setdefault(metric, []).append(values)
        for metric, (values, rows) in per_item.items():
            item_split = split_of[rows]
            for i in range(len(names)):
                counts[i].setdefault(metric, Counts()).add(values[item_split == i])
    per_row_all = {metric: np.concatenate(parts) for metric, parts in kept.items()}
    out: dict[str, Any] = {"rows": table.num_rows, "splits": {}}
    for i, name in enumerate(names):
        n = int((index == i).sum())
        split: dict[str, Any] = {"rows": n, "fraction": round(n / table.num_rows, 4) if table.num_rows else 0,
                                 "groups": certificate["splits"][name]["groups"]}
        for field in class_fields:
            row = class_counts[field][i]
            if row.any():
                split.setdefault("classes", {})[field] = {labels[c]: int(row[c]) for c in range(len(labels)) if row[c]}
        for metric, values in counts[i].items():
            split[metric] = values.summary()
        if n and whole_rows:
            split.update(kind.split_stats(table, index == i, per_row_all, split, entry))
        out["splits"][name] = split
    if class_counts:
        out["class_balance"] = {field: {"largest_deviation": _largest_deviation(c)} for field, c in class_counts.items()}
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
