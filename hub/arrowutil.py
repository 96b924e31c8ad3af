"""Small Arrow helpers shared by validation, label encoding and splitting."""

from __future__ import annotations

from collections.abc import Callable

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


def rows_where(mask: pa.Array | pa.ChunkedArray, rows: np.ndarray) -> np.ndarray:
    """Table rows where `mask` is true (nulls count as false)."""
    m = flat(pc.fill_null(mask, False)).to_numpy(zero_copy_only=False)
    return rows[m]
