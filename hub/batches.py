"""Stages as functions over Arrow batches: how one is written, and the in-process engine.

The data of a dataset goes source -> read -> check -> hash -> split -> write. Each stage that
looks at rows is a function of one batch, so that the in-process engine here and a distributed
one (Ray Data mapping the same functions over its blocks, #18) run the same code:

    stage(batch: pa.Table, ctx) -> part

- `batch` is a slice of consecutive rows as the read stage gives them
  (`hub.sources.read_batches`: the record's columns plus `FILE` and `ROW`, each row's source
  file and 1-based row, media resolved to bytes). It may have any number of rows, one or all.
- `ctx` holds what is the same for every batch of the dataset (the record schema, the entry):
  read-only, and nothing a stage learns goes into it.
- The stage holds nothing between calls. What it returns is either Arrow rows (batch to
  batch) or a small *part*: what it found in this batch, by the batch's own row numbers, and
  the summary that a check across rows needs (every row's id hash, say), never the batch
  itself beyond zero-copy slices of a few columns.
- Parts merge in batch order: a `merge`/`finish` function takes the parts of consecutive
  batches, numbers each batch's rows on from the previous one's, concatenates the summaries
  and only then runs what looks across rows. The result must not depend on where the batches
  were cut (tests/test_stages_batches.py checks 1, 7 and all rows at a time).

The stages written this way:

| stage  | per batch                       | merge                                          |
|--------|---------------------------------|------------------------------------------------|
| read   | `hub.sources.read_batches`      | `hub.sources.read_table` (one schema for the extra fields) |
| check  | `hub.checks.check_batch`        | `hub.checks.finish_checks` (repeated ids; problems by check, then row) |
| hash   | `hub.splits.hash_rows`          | `hub.splits.RowHashes.merge`                   |
| fingerprint | `hub.fingerprints.fingerprint_batch` | `hub.fingerprints.table_of` (concatenated; the data's row count in the context) |
| write  | `hub.shards.ShardWriter.write`  | `ShardWriter.close` (the shards' files, sizes and checksums) |

Split assignment (`hub.splits.assign_leakproof`) is one decision over the merged hashes of all
rows: groups, duplicate clusters and balancing look at every row. Shard writing is a stage
over batches with a plan made first (`hub.shards.ShardPlan`): the rows per split (from the
assignment) fix each split's shard count and file names, and the Parquet encodings
(`writer_options`) come from a sample of the first rows sized by the mean row bytes (a sum
over the batches). Each batch's rows then go to their split's pending row group (cut by
split rows, not by batches, so the bytes do not depend on the batches), and full row groups
to the writer threads; the part it returns, at `close`, is each shard's path, rows, size and
checksums. `hub.shards.write_splits`, which `hub publish` calls, is its whole-table form.
Unlike check and hash, it writes: it is the sink, and it takes the batches in order.

In process, reading still ends in one table (`read_table` unifies the batches' extra fields and
the annotation overlay applies to it), which `validate_entry` then checks `CHECK_BATCH` rows at
a time. Past `HUB_SPILL_BYTES` that table's batches are memory-mapped files (`hub.spill`), as
are the valid rows after a reject and the fingerprint table; past an eighth of it, so are the
per-row summaries the merges gather (every row's id, group and text hash: `hub.spill.Column`),
and repeated hashes are found a partition of their top bits at a time
(`hub.arrowutil.repeated_rows`). What the process itself holds is then the batches in flight,
a few bytes a row (group codes, the split index) and the split engine's tables per group.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

__all__ = ["slices"]


def slices(table: pa.Table, rows: int | None) -> Iterator[pa.Table]:
    """`table` as consecutive zero-copy slices of at most `rows` rows (None: the table itself, as one)."""
    if rows is None or table.num_rows <= rows:
        yield table
        return
    for start in range(0, table.num_rows, rows):
        yield table.slice(start, rows)
