"""Published versions on disk, and the semantic-version rule for a new one (as in TFDS).

PATCH: the same records, re-encoded. MINOR: records or features added, or only labels changed
(class labels, transcripts, boxes, segments: `LABEL_FIELDS`), no record moved to another
split. MAJOR: any other field of a record changed, or a record removed or moved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from hub.arrowutil import sql_name, sql_string
from hub.entry import Entry
from hub.errors import StorageError, VersionNotFound
from hub.ids import Version

__all__ = ["LABEL_FIELDS", "classify_change", "label_fields", "parent_splits", "published_versions", "read_manifest", "version_dir"]


# fields that hold annotation rather than data, besides every class-label field
LABEL_FIELDS = ("transcript", "objects", "segments", "anomalies")


def label_fields(entry: Entry) -> set[str]:
    """The top-level fields whose change is a labels-only (MINOR) change."""
    return {path[0] for path in entry.schema.label_paths} | set(LABEL_FIELDS)


def version_dir(versions_root: Path, version: str) -> Path:
    return versions_root / str(Version.parse(version))


def published_versions(versions_root: Path) -> list[str]:
    """The published versions (folders with a manifest), oldest first."""
    found = []
    if versions_root.is_dir():
        for child in versions_root.iterdir():
            if child.name.startswith(".") or not (child / "manifest.json").is_file():
                continue
            try:
                found.append(Version.parse(child.name))
            except ValueError:
                continue
    return [str(v) for v in sorted(found)]


def read_manifest(versions_root: Path, dataset: str, version: str) -> dict[str, Any]:
    path = version_dir(versions_root, version) / "manifest.json"
    if not path.is_file():
        raise VersionNotFound(f"{dataset}@{version} is not published", dataset=dataset, version=version)
    return json.loads(path.read_text(encoding="utf-8"))


def _ensure_data(parent: Path) -> None:
    """Fetch the parent's shards from the DVC remote if this checkout lacks them."""
    if any(parent.glob("data/*.parquet")) or not (parent / "data.dvc").is_file():
        return
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    from hub.repo import dvc_lock, find_root

    try:
        with dvc_lock(find_root(parent)):
            if any(parent.glob("data/*.parquet")):
                return  # fetched by another process (a server's other worker) meanwhile
            with Repo(str(parent)) as repo:
                repo.pull(targets=[str(parent / "data.dvc")])
    except DvcException as exc:
        raise StorageError(
            f"the data of version {parent.name} ({parent}) is neither here nor in the DVC remote: {exc}",
            hint="Run `dvc pull` with access to the remote it was pushed to, or `dvc remote list` to check the remote.",
            path=str(parent),
        ) from exc


def _shards_with_split(version: Path, split_column: str) -> str:
    """DuckDB SQL reading a version's shards (fetched if needed), each row with its split, and a
    blind split's rows with the labels its shards lack (`hub.blind`: `data/blind/<split>-labels.parquet`)."""
    _ensure_data(version)
    listed = ", ".join(sql_string(p) for p in sorted(version.glob("data/*.parquet")))
    rows = f"SELECT *, split_part(parse_filename(filename, true), '-', 1) AS {split_column} FROM read_parquet([{listed}], filename=true, union_by_name=true)"
    blind = json.loads((version / "manifest.json").read_text(encoding="utf-8")).get("blind") or {}
    if blind:
        import pyarrow.parquet as pq

        present = {name for p in version.glob("data/*.parquet") for name in pq.read_schema(p).names}
    for split, section in blind.items():
        kept = [f for f in section["withheld"] if f in present]  # the fields other splits' shards hold: filled in
        new = [f for f in section["withheld"] if f not in present]  # no shard holds them: added
        replace = f"REPLACE ({', '.join(f'coalesce(s.{sql_name(f)}, b.{sql_name(f)}) AS {sql_name(f)}' for f in kept)})" if kept else ""
        added = "".join(f", b.{sql_name(f)}" for f in new)
        rows = (f"SELECT s.* {replace}{added} FROM ({rows}) s LEFT JOIN read_parquet({sql_string(version / section['labels']['path'])}) b "
                f"ON s.{split_column} = {sql_string(split)} AND s.id = b.id")
        present |= set(new)
    return rows


def parent_splits(parent: Path) -> pa.Table:
    """(id, split) of every record of a published version, fetching its data if needed."""
    con = duckdb.connect()
    try:
        return con.sql(f"SELECT id, split FROM ({_shards_with_split(parent, 'split')})").to_arrow_table()
    finally:
        con.close()


def classify_change(parent: Path, entry: Entry, table: pa.Table, split_idx: np.ndarray, split_names: list[str]) -> str:
    """`major`, `minor` or `unchanged` (the same records: a PATCH if the user asks for one)."""
    manifest = json.loads((parent / "manifest.json").read_text(encoding="utf-8"))
    old_labels, new_labels = manifest.get("labels", []), list(entry.schema.labels)
    if new_labels[: len(old_labels)] != old_labels:
        return "major"  # class indices changed meaning
    new = table.append_column("__split", pa.array(np.asarray(split_names, dtype=object)[split_idx], pa.string()))
    con = duckdb.connect()
    try:
        con.register("new_rows", new)
        con.execute(f"CREATE VIEW old_rows AS {_shards_with_split(parent, '__split')}")
        old_columns = [r[0] for r in con.execute("DESCRIBE old_rows").fetchall() if r[0] not in ("filename",)]
        common = [c for c in old_columns if c in new.column_names and c not in ("id", "__split")]
        added_columns = [c for c in new.column_names if c not in old_columns]
        removed_columns = [c for c in old_columns if c not in new.column_names and c != "__split"]
        labels = label_fields(entry)
        differs = " OR ".join(f'o."{c}" IS DISTINCT FROM n."{c}"' for c in common if c not in labels) or "false"
        relabelled = " OR ".join(f'o."{c}" IS DISTINCT FROM n."{c}"' for c in common if c in labels) or "false"
        removed, added, moved, changed, changed_labels = con.execute(f"""
            SELECT count(*) FILTER (WHERE n.id IS NULL),
                   count(*) FILTER (WHERE o.id IS NULL),
                   count(*) FILTER (WHERE o.id IS NOT NULL AND n.id IS NOT NULL AND o.__split <> n.__split),
                   count(*) FILTER (WHERE o.id IS NOT NULL AND n.id IS NOT NULL AND ({differs})),
                   count(*) FILTER (WHERE o.id IS NOT NULL AND n.id IS NOT NULL AND ({relabelled}))
            FROM old_rows o FULL OUTER JOIN new_rows n ON o.id = n.id""").fetchone()
    finally:
        con.close()
    if removed or moved or changed or removed_columns:
        return "major"
    if added or added_columns or changed_labels or len(new_labels) > len(old_labels):
        return "minor"
    return "unchanged"
