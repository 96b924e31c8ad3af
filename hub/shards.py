"""Writing a table's splits as Parquet shards in one pass, on every core.

Each split's rows, in table order, are cut into row groups of `ROW_GROUP` rows; row group j
of a split goes to shard `j % k` of that split, so the k shards of a large split fill side by
side. Every shard belongs to one of `lanes` writer threads (shards dealt to lanes in turn);
a lane writes its queue in order, so each shard's row groups keep their order, and Parquet
encoding (which releases the GIL) runs on as many cores as there are lanes. Queues are
bounded: at most two row groups wait per lane, whatever the table's size.

A shard holds at most `per_shard` rows: k is chosen so that round-robin never gives a shard
more row groups than fit.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hub.hashing import HashingWriter

__all__ = ["ROW_GROUP", "write_splits"]

ROW_GROUP = 100_000


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

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.sink = HashingWriter(self.path) if self.hashed else open(self.path, "wb")
            self.writer = pq.ParquetWriter(self.sink, self.schema)
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
        self.queue: queue.Queue[tuple[_Shard, pa.Table] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:  # after a failure, keep draining so the producer never blocks
                try:
                    item[0].write(item[1])
                except BaseException as exc:
                    self.error = exc

    def put(self, shard: _Shard, table: pa.Table) -> None:
        self.queue.put((shard, table))

    def finish(self) -> None:
        self.queue.put(None)
        self.thread.join()


class _Split:
    """Routes one split's rows: row groups in table order, dealt to its shards in turn."""

    def __init__(self, shards: list[tuple[_Shard, _Lane]], group_rows: int) -> None:
        self.shards, self.group_rows = shards, group_rows
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0
        self.groups = 0

    def add(self, batch: pa.RecordBatch) -> None:
        while batch.num_rows:
            head, batch = batch.slice(0, self.group_rows - self.pending_rows), batch.slice(self.group_rows - self.pending_rows)
            self.pending.append(head)
            self.pending_rows += head.num_rows
            if self.pending_rows == self.group_rows:
                self.flush()

    def flush(self) -> None:
        if self.pending_rows:
            shard, lane = self.shards[self.groups % len(self.shards)]
            lane.put(shard, pa.Table.from_batches(self.pending))
            self.groups += 1
            self.pending, self.pending_rows = [], 0


def shard_count(rows: int, per_shard: int) -> tuple[int, int]:
    """(row group size, number of shards) for a split of `rows` rows, at most `per_shard` a shard."""
    group = max(1, min(ROW_GROUP, per_shard))
    groups = -(-rows // group)
    per = max(1, per_shard // group)  # row groups that fit in one shard
    return group, max(1, -(-groups // per))


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
    """
    counts = np.bincount(split_idx, minlength=len(names))
    lanes_ = [_Lane(f"hub-write-{i}") for i in range(lanes or max(1, min(4, os.cpu_count() or 1)))]
    routers: dict[int, _Split] = {}
    all_shards: list[_Shard] = []
    for i, name in enumerate(names):
        if not counts[i]:
            continue
        group, k = shard_count(int(counts[i]), per_shard)
        shards = []
        for s in range(k):
            rel = f"data/{name}-{s:05d}-of-{k:05d}.parquet"
            shard = _Shard(folder / rel, rel, name, table.schema, hashed)
            shards.append((shard, lanes_[len(all_shards) % len(lanes_)]))
            all_shards.append(shard)
        routers[i] = _Split(shards, group)
    try:
        offset = 0
        for batch in table.to_batches(max_chunksize=ROW_GROUP):
            idx = split_idx[offset : offset + batch.num_rows]
            offset += batch.num_rows
            for i, router in routers.items():
                rows = np.flatnonzero(idx == i)
                if len(rows) == batch.num_rows:
                    router.add(batch)
                elif len(rows):
                    router.add(batch.take(pa.array(rows)))
            if progress:
                progress(batch.num_rows)
        for router in routers.values():
            router.flush()
    finally:
        for lane in lanes_:
            lane.finish()
    for lane in lanes_:
        if lane.error is not None:
            raise lane.error
    return [shard.close() for shard in all_shards]
