"""Contamination: records of one dataset that are another dataset's test or validation records.

A test set is a standard only while nobody trains on it. `check` puts a table of records (a
dataset about to be published, or any Parquet data) beside the test and validation splits of
every other dataset of the hub with the same record type (the latest version of each), and runs
the split engine's own duplicate finder (`hub.dedup.find_duplicates`: exact and near, with the
same thresholds) over the union. A duplicate cluster holding rows of both sides is a match.

`publish` refuses a dataset whose train split matches another dataset's test or validation
records (`Contaminated`), unless `allow_contamination`; then the manifest, the card and the
dataset page say which test sets are contaminated and by how much. Matches of the new dataset's
own test or validation splits are reported too (informational: its test set is someone's
training data, or two test sets overlap).

How far this goes: the reference splits are read whole for each check (their shards verified
against their manifests first), so its memory grows with the hub's test splits; a persistent
fingerprint index per version (band keys in the catalog) is the way past that, and is not built.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hub.errors import HubError, StorageError

log = logging.getLogger(__name__)

__all__ = ["REFERENCE_SPLITS", "Contaminated", "Match", "check", "check_path", "raise_if_contaminated", "references", "refusing", "write_report"]

REFERENCE_SPLITS = ("test", "validation")  # the splits of other datasets that must stay out of anyone's training data
FIRST_IDS = 5  # ids named per match in messages (the report file lists them all)


class Contaminated(HubError):
    """A dataset's training records are another dataset's test or validation records."""

    hint = ("Drop those records from the training data (the report lists every id), or publish anyway with "
                    "--allow-contamination: the card, the certificate and the dataset page then name the test sets it contains.")


@dataclass
class Match:
    """The records of one of our splits that are records of one split of another dataset."""

    dataset: str  # the other dataset, and its version and split
    version: str
    split: str
    ours: str  # our split
    rows: int  # our rows that match
    exact: int  # of them, identical content
    near: int  # of them, near duplicates only
    ids: list[str] = field(default_factory=list)  # our ids (every one)
    their_ids: list[str] = field(default_factory=list)  # theirs, every one

    @property
    def reference(self) -> str:
        return f"{self.dataset}@{self.version} {self.split}"

    def sentence(self) -> str:
        return (f"{self.rows} records of {self.ours} match {self.reference} (exact: {self.exact}, near: {self.near}); "
                f"first ids: {', '.join(self.ids[:FIRST_IDS])}")

    def to_dict(self, all_ids: bool = True) -> dict[str, Any]:
        ids = self.ids if all_ids else self.ids[:FIRST_IDS]
        their = self.their_ids if all_ids else self.their_ids[:FIRST_IDS]
        return {"dataset": self.dataset, "version": self.version, "split": self.split, "ours": self.ours, "rows": self.rows,
                "exact": self.exact, "near": self.near, "ids": ids, "their_ids": their}


@dataclass
class Reference:
    """A test or validation split of another dataset, read and verified."""

    dataset: str
    version: str
    split: str
    table: pa.Table


def references(root: Path, record: str, *, exclude: str | None = None, only: str | None = None) -> list[Reference]:
    """The test and validation splits of the latest version of every dataset of `record`'s type
    (but `exclude`; or only the dataset `only`, `ns/name` or `ns/name@X.Y.Z`), their shards
    checked against their manifests. Raises `StorageError` for a shard that does not match."""
    from hub.entry import registered
    from hub.hashing import sha256_file
    from hub.ids import parse_ref
    from hub.store import resolve_revision
    from hub.versions import published_versions

    wanted_dataset, wanted_version = parse_ref(only) if only else (None, None)
    found = []
    for dataset in registered(root):
        if dataset == exclude or (wanted_dataset and dataset != wanted_dataset):
            continue
        try:
            versions = published_versions(root / "registry" / dataset / "versions")
            if not versions:
                continue
            revision = resolve_revision(root, dataset, wanted_version or versions[-1])
        except HubError as exc:  # a broken entry or version: the catalog reports it
            log.warning("contamination check skips %s: %s", dataset, exc.message)
            continue
        if revision.manifest.get("record") != record:
            continue
        revision.ensure_data()
        for split in REFERENCE_SPLITS:
            files = [f for f in revision.manifest.get("files", []) if f.get("split") == split]
            if not files:
                continue
            tables = []
            for f in files:
                path = revision.path / f["path"]
                if sha256_file(path) != f["sha256"]:
                    raise StorageError(f"{dataset}@{revision.version}: {f['path']} does not match the sha256 of its manifest",
                                       hint="The published data was changed on disk: restore it with `dvc checkout` (or `dvc pull`).",
                                       dataset=dataset, version=revision.version, path=f["path"])
                tables.append(pq.read_table(path))
            found.append(Reference(dataset, revision.version, split, pa.concat_tables(tables, promote_options="permissive")))
    return found


def check(root: Path, record: str, table: pa.Table, split_of_row: np.ndarray, names: list[str], *, thresholds: Any = None,
          exclude: str | None = None, only: str | None = None) -> list[Match]:
    """Every match of `table`'s rows (split `names[split_of_row[i]]`) with another dataset's test
    or validation records, largest first."""
    from hub.dedup import Thresholds, find_duplicates

    refs = references(root, record, exclude=exclude, only=only)
    if not refs or not table.num_rows:
        return []
    parts = _aligned([table] + [r.table for r in refs])
    union = pa.concat_tables(parts)
    owner = np.concatenate([np.full(table.num_rows, -1, dtype=np.int64)] + [np.full(r.table.num_rows, i, dtype=np.int64) for i, r in enumerate(refs)])
    local = np.concatenate([np.arange(table.num_rows)] + [np.arange(r.table.num_rows) for r in refs])
    try:
        duplicates = find_duplicates(union, record, thresholds or Thresholds())
    except KeyError as exc:  # a column the record type fingerprints is missing, or of another type than the hub's
        raise HubError(f"nothing to compare: the records have no usable {exc.args[0]} for the {record} duplicate check",
                       hint=f"The data needs the {record} record's fields, of the types the hub publishes (`hub show` a {record} dataset's features).") from None
    if not len(duplicates.rows):
        return []
    exact_keys = _exact_keys(duplicates)
    ours_ids = table.column("id").to_pylist()
    matches: dict[tuple[int, int], dict[str, Any]] = {}
    order = np.argsort(duplicates.keys, kind="stable")
    rows, keys = duplicates.rows[order], duplicates.keys[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    for start, end in zip(starts, np.r_[starts[1:], len(keys)]):
        members = rows[start:end]
        who = owner[members]
        if not (who < 0).any() or not (who >= 0).any():
            continue
        exact = bool(exact_keys[keys[start]])
        for ref in np.unique(who[who >= 0]).tolist():
            theirs = local[members[who == ref]].tolist()
            for ours in local[members[who < 0]].tolist():
                m = matches.setdefault((int(split_of_row[ours]), ref), {"rows": {}, "theirs": set()})
                m["rows"][ours] = m["rows"].get(ours, False) or exact
                m["theirs"].update(theirs)
    out = []
    for (ours_split, ref), m in matches.items():
        r = refs[ref]
        their_ids = r.table.column("id").to_pylist()
        ours_rows = sorted(m["rows"])
        exact = sum(1 for row in ours_rows if m["rows"][row])
        out.append(Match(r.dataset, r.version, r.split, names[ours_split], len(ours_rows), exact, len(ours_rows) - exact,
                         [ours_ids[row] for row in ours_rows], [their_ids[row] for row in sorted(m["theirs"])]))
    return sorted(out, key=lambda m: (-m.rows, m.dataset, m.split, m.ours))


def refusing(matches: list[Match], train: str = "train") -> list[Match]:
    """The matches that block a publish: our training records in someone's test or validation split."""
    return [m for m in matches if m.ours == train]


def write_report(root: Path, dataset: str, matches: list[Match]) -> Path:
    """`.hub/reports/<ns>/<name>/contamination.json`, with every id."""
    from hub.repo import work_dir

    path = work_dir(root) / "reports" / dataset / "contamination.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"dataset": dataset, "matches": [m.to_dict() for m in matches]}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def raise_if_contaminated(root: Path, dataset: str, matches: list[Match]) -> None:
    """`Contaminated`, naming every test set our train split holds records of (and the report)."""
    blocking = refusing(matches)
    if not blocking:
        return
    report = write_report(root, dataset, matches)
    lines = "; ".join(m.sentence() for m in blocking)
    raise Contaminated(f"{dataset}: {lines}; see {report.relative_to(root)}", dataset=dataset,
                       matches=[m.to_dict(all_ids=False) for m in blocking], report=str(report.relative_to(root)))


def check_path(root: Path, path: Path, record: str, *, only: str | None = None) -> list[Match]:
    """`check` for data outside the registry: a Parquet file or folder, or a `datasets`
    `save_to_disk` folder, read as `hub audit` reads them (`hub.audit.read_splits`); every split
    but test and validation counts as training data."""
    from hub.audit import AuditError, read_splits

    try:
        parts, _, _ = read_splits(path, None)
    except AuditError as exc:
        raise HubError(exc.message, hint="Point at a Parquet file or folder, a folder written by `datasets.save_to_disk`, or a registered dataset (ns/name).",
                       path=str(path)) from None
    by_split: dict[str, list[pa.Table]] = {}
    for name, part in parts.items():
        by_split.setdefault(name if name in REFERENCE_SPLITS else "train", []).append(part)
    tables = [(name, pa.concat_tables(group, promote_options="permissive")) for name, group in by_split.items()]
    names = [name for name, _ in tables]
    table = pa.concat_tables([t for _, t in tables], promote_options="permissive")
    if "id" not in table.column_names:
        table = table.append_column("id", pa.array([f"row-{i}" for i in range(table.num_rows)]))
    split_of_row = np.concatenate([np.full(t.num_rows, i, dtype=np.int8) for i, (_, t) in enumerate(tables)])
    return check(root, record, table, split_of_row, names, only=only)


def _aligned(tables: list[pa.Table]) -> list[pa.Table]:
    """The columns every table has, each cast to the type the first reference (the hub's
    published data) has it in; a column that does not cast is left out (class labels whose
    names differ are compared as the indices they are, which the duplicate check never reads)."""
    ours, reference = tables[0], tables[1]
    fields, columns = [], []  # columns[i]: the cast column `fields[i]` of every table
    for name in ours.column_names:
        if not all(name in t.column_names for t in tables):
            continue
        target = reference.schema.field(name).type
        try:
            cast = [t.column(name).cast(target) for t in tables]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            continue
        fields.append(pa.field(name, target))
        columns.append(cast)
    schema = pa.schema(fields)
    return [pa.Table.from_arrays([cast[i] for cast in columns], schema=schema) for i in range(len(tables))]


def _exact_keys(duplicates: Any) -> np.ndarray:
    """Per key number, whether its cluster is of an exact kind (`exact-*`): the keys of each kind
    are numbered in one block, in the order the record type added its kinds."""
    n_keys = int(duplicates.keys.max()) + 1
    exact = np.zeros(n_keys, dtype=bool)
    start = 0
    for kind, count in duplicates.kinds.items():
        exact[start:start + count] = kind.startswith("exact")
        start += count
    return exact
