"""Deterministic, group-disjoint split assignment.

A record's split is a pure function of its group key and the dataset's seed:

    bucket = uint64_le(md5(f"{seed}:{group}")[:8]) mod 1_000_000
    split  = the first split (in the policy's order) whose cumulative ratio exceeds bucket/1e6

so a whole group (speaker, dialogue, asset) lands in one split, and adding records never
moves an existing one. DuckDB's `md5_number_upper` computes exactly that prefix, over whole
columns; `bucket_of` is the same rule in plain Python, for checking.
"""

from __future__ import annotations

import hashlib

import duckdb
import numpy as np
import pyarrow as pa

from hub.entry import SplitPolicy

__all__ = ["BUCKETS", "assign", "bucket_of", "split_of"]

BUCKETS = 1_000_000


def _thresholds(policy: SplitPolicy) -> list[tuple[str, int]]:
    total, out = 0.0, []
    names = list(policy.ratios)
    for i, name in enumerate(names):
        total += policy.ratios[name]
        out.append((name, BUCKETS if i == len(names) - 1 else round(total * BUCKETS)))
    return out


def bucket_of(group: str, seed: int) -> int:
    """The bucket of one group key (the reference implementation of the rule above)."""
    digest = hashlib.md5(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % BUCKETS


def split_of(group: str, policy: SplitPolicy) -> str:
    """The split one group key lands in."""
    bucket = bucket_of(group, policy.seed)
    return next(name for name, upper in _thresholds(policy) if bucket < upper)


def assign(groups: pa.Array | pa.ChunkedArray, policy: SplitPolicy) -> tuple[np.ndarray, list[str]]:
    """Split index (int8) of every row, and the split names the indices refer to."""
    thresholds = _thresholds(policy)
    cases = " ".join(f"WHEN b < {upper} THEN {i}" for i, (_, upper) in enumerate(thresholds))
    con = duckdb.connect()
    try:
        con.register("grp", pa.table({"g": groups.cast(pa.string())}))
        query = f"SELECT (CASE {cases} END)::TINYINT AS s FROM (SELECT md5_number_upper($seed || ':' || g) % {BUCKETS} AS b FROM grp)"
        result = con.sql(query, params={"seed": str(policy.seed)}).to_arrow_table()
    finally:
        con.close()
    return result.column("s").to_numpy(), [name for name, _ in thresholds]
