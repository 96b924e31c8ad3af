"""Deterministic, group-disjoint split assignment.

Every group key gets a position from the dataset's seed alone:

    hash   = uint64_le(md5(f"{seed}:{group}")[:8])
    bucket = hash mod 1_000_000
    split  = the first split (in the policy's order) whose cumulative ratio exceeds bucket/1e6

`assign`, `split_of` and `bucket_of` are that rule (DuckDB's `md5_number_upper` computes the
hash over whole columns; `bucket_of` is the same in plain Python, for checking).

`assign_leakproof`, the split engine, places *components* (groups tied together by duplicate
records) instead, and never breaks one:

1. A component holding records of the parent version keeps their split (pinned). When new
   records bridge components published in different splits, the component takes the split
   holding most of its published rows (ties: the first in the policy's order), and the others
   move: `published_moves` counts them and publishing refuses them unless told to move them.
2. The other components are balanced: each gets a stratum (the most frequent value of the
   stratify key among its rows; one stratum when the policy has none), and within a stratum
   the components, in the order of their hash, fill each split's share of the stratum's rows
   (its ratio of all the stratum's rows, minus what pinned components already hold there).
   A component goes to the split its middle row falls in, so every split holds its share of
   every stratum to within one component.
3. When there are at least as many components as splits with a positive ratio, none of those
   splits stays empty: the smallest new component of the split most over its share moves there.
4. When the new components are few (`hub.balance`: at most 32 kinds), a mixed-integer program
   places them instead, as close to every split's target rows and class shares as whole
   components allow, never worse on either figure than rules 2-3 (nor on classes than the
   hashes alone, when that costs no rows); equal optima keep the placement of rules 2-3.

So the split of a record depends on its component, the seed and the other new components (of
the same stratum, for rules 2-3), never on row order; published records never move, and adding
records to an unpublished dataset moves only the few components next to a stratum's cut points
(or, with few components, those the optimizer places better).
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hub import balance, records
from hub.arrowutil import flat, ordered_connection, per_row
from hub.dedup import DuplicateKeys, Thresholds, find_duplicates, text_hashes
from hub.entry import SplitPolicy
from hub.spill import Column, column
from hub.split_modes import certified_key, extend_certificate

log = logging.getLogger(__name__)

__all__ = ["BUCKETS", "Assignment", "RowHasher", "RowHashes", "assign", "assign_leakproof", "bucket_of", "certify", "cluster_examples", "group_hashes", "hash_rows", "split_of"]

BUCKETS = 1_000_000
_COUNT_ROWS = 1 << 20  # rows a per-row pass over numpy arrays takes at a time (its int64 temporaries are of these rows)


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
    """The split one group key lands in by the hash rule alone."""
    bucket = bucket_of(group, policy.seed)
    return next(name for name, upper in _thresholds(policy) if bucket < upper)


@dataclass
class _Hashed:
    """The groups of every row, and the split each group gets from its own bucket."""

    codes: np.ndarray  # group number of every row
    hashes: np.ndarray  # uint64 hash of every group
    buckets: np.ndarray  # bucket of every group (hashes mod BUCKETS)
    base: np.ndarray  # int8 split of every group
    names: list[str]


def _hash_groups(groups: pa.Array | pa.ChunkedArray, policy: SplitPolicy, row_hashes: np.ndarray | None = None) -> _Hashed:
    """The rule above, over whole columns: each distinct group is hashed once, by DuckDB, unless
    `row_hashes` (`group_hashes` of every row's group, computed as the source was read) has them."""
    encoded = flat(pc.dictionary_encode(groups.cast(pa.string())))
    n_keys, indices = len(encoded.dictionary), encoded.indices
    keyless = indices.null_count > 0  # rows without a group key (validation rejects them): one group of their own
    if keyless:
        indices = pc.fill_null(indices, pa.scalar(n_keys, indices.type))
    codes = indices.to_numpy(zero_copy_only=False)  # int32, no copy
    if row_hashes is None or keyless:
        hashes = group_hashes(encoded.dictionary, policy.seed)
    else:
        first = np.empty(n_keys, dtype=np.int64)
        for lo in range((len(codes) - 1) // _COUNT_ROWS * _COUNT_ROWS, -1, -_COUNT_ROWS):  # each group's first row: the last write wins
            hi = min(len(codes), lo + _COUNT_ROWS)
            first[codes[lo:hi][::-1]] = np.arange(hi - 1, lo - 1, -1)
        hashes = row_hashes[first]
    if keyless:
        hashes = np.append(hashes, np.uint64(0))
    buckets = (hashes % np.uint64(BUCKETS)).astype(np.int32)  # (BUCKETS < 2**31)
    thresholds = _thresholds(policy)
    uppers = np.array([upper for _, upper in thresholds])
    base = np.searchsorted(uppers, buckets, side="right").astype(np.int8)
    return _Hashed(codes, hashes, buckets, base, [name for name, _ in thresholds])


def assign(groups: pa.Array | pa.ChunkedArray, policy: SplitPolicy) -> tuple[np.ndarray, list[str]]:
    """Split index (int8) of every row by its group's hash alone, and the split names the indices refer to."""
    hashed = _hash_groups(groups, policy)
    return hashed.base[hashed.codes], hashed.names


def group_hashes(groups: pa.Array | pa.ChunkedArray, seed: int, con: duckdb.DuckDBPyConnection | None = None) -> np.ndarray:
    """`bucket_of`'s 64-bit md5 number of every group key in `groups`, in order (on `con`, an
    `ordered_connection`, or a connection of its own)."""
    table = pa.table({"g": groups.cast(pa.string())})
    return per_row(table, "SELECT md5_number_upper($seed || ':' || g) FROM source_rows", con, {"seed": str(seed)}).to_numpy()


# -- hashing ahead, while the source is read ------------------------------------------------


@dataclass
class RowHashes:
    """The hashes the engine needs of every row, computed ahead (`RowHasher`): the summary of
    the hashing stage (`hash_rows` of each batch, then `merge`; see `hub.batches`)."""

    groups: np.ndarray  # uint64: `group_hashes` of every row's group key
    texts: np.ndarray | None  # uint64: `hub.dedup.text_hashes` of every row (records with a text), else None

    def select(self, keep: np.ndarray, spill: Path | None = None) -> RowHashes:
        """The hashes of the rows `keep` marks (memory-mapped in `spill` once large: `hub.spill.column`)."""
        texts = None if self.texts is None else column(self.texts, np.uint64, spill, keep=keep)
        return RowHashes(column(self.groups, np.uint64, spill, keep=keep), texts)

    @staticmethod
    def merge(parts: Iterable[RowHashes], texts: bool, spill: Path | None = None) -> RowHashes:
        """The hashes of consecutive batches, in their order, as one (`texts`: whether the record
        type hashes texts), held in `hub.spill.Column`s (in `spill` once large)."""
        merged = _Merged(texts, spill)
        for part in parts:
            merged.add(part)
        return merged.result()


class _Merged:
    """`RowHashes.merge` as the parts come."""

    def __init__(self, texts: bool, spill: Path | None) -> None:
        self.groups = Column(np.uint64, spill)
        self.texts = Column(np.uint64, spill) if texts else None

    def add(self, part: RowHashes) -> None:
        self.groups.append(part.groups)
        if self.texts is not None:
            self.texts.append(part.texts)

    def result(self) -> RowHashes:
        return RowHashes(self.groups.array(), None if self.texts is None else self.texts.array())

    def discard(self) -> None:
        self.groups.discard()
        if self.texts is not None:
            self.texts.discard()


def hash_rows(batch: pa.Table, policy: SplitPolicy, record: str, con: duckdb.DuckDBPyConnection | None = None) -> RowHashes:
    """The hashing stage of one batch: its rows' group key hashes and, for a record type with a
    text, their text hashes. Raises ValueError for a null group key (validation reports those)."""
    keys = batch.column(policy.group_key)
    if keys.null_count:
        raise ValueError(f"null group keys in {policy.group_key!r}")
    texts = text_hashes(batch, record, con).to_numpy() if records.get(record).text_sql is not None else None
    return RowHashes(group_hashes(keys, policy.seed, con), texts)


class RowHasher:
    """Runs `hash_rows` batch by batch, in a thread of its own, while the source is read.

    Decoding a Parquet row group keeps one core busy; this puts the other one to work on the
    hashing the split engine would otherwise do after the read (for 1M dialogues, about a CPU
    second: every normalized text and every group key hashed by DuckDB).

    `add` every batch, in row order; `discard` when the rows will not line up with the table
    the engine gets (a file read another way, an overlay that rewrites keys or texts).
    `result(rows)` waits for the thread; it is None when discarded, when anything failed
    (a missing or null group key, say: validation reports those) or when the row counts
    differ, and the engine then hashes the table itself.
    """

    def __init__(self, policy: SplitPolicy, record: str, spill: Path | None = None) -> None:
        self.policy, self.record = policy, record
        self.hash_texts = records.get(record).text_sql is not None  # the duplicate engine compares texts
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=4)  # the reader waits for a lagging hasher: batches do not pile up
        self._merged = _Merged(self.hash_texts, spill)  # the hashes so far (memory-mapped in `spill` once large)
        self._rows = 0
        self._usable = True
        self._thread = threading.Thread(target=self._run, name="hub-rowhash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            con = ordered_connection()
        except Exception as exc:  # the engine hashes the table itself instead; the queue is still drained
            log.debug("row hashes abandoned: %s", exc)
            con, self._usable = None, False
        try:
            while (batch := self._queue.get()) is not None:
                if not self._usable:
                    continue
                try:
                    self._merged.add(hash_rows(pa.Table.from_batches([batch]), self.policy, self.record, con))
                    self._rows += batch.num_rows
                except Exception as exc:  # the engine hashes the table itself instead
                    log.debug("row hashes abandoned: %s", exc)
                    self._usable = False
        finally:
            if con is not None:
                con.close()

    def add(self, batch: pa.RecordBatch) -> None:
        self._queue.put(batch)

    def discard(self) -> None:
        self._usable = False

    def close(self) -> None:
        """Nothing will be split after all: stop the thread."""
        self.discard()
        self.result(0)

    def result(self, rows: int) -> RowHashes | None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if not self._usable or self._rows != rows:
            self._merged.discard()
            return None
        return self._merged.result()


# -- the leakage-proof engine --------------------------------------------------------------


@dataclass
class Assignment:
    """Every row's split, after tying duplicate clusters to their groups and balancing."""

    index: np.ndarray  # int8 split index per row
    names: list[str]
    moved_rows: int  # rows not where their group's hash put them because of a duplicate, or (with a parent) published rows whose split changed
    tied_groups: int  # groups that share a duplicate component with another group (and so its split)
    duplicates: DuplicateKeys
    thresholds: Thresholds
    conflicts: int = 0  # components whose published rows were in different splits (new records bridged them)
    hashed: np.ndarray | None = None  # int8 split per row by the groups' hashes alone (components tied, pins kept): before balancing
    components: int | None = None  # how many units were placed: groups, or groups tied by duplicates
    balance: str | None = None  # how the new components were placed (`hub.balance.Balanced.method`); None when none were new
    window: dict | None = None  # a time split grown with `growth: new-window`: where the new test window begins (`hub.split_modes`)

    def select(self, keep: np.ndarray) -> Assignment:
        """The assignment of the rows `keep` marks (duplicate edges renumbered to match)."""
        new_row = np.cumsum(keep) - 1
        edge = keep[self.duplicates.rows]
        dups = DuplicateKeys(new_row[self.duplicates.rows[edge]], self.duplicates.keys[edge], self.duplicates.kinds, self.duplicates.skipped)
        moved = self.moved_rows  # counted on the rows read; close enough to report, never used to certify
        hashed = None if self.hashed is None else self.hashed[keep]
        return Assignment(self.index[keep], self.names, moved, self.tied_groups, dups, self.thresholds, self.conflicts, hashed, self.components,
                          self.balance, self.window)


def _components(codes: np.ndarray, n_groups: int, duplicates: DuplicateKeys) -> np.ndarray:
    """The component of every group: groups sharing a duplicate key, directly or through others."""
    if not len(duplicates.rows):
        return np.arange(n_groups, dtype=np.int32 if n_groups < 2**31 else np.int64)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_nodes = n_groups + int(duplicates.keys.max()) + 1
    graph = coo_matrix((np.ones(len(duplicates.rows)), (codes[duplicates.rows], n_groups + duplicates.keys)), shape=(n_nodes, n_nodes))
    return connected_components(graph, directed=False)[1][:n_groups]  # int32


def _anchors(component: np.ndarray, hashed: _Hashed) -> tuple[np.ndarray, np.ndarray]:
    """Per component, the hashed split and the hash of its anchor: its group with the lowest bucket.

    Only groups that share their component are sorted; every other group is its own anchor.
    """
    n_components = int(component.max()) + 1 if len(component) else 0
    anchor = np.empty(n_components, dtype=np.int64)
    anchor[component] = np.arange(len(component))  # right for single-group components
    shared = np.flatnonzero(np.bincount(component, minlength=n_components)[component] > 1)
    if len(shared):
        order = shared[np.lexsort((shared, hashed.hashes[shared], hashed.buckets[shared], component[shared]))]
        first = np.ones(len(order), dtype=bool)
        first[1:] = component[order][1:] != component[order][:-1]
        anchor[component[order][first]] = order[first]
    return hashed.base[anchor], hashed.hashes[anchor]


def _strata(table: pa.Table, key: str | None, n_rows: int) -> tuple[np.ndarray, int]:
    """The stratum of every row (values numbered in sorted order, null last) and how many there are."""
    if key is None:
        return np.zeros(n_rows, dtype=np.int8), 1
    try:
        encoded = flat(pc.dictionary_encode(table.column(key)))
        rank = pc.subtract(pc.rank(encoded.dictionary, sort_keys="ascending", tiebreaker="first"), 1).to_numpy(zero_copy_only=False)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):  # lists, structs: not a stratum
        return np.zeros(n_rows, dtype=np.int8), 1
    n_values = len(encoded.dictionary)
    codes = pc.fill_null(encoded.indices, n_values).to_numpy(zero_copy_only=False)
    return np.append(rank, n_values).astype(_narrowest(n_values + 1))[codes], n_values + 1


def _narrowest(n: int) -> type:
    """The narrowest signed integer type that numbers `n` things (0..n-1)."""
    return next(t for t in (np.int8, np.int16, np.int32, np.int64) if n - 1 <= np.iinfo(t).max)


_MAJORITY_BYTES = 1 << 27  # (unit, stratum) counters per pass: at most 128 MB


def _majority(stratum: np.ndarray, unit: np.ndarray, n_units: int, n_strata: int) -> np.ndarray:
    """Per unit, the stratum most of its rows have (ties: the smallest).

    A table of counters per (unit, stratum), as narrow as the largest unit allows (a byte each
    for units of fewer than 256 rows), filled by `np.add.at` per block of units and of rows: no
    sort, no per-row Python loop, and at most `_MAJORITY_BYTES` of counters whatever the number
    of units.
    """
    if n_strata == 1 or not n_units:
        return np.zeros(n_units, dtype=stratum.dtype)
    largest = int(np.bincount(unit, minlength=n_units).max()) if len(unit) else 0
    dtype = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if largest <= np.iinfo(t).max)
    per_block = max(1, _MAJORITY_BYTES // (n_strata * np.dtype(dtype).itemsize))
    out = np.empty(n_units, dtype=stratum.dtype)  # (a stratum's type: as narrow as the strata allow)
    for lo in range(0, n_units, per_block):
        hi = min(n_units, lo + per_block)
        counts = np.zeros((hi - lo, n_strata), dtype=dtype)
        for start in range(0, len(unit), _COUNT_ROWS):  # (ufunc.at's indices are intp: a block of rows' at a time)
            u, s = unit[start:start + _COUNT_ROWS], stratum[start:start + _COUNT_ROWS]
            if lo == 0 and hi == n_units:
                np.add.at(counts, (u, s), 1)
            else:
                inside = (u >= lo) & (u < hi)
                np.add.at(counts, (u[inside] - lo, s[inside]), 1)
        out[lo:hi] = counts.argmax(axis=1)  # the first largest count: the smallest stratum on ties
    return out


def _balance_free(split: np.ndarray, size: np.ndarray, stratum: np.ndarray, order_key: np.ndarray, ratios: np.ndarray, n_strata: int) -> None:
    """Place the components whose `split` is -1 (rule 2 of the module docstring), in place."""
    n_splits = len(ratios)
    fixed = split >= 0
    placed = np.bincount(split[fixed].astype(np.int64) * n_strata + stratum[fixed], weights=size[fixed], minlength=n_splits * n_strata).reshape(n_splits, n_strata)
    free = np.flatnonzero(~fixed)
    free_rows = np.bincount(stratum[free], weights=size[free], minlength=n_strata)
    need = np.maximum(0.0, ratios[:, None] * (placed.sum(axis=0) + free_rows)[None, :] - placed)
    total_need = need.sum(axis=0)
    share = np.divide(free_rows, total_need, out=np.zeros(n_strata), where=total_need > 0)
    bounds = np.cumsum(need * share[None, :], axis=0)  # (split, stratum): where each split's share ends
    order = free[np.argsort(order_key[free], kind="stable")]
    del free
    small = np.int16 if n_strata < 2**15 else np.int64  # a stable sort of small integers is a radix sort
    order = order[np.argsort(stratum[order].astype(small), kind="stable")]
    strata = stratum[order]
    middle = np.cumsum(size[order], dtype=np.float64)  # (one float array a component at a time, the temporaries in place)
    half = size[order].astype(np.float64)
    half *= 0.5
    middle -= half
    del half
    start = np.concatenate(([0.0], np.cumsum(free_rows)[:-1]))
    middle -= start[strata]
    chosen = np.zeros(len(order), dtype=np.int8)
    for s in range(n_splits - 1):
        chosen += middle >= bounds[s][strata]
    split[order] = chosen


def _fill_empty(split: np.ndarray, size: np.ndarray, order_key: np.ndarray, movable: np.ndarray, ratios: np.ndarray) -> None:
    """Rule 3 of the module docstring, in place: no split with a positive ratio stays empty."""
    n_splits = len(ratios)
    wanted = np.flatnonzero(ratios > 0)
    if len(split) < len(wanted):
        return
    for target in wanted:
        units = np.bincount(split, minlength=n_splits)
        if units[target]:
            continue
        donors = movable & (units[split] > 1)
        if not donors.any():
            return
        surplus = np.bincount(split, weights=size, minlength=n_splits) - ratios * size.sum()
        candidates = np.unique(split[donors])
        donor_split = candidates[np.argmax(surplus[candidates])]
        members = np.flatnonzero(donors & (split == donor_split))
        smallest = members[size[members] == size[members].min()]
        split[smallest[np.argmax(order_key[smallest])]] = target


def assign_leakproof(table: pa.Table, policy: SplitPolicy, record: str, thresholds: Thresholds = Thresholds(),
                     pinned: np.ndarray | None = None, hashes: RowHashes | None = None) -> Assignment:
    """Group-disjoint splits in which no duplicate cluster crosses a boundary either, balanced per stratum.

    Groups linked by a duplicate (directly or through others) form one component, and a
    component lies in one split: the split its already-published rows have (`pinned`, the
    parent version's split index per row, -1 for new rows); new components are balanced by
    the policy's stratify key (see the module docstring). So a published record never moves
    unless new records bridge components published in different splits (`conflicts` counts
    those; such a component takes the split most of its published rows have).
    `hashed` records where the groups' hashes alone would have put every row. `hashes`: the
    rows' group and text hashes, when computed ahead (`RowHasher`).
    """
    balancing = pinned is None or bool((pinned < 0).any())  # are there new records to place?
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-duplicates") as pool:
        found = pool.submit(find_duplicates, table, record, thresholds, hashes.texts if hashes else None)  # mostly DuckDB, GIL released: overlaps what follows
        hashed = _hash_groups(table.column(policy.group_key), policy, hashes.groups if hashes else None)
        codes, base = hashed.codes, hashed.base
        if balancing:
            stratum, n_strata = _strata(table, policy.stratify_key, table.num_rows)
            group_stratum = _majority(stratum, codes, len(base), n_strata)
        duplicates = found.result()
    component = _components(codes, len(base), duplicates)
    anchor_split, order_key = _anchors(component, hashed)
    n_components = len(anchor_split)
    unit = component[codes] if len(duplicates.rows) else codes  # the component of every row
    fixed = np.full(n_components, -1, dtype=np.int8)
    conflicts = 0
    if pinned is not None and (pinned >= 0).any():
        rows = np.flatnonzero(pinned >= 0)
        lo = np.full(n_components, 127, dtype=np.int16)
        hi = np.full(n_components, -1, dtype=np.int16)
        np.minimum.at(lo, unit[rows], pinned[rows])
        np.maximum.at(hi, unit[rows], pinned[rows])
        agreed, bridged = (hi >= 0) & (lo == hi), (hi >= 0) & (lo != hi)
        fixed[agreed] = hi[agreed]
        conflicts = int(bridged.sum())
        if conflicts:  # the split holding most of the component's published rows: the fewest moves
            held = rows[bridged[unit[rows]]]
            ids, local = np.unique(unit[held], return_inverse=True)
            n_splits = len(hashed.names)
            counts = np.bincount(local.reshape(-1) * n_splits + pinned[held].astype(np.int64), minlength=len(ids) * n_splits)
            fixed[ids] = counts.reshape(len(ids), n_splits).argmax(axis=1)
    hashed_split = np.where(fixed >= 0, fixed, anchor_split).astype(np.int8)
    split = fixed.copy()
    method = None
    size = np.bincount(unit, minlength=n_components).astype(np.float64)
    ratios = np.array(list(policy.ratios.values()), dtype=np.float64)
    if (split < 0).any():
        component_stratum = np.empty(n_components, dtype=stratum.dtype)
        component_stratum[component] = group_stratum  # right for single-group components
        shared = np.bincount(component, minlength=n_components) > 1
        if shared.any():  # the few components of several groups: their majority over all their rows
            rows = np.flatnonzero(shared[unit])
            ids, local = np.unique(unit[rows], return_inverse=True)
            component_stratum[ids] = _majority(stratum[rows], local.reshape(-1), len(ids), n_strata)
        _balance_free(split, size, component_stratum, order_key, ratios, n_strata)
        _fill_empty(split, size, order_key, fixed < 0, ratios)
        balanced = balance.optimize(split, fixed < 0, unit, stratum, n_strata, hashed_split, order_key, ratios)
        split, method = balanced.split, balanced.method
    group_hashed = hashed_split[component]
    groups_per_component = np.bincount(component, minlength=n_components)
    tied = int((groups_per_component[component] > 1).sum())
    before = group_hashed[codes]
    index = split[unit]
    moved = int((before != base[codes]).sum()) if pinned is None else int(((pinned >= 0) & (index != pinned)).sum())
    return Assignment(index, hashed.names, moved, tied, duplicates, thresholds, conflicts, before, n_components, method)


def certify(table: pa.Table, assignment: Assignment, policy: SplitPolicy, labels: list[str], moves: dict | None = None,
            record: str | None = None) -> dict:
    """The leakage certificate, checked from the final assignment alone (not trusted from it).

    `holds` is true only when no group and no duplicate cluster lies in two splits. Per split:
    rows, groups, the target row share (the policy's ratio), the share achieved and the share
    the groups' hashes alone would have given; `balance`: how the new components were placed
    and the largest row-share gaps (achieved, by hashing alone); `stratification`: the class
    shares of the whole (the targets) and of every split, and each split's largest gap to them,
    achieved and by hashing alone. Per kind of
    duplicate cluster: how many, and the ids of the first clusters' first members (and of the
    first ones crossing, if any). `records_moved` counts published records now in another split
    (`moves`, `hub.split_rules.published_moves`'s dict: 0 unless moves were allowed). `record`:
    the rows' record type, which says how long a row lasts for a time split's boundaries.
    """
    names = assignment.names
    ids = table.column("id").cast(pa.string()) if "id" in table.column_names else pa.array([str(i) for i in range(table.num_rows)])
    con = duckdb.connect()
    try:  # (the splits by number: a string per row would be a copy of every row's split name)
        con.register("rows", pa.table({"g": table.column(certified_key(policy)).cast(pa.string()), "s": pa.array(assignment.index, pa.int8())}))
        n_groups_crossing, groups_crossing = con.execute(f"SELECT count(*), coalesce(list(g ORDER BY g)[1:{_EXAMPLES}], []) FROM (SELECT g FROM rows GROUP BY g HAVING count(DISTINCT s) > 1)").fetchall()[0]
        per_split = {names[s]: {"rows": r, "groups": g} for s, r, g in con.sql("SELECT s, count(*), count(DISTINCT g) FROM rows GROUP BY s").fetchall()}
        dups = assignment.duplicates
        con.register("edges", pa.table({"k": pa.array(dups.keys, pa.int64()), "r": pa.array(dups.rows, pa.int64()),
                                        "s": pa.array(assignment.index[dups.rows], pa.int8())}))
        n_crossing, crossing = con.execute(f"""SELECT count(*), coalesce(list(k ORDER BY first)[1:{_EXAMPLES}], []) FROM
                                                (SELECT k, min(r) AS first FROM edges GROUP BY k HAVING count(DISTINCT s) > 1)""").fetchall()[0]
    finally:
        con.close()
    examples = cluster_examples(dups, ids)
    total = max(1, table.num_rows)
    hashed_rows = None if assignment.hashed is None else np.bincount(assignment.hashed.astype(np.int64), minlength=len(names))
    splits = {}
    for i, name in enumerate(names):
        s = per_split.get(name, {"rows": 0, "groups": 0})
        splits[name] = {**s, "target_share": round(float(policy.ratios.get(name, 0.0)), 4), "share": round(s["rows"] / total, 4)}
        if hashed_rows is not None:  # what the groups' hashes alone would have given
            splits[name]["share_hashed"] = round(int(hashed_rows[i]) / total, 4)
    moved = moves or {}
    certificate = {
        "holds": n_groups_crossing == 0 and n_crossing == 0,
        "group_key": certified_key(policy),
        "groups_crossing_splits": int(n_groups_crossing),
        "duplicate_clusters": dups.clusters,
        "duplicate_clusters_by_kind": dups.kinds,
        "duplicate_clusters_crossing_splits": int(n_crossing),
        "duplicate_cluster_examples": examples,
        "checks_skipped": dups.skipped,
        "groups_tied_by_duplicates": assignment.tied_groups,
        "records_moved": int(moved.get("records", 0)),
        "moves": list(moved.get("pairs", [])),
        "thresholds": assignment.thresholds.to_dict(),
        "splits": splits,
    }
    if assignment.balance is not None:  # how the new components were placed, and the largest gap of a split's rows to its target
        gaps = {name: abs(s["rows"] / total - float(policy.ratios.get(name, 0.0))) for name, s in splits.items()}
        certificate["balance"] = {"method": assignment.balance, "largest_row_deviation": round(max(gaps.values()), 4)}
        if hashed_rows is not None:
            certificate["balance"]["largest_row_deviation_hashed"] = round(max(abs(int(hashed_rows[i]) / total - float(policy.ratios.get(name, 0.0)))
                                                                               for i, name in enumerate(names)), 4)
    if n_groups_crossing or n_crossing:  # the first of them, by name
        kind_of = _kind_of_key(dups)
        certificate["crossing"] = {"groups": list(groups_crossing),
                                   "duplicate_clusters": [{"kind": kind_of(k), "ids": m} for k, m in _members(dups, np.array(crossing, dtype=np.int64), ids)]}
    if policy.stratify_key:
        codes, values = _values(table.column(policy.stratify_key), labels)
        balance = _balance(codes, values, assignment.index, names)
        if assignment.hashed is not None:  # what the groups' hashes alone would have given
            by_hash = _balance(codes, values, assignment.hashed, names)
            balance["largest_deviation_hashed"], balance["deviation_hashed"] = by_hash["largest_deviation"], by_hash["deviation"]
        certificate["stratification"] = {"key": policy.stratify_key, **balance}
    return extend_certificate(certificate, table, assignment, policy, record)  # given and time splits; what leaks (hub.split_modes)


_EXAMPLES = 3  # clusters named per kind in the certificate
_MEMBERS = 5  # ids named per cluster


def _kind_of_key(dups: DuplicateKeys):
    """The kind of a duplicate key: `hub.dedup` numbers each kind's keys in one run, in the order of `kinds`."""
    bounds = np.cumsum(list(dups.kinds.values())) if dups.kinds else np.array([], dtype=np.int64)
    kinds = list(dups.kinds)

    def kind_of(key: int) -> str | None:
        i = int(np.searchsorted(bounds, key, side="right"))
        return kinds[i] if i < len(kinds) else None
    return kind_of


def _members(dups: DuplicateKeys, keys: np.ndarray, ids: pa.Array) -> list[tuple[int, list[str]]]:
    """(key, ids of its first `_MEMBERS` rows, in row order) of each of `keys`, in their order."""
    if not len(keys):
        return []
    mask = np.isin(dups.keys, keys)
    rows, held = dups.rows[mask], dups.keys[mask]
    order = np.lexsort((rows, held))
    rows, held = rows[order], held[order]
    out = []
    for key in keys.tolist():
        lo, hi = np.searchsorted(held, [key, key + 1])
        out.append((key, [str(v) for v in ids.take(pa.array(rows[lo:min(hi, lo + _MEMBERS)])).to_pylist()]))
    return out


def cluster_examples(dups: DuplicateKeys, ids: pa.Array | pa.ChunkedArray, per_kind: int = _EXAMPLES) -> dict[str, list[list[str]]]:
    """Per kind of duplicate cluster, the member ids of its first `per_kind` clusters (by first row)."""
    out: dict[str, list[list[str]]] = {kind: [] for kind in dups.kinds}
    if not len(dups.keys):
        return out
    n_keys = int(dups.keys.max()) + 1
    none = np.iinfo(np.int64).max
    first_row = np.full(n_keys, none, dtype=np.int64)
    np.minimum.at(first_row, dups.keys, dups.rows)
    bounds = np.concatenate(([0], np.cumsum(list(dups.kinds.values())))).astype(np.int64)
    for i, kind in enumerate(dups.kinds):
        keys = np.arange(min(bounds[i], n_keys), min(bounds[i + 1], n_keys))
        keys = keys[first_row[keys] < none]
        chosen = keys[np.argsort(first_row[keys], kind="stable")[:per_kind]]
        out[kind] = [members for _, members in _members(dups, chosen, ids)]
    return out


def _values(column: pa.ChunkedArray, labels: list[str]) -> tuple[np.ndarray, list[str]]:
    """The code of every row's value (nulls: the last code; int32) and the value names."""
    if pa.types.is_integer(column.type) and labels:  # a class label: indices into `labels`
        codes = pc.fill_null(column, len(labels)).cast(pa.int32())
        return flat(codes).to_numpy(zero_copy_only=False), [*labels, "None"]
    encoded = pc.dictionary_encode(column.cast(pa.string())).combine_chunks()
    names = [*encoded.dictionary.to_pylist(), "None"]
    return pc.fill_null(encoded.indices, len(names) - 1).cast(pa.int32()).to_numpy(zero_copy_only=False), names


def _balance(codes: np.ndarray, values: list[str], index: np.ndarray, splits: list[str]) -> dict:
    """Per split, each value's share and the largest gap of one to its share in the whole (`deviation`),
    and the largest of those (`largest_deviation`)."""
    n_splits, n_values = len(splits), len(values)
    counts = np.zeros(n_splits * n_values, dtype=np.int64)
    for lo in range(0, len(codes), _COUNT_ROWS):
        counts += np.bincount(index[lo:lo + _COUNT_ROWS].astype(np.int64) * n_values + codes[lo:lo + _COUNT_ROWS], minlength=n_splits * n_values)
    counts = counts.reshape(n_splits, n_values)
    overall = counts.sum(axis=0)
    present = np.flatnonzero(overall)
    order = sorted(present.tolist(), key=lambda v: str(values[v]))
    total = overall.sum()
    shares, gaps = {}, {}
    for i, name in enumerate(splits):
        n = counts[i].sum()
        shares[name] = {str(values[v]): round(float(counts[i, v] / n), 4) for v in order if counts[i, v]} if n else {}
        gaps[name] = float(np.abs(counts[i, present] / n - overall[present] / total).max()) if n else 0.0
    return {"overall": {str(values[v]): round(float(overall[v] / total), 4) for v in order},
            "per_split": shares, "deviation": {name: round(gap, 4) for name, gap in gaps.items()},
            "largest_deviation": round(max(gaps.values(), default=0.0), 4)}
