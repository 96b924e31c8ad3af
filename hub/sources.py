"""Reading a dataset's raw data: a loader entry point, JSONL files or Parquet files.

The read stage (`read_batches`, `read_table`) turns them into Arrow tables of the record's
source schema that carry each row's file and row position (`FILE`, `ROW`), media given as
paths read here (confined to the dataset's folder); the rows that cannot become Arrow are
reported, never dropped silently. Below it: rows as (file, row number, record, raw line) for
the row-wise sources, Arrow tables for Parquet.
"""

from __future__ import annotations

import base64
import codecs
import functools
import hashlib
import importlib
import io
import json
import logging
import posixpath
import re
import threading
import time
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hub import config, progress
from hub.entry import Entry
from hub.errors import SourceError
from hub.hashing import sha256_file
from hub.mapping import (
    Shaper,
    derive_fields,
    extra_columns,
    fold_nested,
    name_mapped_columns,
    nested_field,
    reject_keyless,
    unify_extras,
    unify_nested,
)
from hub.spill import Spill
from hub.spill import folder as spill_folder

if TYPE_CHECKING:
    import jsonschema

    from hub.report import Report
    from hub.schema import RecordSchema
    from hub.splits import RowHasher

log = logging.getLogger(__name__)

__all__ = ["FILE", "MAX_JSON_DEPTH", "ROW", "SourceRowError", "iter_rows", "may_repeat_keys", "media_path", "parquet_batches", "parquet_schema", "parse_line", "positioned_schema",
           "read_batches", "read_table", "repeated_key", "resolve_media", "safe_path", "source_fingerprint"]


def safe_path(base: Path, relative: str) -> Path:
    """`base / relative`, refusing absolute paths and anything that resolves outside `base`
    (`hub.repo.inside`: raises `UnsafePath`, a `ValueError`)."""
    from hub.repo import inside

    return inside(base, relative)


def media_path(base: Path, value: str, folder: str = "") -> Path:
    """The file a media path names: relative to `folder` (the folder of the records file that
    names it, relative to `base`) if that file exists, else relative to `base`, the dataset's
    folder; either way inside `base` (`hub.repo.inside`).

    Raises `UnsafePath` (a `ValueError`) for a path that leaves `base` and `FileNotFoundError`
    for one that names no file, saying where it looked.
    """
    from hub.errors import UnsafePath

    near = None
    if folder and not posixpath.isabs(value) and "\\" not in value:
        joined = posixpath.normpath(posixpath.join(folder, value))
        if joined != ".." and not joined.startswith("../"):
            try:
                path = safe_path(base, joined)
            except UnsafePath as exc:
                raise UnsafePath(exc.message.replace(repr(joined), repr(value)), path=value) from None
            if path.is_file():
                return path
            near = joined
    path = safe_path(base, value)  # not next to the records file: in the dataset folder, or refused (a link out, `..`)
    if not path.is_file():
        looked = f" (looked for {near}, next to the records file, and {value} in the dataset folder)" if near is not None and near != value else ""
        raise FileNotFoundError(f"media file {value!r} does not exist{looked}")
    return path


def resolve_media(value: Any, base: Path, folder: str = "") -> Any:
    """Turn a media value into `{"bytes", "path"}`: read a relative path (`media_path`: next to
    the records file in `folder`, else in the dataset's folder `base`), decode base64 text.

    Values of any other shape are returned as they are, for the type check to report.
    Raises `ValueError` for unsafe or missing paths.
    """
    if isinstance(value, str):
        path = media_path(base, value, folder)
        return {"bytes": path.read_bytes(), "path": value}
    if isinstance(value, dict) and isinstance(value.get("bytes"), str):
        try:
            return {**value, "bytes": base64.b64decode(value["bytes"], validate=True)}
        except ValueError:
            raise ValueError("media 'bytes' is text but not base64") from None
    return value


def _loader(spec: str):
    module_name, _, func_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, func_name)
    except (ImportError, AttributeError) as exc:
        raise SourceError(f"loader {spec!r} cannot be imported: {exc}", hint="Check source.loader in dataset.yaml (module:function).") from exc


def _source_files(entry: Entry) -> list[tuple[str, Path, str | None]]:
    files = []
    for item in entry.data["source"].get("files", []):
        try:
            path = safe_path(entry.path, item["path"])
        except ValueError as exc:
            raise SourceError(str(exc), hint="Source files must lie inside the dataset's folder.", path=item["path"]) from None
        if not path.is_file():
            raise SourceError(f"source file {item['path']!r} does not exist in {entry.path}", path=item["path"])
        files.append((item["path"], path, item.get("sha256")))
    return files


_DIGESTS: dict[tuple[str, int, int, int], str] = {}
_HASHING = threading.Lock()


def _sha256(path: Path) -> str:
    """The sha256 of a source file, read once per version of the file (validation checks it,
    the lineage records it: one read serves both).

    A file changed in the last two seconds is always read: a rewrite within the clock's
    granularity could keep its size and mtime (git's "racily clean" problem).
    """
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    with _HASHING:  # a publish hashes its source in a thread while validation may check it: one read
        digest = _DIGESTS.get(key)
        if digest is None:
            digest = sha256_file(path)
            if time.time_ns() - st.st_mtime_ns > 2_000_000_000:
                if len(_DIGESTS) >= 1024:
                    _DIGESTS.clear()
                _DIGESTS[key] = digest
    return digest


def source_fingerprint(entry: Entry) -> dict[str, Any]:
    """What the data was made from: file checksums, or the loader and its package's version."""
    source = entry.data["source"]
    if "loader" in source:
        module = source["loader"].partition(":")[0]
        top = module.split(".")[0]
        spec = importlib.util.find_spec(module)
        code = Path(spec.origin).read_bytes() if spec and spec.origin else b""
        try:
            version = metadata.version(top)
        except metadata.PackageNotFoundError:
            version = None
        return {"loader": source["loader"], "options": source.get("options", {}), "package_version": version, "code_sha256": hashlib.sha256(code).hexdigest()}
    return {"format": source["format"], "files": [{"path": name, "sha256": _sha256(path)} for name, path, _ in _source_files(entry)]}


def check_source_checksums(entry: Entry) -> list[tuple[str, str, str]]:
    """(path, expected, actual) for every source file whose declared sha256 does not match."""
    bad = []
    for name, path, expected in _source_files(entry):
        if expected and (actual := _sha256(path)) != expected:
            bad.append((name, expected, actual))
    return bad


MAX_JSON_DEPTH = 64  # nesting levels of arrays and objects a JSONL record may have (the deepest schema needs 4)
_KEY_END = re.compile(rb'"[ \t\r\n]*:')  # where an object key ends (and, rarely, a string that starts with ':')


def iter_rows(entry: Entry, max_bytes: int | None = None) -> Iterator[tuple[str, int, Any, bytes | None]]:
    """(file, 1-based row, record, the raw line) for loader and JSONL sources (raw None for loaders).

    JSONL files are read line by line as bytes, so one bad line is one bad row, at its true
    line number: a line that is not UTF-8 or not JSON, nests deeper than `MAX_JSON_DEPTH`, or
    is longer than `max_bytes` (checked before it is parsed, and never held whole) is yielded
    as a `SourceRowError` for validation to report. A UTF-8 byte order mark at the start of
    a file and CRLF line ends are accepted. Lines that are blank or start with `#` are skipped.
    """
    source = entry.data["source"]
    if "loader" in source:
        func = _loader(source["loader"])
        try:
            for number, record in enumerate(func(dict(source.get("options") or {})), start=1):
                yield source["loader"], number, record, None
        except Exception as exc:
            raise SourceError(f"loader {source['loader']!r} failed: {type(exc).__name__}: {exc}") from exc
        return
    if source["format"] != "jsonl":
        raise SourceError(f"iter_rows does not read {source['format']!r} sources")
    for name, path, _ in _source_files(entry):
        yield from _jsonl_rows(name, path, max_bytes)


def _jsonl_rows(name: str, path: Path, max_bytes: int | None) -> Iterator[tuple[str, int, Any, bytes | None]]:
    with open(path, "rb") as f:
        number = 0
        while True:
            line = f.readline() if max_bytes is None else f.readline(max_bytes + 1)
            if not line:
                return
            number += 1
            if max_bytes is not None and len(line) > max_bytes and not line.endswith(b"\n"):
                size = len(line) + _skip_line(f)
                yield name, number, SourceRowError(f"record is {size} bytes; the limit is {max_bytes} (HUB_MAX_ROW_BYTES)", "oversized-row",
                                                   line=line[:200].decode("utf-8", "backslashreplace") + "..."), None
                continue
            if number == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8):]
            record = parse_line(line)
            if record is not _SKIP:
                yield name, number, record, line


def _skip_line(f: Any) -> int:
    """Read on to the end of the current line, in pieces; return how many bytes that was."""
    skipped = 0
    while piece := f.readline(1 << 20):
        skipped += len(piece)
        if piece.endswith(b"\n"):
            break
    return skipped


_SKIP = object()


def parse_line(line: bytes) -> Any:
    """One JSONL line as a record, `SourceRowError` if it is not one, or `_SKIP` (blank, comment)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = line[exc.start]
        return SourceRowError(f"not UTF-8 text: byte 0x{bad:02x} at byte {exc.start + 1} of the line ({exc.reason})", "not-utf8",
                              line=line.decode("utf-8", "backslashreplace"))
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return _SKIP
    try:
        record = json.loads(text.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        return SourceRowError(f"not valid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}", line=text)
    except RecursionError:
        record = _SKIP
    if record is _SKIP or (line.count(b"[") + line.count(b"{") > MAX_JSON_DEPTH and _depth(record) > MAX_JSON_DEPTH):
        return SourceRowError(f"nested deeper than {MAX_JSON_DEPTH} levels of arrays and objects", "too-deep", line=text[:1000])
    return record


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in `value` (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def may_repeat_keys(line: bytes, keys: int) -> bool:
    """Whether a JSON line may give some object key twice, its record having `keys` keys in all.

    Every key ends in `"` and `:`, so a line with no more colons (or, counted more closely, no
    more `"` + `:`) than its record has keys repeats none; only the others are parsed again
    (`repeated_key`), a few in a hundred.
    """
    if line.count(b":") == keys:
        return False
    if b" :" in line or b"\t:" in line or b"\r:" in line:
        return len(_KEY_END.findall(line)) != keys
    return line.count(b'":') != keys


class _Repeated(dict):
    """An object whose JSON text gave a key more than once (`repeated` names the first)."""

    repeated: str = ""


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        record = _Repeated(pairs)
        record.repeated = next(k for k, _ in pairs if k in seen or seen.add(k))
    return record


def repeated_key(line: bytes) -> tuple[tuple[str | int, ...], str] | None:
    """(where, key) of the first object in a JSON line that gives a key twice, or None.

    `where` is the path to that object (keys and list positions; () for the record itself).
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(json.loads(line.decode("utf-8"), object_pairs_hook=_pairs), ())]
    while stack:
        value, where = stack.pop(0)
        if isinstance(value, _Repeated):
            return where, value.repeated
        if isinstance(value, dict):
            stack.extend((v, (*where, k)) for k, v in value.items() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, (*where, i)) for i, v in enumerate(value) if isinstance(v, (dict, list)))
    return None


class SourceRowError:
    """A source row that could not even be parsed: why (`message`, `slug`) and its text (`line`)."""

    def __init__(self, message: str, slug: str = "type-error", line: str | None = None) -> None:
        self.message, self.slug, self.line = message, slug, line


_READ_BATCH = 65_536  # rows decoded at a time
_READ_BUFFER = 1 << 20  # bytes read from the file at a time


def parquet_batches(path: Path, name: str) -> Iterator[pa.RecordBatch]:
    """A Parquet source file's rows, decoded `_READ_BATCH` at a time; raises `SourceError`
    naming the file for one that is not Parquet or breaks part-way.

    `pq.read_table` (and `iter_batches` with its defaults) first copies a whole row group's
    column chunks into memory (`pre_buffer`, meant for object stores), then decodes. Streaming
    the pages through a 1 MiB buffer decodes the same rows with far less transient memory: a
    339 MB source of 1M nested dialogues reads in 0.9 s instead of 1.8-2.4 s here (most of the
    difference is the kernel handing out fresh pages), with a peak of 675 MiB instead of 1 GiB.
    """
    try:
        with pq.ParquetFile(path, pre_buffer=False, buffer_size=_READ_BUFFER) as file:
            yield from file.iter_batches(batch_size=_READ_BATCH)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"source file {name!r} is not readable Parquet: {exc}", path=name) from exc


def parquet_schema(path: Path, name: str) -> tuple[pa.Schema, int]:
    """A Parquet source file's Arrow schema and row count, from its footer."""
    try:
        with pq.ParquetFile(path) as file:
            return file.schema_arrow, file.metadata.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"source file {name!r} is not readable Parquet: {exc}", path=name) from exc


# -- the read stage: source files -> positioned Arrow rows -----------------------------------

FILE, ROW = "__file", "__row"  # the position columns: source file (dictionary-encoded) and 1-based row
BATCH = 2048  # row-wise records turned into Arrow at a time


def read_batches(entry: Entry, schema: RecordSchema, report: Report, unreadable: list[dict[str, Any]],
                 hasher: RowHasher | None = None, shaper: Shaper | None = None) -> Iterator[pa.Table]:
    """The read stage: the entry's source as Arrow tables of `positioned_schema(schema)` (the
    record's source schema plus each row's file and row position), media paths resolved to bytes.

    Rows that cannot become Arrow without a silent change (not JSON, unknown fields, wrong
    types, a missing required field, a media path out of the folder, too large) are reported in
    `report` and appended to `unreadable` (file, row, record, problems); columns of a Parquet
    file that would change are reported. Parquet batches also go to `hasher.add` as they are
    decoded. Columns are mapped to fields by `source.fields`, and the columns the schema does
    not name come after the schema's as extra fields (`hub.mapping.Shaper`; batches may differ
    in their extras: `read_table` unifies them). Raises `SourceError` for a source that cannot
    be read at all.
    """
    shaper = shaper or Shaper(entry.data["source"], schema)
    if entry.data["source"].get("format") == "parquet":
        yield from _parquet_batches(entry, schema, report, unreadable, shaper, hasher)
    else:
        yield from _row_batches(iter_rows(entry, config.max_row_bytes()), entry, schema, report, unreadable, shaper)


def read_table(entry: Entry, schema: RecordSchema, report: Report, unreadable: list[dict[str, Any]], hasher: RowHasher | None = None) -> pa.Table:
    """`read_batches` as one table (empty, of the positioned schema, when no row was read):
    the schema's fields, the extra fields (each of one type), then the positions.

    Binds the extra fields to `entry.schema` (`RecordSchema.with_extras`: they are published)
    and lists them in `report.extras`; the problems of `source.fields` as a whole, and a group
    or stratify key that names no column, are reported against dataset.yaml.
    """
    shaper = Shaper(entry.data["source"], schema)
    rel = entry.yaml_path.relative_to(entry.path.parents[2]).as_posix()
    for slug, message, field in shaper.start():
        report.add(slug, message, file=rel, field=field)
    problems_before = len(report.problems)
    unreadable_before = len(unreadable)
    spill = Spill(spill_folder(entry.path.parents[2]))  # a source larger than memory: its batches memory-mapped (hub.spill)
    try:
        for batch in read_batches(entry, schema, report, unreadable, hasher, shaper):
            spill.add(batch)
    except BaseException:
        spill.discard()
        raise
    tables = spill.tables()
    names = [n for n in shaper.extras if shaper.keep and any(n in t.column_names for t in tables)]
    nested = [n for n in shaper.nested.values() if shaper.keep]
    if tables:
        tables = unify_extras(tables, names)
        tables = unify_nested(tables, nested, schema.source_schema, shaper.slots) if nested else tables
        table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
        table = table.select([*schema.source_schema.names, *names, FILE, ROW])
    else:
        table = positioned_schema(schema).empty_table()
    rows = table.num_rows + len(unreadable) - unreadable_before
    for slug, message, field in shaper.finish(rows):
        report.add(slug, message, file=rel, field=field)
    name_mapped_columns(shaper, report.problems[problems_before:], unreadable[unreadable_before:])
    extras = [table.schema.field(n) for n in names]
    holders = list(dict.fromkeys(n.path[0] for n in nested))  # the fields whose structs carry nested extras
    if nested and not table.num_rows:
        nested, holders = [], []  # no row kept one: the fields stay as the schema has them
        table = table.cast(pa.schema([positioned_schema(schema).field(n) if n in schema.source_schema.names else table.schema.field(n) for n in table.column_names]))

    def nested_fields() -> list[tuple[tuple[str, ...], pa.Field]]:
        return [(n.path, nested_field(table.schema.field(n.path[0]).type, n.path[1:], n.key)) for n in nested]

    if extras or nested:
        entry.schema = schema.with_extras(extras, nested_fields())
        published = entry.schema.source_schema  # the types `datasets` gives them (a dictionary column: its values' type)
        for name in [*names, *holders]:
            if table.schema.field(name).type != published.field(name).type:
                table = table.set_column(table.column_names.index(name), published.field(name), table.column(name).cast(published.field(name).type))
        extras = [table.schema.field(n) for n in names]
        entry.schema = schema.with_extras(extras, nested_fields())
    kept = {f.name: str(f.type) for f in extras} | {n.name: str(f.type) for n, (_, f) in zip(nested, nested_fields())}
    report.extras = {"kept": kept, "dropped": [] if shaper.keep else [*shaper.extras, *shaper.nested]}
    if entry.split is not None:
        for key, name in (("group_key", entry.split.group_key), ("stratify_key", entry.split.stratify_key)):
            if name is not None and name not in table.column_names:
                extra = f"; extra fields: {', '.join(names)}" if names else ""
                report.add("bad-split-policy", f"split.{key} {name!r} is neither a field of {schema.record} records nor a column of the source "
                           f"(fields: {', '.join(schema.properties)}{extra})", file=rel, field=f"split.{key}")
        if entry.split.group_key in names and table.num_rows:
            table = reject_keyless(table, entry.split.group_key, report, unreadable)
    return table


def _with_position(table: pa.Table, files: list[str] | str, rows: list[int] | np.ndarray) -> pa.Table:
    """`table` with the source file (one name for all rows, or one per row) and row of each record, for messages and quarantine."""
    if isinstance(files, str):
        where = pa.DictionaryArray.from_arrays(pa.array(np.zeros(table.num_rows, dtype=np.int32)), pa.array([files], pa.string()))
    else:
        where = pa.array(files, pa.string()).dictionary_encode()
    table = table.append_column(FILE, where)
    return table.append_column(ROW, pa.array(rows, pa.int64()))


def positioned_schema(schema: RecordSchema) -> pa.Schema:
    """The source schema with the position columns (`FILE`, `ROW`) the read stage adds."""
    return schema.source_schema.append(pa.field(FILE, pa.dictionary(pa.int32(), pa.string()))).append(pa.field(ROW, pa.int64()))


def _parquet_batches(entry: Entry, schema: RecordSchema, report: Report, unreadable: list, shaper: Shaper, hasher: RowHasher | None = None) -> Iterator[pa.Table]:
    """Each Parquet source file as positioned rows of the source schema and its extra columns,
    a decoded batch at a time; columns that would change silently are reported (once per file,
    from its schema), a batch that does not cast is read row by row (so is every batch of a
    file whose `source.fields` transform values, not only rename columns)."""
    target = schema.source_schema
    if shaper.mapping and hasher is not None:
        hasher.discard()  # the hashes are taken from the columns as the file names them
    for name, path, _ in _source_files(entry):
        file_schema, num_rows = parquet_schema(path, name)
        batches = _hashed(parquet_batches(path, name), hasher)
        if shaper.mapping and not shaper.mapping.renames_only:
            rows = ((name, start + i + 1, r, None) for start, batch in _numbered(batches) for i, r in enumerate(batch.to_pylist()))
            yield from _row_batches(rows, entry, schema, report, unreadable, shaper, total=num_rows)
            continue
        renames, extras, problems = shaper.table_columns(name, file_schema.names)
        for slug, message, field in problems:
            report.add(slug, message, file=name, field=field)
        dropped = [c for c in file_schema.names if c in renames.values() and c not in renames]  # two columns for one field: reported
        names = [renames.get(c, c) for c in file_schema.names if c not in dropped]
        fields = {n: file_schema.field(c).with_name(n) for n, c in zip(names, (c for c in file_schema.names if c not in dropped))}
        types = {n: f.type for n, f in fields.items()}
        kinds, typos = shaper.table_nested(types, target)  # nested extras: kept in their structs
        for column in names:
            if column in target.names:
                for slug, message, field in _silent_changes(types[column], kinds.get(column, target.field(column).type), column, schema.record):
                    if field in shaper.nested:
                        continue  # a nested extra, dropped (source.extras: drop)
                    hint = f": did you mean {typos[field]!r}?" if field in typos else ""
                    report.add(slug, f"column {column!r}: {message}{hint}", file=name, field=field)
        missing = [f for f in target.names if f not in names]
        for column in missing:
            if column in schema.required:
                report.add("missing-field", f"required column {column!r} is missing ({num_rows} rows)", file=name, field=column)
        cast_to = pa.schema([*(f.with_type(kinds[f.name]) if f.name in kinds else f for f in target), *(fields[e] for e in extras)])
        for start, batch in _numbered(batches):
            table = pa.Table.from_batches([batch])
            if dropped:
                table = table.drop_columns(dropped)
            if renames:
                table = table.rename_columns(names)
            for column in missing:
                table = table.append_column(column, pa.nulls(table.num_rows, target.field(column).type))
            table = table.select([*target.names, *extras])
            try:
                table = table.cast(cast_to)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                if hasher is not None:
                    hasher.discard()  # some rows may not become Arrow: the hashes would not line up
                rows = ((name, start + i + 1, r, None) for i, r in enumerate(table.to_pylist()))
                yield from _row_batches(rows, entry, schema, report, unreadable, shaper, total=table.num_rows, mapped=True)
                continue
            yield derive_fields(_with_position(table, name, np.arange(start + 1, start + table.num_rows + 1)), schema)


def _hashed(batches: Iterator[pa.RecordBatch], hasher: RowHasher | None) -> Iterator[pa.RecordBatch]:
    """`batches`, each also handed to `hasher` as it is decoded."""
    for batch in batches:
        if hasher is not None:
            hasher.add(batch)
        yield batch


def _numbered(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(rows before it, batch) for each batch."""
    start = 0
    for batch in batches:
        yield start, batch
        start += batch.num_rows


def _silent_changes(source: pa.DataType, target: pa.DataType, path: str, record: str) -> list[tuple[str, str, str]]:
    """What casting a column of type `source` to `target` would drop or change without an error:
    struct fields the record schema does not have, booleans taken as numbers."""
    if pa.types.is_struct(source) and pa.types.is_struct(target):
        found = []
        for i in range(source.num_fields):
            child = source.field(i)
            if target.get_field_index(child.name) < 0:
                found.append(("unknown-field", f"field {child.name!r} in {path} is not in the {record} record schema", f"{path}.{child.name}"))
            else:
                found += _silent_changes(child.type, target.field(child.name).type, f"{path}.{child.name}", record)
        return found
    lists = (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list)
    if any(f(source) for f in lists) and any(f(target) for f in lists):
        return _silent_changes(source.value_type, target.value_type, f"{path}[]", record)
    if pa.types.is_boolean(source) and (pa.types.is_integer(target) or pa.types.is_floating(target)):
        return [("type-error", f"{path} holds true/false where the {record} record schema wants numbers", path)]
    return []


def _row_batches(rows: Iterable[tuple[str, int, Any, bytes | None]], entry: Entry, schema: RecordSchema, report: Report, unreadable: list,
                 shaper: Shaper, total: int | None = None, mapped: bool = False) -> Iterator[pa.Table]:
    """Positioned Arrow batches (of the positioned schema, then the batch's extra fields) from
    (file, row, record, raw line or None) rows, mapped by `shaper` (unless already `mapped`),
    media resolved; rows that do not fit are reported and kept in `unreadable`."""
    import jsonschema

    target = schema.source_schema
    positioned = positioned_schema(schema)
    validator = jsonschema.Draft202012Validator(schema.json)
    limit = config.max_row_bytes()
    batches: list[pa.Table] = []
    batch: list[dict] = []
    where: list[tuple[str, int]] = []
    extra_rows: list[dict] = []
    nested_rows: list[dict] = []  # per record: its fields whose objects hold nested extras, as they came
    files = "loader" not in entry.data["source"]

    def reject(file: str, row: int, record: Any, slug: str, message: str, field: str | None = None, line: str | None = None,
               more: list[tuple[str, str, str | None]] = ()) -> None:
        """Reject a row for every problem found in it (`more`: those after the first)."""
        problems = [(slug, message, field), *more]
        for s, m, f in problems:
            report.add(s, m, file=file, row=row, field=f, record_id=_id_of(record))
        item = {"file": file, "row": row, "record": record, "problems": [{"slug": s, "message": m, "field": f} for s, m, f in problems]}
        if line is not None:
            item["line"] = line
        unreadable.append(item)

    def flush() -> None:
        if not batch:
            return
        kept = list(range(len(batch)))
        try:
            table = pa.Table.from_pylist(batch, schema=target)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
            kept = []
            for i, (record, (file, row)) in enumerate(zip(batch, where)):  # find the culprits one by one
                try:
                    pa.Table.from_pylist([record], schema=target)
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError) as exc:
                    errors = list(validator.iter_errors(record))[:20]  # every type problem of the row, not the first alone
                    found = [("type-error", f"{'.'.join(str(p) for p in e.absolute_path) or 'record'}: {e.message}"[:500], _path(e)) for e in errors]
                    reject(file, row, record, *(found[0] if found else ("type-error", str(exc)[:500], None)), more=found[1:])
                    continue
                kept.append(i)
            table = pa.Table.from_pylist([batch[i] for i in kept], schema=target)
        extras = [extra_rows[i] for i in kept]
        for name, array in extra_columns(extras, list(dict.fromkeys(k for e in extras for k in e))):
            table = table.append_column(name, array)
        for name in dict.fromkeys(k for i in kept for k in nested_rows[i]):  # the nested extras back in their structs
            values = [nested_rows[i].get(name, batch[i].get(name)) for i in kept]
            array = fold_nested(values, target.field(name).type, shaper.slots[name], [n for n in shaper.nested.values() if n.path[0] == name])
            table = table.set_column(table.column_names.index(name), pa.field(name, array.type), array)
        if kept:
            batches.append(_with_position(table, [where[i][0] for i in kept], [where[i][1] for i in kept]))
        batch.clear()
        where.clear()
        extra_rows.clear()
        nested_rows.clear()

    def image_size(record: dict[str, Any], file: str) -> tuple[int, int] | None:
        """(width, height) of a mapped record's image, for relative boxes; None if it does not open."""
        from PIL import Image as PILImage

        name = next((k for k, kind in schema.media_fields.items() if kind == "Image"), None)
        try:
            value = resolve_media(record.get(name), entry.path, posixpath.dirname(file) if files else "")
            with PILImage.open(io.BytesIO(value["bytes"])) as image:
                return image.size
        except Exception:  # the media checks report the file itself
            return None

    with progress.bar(total, desc=f"reading {entry.id}") as bar:
        for file, row, record, raw in rows:
            bar.update(1)
            if isinstance(record, SourceRowError):
                reject(file, row, None, record.slug, record.message, line=record.line)
                continue
            if not isinstance(record, dict):
                reject(file, row, record, "type-error", f"a record must be an object, not {type(record).__name__}")
                continue
            record, extra, mapping_problems = shaper.row(file, row, record, functools.partial(image_size, file=file), mapped=mapped)
            problem, keys = schema.shape_problem(record)
            nested: dict[str, Any] = {}
            if problem is not None and problem[0] == "unknown-field" and shaper.holds_nested(problem[2]):  # keys inside its objects: nested extras
                record, nested, nested_problems, taken = shaper.take_nested(record)
                problem, keys = schema.shape_problem(record)
                keys += taken
                mapping_problems += nested_problems
            if raw is not None and may_repeat_keys(raw, keys + len(extra)) and (repeated := repeated_key(raw)) is not None:
                problem = _repeated_key_problem(*repeated)
            # Every problem of the row in one pass: its shape, each missing field, each media file.
            found = [problem] if problem is not None else []
            found += mapping_problems
            found += [("missing-field", f"required field {f!r} is missing", f) for f in schema.required if record.get(f) is None and f != entry.split.group_key]
            resolved = dict(record)
            for k in schema.media_fields:
                if k in record:
                    try:
                        resolved[k] = resolve_media(record[k], entry.path, posixpath.dirname(file) if files else "")
                    except (ValueError, FileNotFoundError, OSError) as exc:
                        found.append(("unsafe-path" if "leaves the dataset folder" in str(exc) else "type-error", str(exc), k))
            if found:
                reject(file, row, record, *found[0], more=found[1:])
                continue
            record = resolved
            media = sum(len(v["bytes"]) for k, v in record.items() if k in schema.media_fields and isinstance(v, dict) and isinstance(v.get("bytes"), bytes))
            if raw is not None and media + len(raw) > limit:  # the line and the media files it names
                reject(file, row, record, "oversized-row", f"record is {media + len(raw)} bytes (its line and its media); the limit is {limit} (HUB_MAXROW_BYTES)")
                continue
            if media > limit:  # the rest of a loader's record is counted once it is Arrow (`Checker.check_row_sizes`)
                reject(file, row, record, "oversized-row", f"record is more than {limit} bytes ({media} of media); the limit is {limit} (HUB_MAXROW_BYTES)")
                continue
            batch.append(record)
            where.append((file, row))
            extra_rows.append(extra)
            nested_rows.append(nested)
            if len(batch) >= BATCH:
                flush()
                yield from (derive_fields(_cast_known(b, positioned, shaper.slots), schema) for b in batches)
                batches.clear()
        flush()
        yield from (derive_fields(_cast_known(b, positioned, shaper.slots), schema) for b in batches)


def _cast_known(table: pa.Table, positioned: pa.Schema, slots: dict[str, Any] = {}) -> pa.Table:  # noqa: B006 (read only)
    """`table` with the positioned schema's columns cast to their types (extra fields as they
    are; so are fields whose structs carry nested extras: a cast would drop them)."""
    def keep(name: str) -> bool:
        return name not in positioned.names or (name in slots and table.schema.field(name).type != positioned.field(name).type)

    return table.cast(pa.schema([table.schema.field(n) if keep(n) else positioned.field(n) for n in table.column_names]))


def _repeated_key_problem(where: tuple[str | int, ...], key: str) -> tuple[str, str, str]:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where).lstrip(".")
    place = f"in {path}" if path else "in the record"
    field = ".".join(p for p in (re.sub(r"\[\d+\]", "[]", path), key) if p)
    return "duplicate-key", f"key {key!r} is given twice {place}: JSON keeps only the last value", field


def _path(error: jsonschema.ValidationError) -> str | None:
    parts = [p for p in error.absolute_path if isinstance(p, str)]
    return ".".join(parts) or None


def _id_of(record: Any) -> str | None:
    return str(record["id"]) if isinstance(record, dict) and record.get("id") is not None else None
