"""`hub audit`: the leakage certificate of any split dataset on disk, without a registry.

It reads a folder as it comes and certifies its splits with the publishing certificate
(`hub.splits.certify`): groups and duplicate clusters (exact and near, by `hub.dedup`'s engines)
that lie in more than one split, with their ids (`leaks`). Layouts read:

- a `datasets` `save_to_disk` folder of a `DatasetDict` (`dataset_dict.json`; one split per subfolder);
- Parquet in the Hub layout: `data/<split>-*.parquet` (or `<split>-*.parquet`) or `<split>/*.parquet`;
- any of them as one table whose `split_column` names each row's split (a single saved `Dataset`
  or a Parquet folder).

What a duplicate is depends on the records: when the columns hold every required field of a
record type (`hub.records.infer`), that type's engine decides (decoded audio, image
pixels, series windows, dialogue texts); otherwise media columns the `datasets` features name
(`Image`, `Audio`, `Video`) go to the engine of the record type with that media, and columns of
running text (most values hold a space, and they are not a few values repeated: not labels,
names or paths) are compared as normalized
text (exact, and near by MinHash).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.errors import (
    HubError,  # numpy, pyarrow and the engines are imported where used: `import hub` stays light
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

log = logging.getLogger(__name__)

__all__ = ["AuditError", "audit", "read_splits"]

_ORDER = ["train", "validation", "test"]  # splits are listed in this order, then the others by name


class AuditError(HubError, ValueError):
    hint = ("Point at a `datasets` save_to_disk folder (with dataset_dict.json) or a Parquet folder laid out as "
            "data/<split>-*.parquet or <split>/*.parquet; for one table, name its split column with --split-column.")


def _split_name(path: Path, base: Path) -> str:
    """The split a Parquet file belongs to: its folder under `base`, or its name up to the first '-'."""
    rel = path.relative_to(base)
    if len(rel.parts) > 1 and rel.parts[0] != "data":
        return rel.parts[0]
    return path.name.split("-")[0].removesuffix(".parquet")


def read_splits(path: Path, split_column: str | None) -> tuple[dict[str, pa.Table], str, Any]:
    """(split name -> table, layout, `datasets.Features` or None) of the folder at `path`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.exists():
        raise AuditError(f"{path} does not exist", path=str(path))
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        import datasets

        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            parts = {name: ds.with_format("arrow")[:] if ds.num_rows else ds.data.table for name, ds in loaded.items()}
            features = next(iter(loaded.values())).features if loaded else None
        else:
            parts, features = {"": loaded.with_format("arrow")[:]}, loaded.features
        return parts, "save_to_disk", features
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path] if path.suffix == ".parquet" else []
    if not files:
        raise AuditError(f"{path} holds no save_to_disk dataset and no Parquet file", path=str(path))
    parts: dict[str, list[pa.Table]] = {}
    for file in files:
        name = "" if split_column else _split_name(file, path if path.is_dir() else path.parent)
        parts.setdefault(name, []).append(pq.read_table(file))
    schema = pq.read_schema(files[0])
    features = None
    if schema.metadata and b"huggingface" in schema.metadata:
        import datasets

        features = datasets.Features.from_arrow_schema(schema)
    return {name: pa.concat_tables(tables, promote_options="default") for name, tables in parts.items()}, "parquet", features


def _by_column(parts: dict[str, pa.Table], split_column: str) -> dict[str, pa.Table]:
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.concat_tables(list(parts.values()), promote_options="default")
    if split_column not in table.column_names:
        raise AuditError(f"--split-column {split_column!r} is not a column (columns: {', '.join(table.column_names)})", column=split_column)
    values = table.column(split_column).cast(pa.string())
    out = {}
    for name in sorted(v for v in pc.unique(values).to_pylist() if v is not None):
        out[name] = table.filter(pc.equal(values, name))
    return out


def _media_kinds(features: Any, columns: list[str]) -> dict[str, str]:
    """Media columns and their kind (`Image`, `Audio`, `Video`) by the `datasets` features."""
    if features is None:
        return {}
    return {c: type(features[c]).__name__ for c in columns if c in features and type(features[c]).__name__ in ("Image", "Audio", "Video")}


def _engine_for_media(kind: str) -> tuple[str, str] | None:
    """(record type, its media field) for the first record type whose only media field is of `kind`."""

    from hub import records
    from hub.schema import record_schema

    for name in records.RECORD_TYPES:
        media = record_schema(name).media_fields
        if list(media.values()) == [kind]:
            return name, next(iter(media))
    return None


def _is_text(column: Any) -> bool:
    """Whether a column holds running text (most values have a space, and more than a few distinct
    values), not labels, names or paths."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) or not len(column) - column.null_count:
        return False
    values = len(column) - column.null_count
    if pc.count_distinct(column).as_py() <= max(20, values // 20):  # a few values, repeated: categories (labels, speakers, languages)
        return False
    spaced = pc.sum(pc.match_substring(pc.utf8_trim_whitespace(column), " ").cast(pa.int64())).as_py() or 0
    return spaced * 2 >= values


def _duplicates(table: pa.Table, record: str | None, features: Any, thresholds: Any, skip: set[str]) -> Any:
    """The duplicate keys of every row, by the record type's engine or by column kinds."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from hub import records
    from hub.dedup import _Keys, _minhash_clusters, find_duplicates, rows_sharing_a_hash
    from hub.progress import bar

    if record is not None:
        return find_duplicates(table, record, thresholds)
    keys = _Keys()
    with bar(table.num_rows, desc="finding duplicates") as progress:
        for column, kind in _media_kinds(features, table.column_names).items():
            engine = _engine_for_media(kind)
            if engine is None or not pa.types.is_struct(table.schema.field(column).type):
                keys.skipped.append(f"{column}: no duplicate engine for {kind} columns")
                continue
            name, field = engine
            records.get(name).duplicates(pa.table({field: table.column(column)}), keys, thresholds, progress, None)
        texts = [c for c in table.column_names if c not in skip and _is_text(table.column(c))]
        for column in texts:
            normalized = pc.utf8_trim_whitespace(pc.utf8_lower(pc.replace_substring_regex(table.column(column), r"\s+", " ")))
            hashes = _hash64(normalized)
            valid = np.asarray(pc.is_valid(normalized).to_numpy(zero_copy_only=False), dtype=bool)
            rows = np.flatnonzero(valid)
            pairs = rows_sharing_a_hash(hashes[rows], rows.astype(np.int64))
            keys.add_pairs(f"exact-text:{column}", pairs, table.num_rows)
            if thresholds.near and table.num_rows <= thresholds.near_text_limit:
                keys.add_pairs(f"near-text:{column}", _minhash_clusters(pc.fill_null(normalized, "").to_pylist(), thresholds), table.num_rows)
            elif thresholds.near:
                keys.skipped.append(f"near-text:{column}: {table.num_rows} rows exceed near_text_limit {thresholds.near_text_limit}")
    return keys.result()


def _hash64(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A 64-bit hash of every string (DuckDB's `hash`), in order."""
    import pyarrow as pa

    from hub.arrowutil import per_row

    return per_row(pa.table({"x": values}), "SELECT hash(x) FROM source_rows").to_numpy()


def audit(path: Path | str, *, group_key: str | None = None, split_column: str | None = None, record: str | None = None,
          near: bool = True) -> dict[str, Any]:
    """The leakage certificate of the split dataset at `path` (see the module docstring).

    `group_key`: the column whose values must stay in one split (default: the inferred record
    type's group key, when the columns have it; else `id`: a record in two splits); `split_column`: the column naming
    each row's split, for a folder of one table; `record`: the record type whose duplicate engine
    to use (default: inferred from the columns); `near=False` looks for exact duplicates only.
    Returns the certificate with `path`, `layout`, `record`; `holds` is false when any group or
    duplicate cluster crosses splits (`leaks` names them). Raises `AuditError`.
    """
    import numpy as np
    import pyarrow as pa

    from hub import records
    from hub.dedup import Thresholds
    from hub.entry import SplitPolicy
    from hub.splits import Assignment, certify

    path = Path(path)
    parts, layout, features = read_splits(path, split_column)
    if split_column:
        parts = _by_column(parts, split_column)
    parts = {name: table for name, table in parts.items() if name}
    if len(parts) < 2:
        raise AuditError(f"{path} holds {len(parts)} split{'s' if len(parts) != 1 else ''} ({', '.join(parts) or 'none'}): nothing can cross",
                         path=str(path))
    names = sorted(parts, key=lambda n: (_ORDER.index(n) if n in _ORDER else len(_ORDER), n))
    for name in names:  # ids name the rows in what the audit reports: `id` when there is one, else split:row
        if "id" not in parts[name].column_names:
            parts[name] = parts[name].append_column("id", pa.array([f"{name}:{i}" for i in range(parts[name].num_rows)], pa.string()))
        else:
            parts[name] = parts[name].set_column(parts[name].column_names.index("id"), "id", parts[name].column("id").cast(pa.string()))
    table = pa.concat_tables([parts[n] for n in names], promote_options="default")
    index = np.repeat(np.arange(len(names), dtype=np.int8), [parts[n].num_rows for n in names])
    if record is not None and record not in records.RECORD_TYPES:
        raise AuditError(f"unknown record type {record!r}", hint=f"Use one of: {', '.join(records.RECORD_TYPES)}.", record=record)
    record = record or records.infer(table.column_names)
    if group_key is None and record is not None and records.get(record).group_key in table.column_names:
        group_key = records.get(record).group_key
    if group_key is not None and group_key not in table.column_names:
        raise AuditError(f"--group-key {group_key!r} is not a column (columns: {', '.join(table.column_names)})", column=group_key)
    thresholds = Thresholds(near=near)
    duplicates = _duplicates(table, record, features, thresholds, {"id", group_key, split_column})
    shares = {n: parts[n].num_rows / max(1, table.num_rows) for n in names}
    policy = SplitPolicy(group_key or "id", None, shares, 0)
    certificate = certify(table, Assignment(index, names, 0, 0, duplicates, thresholds), policy, [])
    for key in ("rows_moved_by_duplicates", "groups_moved_by_duplicates", "published_components_bridged", "groups_tied_by_duplicates",
                "records_moved", "moves"):
        certificate.pop(key, None)  # properties of a hub's assignment, not of the files
    return {"path": str(path), "layout": layout, "record": record, **certificate}
