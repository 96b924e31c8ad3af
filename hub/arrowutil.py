"""Small Arrow helpers shared by validation, label encoding and splitting."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def flat(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array."""
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def descend(array: pa.Array, rows: np.ndarray, step: str | None) -> tuple[pa.Array, np.ndarray]:
    """Go one level down: into a list's values (step None) or a struct's field (step = name).

    `rows` maps each element of `array` to its table row; the result keeps that mapping.
    """
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type) or pa.types.is_fixed_size_list(array.type):
        parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
        return pc.list_flatten(array), rows[parents]
    if pa.types.is_struct(array.type):
        child = pc.struct_field(array, step)
        return child, rows
    raise TypeError(f"cannot descend into {array.type}")


def leaf(table: pa.Table, path: tuple[str, ...]) -> tuple[pa.Array, np.ndarray]:
    """The values at `path` (through lists and structs), each with its table row."""
    array = flat(table.column(path[0]))
    rows = np.arange(len(array))
    for step in path[1:]:
        while pa.types.is_list(array.type):
            array, rows = descend(array, rows, None)
        array, rows = descend(array, rows, step)
    while pa.types.is_list(array.type):
        array, rows = descend(array, rows, None)
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


def rows_where(mask: pa.Array, rows: np.ndarray) -> np.ndarray:
    """Table rows where `mask` is true (nulls count as false)."""
    m = pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    return rows[m]
