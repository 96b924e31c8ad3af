"""Small Arrow (and Arrow-through-DuckDB) helpers shared by validation, label encoding and splitting."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def flat(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array."""
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def leaf(table: pa.Table, path: tuple[str, ...]) -> tuple[pa.Array, Callable[[], np.ndarray]]:
    """The values at `path` (through lists and structs), and a function giving each one's table row.

    The row mapping is computed only when called: checks that find nothing never pay for it.
    """
    array = table.column(path[0])  # chunked: no copy
    levels: list[pa.Array] = []  # the list arrays passed through, outermost first

    def into_lists(array: pa.Array) -> pa.Array:
        while pa.types.is_list(array.type) or pa.types.is_fixed_size_list(array.type):
            levels.append(array)
            array = pc.list_flatten(array)
        return array

    for step in path[1:]:
        array = pc.struct_field(into_lists(array), step)
    array = into_lists(array)
    n = len(table)

    def rows() -> np.ndarray:
        mapping = np.arange(n)
        for level in levels:
            mapping = mapping[pc.list_parent_indices(flat(level)).to_numpy(zero_copy_only=False)]
        return mapping

    return array, rows


def map_leaf(array: pa.Array, path: tuple[str, ...], fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """Rebuild `array` with `fn` applied to the values at `path` (struct fields, through lists)."""
    if pa.types.is_list(array.type):
        values = map_leaf(array.values, path, fn)
        return pa.ListArray.from_arrays(array.offsets, values, mask=array.is_null() if array.null_count else None)
    if not path:
        return fn(array)
    if pa.types.is_struct(array.type):
        names = [array.type.field(i).name for i in range(array.type.num_fields)]
        children = [map_leaf(array.field(i), path[1:], fn) if name == path[0] else array.field(i) for i, name in enumerate(names)]
        return pa.StructArray.from_arrays(children, names=names, mask=array.is_null() if array.null_count else None)
    raise TypeError(f"cannot map {path} in {array.type}")


def ordered_connection():
    """A private in-memory DuckDB whose query results keep their input's row order."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    return con


def per_row(table: pa.Table, sql: str, con=None, params: dict | None = None) -> pa.ChunkedArray:
    """The column `sql` computes over `table` (registered as `source_rows`): one value per row,
    in row order. On `con` (an `ordered_connection`) or on a connection of its own.

    Raises RuntimeError if DuckDB returns another number of values (a query that filters or
    groups would misalign every row after it).
    """
    own = con is None
    con = ordered_connection() if own else con
    try:
        con.register("source_rows", table)
        try:
            values = con.sql(sql, params=params).to_arrow_table().column(0)
        finally:
            con.unregister("source_rows")
    finally:
        if own:
            con.close()
    if len(values) != table.num_rows:
        raise RuntimeError(f"DuckDB returned {len(values)} values for {table.num_rows} rows")
    return values


_PART_VALUES = 1 << 22  # hashes sorted at a time by `repeated_rows` (32 MiB)


def repeated_rows(hashes: np.ndarray | pa.Array | pa.ChunkedArray, part_values: int = _PART_VALUES) -> np.ndarray:
    """The rows (ascending) whose value in `hashes` (64-bit integers, one per row: an array,
    memory-mapped or not, or Arrow) occurs in another row too.

    A vectorised numpy sort finds the repeated values (a tenth of a second for 10M), a hash set
    lookup their rows: far cheaper than counting the values in a hash table. Past `part_values`
    values, the values are partitioned by their top bits and each partition sorted on its own
    (a pass over the values each, a chunk at a time), so what is held at once is a partition,
    not a copy of every row's value.
    """
    n = len(hashes)
    bits = max(0, -(-n // part_values) - 1).bit_length()  # 2**bits partitions of at most about part_values
    found = []
    for p in range(1 << bits):
        if bits:
            shift = np.uint64(64 - bits)
            part = np.concatenate([c[(c >> shift) == np.uint64(p)] for c in _uint64_chunks(hashes)] or [np.empty(0, np.uint64)])
        else:
            part = np.concatenate(list(_uint64_chunks(hashes)) or [np.empty(0, np.uint64)])
        part.sort()
        found.append(np.unique(part[1:][part[1:] == part[:-1]]))
        del part
    repeated = pa.array(np.concatenate(found))
    if not len(repeated):
        return np.array([], dtype=np.int64)
    rows, start = [], 0
    for c in _uint64_chunks(hashes):
        rows.append(np.flatnonzero(pc.is_in(pa.array(c), value_set=repeated).to_numpy(zero_copy_only=False)) + start)
        start += len(c)
    return np.concatenate(rows).astype(np.int64)


def _uint64_chunks(values: np.ndarray | pa.Array | pa.ChunkedArray, rows: int = 1 << 20) -> Iterator[np.ndarray]:
    """`values` as consecutive uint64 numpy arrays of at most `rows` (views where it can)."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    for chunk in chunks:
        for start in range(0, len(chunk), rows):
            part = chunk[start:start + rows]
            yield (part.to_numpy(zero_copy_only=False) if isinstance(part, pa.Array) else np.asarray(part)).astype(np.uint64, copy=False)


def row_nbytes(table: pa.Table) -> np.ndarray:
    """The bytes every row holds (strings, binaries, fixed-width values, through lists and structs), as int64."""
    sizes = np.zeros(table.num_rows, dtype=np.int64)
    for column in table.columns:
        start = 0
        for chunk in column.chunks:
            sizes[start:start + len(chunk)] += _nbytes(chunk)
            start += len(chunk)
    return sizes


def is_list_type(kind: pa.DataType) -> bool:
    """A list of any kind: list, large list or fixed-size list."""
    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)


def _nbytes(array: pa.Array) -> np.ndarray:
    kind = array.type
    if pa.types.is_dictionary(kind):
        return _nbytes(array.dictionary)[pc.fill_null(array.indices, 0).to_numpy(zero_copy_only=False)]
    if pa.types.is_string(kind) or pa.types.is_binary(kind) or pa.types.is_large_string(kind) or pa.types.is_large_binary(kind):
        return pc.fill_null(pc.binary_length(array), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    if is_list_type(kind):
        values = pc.list_flatten(array)
        parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
        return np.bincount(parents, weights=_nbytes(values), minlength=len(array)).astype(np.int64)
    if pa.types.is_struct(kind):
        total = np.zeros(len(array), dtype=np.int64)
        for child in array.flatten():
            total += _nbytes(child)
        return total
    try:
        width = max(1, kind.bit_width // 8)
    except ValueError:  # null and other types without a fixed width
        width = 0
    return np.full(len(array), width, dtype=np.int64)


def rows_where(mask: pa.Array | pa.ChunkedArray, rows: np.ndarray) -> np.ndarray:
    """Table rows where `mask` is true (nulls count as false)."""
    m = flat(pc.fill_null(mask, False)).to_numpy(zero_copy_only=False)
    return rows[m]


class Series:
    """A `list<list<float>>` column (records x channels x samples) as flat numpy arrays, with no
    Python object per value: `values` (float32, every sample of every channel of every record,
    in order), `channels` (per record), `samples` (per record: the length of its first channel;
    validation rejects records whose channels differ in length) and `starts` (per record: its
    first value's index in `values`)."""

    def __init__(self, column: pa.Array | pa.ChunkedArray) -> None:
        outer = flat(column)
        inner = pc.list_flatten(outer)
        self.values = pc.list_flatten(inner).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        self.channels = pc.fill_null(pc.list_value_length(outer), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        lengths = pc.fill_null(pc.list_value_length(inner), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        n = len(self.channels)
        first_channel = np.minimum(np.concatenate([[0], np.cumsum(self.channels)])[:-1], max(len(lengths) - 1, 0))
        self.samples = np.where(self.channels > 0, lengths[first_channel], 0) if len(lengths) else np.zeros(n, np.int64)
        self.sizes = np.bincount(np.repeat(np.arange(n), self.channels), weights=lengths, minlength=n).astype(np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)])[:-1]

    def __len__(self) -> int:
        return len(self.channels)

    def block(self, rows: np.ndarray) -> np.ndarray:
        """The records `rows` (all of one shape: same channels and samples) as (rows, channels, samples)."""
        c, t = int(self.channels[rows[0]]), int(self.samples[rows[0]])
        index = self.starts[rows][:, None] + np.arange(c * t)[None, :]
        return self.values[index].reshape(len(rows), c, t)

    def shapes(self) -> dict[tuple[int, int], np.ndarray]:
        """The rows of each (channels, samples) shape, records with a consistent, non-empty series only."""
        ok = (self.channels > 0) & (self.sizes == self.channels * self.samples)
        out: dict[tuple[int, int], np.ndarray] = {}
        if not ok.any():
            return out
        keys = self.channels * (int(self.samples.max()) + 1) + self.samples
        for key in np.unique(keys[ok]):
            rows = np.nonzero(ok & (keys == key))[0]
            out[(int(self.channels[rows[0]]), int(self.samples[rows[0]]))] = rows
        return out


def sql_string(value: object) -> str:
    """`value` as a DuckDB string literal (a path, a split name), quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_name(name: str) -> str:
    """`name` as a DuckDB identifier (a column a corpus named), quotes doubled."""
    return '"' + name.replace('"', '""') + '"'
