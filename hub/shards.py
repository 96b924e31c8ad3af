"""Writing a table's splits as Parquet shards in one pass, on every core.

Each split's rows, in table order, are cut into row groups of `ROW_GROUP` rows; row group j
of a split goes to shard `j % k` of that split, so the k shards of a large split fill side by
side. Every shard belongs to one of `lanes` writer threads (shards dealt to lanes in turn);
a lane writes its queue in order, so each shard's row groups keep their order. The routing
thread only finds which rows of a batch go where; the lane gathers them (`take`) and encodes
them, both of which release the GIL, so the copy and the Parquet encoding run on as many
cores as there are lanes. Queues are bounded: at most two row groups wait per lane, whatever
the table's size.

A shard holds at most `per_shard` rows: k is chosen so that round-robin never gives a shard
more row groups than fit.

`ShardWriter` is the stage over batches (`hub.batches`): it takes the data one batch at a time,
given the summaries it needs first (`ShardPlan`: rows per split, the Parquet encodings from a
sample of the first rows); `write_splits` is its whole-table form, which `hub publish` calls.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hub import config, engine
from hub.arrowutil import is_list_type
from hub.hashing import HashingWriter

__all__ = ["ROW_GROUP", "ShardPlan", "ShardWriter", "sample_rows", "shard_total", "write_shard", "write_splits", "writer_options"]

ROW_GROUP = 100_000

# A piece of a row group: a batch and the positions of its rows that belong there (None: all).
# The writer thread takes the rows (the copy runs on the lanes, not on the routing thread).
_Part = tuple[pa.RecordBatch, pa.Array | None]


@dataclass
class _Shard:
    path: Path
    rel: str
    split: str
    schema: pa.Schema
    hashed: bool
    rows: int = 0
    sink: Any = None
    writer: pq.ParquetWriter | None = None
    info: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # ParquetWriter keywords (`writer_options`)

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.sink = HashingWriter(self.path) if self.hashed else open(self.path, "wb")
            self.writer = pq.ParquetWriter(self.sink, self.schema, **self.options)
        self.writer.write_table(table, row_group_size=table.num_rows)
        self.rows += table.num_rows

    def close(self) -> dict[str, Any]:
        if self.writer is not None:
            self.writer.close()
            self.sink.close()
        info = {"path": self.rel, "split": self.split, "rows": self.rows, "size": self.path.stat().st_size}
        if self.hashed:
            info.update(sha256=self.sink.sha256, md5=self.sink.md5)
        return info


class _Lane:
    """One writer thread and its bounded queue of (shard, row group)."""

    def __init__(self, name: str) -> None:
        self.queue: queue.Queue[tuple[_Shard, list[_Part]] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:  # after a failure, keep draining so the producer never blocks
                try:
                    shard, parts = item
                    shard.write(pa.Table.from_batches([batch if rows is None else batch.take(rows) for batch, rows in parts]))
                except BaseException as exc:
                    self.error = exc

    def put(self, shard: _Shard, parts: list[_Part]) -> None:
        self.queue.put((shard, parts))

    def finish(self) -> None:
        self.queue.put(None)
        self.thread.join()


class _Direct:
    """A lane that writes in the caller's thread, and only shard `only`'s row groups (the others
    are routed as ever, then dropped): how one Ray task writes one shard (`write_shard`)."""

    error = None
    shard: _Shard | None = None  # set once the writer has made its shards

    def put(self, shard: _Shard, parts: list[_Part]) -> None:
        if shard is self.shard:
            shard.write(pa.Table.from_batches([batch if rows is None else batch.take(rows) for batch, rows in parts]))

    def finish(self) -> None:
        pass


class _Split:
    """Routes one split's rows: row groups in table order, dealt to its shards in turn."""

    def __init__(self, shards: list[tuple[_Shard, _Lane]], group_rows: int) -> None:
        self.shards, self.group_rows = shards, group_rows
        self.pending: list[_Part] = []
        self.pending_rows = 0
        self.groups = 0

    def add(self, batch: pa.RecordBatch, rows: np.ndarray | None) -> None:
        """Route `batch`'s `rows` (positions, ascending; None: all of them) to this split's row groups."""
        while (n := batch.num_rows if rows is None else len(rows)):
            room = self.group_rows - self.pending_rows
            if rows is None:
                head, batch = (batch.slice(0, room), None), batch.slice(room)
            else:
                head, rows = (batch, pa.array(rows[:room])), rows[room:]
            self.pending.append(head)
            self.pending_rows += min(n, room)
            if self.pending_rows == self.group_rows:
                self.flush()

    def flush(self) -> None:
        if self.pending_rows:
            shard, lane = self.shards[self.groups % len(self.shards)]
            lane.put(shard, self.pending)
            self.groups += 1
            self.pending, self.pending_rows = [], 0


_SAMPLE_ROWS, _SAMPLE_BYTES = 100_000, 64 << 20


def _leaves(array: pa.Array, path: str) -> Iterator[tuple[str, pa.Array]]:
    """(Parquet column path, values) of every leaf column under `array`."""
    if pa.types.is_struct(array.type):
        for field_, child in zip(array.type, array.flatten()):
            yield from _leaves(child, f"{path}.{field_.name}")
    elif is_list_type(array.type):
        yield from _leaves(array.flatten(), f"{path}.list.element")
    else:
        yield path, array


def _repetitive(values: pa.Array) -> bool:
    """At most half the values distinct (types without a dictionary encoding: never)."""
    if not len(values) or pa.types.is_boolean(values.type) or pa.types.is_null(values.type):
        return False
    try:
        return pc.count_distinct(values).as_py() <= len(values) // 2
    except pa.ArrowNotImplementedError:
        return False


def sample_rows(row_bytes: int) -> int:
    """Rows of the sample that `writer_options` looks at, for rows of `row_bytes` bytes on average."""
    return max(1, min(_SAMPLE_ROWS, _SAMPLE_BYTES // max(1, row_bytes)))


def writer_options(table: pa.Table, row_bytes: int | None = None) -> dict[str, Any]:
    """Parquet writer options for `table`, from a sample of its first rows, and the codec
    (`HUB_PARQUET_COMPRESSION`, zstd by default: `hub.config.PARQUET_CODECS`).

    The sample is the first `sample_rows(row_bytes)` rows, `row_bytes` being the mean bytes of a
    row of the whole data (default: of `table`), so `table` need only hold the first rows: a
    per-batch writer (`ShardWriter`) passes the first batches and the mean it summed.

    Dictionary encoding only for the columns where it pays (at most half the sampled values
    distinct: labels, languages, speakers), not for free text, media bytes or samples, where
    the writer would hash every value only to fall back to plain encoding. Min/max statistics
    only for top-level columns (ids, keys, labels: what a query can skip row groups by), not
    for values nested in lists and structs, which no reader filters on.
    """
    if row_bytes is None:
        row_bytes = max(1, table.nbytes // max(1, table.num_rows))
    sample = table.slice(0, sample_rows(row_bytes)).combine_chunks()
    dictionary, statistics = [], []
    for name, column in zip(sample.column_names, sample.columns):
        for path, values in _leaves(column.combine_chunks() if column.num_chunks != 1 else column.chunk(0), name):
            if "." not in path:
                statistics.append(path)
            if _repetitive(values):
                dictionary.append(path)
    codec, level = config.parquet_compression()
    return {"use_dictionary": dictionary, "write_statistics": statistics, "compression": codec, "compression_level": level}


def shard_count(rows: int, per_shard: int) -> tuple[int, int]:
    """(row group size, number of shards) for a split of `rows` rows, at most `per_shard` a shard."""
    group = max(1, min(ROW_GROUP, per_shard))
    groups = -(-rows // group)
    per = max(1, per_shard // group)  # row groups that fit in one shard
    return group, max(1, -(-groups // per))


@dataclass(frozen=True)
class ShardPlan:
    """What the shard-writing stage must know before its first row: summaries of the whole data.

    `counts` (rows per split, from the split assignment) fix every split's row group size and
    shard count (`shard_count`), so the file names `NNNNN-of-MMMMM` are known up front;
    `options` (`writer_options`, from a sample of the first rows) fix the Parquet encodings,
    which must be the same in every shard.
    """

    names: list[str]
    counts: list[int]
    per_shard: int
    schema: pa.Schema
    options: dict[str, Any]


class ShardWriter:
    """The shard-writing stage over batches: `write(batch, split)` for consecutive batches, in
    order, then `close()` for the shards' files (path, split, rows, size, sha256, md5).

    A batch's rows go to their split's pending row group; a full row group goes to its shard's
    writer thread. So at most one row group per split waits here (and two per lane in the
    queues), whatever the data's size, and the shards are the same bytes however the batches
    were cut: row groups are cut by split rows, not by batches (tests/test_versions.py).
    Writing more rows to a split than `plan.counts` says is refused: the shard count was
    fixed by it.
    """

    def __init__(self, folder: Path, plan: ShardPlan, *, hashed: bool = True, lanes: int | None = None, only: int | None = None) -> None:
        self.plan = plan
        self.only = only  # write only the shard of this number (in plan order), in this thread
        self.lanes: list[Any] = [_Direct()] if only is not None else [_Lane(f"hub-write-{i}") for i in range(lanes or max(1, min(4, os.cpu_count() or 1)))]
        self.routers: dict[int, _Split] = {}
        self.shards: list[_Shard] = []
        self.written = [0] * len(plan.names)
        for i, name in enumerate(plan.names):
            if not plan.counts[i]:
                continue
            group, k = shard_count(int(plan.counts[i]), plan.per_shard)
            shards = []
            for s in range(k):
                rel = f"data/{name}-{s:05d}-of-{k:05d}.parquet"
                shard = _Shard(folder / rel, rel, name, plan.schema, hashed, options=plan.options)
                shards.append((shard, self.lanes[len(self.shards) % len(self.lanes)]))
                self.shards.append(shard)
            self.routers[i] = _Split(shards, group)
        if only is not None:
            self.lanes[0].shard = self.shards[only]
        self.closed = False

    def write(self, batch: pa.RecordBatch | pa.Table, split: np.ndarray) -> None:
        """Write `batch`'s rows, row r to split `split[r]` (an index into `plan.names`)."""
        if len(split) != batch.num_rows:
            raise ValueError(f"{len(split)} split numbers for a batch of {batch.num_rows} rows")
        if len(split) and not 0 <= int(split.min()) <= int(split.max()) < len(self.plan.names):
            raise ValueError(f"split numbers must be from 0 to {len(self.plan.names) - 1}")
        batches = batch.to_batches() if isinstance(batch, pa.Table) else [batch]
        offset = 0
        for part in batches:
            idx = split[offset : offset + part.num_rows]
            offset += part.num_rows
            for i, router in self.routers.items():
                rows = np.flatnonzero(idx == i)
                if not len(rows):
                    continue
                self.written[i] += len(rows)
                if self.written[i] > self.plan.counts[i]:
                    raise ValueError(f"split {self.plan.names[i]!r} got more rows than its plan's {self.plan.counts[i]}")
                router.add(part, None if len(rows) == part.num_rows else rows)

    def close(self) -> list[dict[str, Any]]:
        """Flush, wait for the writers and return one dict per shard, shards of a split in order.
        Raises what a writer raised, or ValueError when a split got fewer rows than planned
        (the files are then incomplete)."""
        try:
            for router in self.routers.values():
                router.flush()
        finally:
            self._finish()
        for lane in self.lanes:
            if lane.error is not None:
                raise lane.error
        short = [f"{name} {self.written[i]} of {self.plan.counts[i]}" for i, name in enumerate(self.plan.names) if self.written[i] != self.plan.counts[i]]
        if short:
            raise ValueError(f"splits got fewer rows than planned: {', '.join(short)}")
        return [shard.close() for n, shard in enumerate(self.shards) if self.only in (None, n)]

    def _finish(self) -> None:
        if not self.closed:
            self.closed = True
            for lane in self.lanes:
                lane.finish()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._finish()  # after a failure the threads still end; `close` is the caller's on success


def write_splits(
    folder: Path,
    table: pa.Table,
    split_idx: np.ndarray,
    names: list[str],
    per_shard: int,
    *,
    hashed: bool = True,
    lanes: int | None = None,
    progress: Callable[[int], Any] | None = None,
) -> list[dict[str, Any]]:
    """Write `data/{split}-NNNNN-of-MMMMM.parquet` under `folder` for every non-empty split;
    return one dict per shard (path, split, rows, size, and with `hashed` sha256 and md5),
    shards of a split in order. Raises what a writer raised (the files are then incomplete).

    The whole-table form of `ShardWriter`: the plan's summaries from `table`, then its batches.
    """
    counts = np.bincount(split_idx, minlength=len(names))
    plan = ShardPlan(list(names), [int(c) for c in counts], per_shard, table.schema, writer_options(table))
    if engine.name() != "local":
        rows = folder / ".rows.arrows"  # the rows the tasks read, memory-mapped (not through Ray's object store)
        with pa.ipc.new_stream(rows, table.schema) as sink:
            for batch in table.to_batches(max_chunksize=ROW_GROUP):  # `_batches`' batches: the same bytes as here
                sink.write_batch(batch)
        try:
            files = engine.run(write_shard, range(shard_total(plan)), _Job(folder, rows, split_idx, plan, hashed))
        finally:
            rows.unlink(missing_ok=True)
        if progress:
            progress(table.num_rows)
        return [info for part in files for info in part]
    with ShardWriter(folder, plan, hashed=hashed, lanes=lanes) as writer:
        for batch, split in _batches(table, split_idx):
            writer.write(batch, split)
            if progress:
                progress(batch.num_rows)
        return writer.close()


def _batches(table: pa.Table, split_idx: np.ndarray) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
    offset = 0
    for batch in table.to_batches(max_chunksize=ROW_GROUP):
        yield batch, split_idx[offset : offset + batch.num_rows]
        offset += batch.num_rows


def shard_total(plan: ShardPlan) -> int:
    """How many shards `plan` makes, all splits together."""
    return sum(shard_count(c, plan.per_shard)[1] for c in plan.counts if c)


@dataclass(frozen=True)
class _Job:
    """What every shard's task shares (`write_shard`'s context): put once in Ray's object store.
    The rows are a file the workers map (`rows`, an Arrow IPC stream in the staging folder, which
    they can read as they write the shards there): the store holds the split index, not the data."""

    folder: Path
    rows: Path
    split_idx: np.ndarray
    plan: ShardPlan
    hashed: bool


def write_shard(number: int, job: _Job) -> list[dict[str, Any]]:
    """Shard `number` (in plan order) of `job`, written alone: `[its file's dict]`.

    The form of the stage that an engine maps over shard numbers (`hub.engine.run`: a Ray
    task each). It routes every row as `ShardWriter` does and keeps only its own row groups,
    so the shard is the same bytes as the one written in process (tests/test_engine_ray.py).
    The folder must be one the workers can write: the local disk on a local Ray, shared
    storage on a cluster of several machines.
    """
    from hub.spill import mapped

    writer = ShardWriter(job.folder, job.plan, hashed=job.hashed, only=number)
    for batch, split in _batches(mapped(job.rows), job.split_idx):
        writer.write(batch, split)
    return writer.close()
