"""Contamination: records of one dataset that are another dataset's test or validation records.

A test set is a standard only while nobody trains on it. `check` puts a table of records (a
dataset about to be published, or any Parquet data) beside the test and validation splits of
every other dataset of the hub with the same record type: the latest version of each, and every
version of a dataset whose entry says `standard: true`. It compares content fingerprints
(`hub.fingerprints`: the split engine's own exact and near duplicate hashes, with the same
thresholds), never the records themselves: each version stores its fingerprints at publish, so
a check reads one small Parquet file per reference version, streamed by DuckDB, whatever the
size of the hub's test sets. A version published before the hub stored fingerprints (or with
another format, or bands cut for other thresholds) has its fingerprints rebuilt from its
verified shards into `.hub/index/fingerprints/` (rebuilt, never trusted); a fingerprint file
whose sha256 is not its manifest's is refused, named.

`publish` refuses a dataset whose train split matches another dataset's test or validation
records (`Contaminated`), unless `allow_contamination`; then the manifest, the card and the
dataset page say which test sets are contaminated and by how much, and the test set's page
says which datasets' train splits hold its records (`holders`, read by the catalog). Matches
of the new dataset's own test or validation splits are reported too (informational: its test
set is someone's training data, or two test sets overlap).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hub.errors import HubError

log = logging.getLogger(__name__)

__all__ = ["REFERENCE_SPLITS", "Contaminated", "Match", "check", "check_path", "fingerprint", "holders", "raise_if_contaminated", "references", "refusing", "write_report"]

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
    """The fingerprints of a version of another dataset (its test and validation splits are the reference)."""

    dataset: str
    version: str
    path: Path  # its fingerprint file (`hub.fingerprints`)
    splits: tuple[str, ...]  # its splits with records (test and validation are references; our test records found in its train are reported)


def references(root: Path, record: str, thresholds: Any = None, *, exclude: str | None = None, only: str | None = None) -> list[Reference]:
    """The versions checked against: the latest version of every
    dataset of `record`'s type (but `exclude`; or only the dataset `only`, `ns/name` or
    `ns/name@X.Y.Z`), and every version of those marked `standard: true`; each with its
    fingerprint file, checked (`StorageError` for one whose sha256 is not its manifest's)."""
    from hub.dedup import Thresholds
    from hub.entry import registered
    from hub.ids import parse_ref
    from hub.store import resolve_revision
    from hub.versions import published_versions

    thresholds = thresholds or Thresholds()
    wanted_dataset, wanted_version = parse_ref(only) if only else (None, None)
    found = []
    for dataset in registered(root):
        if dataset == exclude or (wanted_dataset and dataset != wanted_dataset):
            continue
        try:
            versions = published_versions(root / "registry" / dataset / "versions")
            if not versions:
                continue
            chosen = [wanted_version] if wanted_version else (versions if _standard(root, dataset) else versions[-1:])
            revisions = [resolve_revision(root, dataset, v) for v in chosen]
        except HubError as exc:  # a broken entry or version: the catalog reports it
            log.warning("contamination check skips %s: %s", dataset, exc.message)
            continue
        for revision in revisions:
            if revision.manifest.get("record") != record:
                continue
            splits = tuple(s for s, info in revision.manifest.get("splits", {}).items() if not isinstance(info, dict) or info.get("rows", 1))
            if splits:
                found.append(Reference(dataset, revision.version, _fingerprint_file(root, revision, record, thresholds), splits))
    return found


def _standard(root: Path, dataset: str) -> bool:
    """Whether the entry marks every version a standard test set (`standard: true`)."""
    import yaml

    try:
        data = yaml.safe_load((root / "registry" / dataset / "dataset.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("standard") is True


def _fingerprint_file(root: Path, revision: Any, record: str, thresholds: Any) -> Path:
    """The version's own fingerprint file when it is of this hub's format and thresholds (its
    sha256 checked), else one rebuilt from its verified shards under `.hub/index/fingerprints/`."""
    from hub import fingerprints
    from hub.repo import work_dir

    meta = revision.manifest.get("fingerprints")
    if isinstance(meta, dict) and meta.get("format") == fingerprints.FORMAT and meta.get("thresholds") == fingerprints.thresholds_key(thresholds):
        revision.ensure_data()
        return revision.verified(meta["path"], meta.get("sha256"),
                                 hint="The published fingerprints were changed on disk: restore them with `dvc checkout` (or `dvc pull`).")
    key = hashlib.sha256(f"{revision.commit}:{fingerprints.FORMAT}:{sorted(fingerprints.thresholds_key(thresholds).items())}".encode()).hexdigest()[:16]
    cached = work_dir(root) / "index" / "fingerprints" / revision.dataset / f"{revision.version}-{key}.parquet"
    if not cached.is_file():
        table, split_of_row, names = _read_version(revision)
        fingerprints.write(fingerprints.table_of(table, record, split_of_row, names, thresholds), cached)
    return cached


def _read_version(revision: Any) -> tuple[pa.Table, np.ndarray, list[str]]:
    """Every shard of a version, checked against its manifest, as one table and its split per row."""
    revision.ensure_data()
    tables, names, split_of_row = [], [], []
    for f in revision.manifest.get("files", []):
        part = pq.read_table(revision.verified(f["path"], f["sha256"]))
        if f.get("split") not in names:
            names.append(f.get("split"))
        tables.append(part)
        split_of_row.append(np.full(part.num_rows, names.index(f.get("split")), dtype=np.int64))
    table = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({"id": pa.array([], pa.string())})
    return table, np.concatenate(split_of_row) if split_of_row else np.array([], np.int64), names


def fingerprint(table: pa.Table, record: str, split_of_row: np.ndarray, names: list[str], thresholds: Any = None, spill: Path | None = None) -> pa.Table:
    """The fingerprint table of records about to be checked (and, at publish, stored; `spill`: `fingerprints.table_of`'s)."""
    from hub import fingerprints
    from hub.dedup import Thresholds

    try:
        return fingerprints.table_of(table, record, split_of_row, names, thresholds or Thresholds(), spill=spill)
    except KeyError as exc:  # a column the record type fingerprints is missing, or of another type than the hub's
        raise HubError(f"nothing to compare: the records have no usable {exc.args[0]} for the {record} duplicate check",
                       hint=f"The data needs the {record} record's fields, of the types the hub publishes (`hub show` a {record} dataset's features).") from None


def check(root: Path, record: str, table: pa.Table, split_of_row: np.ndarray, names: list[str], *, thresholds: Any = None,
          exclude: str | None = None, only: str | None = None, prints: pa.Table | None = None) -> list[Match]:
    """Every match of `table`'s rows (split `names[split_of_row[i]]`) with another dataset's test
    or validation records, largest first. `prints`: `fingerprint(table, ...)`, if computed already."""
    from hub import fingerprints
    from hub.dedup import Thresholds

    thresholds = thresholds or Thresholds()
    refs = references(root, record, thresholds, exclude=exclude, only=only)
    if not refs or not table.num_rows:
        return []
    ours = prints if prints is not None else fingerprint(table, record, split_of_row, names, thresholds)
    ours_split = np.asarray(split_of_row)  # (not copied: a Python id or an int64 per row of a large table would be)
    held = np.array([n in REFERENCE_SPLITS for n in names], dtype=bool)
    ours_held_out = ours.filter(pa.array(held[ours_split])) if len(names) else ours
    out = []
    for ref in refs:
        found = []
        held_out = tuple(s for s in ref.splits if s in REFERENCE_SPLITS)
        if held_out:
            found.append(fingerprints.matches(ours, ref.path, record, thresholds, held_out))
        trained = tuple(s for s in ref.splits if s not in REFERENCE_SPLITS)
        if trained and ours_held_out.num_rows:  # our test records in their training data: reported, never refused
            found.append(fingerprints.matches(ours_held_out, ref.path, record, thresholds, trained))
        pairs = pa.concat_tables(found) if found else None
        if pairs is None or not pairs.num_rows:
            continue
        theirs = pq.read_table(ref.path, columns=["row", "split", "id"])
        their_split = dict(zip(theirs.column("row").to_pylist(), theirs.column("split").to_pylist()))
        their_id = dict(zip(theirs.column("row").to_pylist(), theirs.column("id").to_pylist()))
        grouped: dict[tuple[int, str], dict[str, Any]] = {}
        for o, t, exact in zip(pairs.column("ours").to_pylist(), pairs.column("theirs").to_pylist(), pairs.column("exact").to_pylist()):
            m = grouped.setdefault((int(ours_split[o]), their_split[t]), {"rows": {}, "theirs": set()})
            m["rows"][o] = m["rows"].get(o, False) or exact
            m["theirs"].add(t)
        for (our_split, split), m in grouped.items():
            rows = sorted(m["rows"])
            exact = sum(1 for row in rows if m["rows"][row])
            out.append(Match(ref.dataset, ref.version, split, names[our_split], len(rows), exact, len(rows) - exact,
                             ours.column("id").take(pa.array(rows, pa.int64())).to_pylist(), [their_id[t] for t in sorted(m["theirs"])]))
    return sorted(out, key=lambda m: (-m.rows, m.dataset, m.split, m.ours))


def holders(latest: Iterable[tuple[str, str, dict[str, Any] | None]]) -> dict[str, list[dict[str, Any]]]:
    """Test set -> the datasets holding its records, from each dataset's latest version (id,
    version, the manifest's `contamination`): [{dataset, version, split (the test set's), in
    (the holder's split), rows, exact, near, of_version}], train first, then by rows
    (`hub.catalog.Catalog.contaminated_by` reads them from the index)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for other, version, contamination in latest:
        for m in (contamination or {}).get("matches", []):
            if isinstance(m, dict) and m.get("dataset") and m.get("dataset") != other:
                found.setdefault(m["dataset"], []).append({"dataset": other, "version": version, "split": m.get("split"), "in": m.get("ours"),
                                                           "rows": m.get("rows"), "exact": m.get("exact"), "near": m.get("near"), "of_version": m.get("version")})
    return {test: sorted(rows, key=lambda f: (f["in"] != "train", -(f["rows"] or 0), f["dataset"])) for test, rows in found.items()}


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
