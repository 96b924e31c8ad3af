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
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hub.arrowutil import flat
from hub.dedup import DuplicateKeys, Thresholds, find_duplicates
from hub.entry import SplitPolicy

__all__ = ["BUCKETS", "Assignment", "assign", "assign_leakproof", "bucket_of", "certify", "split_of"]

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


@dataclass
class _Hashed:
    """The groups of every row, and the split each group gets from its own bucket."""

    codes: np.ndarray  # group number of every row
    buckets: np.ndarray  # bucket of every group
    base: np.ndarray  # int8 split of every group
    names: list[str]


def _hash_groups(groups: pa.Array | pa.ChunkedArray, policy: SplitPolicy) -> _Hashed:
    """The rule above, over whole columns: each distinct group is hashed once, by DuckDB."""
    encoded = flat(pc.dictionary_encode(groups.cast(pa.string())))
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    buckets = _group_buckets(encoded.dictionary, policy.seed)
    thresholds = _thresholds(policy)
    uppers = np.array([upper for _, upper in thresholds])
    base = np.searchsorted(uppers, buckets, side="right").astype(np.int8)
    return _Hashed(codes, buckets, base, [name for name, _ in thresholds])


def assign(groups: pa.Array | pa.ChunkedArray, policy: SplitPolicy) -> tuple[np.ndarray, list[str]]:
    """Split index (int8) of every row by its group alone, and the split names the indices refer to."""
    hashed = _hash_groups(groups, policy)
    return hashed.base[hashed.codes], hashed.names


# -- the leakage-proof engine --------------------------------------------------------------


@dataclass
class Assignment:
    """Every row's split, after tying duplicate clusters to their groups."""

    index: np.ndarray  # int8 split index per row
    names: list[str]
    moved_rows: int  # rows not where they would be: their group's hashed split, or (with a parent) their published split
    merged_groups: int  # groups whose split another group of their duplicate component decided
    duplicates: DuplicateKeys
    thresholds: Thresholds
    conflicts: int = 0  # components whose published rows were in different splits (new records bridged them)

    def select(self, keep: np.ndarray) -> Assignment:
        """The assignment of the rows `keep` marks (duplicate edges renumbered to match)."""
        new_row = np.cumsum(keep) - 1
        edge = keep[self.duplicates.rows]
        dups = DuplicateKeys(new_row[self.duplicates.rows[edge]], self.duplicates.keys[edge], self.duplicates.kinds, self.duplicates.skipped)
        moved = self.moved_rows  # counted on the rows read; close enough to report, never used to certify
        return Assignment(self.index[keep], self.names, moved, self.merged_groups, dups, self.thresholds, self.conflicts)


def _group_buckets(codes_dictionary: pa.Array, seed: int) -> np.ndarray:
    con = duckdb.connect()
    try:
        con.register("grp", pa.table({"g": codes_dictionary.cast(pa.string()), "i": pa.array(np.arange(len(codes_dictionary)))}))
        result = con.sql(f"SELECT i, md5_number_upper($seed || ':' || g) % {BUCKETS} AS b FROM grp ORDER BY i", params={"seed": str(seed)}).to_arrow_table()
    finally:
        con.close()
    return result.column("b").to_numpy().astype(np.int64)


def assign_leakproof(table: pa.Table, policy: SplitPolicy, record: str, thresholds: Thresholds = Thresholds(),
                     pinned: np.ndarray | None = None) -> Assignment:
    """Group-disjoint splits in which no duplicate cluster crosses a boundary either.

    Groups linked by a duplicate (directly or through others) form one component, and a
    component lies in one split: the split its already-published rows have (`pinned`, the
    parent version's split index per row, -1 for new rows), else the split of its group
    with the lowest bucket. So a published record never moves unless new records bridge
    components published in different splits; `conflicts` counts those.
    """
    hashed = _hash_groups(table.column(policy.group_key), policy)
    codes, buckets, base = hashed.codes, hashed.buckets, hashed.base
    n_groups = len(buckets)
    duplicates = find_duplicates(table, record, thresholds)
    component = np.arange(n_groups)
    if len(duplicates.rows):
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        n_nodes = n_groups + int(duplicates.keys.max()) + 1
        graph = coo_matrix((np.ones(len(duplicates.rows)), (codes[duplicates.rows], n_groups + duplicates.keys)), shape=(n_nodes, n_nodes))
        component = connected_components(graph, directed=False)[1][:n_groups]
    n_components = int(component.max()) + 1 if n_groups else 0
    # The anchor of each component: its group with the lowest bucket (ties: the first).
    order = np.lexsort((np.arange(n_groups), buckets, component))
    first = np.ones(n_groups, dtype=bool)
    first[1:] = component[order][1:] != component[order][:-1]
    component_split = np.empty(n_components, dtype=np.int8)
    component_split[component[order][first]] = base[order][first]
    conflicts = 0
    if pinned is not None and (pinned >= 0).any():
        rows = np.flatnonzero(pinned >= 0)
        comp_of_row = component[codes[rows]]
        lo = np.full(n_components, 127, dtype=np.int16)
        hi = np.full(n_components, -1, dtype=np.int16)
        np.minimum.at(lo, comp_of_row, pinned[rows])
        np.maximum.at(hi, comp_of_row, pinned[rows])
        agreed = (hi >= 0) & (lo == hi)
        component_split[agreed] = hi[agreed]
        conflicts = int(((hi >= 0) & (lo != hi)).sum())
    group_split = component_split[component]
    merged = int((group_split != base).sum())
    index = group_split[codes].astype(np.int8)
    moved = int((index != base[codes]).sum()) if pinned is None else int(((pinned >= 0) & (index != pinned)).sum())
    return Assignment(index, hashed.names, moved, merged, duplicates, thresholds, conflicts)


def certify(table: pa.Table, assignment: Assignment, policy: SplitPolicy, labels: list[str]) -> dict:
    """The leakage certificate, checked from the final assignment alone (not trusted from it).

    `holds` is true only when no group and no duplicate cluster lies in two splits.
    """
    names = assignment.names
    split_of_row = pa.DictionaryArray.from_arrays(pa.array(assignment.index), pa.array(names))
    con = duckdb.connect()
    try:
        con.register("rows", pa.table({"g": table.column(policy.group_key).cast(pa.string()), "s": split_of_row.cast(pa.string())}))
        groups_crossing = con.execute("SELECT count(*) FROM (SELECT g FROM rows GROUP BY g HAVING count(DISTINCT s) > 1)").fetchall()[0][0]
        per_split = {s: {"rows": r, "groups": g} for s, r, g in con.sql("SELECT s, count(*), count(DISTINCT g) FROM rows GROUP BY s").fetchall()}
        dups = assignment.duplicates
        con.register("edges", pa.table({"k": pa.array(dups.keys), "s": pa.array(np.asarray(names, dtype=object)[assignment.index[dups.rows]] if len(dups.rows) else [], pa.string())}))
        clusters_crossing = con.execute("SELECT count(*) FROM (SELECT k FROM edges GROUP BY k HAVING count(DISTINCT s) > 1)").fetchall()[0][0]
    finally:
        con.close()
    certificate = {
        "holds": groups_crossing == 0 and clusters_crossing == 0,
        "group_key": policy.group_key,
        "groups_crossing_splits": int(groups_crossing),
        "duplicate_clusters": dups.clusters,
        "duplicate_clusters_by_kind": dups.kinds,
        "duplicate_clusters_crossing_splits": int(clusters_crossing),
        "checks_skipped": dups.skipped,
        "rows_moved_by_duplicates": assignment.moved_rows,
        "published_components_bridged": assignment.conflicts,
        "groups_moved_by_duplicates": assignment.merged_groups,
        "thresholds": assignment.thresholds.to_dict(),
        "splits": {name: per_split.get(name, {"rows": 0, "groups": 0}) for name in names},
    }
    if policy.stratify_key:
        certificate["stratification"] = _balance(table, assignment, policy.stratify_key, labels)
    return certificate


def _balance(table: pa.Table, assignment: Assignment, key: str, labels: list[str]) -> dict:
    """Per split, each class's share, and the largest gap to its share in the whole."""
    column = table.column(key)
    if pa.types.is_integer(column.type) and labels:  # a class label: indices into `labels`
        codes = pc.fill_null(column, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        names = [*labels, "None"]
        codes = np.where(codes < 0, len(labels), codes)
    else:
        encoded = pc.dictionary_encode(column.cast(pa.string())).combine_chunks()
        names = [*encoded.dictionary.to_pylist(), "None"]
        codes = pc.fill_null(encoded.indices, len(names) - 1).to_numpy(zero_copy_only=False).astype(np.int64)
    n_splits, n_values = len(assignment.names), len(names)
    counts = np.bincount(assignment.index.astype(np.int64) * n_values + codes, minlength=n_splits * n_values).reshape(n_splits, n_values)
    overall = counts.sum(axis=0)
    present = np.flatnonzero(overall)
    order = sorted(present.tolist(), key=lambda v: str(names[v]))
    total = overall.sum()
    shares, largest = {}, 0.0
    for i, name in enumerate(assignment.names):
        n = counts[i].sum()
        shares[name] = {str(names[v]): round(float(counts[i, v] / n), 4) for v in order if counts[i, v]} if n else {}
        if n:
            largest = max(largest, float(np.abs(counts[i, present] / n - overall[present] / total).max()))
    return {"key": key, "overall": {str(names[v]): round(float(overall[v] / total), 4) for v in order},
            "per_split": shares, "largest_deviation": round(largest, 4)}
