"""Reading a dataset's raw data: a loader entry point, JSONL files or Parquet files.

Rows come out as (file, row number, record) for the row-wise sources, or as Arrow tables
for Parquet. Media given as paths are read here, confined to the dataset's folder.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hub.entry import Entry
from hub.errors import SourceError
from hub.hashing import sha256_file

log = logging.getLogger(__name__)

__all__ = ["iter_rows", "parquet_tables", "resolve_media", "safe_path", "source_fingerprint"]


def safe_path(base: Path, relative: str) -> Path:
    """`base / relative`, refusing absolute paths and anything that resolves outside `base`."""
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts or "\\" in relative:
        raise ValueError(f"path {relative!r} leaves the dataset folder")
    full = (base / candidate).resolve()
    if not full.is_relative_to(base.resolve()):
        raise ValueError(f"path {relative!r} leaves the dataset folder (through a link)")
    return full


def resolve_media(value: Any, base: Path) -> Any:
    """Turn a media value into `{"bytes", "path"}`: read a relative path, decode base64 text.

    Values of any other shape are returned as they are, for the type check to report.
    Raises `ValueError` for unsafe or missing paths.
    """
    if isinstance(value, str):
        path = safe_path(base, value)
        if not path.is_file():
            raise FileNotFoundError(f"media file {value!r} does not exist")
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


def iter_rows(entry: Entry) -> Iterator[tuple[str, int, Any]]:
    """(file, 1-based row, record) for loader and JSONL sources.

    A JSONL line that is not JSON is yielded as a `SourceRowError` so validation reports it.
    Lines that are blank or start with `#` are skipped.
    """
    source = entry.data["source"]
    if "loader" in source:
        func = _loader(source["loader"])
        try:
            for number, record in enumerate(func(dict(source.get("options") or {})), start=1):
                yield source["loader"], number, record
        except Exception as exc:
            raise SourceError(f"loader {source['loader']!r} failed: {type(exc).__name__}: {exc}") from exc
        return
    if source["format"] != "jsonl":
        raise SourceError(f"iter_rows does not read {source['format']!r} sources")
    for name, path, _ in _source_files(entry):
        with open(path, encoding="utf-8", errors="strict") as f:
            number = 0
            while True:
                try:
                    line = f.readline()
                except UnicodeDecodeError as exc:
                    yield name, number + 1, SourceRowError(f"not UTF-8 text: {exc.reason}")
                    break
                if not line:
                    break
                number += 1
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                try:
                    yield name, number, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield name, number, SourceRowError(f"not valid JSON: {exc.msg} at column {exc.colno}")


class SourceRowError:
    """A source row that could not even be parsed."""

    def __init__(self, message: str) -> None:
        self.message = message


_READ_BATCH = 65_536  # rows decoded at a time
_READ_BUFFER = 1 << 20  # bytes read from the file at a time


def read_parquet(path: Path, on_batch: Callable[[pa.RecordBatch], Any] | None = None) -> pa.Table:
    """A Parquet file as a table, decoded batch by batch (each handed to `on_batch` as it comes).

    `pq.read_table` (and `iter_batches` with its defaults) first copies a whole row group's
    column chunks into memory (`pre_buffer`, meant for object stores), then decodes. Streaming
    the pages through a 1 MiB buffer and decoding `_READ_BATCH` rows at a time builds the same
    table with far less transient memory: a 339 MB source of 1M nested dialogues reads in
    0.9 s instead of 1.8-2.4 s here (most of the difference is the kernel handing out fresh
    pages), with a peak of 675 MiB instead of 1 GiB.
    """
    batches = []
    with pq.ParquetFile(path, pre_buffer=False, buffer_size=_READ_BUFFER) as file:
        for batch in file.iter_batches(batch_size=_READ_BATCH):
            if on_batch is not None:
                on_batch(batch)
            batches.append(batch)
        return pa.Table.from_batches(batches, schema=file.schema_arrow)


def parquet_tables(entry: Entry, on_batch: Callable[[pa.RecordBatch], Any] | None = None) -> Iterator[tuple[str, pa.Table]]:
    """(file, table) for each Parquet source file; every batch read also goes to `on_batch`."""
    for name, path, _ in _source_files(entry):
        try:
            yield name, read_parquet(path, on_batch)
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(f"source file {name!r} is not readable Parquet: {exc}", path=name) from exc
