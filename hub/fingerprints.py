"""The contamination index: every published version's content fingerprints, searchable
without reading its data.

A version's fingerprints are one Parquet file, `data/index/fingerprints.parquet`, a row per record:

    row    int64           the record's position in the file
    split  string          its split
    id     string          its id
    exact  binary          a digest equal for equal content (decoded pixels or samples,
                           normalized text, series values, clip bytes), or null
    bands  list<uint64>    keys two near duplicates share at least one of (LSH bands of a
                           MinHash signature, bands of a 64-bit perceptual hash, window hashes)
    near   binary          what decides whether two records meeting in a band are near
                           duplicates (`RecordType.near_same`), or null

Each record type computes its own (`RecordType.fingerprints`, in its module), from the same
digests, hashes and thresholds its split engine's duplicate finder uses. The file goes into
DVC with the shards but not into the manifest's `files`, so no route serves it (it tells about
record content); the manifest's `fingerprints` names it with its sha256, size, `FORMAT` and
the thresholds its bands were cut for.

`matches` finds the records of one fingerprint table that are records of a reference file: the
exact digests by a DuckDB join, near candidates by a join on band keys (a key more reference
rows than the type's `band_limit` share is boilerplate and ignored), then each candidate pair
decided by the record type. DuckDB streams the reference file, so memory stays near the
records being checked and the pairs found, whatever the reference's size.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hub.arrowutil import sql_string

if TYPE_CHECKING:
    from hub.dedup import Thresholds

__all__ = ["FORMAT", "PATH", "SCHEMA", "Prints", "band_key", "digest", "fingerprint_batch", "hamming_bands", "matches", "meta", "safely", "table_of", "thresholds_key", "write"]

BATCH = 65_536  # rows of a fingerprinting batch (on Ray, a task): 1M dialogues in 1.6 s, 5.1 s in batches of 4,096 (per-batch overhead)
FORMAT = 1  # bump when what a file holds changes: files of another format are rebuilt, never trusted
PATH = "data/index/fingerprints.parquet"  # inside a version's folder (not data/*.parquet, which are the shards)
SCHEMA = pa.schema([
    pa.field("row", pa.int64()), pa.field("split", pa.string()), pa.field("id", pa.string()),
    pa.field("exact", pa.binary()), pa.field("bands", pa.list_(pa.uint64())), pa.field("near", pa.binary()),
])


@dataclass
class Prints:
    """A record type's fingerprints of a table's rows, in row order (see the module docstring)."""

    exact: list[bytes | None]
    bands: list[list[int]] | None = None  # None: the type has no near duplicates
    near: list[bytes | None] | None = None
    skipped: list[str] = field(default_factory=list)  # near checks not run, and why


def safely(fingerprint: Any, blob: Any) -> Any:
    """`fingerprint(blob)`, or None for no bytes or bytes that do not decode (validation
    reports those; data from outside the registry may hold them)."""
    if blob is None:
        return None
    try:
        return fingerprint(blob)
    except Exception:  # noqa: BLE001 - any decoder's error: no fingerprint for that record
        return None


def hamming_bands(h: int | None, limit: int) -> list[int]:
    """The band keys of a 64-bit hash: two hashes within `limit` differing bits share at least
    one (the `limit + 1` bands of `hub.dedup.hamming_clusters`, each key tagged with its band)."""
    if h is None:
        return []
    if limit <= 0:
        return [h]
    bands = limit + 1
    width = 64 // bands
    mask = (1 << width) - 1
    return [(band << 56) | ((h >> (width * band)) & mask) for band in range(bands)]


@dataclass(frozen=True)
class _Job:
    """What every batch of `table_of` shares (the stage's context)."""

    record: str
    thresholds: Thresholds
    rows: int


def fingerprint_batch(batch: pa.Table, job: _Job) -> pa.Table:
    """The fingerprinting stage over one batch (`hub.batches`): its rows' `Prints` as Arrow
    columns (`exact`, `bands`, `near`), which take a fraction of the memory of Python objects."""
    from hub import records

    prints = records.get(job.record).fingerprints(batch, job.thresholds, rows=job.rows)
    n = len(prints.exact)
    bands = prints.bands if prints.bands is not None else [[] for _ in range(n)]
    near = prints.near if prints.near is not None else [None] * n
    return pa.table([pa.array(prints.exact, pa.binary()), pa.array(bands, pa.list_(pa.uint64())), pa.array(near, pa.binary())], schema=_PART)


_PART = pa.schema([SCHEMA.field("exact"), SCHEMA.field("bands"), SCHEMA.field("near")])


def table_of(table: pa.Table, record: str, split_of_row: np.ndarray, names: list[str], thresholds: Thresholds,
             batch_rows: int | None = None, spill: Path | None = None) -> pa.Table:
    """The fingerprint table (`SCHEMA`) of `table`'s records, split `names[split_of_row[i]]`.

    Fingerprinting is a stage over batches of `batch_rows` rows (None: `BATCH` rows, a task
    each on Ray), whose parts concatenate in batch order: the texts of one batch at a time are
    held as Python objects, not the whole table's. With `spill` (a folder), the parts go to
    memory-mapped files there as they come (`hub.spill`) once they are large.
    """
    from hub import engine
    from hub.batches import slices
    from hub.spill import Spill

    split_names = pa.array(names, pa.string())
    split_of_row = np.asarray(split_of_row)  # (int8: an int64 copy of it would be 8 bytes a row)
    ids = table.column("id")
    out = Spill(spill)
    start = 0
    for part in engine.each(fingerprint_batch, slices(table, batch_rows or BATCH), _Job(record, thresholds, table.num_rows)):  # an empty table: one empty batch
        stop = start + part.num_rows
        rows = [pa.array(np.arange(start, stop, dtype=np.int64)), split_names.take(pa.array(split_of_row[start:stop].astype(np.int64))), ids.slice(start, part.num_rows).cast(pa.string())]
        out.add(pa.Table.from_arrays([*rows, *part.columns], schema=SCHEMA))
        start = stop
    return out.table(SCHEMA)


def meta(path: Path, rows: int, thresholds: Thresholds, rel: str = PATH) -> dict[str, Any]:
    """The manifest's `fingerprints`: where the file is, its sha256 and size, what it holds."""
    from hub.hashing import sha256_file

    return {"path": rel, "sha256": sha256_file(path), "size": path.stat().st_size, "rows": rows, "format": FORMAT,
            "thresholds": thresholds_key(thresholds)}


def thresholds_key(thresholds: Thresholds) -> dict[str, Any]:
    """The thresholds the bands depend on (a file cut for others is rebuilt for these)."""
    t = thresholds.to_dict()
    return {k: t[k] for k in ("text_shingle", "minhash_permutations", "minhash_bands", "image_hamming", "video_hamming", "sensor_window")}


def write(prints: pa.Table, path: Path) -> None:
    """Write a fingerprint table, whole or not at all (a temporary file renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(prints, tmp, compression="zstd")
    os.replace(tmp, path)


def matches(ours: pa.Table, reference: Path, record: str, thresholds: Thresholds, splits: tuple[str, ...]) -> pa.Table:
    """The pairs (ours: our row, theirs: the reference's row, exact: bool) of records of `ours`
    (a fingerprint table) that are records of the reference file's `splits`, each pair once
    (exact when the digests are equal, else near as the record type decides)."""
    import duckdb

    from hub import records

    kind = records.get(record)
    con = duckdb.connect(":memory:")
    try:
        con.register("ours", ours.select(["row", "exact", "bands"]))
        ref = f"(SELECT * FROM read_parquet({sql_string(reference)}) WHERE split IN ({', '.join(sql_string(s) for s in splits)}))"
        exact = con.sql(f"SELECT DISTINCT o.row AS ours, r.row AS theirs FROM ours o JOIN {ref} r ON o.exact = r.exact").to_arrow_table()
        near = pa.table({"ours": pa.array([], pa.int64()), "theirs": pa.array([], pa.int64())})
        if pc.sum(pc.list_value_length(ours.column("bands"))).as_py():  # a record type with near duplicates, and records with band keys
            usable = (f"SEMI JOIN (SELECT band FROM rb GROUP BY band HAVING count(*) <= {int(kind.band_limit)}) usable ON rb.band = usable.band"
                      if kind.band_limit else "")  # (the boilerplate limit counts every reference key: only where the type has one)
            near = con.sql(f"""
                WITH rb AS (SELECT row, unnest(bands) AS band FROM {ref}),
                     ob AS (SELECT row, unnest(bands) AS band FROM ours)
                SELECT DISTINCT ob.row AS ours, rb.row AS theirs
                FROM ob JOIN rb ON ob.band = rb.band {usable}
            """).to_arrow_table()
    finally:
        con.close()
    exact_ours, exact_theirs = (exact.column(c).to_numpy() for c in ("ours", "theirs"))
    seen = set(zip(exact_ours.tolist(), exact_theirs.tolist()))
    candidates = [(o, t) for o, t in zip(near.column("ours").to_pylist(), near.column("theirs").to_pylist()) if (o, t) not in seen]
    kept: list[tuple[int, int]] = []
    if candidates:
        theirs_near = _near_of(reference, sorted({t for _, t in candidates}))
        ours_near, ours_rows = ours.column("near"), ours.column("row").to_numpy()  # (`ours` may be a filtered table: its rows ascend)
        for o, t in candidates:
            a, b = ours_near[int(np.searchsorted(ours_rows, o))].as_py(), theirs_near.get(t)
            if a is not None and b is not None and kind.near_same(a, b, thresholds):
                kept.append((o, t))
    rows_o = np.concatenate([exact_ours, np.array([o for o, _ in kept], dtype=np.int64)])
    rows_t = np.concatenate([exact_theirs, np.array([t for _, t in kept], dtype=np.int64)])
    flags = np.concatenate([np.ones(len(exact_ours), dtype=bool), np.zeros(len(kept), dtype=bool)])
    return pa.table({"ours": rows_o, "theirs": rows_t, "exact": flags})


def _near_of(reference: Path, rows: list[int]) -> dict[int, bytes]:
    """The `near` values of some rows of a reference file (read by row group, only what is asked)."""
    wanted = pa.array(rows, pa.int64())
    table = pq.read_table(reference, columns=["row", "near"], filters=[("row", "in", wanted.to_pylist())])
    return dict(zip(table.column("row").to_pylist(), table.column("near").to_pylist()))


def digest(value: str | bytes) -> bytes:
    """A 16-byte digest (md5: not a security boundary, a content key) of a text or bytes."""
    return hashlib.md5(value.encode("utf-8") if isinstance(value, str) else value, usedforsecurity=False).digest()


def band_key(band: int, values: np.ndarray) -> int:
    """A 64-bit key of one band of a MinHash signature."""
    return int.from_bytes(hashlib.blake2b(bytes([band]) + values.tobytes(), digest_size=8).digest(), "little")
