"""Duplicate detection: which records hold the same (or nearly the same) content.

The result is a set of *duplicate keys* per record: two records that share a key are
duplicates, whatever their groups. The split engine ties every key to the groups of its
records, so no duplicate can sit on both sides of a split boundary.

Each record type says what a duplicate is (`RecordType.duplicates`: decoded audio samples,
pixels and difference hashes, series values and shared windows, see its module) and calls the
engines here: exact and near text (`text_duplicates`, over the type's `text_sql`), near
hashes (`hamming_clusters`), shared hashes (`rows_sharing_a_hash`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from hub import records
from hub.arrowutil import per_row, repeated_rows

__all__ = ["DuplicateKeys", "Thresholds", "find_duplicates", "hamming_clusters", "jaccard", "minhash", "normalized_texts", "rows_sharing_a_hash",
           "text_duplicates", "text_hashes", "tracked"]


@dataclass(frozen=True)
class Thresholds:
    """How near is near: recorded in every leakage certificate."""

    text_jaccard: float = 0.8
    text_shingle: int = 3
    minhash_permutations: int = 64
    minhash_bands: int = 16
    image_hamming: int = 4
    image_mad: float = 0.03  # near images also differ by at most this mean absolute grey level (16x16)
    video_hamming: int = 4  # near clips: perceptual fingerprints (`hub.records.video.fingerprint`) within this many bits
    sensor_window: int = 16
    near: bool = True
    near_text_limit: int = 200_000  # MinHash runs in Python: above this, only exact text is checked

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DuplicateKeys:
    """Edges (row, key): rows sharing a key are duplicates. Keys held by one row only are dropped."""

    rows: np.ndarray  # int64 table rows
    keys: np.ndarray  # int64 key ids
    kinds: dict[str, int]  # how many duplicate clusters of each kind (exact-text, near-image, ...)
    skipped: list[str]  # checks not run, and why

    @property
    def clusters(self) -> int:
        return int(len(np.unique(self.keys))) if len(self.keys) else 0


class _Keys:
    """Collects (row, key) edges, numbering keys, keeping only keys held by several rows."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.keys: list[np.ndarray] = []
        self.next = 0
        self.kinds: dict[str, int] = {}
        self.skipped: list[str] = []

    def add_exact(self, kind: str, values: list[Any] | np.ndarray) -> None:
        """Rows whose `values` are equal (None values never match) become one cluster."""
        where: dict[Any, list[int]] = defaultdict(list)
        for row, value in enumerate(values):
            if value is not None:
                where[value].append(row)
        self.add_clusters(kind, [rows for rows in where.values() if len(rows) > 1])

    def add_numbered(self, kind: str, rows: np.ndarray, cluster: np.ndarray) -> None:
        """Rows with their cluster number (0..k-1, each cluster held by several rows)."""
        n_clusters = int(cluster.max()) + 1 if len(cluster) else 0
        self.rows.append(rows)
        self.keys.append(cluster + self.next)
        self.next += n_clusters
        self.kinds[kind] = self.kinds.get(kind, 0) + n_clusters

    def add_clusters(self, kind: str, clusters: list[list[int]] | list[np.ndarray]) -> None:
        for rows in clusters:
            self.rows.append(np.asarray(rows, dtype=np.int64))
            self.keys.append(np.full(len(rows), self.next, dtype=np.int64))
            self.next += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + len(clusters)

    def add_pairs(self, kind: str, pairs: list[list[int]], n: int) -> None:
        """Near-duplicate pairs, joined into clusters (connected components)."""
        if not pairs:
            self.kinds[kind] = self.kinds.get(kind, 0)
            return
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        edges = np.asarray(pairs, dtype=np.int64)
        graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
        labels = connected_components(graph, directed=False)[1]
        members = np.unique(edges)
        clusters: dict[int, list[int]] = defaultdict(list)
        for row in members.tolist():
            clusters[int(labels[row])].append(row)
        self.add_clusters(kind, list(clusters.values()))

    def result(self) -> DuplicateKeys:
        if not self.rows:
            return DuplicateKeys(np.array([], np.int64), np.array([], np.int64), self.kinds, self.skipped)
        return DuplicateKeys(np.concatenate(self.rows), np.concatenate(self.keys), self.kinds, self.skipped)


# -- text --------------------------------------------------------------------------------


# A record's text is its type's `text_sql` (DuckDB SQL, lower-cased); whitespace is collapsed by `_COLLAPSE`.
# Collapse runs of whitespace and trim, running the regex only on texts that need it (fast).
_COLLAPSE = """CASE WHEN contains(x, '  ') OR contains(x, chr(9)) OR contains(x, chr(10)) OR contains(x, chr(13))
                      OR contains(x, chr(11)) OR contains(x, chr(12)) OR contains(x, chr(160)) OR contains(x, chr(12288))
                      OR starts_with(x, ' ') OR ends_with(x, ' ')
                 THEN trim(regexp_replace(x, '\\s+', ' ', 'g')) ELSE x END"""


_STRING_LIMIT = 2**31 - 1  # bytes of characters a `string` array's int32 offsets address (7.5M dialogues' texts pass it)


def _text_query(record: str, source: str = "records") -> str:
    return f"SELECT row, {_COLLAPSE} AS text FROM (SELECT row, {records.get(record).text_sql} AS x FROM {source})"


def _text_columns(record: str) -> list[str]:
    return list(records.get(record).text_columns)


def _register(con, table: pa.Table, record: str, rows: np.ndarray | None = None, name: str = "records") -> None:
    """`table`'s texts as the view `name`, with each one's table row (`rows`, default 0..n-1)."""
    rows = np.arange(table.num_rows, dtype=np.int64) if rows is None else rows
    con.register(name, table.select(_text_columns(record)).append_column("row", pa.array(rows)))


def normalized_texts(table: pa.Table, record: str) -> pa.Array:
    """The normalized text (lower case, whitespace collapsed) of every record, by DuckDB: one
    array, of `large_string` once the texts pass the 2 GiB a `string` array's offsets reach."""
    import duckdb

    con = duckdb.connect()
    try:
        _register(con, table, record)
        texts = con.sql(_text_query(record) + " ORDER BY row").to_arrow_table().column("text")
        return (texts if texts.nbytes < _STRING_LIMIT else texts.cast(pa.large_string())).combine_chunks()
    finally:
        con.close()


def _take_sorted(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """`table.take(rows)` for sorted rows, chunk by chunk (a chunked take would first copy the whole column)."""
    parts, start = [], 0
    for batch in table.to_batches():
        lo, hi = np.searchsorted(rows, [start, start + batch.num_rows])
        if hi > lo:
            parts.append(batch.take(pa.array(rows[lo:hi] - start)))
        start += batch.num_rows
    return pa.Table.from_batches(parts, schema=table.schema)


def _repeated(con, query: str, key: str, columns: str = "row") -> pa.Table:
    """`columns` (of row and h) of the rows of `query` (row, text) whose h, an SQL expression of text, occurs more than once."""
    return con.sql(f"""SELECT {columns} FROM (SELECT row, h, count(*) OVER (PARTITION BY h) AS n
                                             FROM (SELECT row, {key} AS h FROM ({query}) WHERE text IS NOT NULL))
                       WHERE n > 1""").to_arrow_table()


def text_hashes(table: pa.Table, record: str, con: Any = None) -> pa.ChunkedArray:
    """DuckDB's 64-bit hash of every record's normalized text, in row order (on `con`, an
    `ordered_connection`, or a connection of its own)."""
    sql = f"SELECT hash({_COLLAPSE}) FROM (SELECT {records.get(record).text_sql} AS x FROM source_rows)"
    return per_row(table.select(_text_columns(record)), sql, con)


def _exact_text_clusters(table: pa.Table, record: str, hashes: np.ndarray | pa.ChunkedArray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows sharing a normalized text (the same md5), as (rows, cluster number), with no per-cluster lists.

    DuckDB computes a cheap 64-bit hash of every normalized text, in row order (`hashes`, when
    `text_hashes` already ran, as the source was read); numpy sorts the hashes to find the
    values that repeat (a vectorised sort of 10M integers takes a tenth of a second, far less
    than a windowed count or a GROUP BY). Only the few rows holding a repeated hash are hashed
    again, with md5, which decides (a 64-bit collision is not a duplicate).
    """
    import duckdb

    candidates = repeated_rows(text_hashes(table, record) if hashes is None else hashes)
    del hashes
    if not len(candidates):
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    con = duckdb.connect()
    try:
        _register(con, _take_sorted(table.select(_text_columns(record)), candidates), record, candidates, "candidates")
        found = _repeated(con, _text_query(record, "candidates"), "md5_number(text)",
                          "row, (h >> 64)::UBIGINT AS hi, (h & 18446744073709551615)::UBIGINT AS lo")
    finally:
        con.close()
    rows = found.column("row").to_numpy().astype(np.int64)
    digest = np.empty((len(rows), 2), dtype=np.uint64)
    digest[:, 0], digest[:, 1] = found.column("hi").to_numpy(), found.column("lo").to_numpy()
    _, cluster = np.unique(digest, axis=0, return_inverse=True)
    return rows, cluster.reshape(-1).astype(np.int64)


def _minhash_coefficients(t: Thresholds) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20261122)
    a = rng.integers(1, 1 << 61, t.minhash_permutations, dtype=np.uint64)
    b = rng.integers(0, 1 << 61, t.minhash_permutations, dtype=np.uint64)
    return a, b


def minhash(text: str, t: Thresholds, coefficients: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[set[int], np.ndarray]:
    """The word shingles of a normalized text (`t.text_shingle` words, each a 61-bit hash) and
    their MinHash signature (`t.minhash_permutations` values; `t.minhash_bands` bands of it are
    the buckets near texts meet in)."""
    a, b = coefficients or _minhash_coefficients(t)
    words = text.split()
    grams = {" ".join(words[i: i + t.text_shingle]) for i in range(max(1, len(words) - t.text_shingle + 1))}
    hashed = {int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little") >> 3 for g in grams}
    values = np.fromiter(hashed, dtype=np.uint64, count=len(hashed))
    with np.errstate(over="ignore"):
        signature = ((np.outer(values, a) + b) % _PRIME).min(axis=0)
    return hashed, signature


def jaccard(x: set[int], y: set[int]) -> float:
    """|x & y| / |x | y| (0 for two empty sets)."""
    union = len(x | y)
    return len(x & y) / union if union else 0.0


_PRIME = np.uint64((1 << 61) - 1)
MINHASH_BUCKET_LIMIT = 200  # a bucket shared by more texts is boilerplate, not a duplicate


def _minhash_clusters(texts: Iterable[str], t: Thresholds) -> list[list[int]]:
    """Pairs of texts with Jaccard similarity of word shingles >= threshold, as clusters."""
    coefficients = _minhash_coefficients(t)
    rows_per_band = t.minhash_permutations // t.minhash_bands
    shingles: list[set[int]] = []
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for row, text in enumerate(texts):
        hashed, signature = minhash(text, t, coefficients)
        shingles.append(hashed)
        for band in range(t.minhash_bands):
            buckets[(band, signature[band * rows_per_band: (band + 1) * rows_per_band].tobytes())].append(row)
    pairs: set[tuple[int, int]] = set()
    for members in buckets.values():
        if 1 < len(members) <= MINHASH_BUCKET_LIMIT:
            for i, x in enumerate(members):
                for y in members[i + 1:]:
                    pairs.add((x, y))
    return [[x, y] for x, y in pairs if jaccard(shingles[x], shingles[y]) >= t.text_jaccard]


# -- hashes ------------------------------------------------------------------------------


def hamming_clusters(hashes: list[int | None], limit: int, same: Callable[[int, int], bool] = lambda x, y: True) -> list[list[int]]:
    """Pairs of 64-bit hashes within `limit` differing bits for which `same(x, y)` holds.

    The bits are cut into `limit + 1` bands: two hashes that differ in at most `limit` bits
    agree on at least one whole band (pigeonhole), so comparing the members of each band's
    buckets finds every such pair.
    """
    bands = limit + 1
    width = 64 // bands
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    for row, h in enumerate(hashes):
        if h is not None:
            for band in range(bands):
                buckets[(band, (h >> (width * band)) & ((1 << width) - 1))].append(row)
    pairs = set()
    for members in buckets.values():
        for i, x in enumerate(members):
            for y in members[i + 1:]:
                if (x, y) not in pairs and bin(hashes[x] ^ hashes[y]).count("1") <= limit and same(x, y):
                    pairs.add((x, y))
    return [list(p) for p in pairs]


def rows_sharing_a_hash(hashes: np.ndarray, rows: np.ndarray) -> list[list[int]]:
    """[first row, other row] for every hash found in more than one row."""
    if not len(hashes):
        return []
    order = np.argsort(hashes, kind="stable")
    h, r = hashes[order], rows[order]
    del order
    starts = np.flatnonzero(np.concatenate([[True], h[1:] != h[:-1]]))
    low, high = np.minimum.reduceat(r, starts), np.maximum.reduceat(r, starts)
    shared = low != high
    if not shared.any():
        return []
    sizes = np.diff(np.append(starts, len(h)))
    first = np.repeat(low, sizes)
    keep = np.repeat(shared, sizes) & (r != first)
    pairs = np.unique(np.stack([first[keep], r[keep]], axis=1).astype(np.int64), axis=0)
    return pairs.tolist()


# -- entry point -------------------------------------------------------------------------


def tracked(values: list[Any], bar: Any) -> Iterator[Any]:
    """`values`, advancing `bar` by one per value (in steps of 256)."""
    for i, value in enumerate(values):
        if i % 256 == 255:
            bar.update(256)
        yield value
    bar.update(len(values) % 256)


def text_duplicates(table: pa.Table, record: str, keys: _Keys, thresholds: Thresholds, bar: Any, text_hashes: np.ndarray | pa.ChunkedArray | None = None) -> None:
    """Exact (normalized text) and near (MinHash over word shingles) duplicates of records with a text (`RecordType.text_sql`)."""
    keys.add_numbered("exact-text", *_exact_text_clusters(table, record, text_hashes))
    bar.update(table.num_rows)
    if thresholds.near and table.num_rows <= thresholds.near_text_limit:
        bar.reset(table.num_rows)
        bar.set_description("finding near duplicates")
        keys.add_pairs("near-text", _minhash_clusters(tracked(normalized_texts(table, record).to_pylist(), bar), thresholds), table.num_rows)
    elif thresholds.near:
        keys.skipped.append(f"near-text: {table.num_rows} records exceed near_text_limit {thresholds.near_text_limit}")


def find_duplicates(table: pa.Table, record: str, thresholds: Thresholds = Thresholds(), text_hashes: np.ndarray | pa.ChunkedArray | None = None) -> DuplicateKeys:
    """The duplicate keys of every record of `table` (published or source schema), with a progress bar.

    What a duplicate is, the record type says (`RecordType.duplicates`). `text_hashes`:
    `text_hashes(table, record)`, if already computed (records with a text).
    """
    from hub import progress

    keys = _Keys()
    with progress.bar(table.num_rows, desc="finding duplicates") as bar:
        records.get(record).duplicates(table, keys, thresholds, bar, text_hashes)
    return keys.result()
