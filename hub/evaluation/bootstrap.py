"""Bootstrap confidence intervals: seeded, over records and over groups.

Every metric the hub reports is a function of sums of per-record counts (a confusion
matrix's cells, a transcript's word errors and reference words, a window's matched spans,
an image's COCO matches). A bootstrap resample of the records is then a resample of those
count rows, and the metric is computed again from the resampled sums:

- over **records**: n records drawn with replacement, `resamples` times (default 1000);
- over **groups** (the split's group key: speaker, writer, asset, ...): the groups drawn with
  replacement, each bringing all its records, so that records that are not independent
  (one speaker's utterances) do not make the interval look tighter than it is.

When the rows take few distinct values (a confusion matrix's cells), a resample is drawn as
multinomial counts of the distinct rows, which is the same distribution at a fraction of
the cost. The interval is the 2.5th and 97.5th percentile of the resampled values.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["RESAMPLES", "SEED", "figures", "group_sums", "interval", "resampled_sums"]

RESAMPLES = 1000
SEED = 0
_CHUNK_VALUES = 4_000_000  # draws held at once
GROUP_BUDGET = 500_000_000  # groups x columns x resamples of the per-group bootstrap; past it, fewer resamples
MIN_GROUP_RESAMPLES = 200  # below this many, no interval over groups


def resampled_sums(table: np.ndarray | None, weights: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, columns) sums of `table`'s rows, drawn `weights.sum()` times with replacement,
    row r with probability weights[r] / weights.sum(). `table` None: the identity (the sums
    are the counts of each row)."""
    weights = np.asarray(weights, dtype=np.float64)
    total = int(weights.sum())
    rows = len(weights)
    if table is None:
        p = weights / total if total else weights
        return rng.multinomial(total, p, size=resamples).astype(np.float64) if total else np.zeros((resamples, rows))
    table = np.asarray(table, dtype=np.float64)
    out = np.empty((resamples, table.shape[1]))
    if total == 0 or rows == 0:
        out[:] = 0.0
        return out
    if np.all(weights == 1):  # one row per record: draw indices
        step = max(1, _CHUNK_VALUES // rows)
        for i in range(0, resamples, step):
            picks = rng.integers(0, rows, size=(min(step, resamples - i), rows))
            counts = np.stack([np.bincount(p, minlength=rows) for p in picks])
            out[i : i + len(picks)] = counts @ table
        return out
    p = weights / weights.sum()
    step = max(1, _CHUNK_VALUES // rows)
    for i in range(0, resamples, step):
        counts = rng.multinomial(total, p, size=min(step, resamples - i))
        out[i : i + len(counts)] = counts @ table
    return out


def interval(values: np.ndarray) -> list[float | None]:
    """The 95% percentile interval of bootstrap values (NaN ones, e.g. 0/0, left out)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return [None, None]
    low, high = np.percentile(values, [2.5, 97.5])
    return [round(float(low), 6), round(float(high), 6)]


def group_sums(table: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(groups, columns): the rows of a per-record `table` summed per group index."""
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    out = np.zeros((n_groups, table.shape[1]))
    np.add.at(out, groups, np.asarray(table, dtype=np.float64))
    return out


def figures(point: dict[str, float | None], table: np.ndarray | None, weights: np.ndarray, group_table: np.ndarray | None,
            stat: Callable[[np.ndarray], dict[str, np.ndarray]], resamples: int, seed: int, notes: list[str] | None = None) -> dict[str, dict[str, object]]:
    """Each metric of `point` with its 95% interval over records, and over groups when
    `group_table` holds the count sums of each group (one row per group).

    `table`'s rows are count vectors, row r standing for `weights[r]` records (None: the
    identity, each row one cell of a confusion matrix); `stat` turns
    (B, columns) sums into {metric: (B,) values}. The per-group bootstrap costs groups x
    columns per resample: past `GROUP_BUDGET` it draws fewer resamples (at least
    `MIN_GROUP_RESAMPLES`, else none), and says so in `notes`.
    """
    out: dict[str, dict[str, object]] = {name: {"value": None if v is None else round(float(v), 6)} for name, v in point.items()}
    if resamples <= 0:
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        by_record = stat(resampled_sums(table, weights, resamples, np.random.default_rng(seed)))
        for name in out:
            out[name]["ci95"] = interval(by_record[name])
        if group_table is not None and len(group_table) > 1:
            cost = group_table.shape[0] * group_table.shape[1]
            group_resamples = min(resamples, GROUP_BUDGET // cost)
            if group_resamples < min(resamples, MIN_GROUP_RESAMPLES):
                if notes is not None:
                    notes.append(f"no interval over groups: {group_table.shape[0]} groups x {group_table.shape[1]} counts is too many to resample {MIN_GROUP_RESAMPLES} times")
                return out
            if group_resamples < resamples and notes is not None:
                notes.append(f"the interval over groups is from {group_resamples} resamples ({group_table.shape[0]} groups)")
            by_group = stat(resampled_sums(group_table, np.ones(len(group_table)), group_resamples, np.random.default_rng(seed + 1)))
            for name in out:
                out[name]["ci95_groups"] = interval(by_group[name])
    return out
