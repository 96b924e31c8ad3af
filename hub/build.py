"""The pipeline's steps for one dataset, as DVC stages run them (see dvc.yaml).

`split` builds a candidate version in `.hub/build/<ns>/<name>/`: the split shards, the
leakage certificate, the statistics with their plots and the card. `check` certifies that
build again from its files alone, and fails if any group or duplicate crosses a split.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hub.card import render_card
from hub.entry import load_entry
from hub.errors import HubError, LeakageError
from hub.ids import parse_dataset_id
from hub.publishing import prepare, write_shards
from hub.repo import work_dir
from hub.splits import Assignment, certify
from hub.stats import compute as compute_stats
from hub.stats import plot

__all__ = ["build_dir", "check", "split"]


def build_dir(root: Path, dataset: str) -> Path:
    namespace, name = parse_dataset_id(dataset)
    return work_dir(root) / "build" / namespace / name


def split(root: Path, dataset: str, *, allow_leaks: bool = False, allow_moves: bool = False) -> dict[str, Any]:
    """Validate and split `dataset` into its build folder; return the summary and certificate.

    Raises `ValidationFailed`, `LeakageError` (a given or time split that leaks, unless
    `allow_leaks`) or `SplitsWouldMove` (unless `allow_moves`), as publishing does. The folder
    is replaced whole, by rename.
    """
    prepared = prepare(root, dataset, allow_leaks=allow_leaks, allow_moves=allow_moves)
    entry, assignment = prepared.entry, prepared.assignment
    out = build_dir(root, dataset)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "data").mkdir(parents=True)
    splits, files = write_shards(tmp, prepared.table, assignment.index, assignment.names, entry, prepared.certificate)
    stats = compute_stats(prepared.table, assignment.index, assignment.names, entry, prepared.certificate)
    stats["plots"] = plot(stats, tmp / "plots", entry.id)
    summary = {"dataset": dataset, "path": str(out), "parent": prepared.parent, "splits": splits,
               "files": [{k: v for k, v in f.items() if k != "md5"} for f in files], "certificate": prepared.certificate}
    (tmp / "leakage.json").write_text(json.dumps(prepared.certificate, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp / "split.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    card = render_card(entry, entry.schema.features, splits, "(unpublished build)", {"certificate": prepared.certificate}, stats["plots"])
    (tmp / "README.md").write_text(card, encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    return summary


def check(root: Path, dataset: str, *, allow_leaks: bool = False) -> dict[str, Any]:
    """Certify the build of `dataset` from its Parquet files alone; return the certificate.

    Raises `HubError` if there is no build, `LeakageError` if a group or a duplicate cluster
    lies in two splits, unless `allow_leaks` (a corpus' own splits kept as they are: the
    certificate, which then says `holds: false`, is returned).
    """
    out = build_dir(root, dataset)
    files = sorted((out / "data").glob("*.parquet"))
    if not files:
        raise HubError(f"{dataset} has no build to check in {out}", hint=f"Run `hub split {dataset}` (or `dvc repro`) first.", dataset=dataset)
    entry = load_entry(root, dataset)
    entry.report.raise_for_problems()
    names = list(entry.split.ratios)
    tables, index = [], []
    for path in files:
        table = pq.read_table(path)
        split_name = path.name.split("-")[0]
        tables.append(table)
        index.append(np.full(table.num_rows, names.index(split_name), dtype=np.int8))
    table = pa.concat_tables(tables)
    from hub.dedup import find_duplicates

    thresholds = entry.split.thresholds()
    assignment = Assignment(np.concatenate(index), names, 0, 0, find_duplicates(table, entry.schema.record, thresholds), thresholds)
    certificate = certify(table, assignment, entry.split, list(entry.schema.labels), record=entry.schema.record)
    for key in ("records_moved", "moves", "groups_tied_by_duplicates"):  # properties of the assignment, not of the files
        certificate.pop(key, None)
    if not certificate["holds"] and not allow_leaks:
        raise LeakageError(
            f"{dataset}: the build leaks: {certificate['groups_crossing_splits']} groups and "
            f"{certificate['duplicate_clusters_crossing_splits']} duplicate clusters cross splits",
            hint=("Rebuild with `hub split`; if it persists, it is a bug in the split engine: report it with the certificate."
                  if entry.split.mode == "hash" else "The corpus' own splits cross: fix them, or pass --allow-leaks to keep them as they are (the card says how much leaks)."),
            dataset=dataset, certificate=certificate,
        )
    return certificate
