"""The catalog index: a DuckDB file derived from `registry/`, rebuilt whenever it is stale.

The index is never the source of truth. It records a fingerprint of the registry (every
dataset.yaml and manifest.json with its size and mtime); a read that finds the fingerprint
changed rebuilds it, into a new file swapped in by rename, so readers never see half of it.

A long-lived `Catalog` (the server's) keeps one read-only connection to the index file it
checked and fingerprints the registry at most once every `RECHECK_SECONDS`: an index file
replaced since (every `hub publish` rebuilds it) is seen at the next read, a hand edit of the
registry within that interval. With `background=True` (the server) those checks, and any
rebuild they lead to, run in a thread of their own: requests keep reading the index they
have until the new file is in place, instead of waiting for a fingerprint of every file of
the registry (~0.1 s at 1,000 datasets) or a rebuild (~1.6 s).

Several processes may share one index (the server's workers, `hub publish`): a rebuild holds
a file lock (`catalog.duckdb.lock`), so they rebuild one at a time and none twice, and one
process per `RECHECK_SECONDS` fingerprints the registry (`catalog.duckdb.checked`).

One dataset cannot stop the index: an entry whose dataset.yaml cannot be read, or a version
whose manifest.json cannot, is left out and recorded in the index's `problems` table
(`Catalog.problems()`, `hub list`, the dataset's page), and everything else is indexed. Who
may see a dataset is decided from its dataset.yaml as it is now (`hub.access.entry_access`),
never from the index: a search leaves out a dataset made private since the last rebuild.

Each connection is a private in-memory DuckDB with the file ATTACHed: `duckdb.connect(path)`
would hand back the instance cached for that path while any connection to it is open, that
is, the replaced file, for as long as requests overlap.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from hub import config
from hub.access import entry_access, level_of
from hub.errors import BrokenEntry, DatasetNotFound, HubError
from hub.ids import parse_ref
from hub.listing import FORMAT as _FORMAT
from hub.listing import registry_fingerprint, write_listing
from hub.repo import dataset_dir, file_lock, work_dir

log = logging.getLogger(__name__)

__all__ = ["Catalog"]

_LISTED = "id, title, modality, tasks, languages, license, commercial, latest, versions, access"  # a search result's columns
_PROBLEMS = "SELECT dataset, version, file, message, hint FROM problems ORDER BY dataset, version NULLS FIRST"
RECHECK_SECONDS = 1.0  # how stale a long-lived Catalog may be about hand edits of the registry
_SCHEMA = """
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE datasets (
    id VARCHAR PRIMARY KEY, namespace VARCHAR, name VARCHAR, title VARCHAR, description VARCHAR,
    modality VARCHAR, record VARCHAR, tasks VARCHAR[], languages VARCHAR[], license VARCHAR,
    commercial BOOLEAN, tags VARCHAR[], labels VARCHAR[], latest VARCHAR, versions VARCHAR[],
    valid BOOLEAN, problems INTEGER, entry JSON, search_text VARCHAR, access VARCHAR);
CREATE TABLE versions (
    dataset VARCHAR, version VARCHAR, created VARCHAR, rows BIGINT, bytes BIGINT, manifest JSON,
    PRIMARY KEY (dataset, version));
CREATE TABLE splits (dataset VARCHAR, version VARCHAR, split VARCHAR, rows BIGINT, groups BIGINT, bytes BIGINT);
CREATE TABLE problems (dataset VARCHAR, version VARCHAR, file VARCHAR, message VARCHAR, hint VARCHAR);
"""


MEMO_ROWS = 50_000  # the most rows of answers a Catalog keeps per index file


class _Memo:
    """Answers read from one index file, which never changes (a rebuild is a new file): each
    search or dataset is read from DuckDB once, up to `MEMO_ROWS` rows in all."""

    def __init__(self) -> None:
        self.answers: dict[Any, Any] = {}
        self.rows = 0

    def get(self, key: Any) -> Any:
        return self.answers.get(key)

    def put(self, key: Any, value: Any, rows: int = 1) -> None:
        if self.rows + rows <= MEMO_ROWS:
            self.answers[key] = value
            self.rows += rows


@dataclass
class Catalog:
    """Search and describe the datasets of one hub repository."""

    root: Path
    background: bool = False  # check the registry (and rebuild) off the request path: for long-lived catalogs
    # the index file last checked against the registry: its (inode, mtime, size), fingerprint, when
    _checked: tuple[Any, str, float] | None = field(default=None, init=False, repr=False, compare=False)
    # the index file open: its (inode, mtime, size), the connection, a memo of answers read from it
    _db: tuple[Any, duckdb.DuckDBPyConnection, _Memo] | None = field(default=None, init=False, repr=False, compare=False)
    _retired: list[tuple[float, duckdb.DuckDBPyConnection]] = field(default_factory=list, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _checking: threading.Thread | None = field(default=None, init=False, repr=False, compare=False)  # the background check under way

    @property
    def path(self) -> Path:
        return work_dir(self.root) / config.CATALOG_FILE

    def fingerprint(self) -> str:
        """`hub.listing.registry_fingerprint` of this registry."""
        return registry_fingerprint(self.root)

    def refresh(self, force: bool = False) -> bool:
        """Rebuild the index if the registry changed (or `force`); True if it was rebuilt."""
        return self._refresh(self.fingerprint(), force)

    def _refresh(self, fingerprint: str, force: bool = False) -> bool:
        if not force and self._stored_fingerprint() == fingerprint:
            return False
        # One rebuild at a time, across processes (the server's workers, `hub publish`): whoever
        # waited finds the index built meanwhile, or builds it from the registry as it is now.
        with file_lock(self.path.with_name(self.path.name + ".lock")):
            if not force:
                fingerprint = self.fingerprint()
                if self._stored_fingerprint() == fingerprint:
                    return False
            self._build(fingerprint)
        return True

    def _stored_fingerprint(self) -> str | None:
        """The registry fingerprint the index file was built from (None without a readable file)."""
        if not self.path.exists():
            return None
        try:
            with _open(self.path) as con:
                row = next(iter(con.execute("SELECT value FROM hub_index.meta WHERE key = 'fingerprint'").fetchall()), None)
        except duckdb.Error:
            return None  # unreadable: rebuild
        return row[0] if row else None

    def _build(self, fingerprint: str) -> None:
        import pyarrow as pa  # here, not at the top: reading the index (`hub list`) does without it

        from hub.entry import registered

        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.unlink(missing_ok=True)
        with duckdb.connect(str(tmp)) as con:
            con.execute(_SCHEMA)
            con.execute("INSERT INTO meta VALUES ('fingerprint', ?), ('format', ?)", [fingerprint, _FORMAT])
            rows: dict[str, list[list[Any]]] = {"datasets": [], "versions": [], "splits": [], "problems": []}
            for dataset in registered(self.root):
                self._add(rows, dataset)
            for table, values in rows.items():  # one Arrow insert per table: executemany is ~1,000x slower
                if values:
                    names = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
                    con.register("new_rows", pa.table({n: pa.array(list(column)) for n, column in zip(names, zip(*values))}))
                    con.execute(f"INSERT INTO {table} SELECT * FROM new_rows")
                    con.unregister("new_rows")
            listing = [_rows(con, f"SELECT {_LISTED} FROM datasets ORDER BY id"), _rows(con, _PROBLEMS)]
        os.replace(tmp, self.path)
        write_listing(self.path, fingerprint, *listing)  # what `hub list` reads without DuckDB

    def _add(self, rows: dict[str, list[list[Any]]], dataset: str) -> None:
        """Index one dataset; an unreadable entry or version is a row of `problems` instead."""
        from hub.entry import load_entry, read_card
        from hub.store import check_manifest
        from hub.versions import published_versions

        try:
            entry = load_entry(self.root, dataset)
            access = level_of(entry)
        except HubError as exc:
            log.warning("skipping %s: %s", dataset, exc.message)
            rows["problems"].append([dataset, None, exc.fields.get("file"), exc.message, exc.hint])
            return
        summary = entry.summary()
        versions_root = dataset_dir(self.root, dataset) / "versions"
        manifests = {}
        for version in published_versions(versions_root):
            try:
                manifests[version] = check_manifest(self.root, dataset, versions_root / version)
            except BrokenEntry as exc:
                log.warning("skipping %s@%s: %s", dataset, version, exc.message)
                rows["problems"].append([dataset, version, exc.fields.get("file"), exc.message, exc.hint])
        versions = list(manifests)
        effective = (manifests[versions[-1]].get("license") or {}) if versions else {}
        if "per_record" in effective:  # records with their own licenses: the latest version's effective license is what search filters on
            summary = {**summary, "license": effective["expression"], "commercial": effective["commercial"], "declared_license": effective["declared"]}
        ns, name = dataset.split("/")
        try:
            prose = read_card(entry.path)
        except HubError:  # a link out of the folder: reported by the entry's validation, never read
            prose = ""
        text = " ".join(str(x) for x in [dataset, summary["title"], summary["description"], " ".join(summary["tags"]), " ".join(summary["tasks"]), " ".join(summary["labels"]), prose] if x)
        rows["datasets"].append(
            [dataset, ns, name, summary["title"], summary["description"], summary["modality"], summary["record"], summary["tasks"],
             summary["languages"], summary["license"], summary["commercial"], summary["tags"], summary["labels"],
             versions[-1] if versions else None, versions, entry.report.valid, len(entry.report.problems),
             json.dumps(summary, default=str), text.lower(), access],
        )
        for version, manifest in manifests.items():
            rows["versions"].append([dataset, version, manifest.get("created"), manifest.get("rows"), sum(f["size"] for f in manifest.get("files", [])), json.dumps(manifest)])
            for split, s in manifest.get("splits", {}).items():
                rows["splits"].append([dataset, version, split, s["rows"], s.get("groups"), s.get("bytes")])

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the index, fresh (see the module's docstring); close it after use."""
        return _cursor(self._session()[0])

    def _session(self) -> tuple[duckdb.DuckDBPyConnection, _Memo]:
        """The connection to the index, fresh, and the memo of answers read from the same file
        (`_cursor` of the connection for a query: cursors cost ~0.3 ms, a memo hit ~nothing)."""
        with self._lock:
            now = time.monotonic()
            file_id = self._file_id()
            due = self._checked is None or file_id is None or self._checked[0] != file_id or now - self._checked[2] > RECHECK_SECONDS
            if due and self.background and self._checked is not None and file_id is not None:
                if self._checking is None:  # one check at a time; meanwhile, the index as it is
                    self._checking = threading.Thread(target=self._check_in_background, name="hub-catalog-check", daemon=True)
                    self._checking.start()
            elif due:
                fingerprint = self.fingerprint()
                if self._checked is None or file_id is None or self._checked[0] != file_id or self._checked[1] != fingerprint:
                    self._refresh(fingerprint)
                    file_id = self._file_id()
                self._checked = (file_id, fingerprint, now)
            if self._db is None or self._db[0] != file_id:
                if self._db is not None:  # cursors of other threads may still be reading it: closed later
                    self._retired.append((now, self._db[1]))
                self._db = (file_id, _open(self.path), _Memo())
                for retired in [r for r in self._retired if now - r[0] > 60]:
                    retired[1].close()
                    self._retired.remove(retired)
            return self._db[1], self._db[2]

    def _check_in_background(self) -> None:
        """Fingerprint the registry and rebuild the index if it changed (`background` catalogs)."""
        try:
            # One process of the repository checks per interval: the others (the server's other
            # workers) only see the index file change, which `_connect` notices.
            with file_lock(self.path.with_name(self.path.name + ".checked"), blocking=False) as stamp:
                if stamp is None or time.time() - stamp.stat().st_mtime < RECHECK_SECONDS:
                    fingerprint = self._checked[1] if self._checked is not None else ""
                else:
                    fingerprint = self.fingerprint()
                    if self._checked is None or fingerprint != self._checked[1] or self._file_id() != self._checked[0]:
                        self._refresh(fingerprint)  # compares with the fingerprint stored in the index file first
                    os.utime(stamp)
            checked = (self._file_id(), fingerprint, time.monotonic())
            with self._lock:
                self._checked = checked
        except Exception as exc:  # the index in use stays; the next check tries again
            log.warning("catalog index not refreshed (%s)", exc)
            with self._lock:
                if self._checked is not None:
                    self._checked = (self._checked[0], self._checked[1], time.monotonic())
        finally:
            with self._lock:
                self._checking = None

    def _file_id(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def search(
        self,
        query: str = "",
        *,
        modality: str | None = None,
        task: str | None = None,
        language: str | None = None,
        license: str | None = None,
        commercial: bool | None = None,
        limit: int = 100,
        offset: int = 0,
        include_private: bool = True,
    ) -> list[dict[str, Any]]:
        """Datasets whose text matches every word of `query`, with the filters applied.

        Results are ranked by where the words match (id and title before description).
        `include_private=False` leaves out datasets whose access is `private`.
        """
        where, params = [], []
        if not include_private:
            where.append("access <> 'private'")
        words = [w for w in re.split(r"\s+", query.lower().strip()) if w]
        for word in words:
            where.append("contains(search_text, ?)")  # a substring, as LIKE '%word%' but 2x faster
            params.append(word)
        if modality:
            where.append("modality = ?")
            params.append(modality)
        if task:
            where.append("list_contains(tasks, ?)")
            params.append(task)
        if language:
            where.append("list_contains(languages, ?)")
            params.append(language)
        if license:
            where.append("lower(license) LIKE ?")
            params.append(f"%{license.lower()}%")
        if commercial is not None:
            where.append("commercial = ?")
            params.append(commercial)
        rank = " + ".join(["(CASE WHEN contains(lower(id || ' ' || coalesce(title, '')), ?) THEN 0 ELSE 1 END)" for _ in words])
        rank_params = list(words)
        sql = f"""SELECT {_LISTED}
                  FROM datasets {"WHERE " + " AND ".join(where) if where else ""}
                  ORDER BY {rank + ", " if rank else ""}id LIMIT ? OFFSET ?"""
        args = [*params, *rank_params, limit, offset]
        connection, memo = self._session()
        found = memo.get((sql, *args))
        if found is None:
            with _cursor(connection) as con:
                found = _rows(con, sql, args)
            memo.put((sql, *args), found, len(found))
        found = [dict(row) for row in found]  # the memo's rows stay as the index has them
        if include_private:
            return found
        out = []
        for row in found:  # whether each result is still not private, as its dataset.yaml says now
            try:
                row["access"] = entry_access(self.root, row["id"])
            except HubError:  # gone, or unreadable since the index was built
                continue
            if row["access"] != "private":
                out.append(row)
        return out

    def access_of(self, dataset: str) -> str:
        """The dataset's access level (`public`, `private` or `gated`), read from its dataset.yaml now.

        Raises `DatasetNotFound` or `BrokenEntry`.
        """
        return entry_access(self.root, dataset)

    def problems(self, dataset: str | None = None) -> list[dict[str, Any]]:
        """The entries and versions left out of the index, each with its file, message and hint.

        `version` is None for an entry that cannot be read at all.
        """
        with self._connect() as con:
            if dataset is None:
                return _rows(con, _PROBLEMS)
            return _rows(con, "SELECT dataset, version, file, message, hint FROM problems WHERE dataset = ? ORDER BY version NULLS FIRST", [dataset])

    def list(self) -> list[dict[str, Any]]:
        """Every registered dataset, by id."""
        return self.search(limit=1_000_000)

    def contaminated_by(self, dataset: str) -> list[dict[str, Any]]:
        """The datasets whose latest version holds records of `dataset`'s test or validation
        splits (`hub.contamination.holders`), from the index: the latest versions' contamination
        read once per index file (a page of a test set asks on every view)."""
        from hub.contamination import holders

        connection, memo = self._session()
        found = memo.get("contaminated-by")
        if found is None:
            cur = _cursor(connection)
            try:
                rows = cur.execute("SELECT v.dataset, v.version, json_extract(v.manifest, '$.contamination') FROM versions v "
                                   "JOIN datasets d ON d.id = v.dataset AND d.latest = v.version "
                                   "WHERE json_extract(v.manifest, '$.contamination') IS NOT NULL").fetchall()
            finally:
                cur.close()
            found = holders((d, v, json.loads(c) if isinstance(c, str) else c) for d, v, c in rows)
            memo.put("contaminated-by", found, sum(len(v) for v in found.values()) or 1)
        return found.get(dataset, [])

    def show(self, ref: str) -> dict[str, Any]:
        """A dataset (`ns/name`) with its versions, or one version (`ns/name@1.0.0`) with its manifest.

        Raises `DatasetNotFound` or `VersionNotFound`.
        """
        dataset, version = parse_ref(ref)
        connection, memo = self._session()
        info = memo.get(dataset)
        if info is None:
            with _cursor(connection) as con:
                row = next(iter(con.execute("SELECT entry, versions, latest, valid FROM datasets WHERE id = ?", [dataset]).fetchall()), None)
                problems = _rows(con, "SELECT version, file, message, hint FROM problems WHERE dataset = ? ORDER BY version NULLS FIRST", [dataset])
            if row is None:
                broken = next((p for p in problems if p["version"] is None), None)
                if broken is not None:
                    raise BrokenEntry(broken["message"], dataset=dataset, file=broken["file"])
                raise DatasetNotFound(f"dataset {dataset!r} is not registered", dataset=dataset)
            info = {**json.loads(row[0]), "versions": list(row[1]), "latest": row[2], "valid": row[3], "problems": problems}
            memo.put(dataset, info)
        if version is None:
            return dict(info)
        with _cursor(connection) as con:
            found = next(iter(con.execute("SELECT manifest FROM versions WHERE dataset = ? AND version = ?", [dataset, version]).fetchall()), None)
        if found is None:
            from hub.errors import VersionNotFound

            raise VersionNotFound(f"{dataset}@{version} is not published (versions: {', '.join(info['versions']) or 'none'})", dataset=dataset, version=version)
        manifest = json.loads(found[0])
        return {**info, "version": version, "manifest": manifest, "path": str(dataset_dir(self.root, dataset) / "versions" / version)}


def _cursor(connection: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor of an `_open` connection, on the index; close it after use."""
    cursor = connection.cursor()
    cursor.execute("USE hub_index")
    return cursor


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def _open(path: Path) -> duckdb.DuckDBPyConnection:
    """The index file, read-only, as database `hub_index` of a private in-memory DuckDB."""
    con = duckdb.connect()
    try:
        con.execute("ATTACH ? AS hub_index (READ_ONLY)", [str(path)])
    except BaseException:
        con.close()
        raise
    return con
