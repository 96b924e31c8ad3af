"""Tables larger than memory: Arrow batches spilled to memory-mapped files.

A publish reads its source batch by batch, and every later stage (checks, hashing,
fingerprints, shard writing) goes over the rows in slices. Only holding all the decoded
batches made its memory grow with the rows. A `Spill` takes the batches as they come: below
`config.spill_bytes()` it keeps them in memory; past it, it appends them to Arrow IPC stream
files under the hub's work folder (`.hub/spill/`, on the repository's disk: /tmp may be
memory), and `table()` gives them back as one table whose buffers are memory-mapped. The
kernel pages those in as a stage reads a slice and drops them under pressure (they are the
file's pages, not the process's own), so what the process itself holds is bounded by the
batches in flight. A file is unlinked as soon as it is mapped (its pages stay until the table
goes), a failed read removes what it wrote, and the files of a process that was killed while
writing are removed by the next spill in that repository.

The table is the same either way (same schema and values: a publish writes the same shards,
tests/test_spill.py).

The per-row summaries the whole-dataset decisions need (every row's id hash, group and text
hashes) go the same way: a `Column` appends a batch's values at a time and, past an eighth
of `config.spill_bytes()`, writes them to a raw file there, read back as one memory-mapped
numpy array.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from hub import config
from hub.errors import StorageError

__all__ = ["Column", "Spill", "column", "filtered", "folder", "mapped"]


def folder(root: Path) -> Path:
    """Where a publish in the repository at `root` spills (made when it first does)."""
    from hub.repo import work_dir

    return work_dir(root) / "spill"


class Spill:
    """Tables appended in order (`add`) and read back as one (`table`); spilled to files in
    `where` (None: never) once they hold more than `threshold` bytes (None: `config.spill_bytes()`)."""

    def __init__(self, where: Path | None, threshold: int | None = None) -> None:
        self.where = where
        self.threshold = config.spill_bytes() if threshold is None else threshold
        self.held: list[pa.Table] = []  # in memory, until the threshold
        self.held_bytes = 0
        self.parts: list[Path] = []  # once spilling: the files written, in order
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._schema: pa.Schema | None = None
        self.spilled_bytes = 0

    @property
    def spilling(self) -> bool:
        return bool(self.parts) or self._writer is not None

    def add(self, table: pa.Table) -> None:
        if not self.spilling:
            self.held.append(table)
            self.held_bytes += table.nbytes
            if self.where is None or self.held_bytes <= self.threshold:
                return
            held, self.held = self.held, []
            for t in held:
                self._write(t)
            return
        self._write(table)

    def _write(self, table: pa.Table) -> None:
        try:
            if self._writer is None or table.schema != self._schema:
                self._close()
                if not self.parts:
                    self.where.mkdir(parents=True, exist_ok=True)
                    _remove_stale(self.where)
                path = self.where / f"{os.getpid()}-{uuid.uuid4().hex}.arrows"
                self.parts.append(path)
                self._schema = table.schema
                self._writer = pa.ipc.new_stream(path, table.schema)  # a stream: each batch may carry its own dictionaries
            if table.num_rows:
                self._writer.write_table(table)
                self.spilled_bytes += table.nbytes
        except OSError as exc:  # pyarrow's errors on a full disk are OSErrors too
            self.discard()
            raise StorageError(f"cannot spill decoded rows to {self.where} ({self.spilled_bytes} bytes written so far): {exc}",
                               hint=f"Free space on that disk, or raise HUB_SPILL_BYTES (now {self.threshold}) to keep more rows in memory. "
                                    "Nothing was published.") from exc

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def tables(self) -> list[pa.Table]:
        """What was added, in order: a table per run of one schema (held ones as they came)."""
        if not self.spilling:
            return self.held
        self._close()
        out = []
        for path in self.parts:
            out.append(_mapped(path))
        self.parts = []
        return out

    def table(self, schema: pa.Schema | None = None) -> pa.Table:
        """What was added as one table (of `schema` when nothing was); the tables must share a schema."""
        tables = self.tables()
        if not tables:
            if schema is None:
                raise ValueError("nothing was added and no schema given")
            return schema.empty_table()
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def discard(self) -> None:
        """Remove the files not yet read back (after a failure)."""
        try:
            self._close()
        except OSError:
            pass  # the file goes anyway
        for path in self.parts:
            Path(path).unlink(missing_ok=True)
        self.parts, self.held = [], []


class Column:
    """Numpy values of one dtype appended in order (`append`) and read back as one array
    (`array`): in memory while they hold at most `threshold` bytes (None: an eighth of
    `config.spill_bytes()`), else written as they come to a raw file in `where` (None: never),
    which `array` memory-maps (and unlinks: the mapping keeps its pages)."""

    def __init__(self, dtype: Any, where: Path | None, threshold: int | None = None) -> None:
        self.dtype = np.dtype(dtype)
        self.where = where
        self.threshold = config.spill_bytes() // 8 if threshold is None else threshold
        self.held: list[np.ndarray] = []
        self.nbytes = 0
        self.path: Path | None = None
        self._file: Any = None

    def append(self, values: Any) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        self.nbytes += values.nbytes
        if self._file is None:
            self.held.append(values)
            if self.where is None or self.nbytes <= self.threshold:
                return
            held, self.held = self.held, []
            self._open()
            for part in held:
                self._write(part)
            return
        self._write(values)

    def _open(self) -> None:
        try:
            self.where.mkdir(parents=True, exist_ok=True)
            _remove_stale(self.where)
            self.path = self.where / f"{os.getpid()}-{uuid.uuid4().hex}.column"
            self._file = open(self.path, "wb")
        except OSError as exc:
            self._fail(exc)

    def _write(self, values: np.ndarray) -> None:
        try:
            self._file.write(memoryview(values).cast("B"))
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.discard()
        raise StorageError(f"cannot spill per-row values to {self.where} ({self.nbytes} bytes so far): {exc}",
                           hint=f"Free space on that disk, or raise HUB_SPILL_BYTES (now {config.spill_bytes()}) to keep more in memory. "
                                "Nothing was published.") from exc

    def array(self) -> np.ndarray:
        """Everything appended, as one array (read-only when memory-mapped)."""
        if self._file is None:
            if not self.held:
                return np.empty(0, self.dtype)
            out = self.held[0] if len(self.held) == 1 else np.concatenate(self.held)
            self.held = []
            return out
        try:
            self._file.close()
            self._file = None
            return np.asarray(np.memmap(self.path, dtype=self.dtype, mode="r")) if self.nbytes else np.empty(0, self.dtype)
        except OSError as exc:
            self._fail(exc)
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove the file, if any (its mapping, if any, stays readable)."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None
        self.held = []


def column(values: Any, dtype: Any, where: Path | None, rows: int = 1 << 20, keep: np.ndarray | None = None) -> np.ndarray:
    """`values` (an array, or an Arrow array or chunked array), or its values where `keep` (a
    boolean per value) is true, as a `Column`'s array of `dtype`, copied a chunk at a time:
    memory-mapped in `where` past the `Column`'s threshold."""
    out = Column(dtype, where)
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    start = 0
    for chunk in chunks:
        for lo in range(0, len(chunk), rows):
            part = chunk[lo:lo + rows]
            part = part.to_numpy(zero_copy_only=False) if isinstance(part, pa.Array) else np.asarray(part)
            n = len(part)
            out.append(part if keep is None else part[keep[start:start + n]])
            start += n
    return out.array()


def _remove_stale(where: Path) -> None:
    """Remove the spill files of processes that are gone (killed while writing them)."""
    for path in [*where.glob("*.arrows"), *where.glob("*.column")]:
        pid = path.name.split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except PermissionError:
            pass  # another user's live process


def mapped(path: Path) -> pa.Table:
    """The Arrow IPC stream file at `path` as a table of memory-mapped buffers (its batches as they were written)."""
    return pa.ipc.open_stream(pa.memory_map(str(path))).read_all()


def _mapped(path: Path) -> pa.Table:
    """`mapped(path)`, the file unlinked (the mapping keeps its pages until the table goes)."""
    try:
        return mapped(path)
    finally:
        path.unlink(missing_ok=True)


def filtered(table: pa.Table, keep: Any, where: Path, rows: int = 65_536) -> pa.Table:
    """`table.filter(keep)` (a boolean per row) a slice at a time, spilled as it goes: a
    large table's kept rows are not copied into memory all at once."""
    spill = Spill(where)
    for start in range(0, table.num_rows, rows):
        spill.add(table.slice(start, rows).filter(pa.array(keep[start:start + rows])))
    return spill.table(table.schema)
