"""Publishing: an immutable, verifiable version of a dataset, atomically.

Everything is written into a staging folder next to the versions (`versions/.staging-*`):
Parquet shards per split in the Hugging Face layout, the README card, `manifest.json` and
`stats.json`; the shards go into DVC's cache and remote (`data.dvc`); then one rename makes
the version appear. A crash before the rename leaves the catalog as it was; stale staging
folders of dead processes are removed by the next publish.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import subprocess
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import hub
from hub import blind, config, engine, fingerprints, progress
from hub.arrowutil import map_leaf
from hub.card import notice, render_card
from hub.contamination import fingerprint as fingerprint_records
from hub.croissant import croissant
from hub.license_rules import effective_license
from hub.deriving import parents_of
from hub.entry import Entry, load_entry
from hub.errors import LeakageError, SplitsWouldMove, SplitTooSmall, StorageError, VersionExists
from hub.hashing import sha256_file
from hub.ids import Version
from hub.pii import for_publishing
from hub.report import Report
from hub.repo import dataset_dir, dvc_lock, remote_error
from hub.sources import source_fingerprint
from hub.shards import write_splits
from hub.split_modes import leak_error
from hub.split_rules import moves_hint, moves_message, published_moves, shortfall_message, split_shortfalls
from hub.splits import Assignment, certify
from hub.spill import folder as spill_folder
from hub.stats import compute as compute_stats
from hub.stats import plot
from hub.store import revision_at
from hub.validation import validate
from hub.versions import classify_change, parent_splits, published_versions, version_dir

log = logging.getLogger(__name__)

__all__ = ["Published", "publish"]


@dataclass
class Published:
    """A published version: where it is, its manifest, and the validation report."""

    dataset: str
    version: str
    path: Path
    manifest: dict[str, Any]
    report: Report
    unchanged: bool = False  # True when `skip_unchanged` returned the existing latest version
    notices: list[dict[str, str]] = field(default_factory=list)  # what a changed split policy did and did not change

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "version": self.version, "unchanged": self.unchanged, "path": str(self.path), "manifest": self.manifest,
                "report": self.report.to_dict(), "notices": self.notices}


@dataclass
class Prepared:
    """A dataset validated, encoded and split, with its certificate: what publishing writes."""

    entry: Entry
    report: Report
    table: pa.Table  # valid rows in the published schema
    assignment: Assignment
    certificate: dict[str, Any]
    versions_root: Path
    parent: str | None  # the latest published version, whose records keep their split
    moves: dict[str, Any] | None = None  # published records in another split now (`hub.split_rules.published_moves`)
    notices: list[dict[str, str]] = field(default_factory=list)  # what a changed split policy will and will not change


def prepare(root: Path, dataset: str, *, allow_rejects: bool = False, allow_leaks: bool = False, allow_moves: bool = False,
            clock: _Clock | None = None) -> Prepared:
    """Validate, encode labels and split `dataset`, and certify the split.

    Raises `ValidationFailed` (problems, unless `allow_rejects` and all are row problems)
    and `LeakageError` (the certificate does not hold: for a hash split a bug, never the data's
    fault; for a given or time split, groups or duplicates cross it, which `allow_leaks` accepts),
    `SplitsWouldMove` (records of the latest version would change split, unless `allow_moves`)
    and `SplitTooSmall` (a split with a ratio would be empty, or below split.min_rows/min_groups).
    """
    clock = clock or _Clock()
    versions_root = dataset_dir(root, dataset) / "versions"
    existing = published_versions(versions_root)
    parent = existing[-1] if existing else None
    pins = parent_splits(version_dir(versions_root, parent)) if parent else None  # published records keep their split
    validated = validate(root, dataset, assign_splits=True, parent=pins)
    clock.lap("validate")
    entry, report = validated.entry, validated.report
    dataset_level = any(p.row is None for p in report.problems)  # the entry or a whole file is wrong
    if dataset_level or (report.problems and not allow_rejects) or not validated.table.num_rows:
        report.raise_for_problems()
    table = encode_labels(validated.table, entry, spill_folder(root))
    clock.lap("encode labels")
    assignment = validated.split_assignment(pins)
    moves = published_moves(table, assignment, pins, entry.split) if pins is not None else None
    certificate = certify(table, assignment, entry.split, list(entry.schema.labels), moves, record=entry.schema.record)
    if not certificate["holds"] and entry.split.mode != "hash" and not allow_leaks:
        raise leak_error(dataset, certificate)  # what crosses, by id (hub.split_modes)
    if not certificate["holds"] and not allow_leaks:
        raise LeakageError(
            f"{dataset}: the splits leak: {certificate['groups_crossing_splits']} groups and "
            f"{certificate['duplicate_clusters_crossing_splits']} duplicate clusters cross splits",
            dataset=dataset, certificate=certificate,
        )
    if moves and moves["records"] and not allow_moves:
        raise SplitsWouldMove(moves_message(dataset, moves, parent), hint=moves_hint(parent), dataset=dataset, version=parent, moves=moves)
    shortfalls = split_shortfalls(certificate, assignment, entry.split)
    if shortfalls:
        raise SplitTooSmall(shortfall_message(dataset, shortfalls), dataset=dataset, problems=shortfalls, splits=certificate["splits"])
    clock.lap("splits and certificate")
    return Prepared(entry, report, table, assignment, certificate, versions_root, parent, moves, list(report.notices))


def publish(
    root: Path,
    dataset: str,
    *,
    version: str | None = None,
    bump: str | None = None,
    allow_rejects: bool = False,
    allow_leaks: bool = False,
    allow_moves: bool = False,
    allow_contamination: bool = False,
    push: bool = True,
    skip_unchanged: bool = False,
    annotation: dict[str, Any] | None = None,
) -> Published:
    """Validate `dataset`, split it and publish a new immutable version.

    The version is `version` if given, else the latest bumped by `bump`, else 1.0.0 for the
    first and, after that, the smallest bump the change needs (TFDS rules). Rows rejected
    by validation block publishing unless `allow_rejects` (they stay in quarantine and the
    manifest counts them). Publishing exactly the records of the latest version needs an
    explicit `bump` or `version` (a PATCH re-encode); with `skip_unchanged` the latest
    version is returned instead. `push=False` keeps the data in the DVC cache only.
    `annotation` (provenance of labels pulled from Label Studio) goes into the manifest and card.
    `allow_leaks` publishes a given or time split that groups or duplicates cross (the card says how much).
    Records of the latest version never change split unless `allow_moves`; then the version is
    a MAJOR one and its certificate, card and page say what moved.
    Train records that are another dataset's test or validation records refuse the publish
    (`Contaminated`, `hub.contamination`) unless `allow_contamination`: then the manifest's
    `contamination` and the card name those test sets.
    Raises `ValidationFailed`, `LeakageError`, `SplitsWouldMove`, `SplitTooSmall`, `Contaminated`,
    `VersionExists`, `InvalidVersion`, `StorageError`.
    """
    config.parquet_compression()  # a bad HUB_PARQUET_COMPRESSION fails now, not after the validation
    clock = _Clock()
    source = _BACKGROUND.submit(_source_fingerprint, root, dataset)  # hashed while the source is read and validated
    prepared = prepare(root, dataset, allow_rejects=allow_rejects, allow_leaks=allow_leaks, allow_moves=allow_moves, clock=clock)
    entry, report, table, versions_root, parent = prepared.entry, prepared.report, prepared.table, prepared.versions_root, prepared.parent
    split_idx, split_names, certificate = prepared.assignment.index, prepared.assignment.names, prepared.certificate
    table, pii = for_publishing(table, entry)  # `pii: redact` replaces the spans in what is published (hub.pii)
    prints = fingerprint_records(table, entry.schema.record, split_idx, split_names, entry.split.thresholds(), spill=spill_folder(root))  # stored with the version
    clock.lap("fingerprints")
    contamination = _check_contamination(root, entry, table, split_idx, split_names, allow_contamination, prints)
    clock.lap("contamination check")
    if prepared.moves and prepared.moves["records"]:
        _refuse_minor_moves(dataset, parent, prepared.moves, version, bump)
    new_version, change = _choose_version(versions_root, entry, table, split_idx, split_names, parent, version, bump)
    if change == "unchanged" and version is None and bump is None:
        if skip_unchanged:
            target = version_dir(versions_root, parent)
            return Published(dataset, parent, target, json.loads((target / "manifest.json").read_text(encoding="utf-8")), report, unchanged=True, notices=prepared.notices)
        raise VersionExists(
            f"{dataset}@{parent} already holds exactly these records",
            hint="Nothing to publish. To re-encode the same records as a new PATCH version, pass --bump patch.",
            dataset=dataset, version=parent,
        )
    target = version_dir(versions_root, new_version)
    if target.exists():
        raise VersionExists(f"{dataset}@{new_version} is already published", dataset=dataset, version=new_version)
    _remove_stale_staging(versions_root)
    staging = versions_root / f".staging-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    (staging / "data").mkdir(parents=True)
    stored: Future | None = None
    try:
        clock.lap("choose version")
        stats_job = _BACKGROUND.submit(compute_stats, table, split_idx, split_names, entry, certificate)  # alongside the writing
        splits, files = write_shards(staging, table, split_idx, split_names, entry, certificate)
        withheld = blind.withhold(staging, splits, files, entry)  # blind splits lose their labels before anything hashes them
        fingerprints.write(prints, staging / fingerprints.PATH)  # the contamination index's part of this version: into DVC, never served
        clock.lap("write shards")
        stored = _STORE.submit(_store, root, staging, files, push=push)  # DVC copies the shards while the metadata is written
        manifest = _manifest(entry, new_version, splits, files, report, parent, change, source.result())
        manifest["license"] = effective_license(entry.license, table)  # records with their own licenses: the strictest combination (hub.license_rules)
        manifest["certificate"] = certificate
        manifest["engine"] = engine.name()  # where the per-batch stages ran (hub.engine): the data is the same either way
        manifest["fingerprints"] = fingerprints.meta(staging / fingerprints.PATH, prints.num_rows, entry.split.thresholds())
        manifest["fingerprints"]["seconds"] = {"fingerprints": clock.laps["fingerprints"], "contamination_check": clock.laps["contamination check"]}  # the check's cost
        if contamination is not None:
            manifest["contamination"] = contamination
        if annotation is not None:
            manifest["annotation"] = annotation
        if pii is not None:
            manifest["pii"] = pii
        derivation = parents_of(entry)  # a derived dataset (hub.deriving): its parents, and their terms in NOTICE.md
        if derivation is not None:
            manifest["lineage"]["parents"] = derivation["parents"]
            (staging / "NOTICE.md").write_text(notice(entry, manifest), encoding="utf-8")
        if withheld:
            manifest["blind"] = withheld
        clock.lap("source checksum wait")
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        stats = stats_job.result()
        stats["plots"] = plot(stats, staging / "plots", entry.id)
        (staging / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (staging / "leakage.json").write_text(json.dumps(certificate, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (staging / "README.md").write_text(render_card(entry, entry.schema.features, splits, new_version, manifest, stats["plots"]), encoding="utf-8")
        clock.lap("stats, plots, manifest and card")
        stored.result()
        clock.lap("dvc add and push (the rest)")
        blind.mark(staging, manifest)  # the card says which splits are blind (the Croissant file says it itself), before the file hashes it
        # Last, after DVC: the Croissant file lists the folder's files with their sha256, and `dvc add` adds to them (.gitignore).
        (staging / "croissant.json").write_text(json.dumps(croissant(revision_at(root, dataset, staging)), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if target.exists():
            raise VersionExists(f"{dataset}@{new_version} was published meanwhile", dataset=dataset, version=new_version)
        os.rename(staging, target)  # the commit point
    except BaseException:
        if stored is not None:
            wait([stored])  # DVC is done with the staging folder before it goes
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _refresh_index(root)
    clock.lap("index")
    log.debug("publish timings: %s", clock)
    log.info("published %s@%s (%d rows)", dataset, new_version, table.num_rows)
    return Published(dataset, new_version, target, manifest, report, notices=prepared.notices)


def _refuse_minor_moves(dataset: str, parent: str, moves: dict[str, Any], version: str | None, bump: str | None) -> None:
    """Moving published records is a MAJOR change: an explicit smaller bump or version is refused."""
    major = str(Version.parse(parent).bump("major"))
    if (bump is not None and bump != "major") or (version is not None and Version.parse(version).major <= Version.parse(parent).major):
        asked = f"--bump {bump}" if bump is not None else f"--version {version}"
        pairs = "; ".join(f"{p['from']} → {p['to']} {p['records']}" for p in moves["pairs"])
        raise SplitsWouldMove(f"{dataset}: {moves['records']} published records of {parent} move split ({pairs}): that is a MAJOR change, not {asked}",
                              hint=f"Leave out {'--bump' if bump is not None else '--version'} (the hub picks {major}), or pass --bump major.",
                              dataset=dataset, version=parent, moves=moves)


def _check_contamination(root: Path, entry: Entry, table: pa.Table, split_idx: np.ndarray, names: list[str], allow: bool,
                         prints: pa.Table) -> dict[str, Any] | None:
    """The other datasets' test and validation records this one holds (`hub.contamination`, over
    `prints`, the records' fingerprints); raises `Contaminated` for training records unless `allow`.
    None when nothing matches."""
    from hub import contamination

    started = time.perf_counter()
    matches = contamination.check(root, entry.schema.record, table, split_idx, names, thresholds=entry.split.thresholds(), exclude=entry.id, prints=prints)
    if not allow:
        contamination.raise_if_contaminated(root, entry.id, matches)
    if not matches:
        return None
    return {"matches": [m.to_dict(all_ids=False) for m in matches], "train_contaminated": bool(contamination.refusing(matches)),
            "allowed": allow, "seconds": round(time.perf_counter() - started, 3)}


_BACKGROUND = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hub-publish")
_STORE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-store")  # DVC's add and push, one publish at a time


def _source_fingerprint(root: Path, dataset: str) -> dict[str, Any]:
    return source_fingerprint(load_entry(root, dataset))


def encode_labels(table: pa.Table, entry: Entry, spill: Path | None = None) -> pa.Table:
    """The table in the published schema: class-label strings become class indices (the
    columns that hold them memory-mapped from `spill` once large: `hub.spill`)."""
    from hub.spill import Spill

    schema = entry.schema
    labels = pa.array(list(schema.labels), pa.string())

    def encode(values: pa.Array) -> pa.Array:
        return pc.index_in(values, value_set=labels).cast(pa.int64())

    columns = []
    for name in schema.arrow_schema.names:
        column = table.column(name)  # untouched columns are not copied
        paths = [path[1:] for path in schema.label_paths if path[0] == name]
        if paths:
            kind = schema.arrow_schema.field(name).type
            encoded = Spill(spill, threshold=config.spill_bytes() // 8)
            for chunk in column.chunks:
                for path in paths:
                    chunk = map_leaf(chunk, path, encode)
                encoded.add(pa.table({name: pa.chunked_array([chunk], type=kind)}))
            column = encoded.table(pa.schema([pa.field(name, kind)])).column(name)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema.arrow_schema)


def _choose_version(versions_root, entry, table, split_idx, split_names, parent, version, bump) -> tuple[str, str | None]:
    if version is not None:
        chosen = str(Version.parse(version))
        if parent and Version.parse(chosen) <= Version.parse(parent):
            raise VersionExists(f"{entry.id}@{chosen} is not newer than the latest published version {parent}", dataset=entry.id, version=chosen)
        change = classify_change(version_dir(versions_root, parent), entry, table, split_idx, split_names) if parent else None
        return chosen, change
    if parent is None:
        return "1.0.0", None
    change = classify_change(version_dir(versions_root, parent), entry, table, split_idx, split_names)
    return str(Version.parse(parent).bump(bump or ("patch" if change == "unchanged" else change))), change


def _remove_stale_staging(versions_root: Path) -> None:
    for stale in versions_root.glob(".staging-*"):
        try:
            pid = int(stale.name.split("-")[1])
            os.kill(pid, 0)
            continue  # its publisher is still running
        except (ValueError, IndexError, ProcessLookupError):
            pass
        except PermissionError:
            continue
        log.warning("removing %s, left by an interrupted publish", stale)
        shutil.rmtree(stale, ignore_errors=True)


class _Clock:
    """Wall time per publishing step, for `hub -vv publish`."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self.last, 3)
        self.last = now

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.2f}s" for k, v in self.laps.items())


def write_shards(staging: Path, table: pa.Table, split_idx: np.ndarray, names: list[str], entry: Entry, certificate: dict[str, Any]):
    """Write every split's shards in one streaming pass over `table`; return (splits, files).

    The groups per split are the leakage certificate's (`certify` counted them from the data).

    Batches are cut by split and handed to writer threads (`hub.shards`), so rows are copied
    once, in small pieces, shards are encoded on every core, and each is hashed (sha256 and
    DVC's md5) while it is written.
    """
    max_rows, max_bytes = config.shard_rows(), config.shard_bytes()
    counts = np.bincount(split_idx, minlength=len(names))
    row_bytes = max(1, table.nbytes // max(1, table.num_rows))
    per_shard = max(1, min(max_rows, max_bytes // row_bytes))
    with progress.bar(table.num_rows, desc=f"writing {entry.id}") as bar:
        files = write_splits(staging, table, split_idx, names, per_shard, progress=bar.update)
    splits: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        if not counts[i]:
            continue
        split_files = [f for f in files if f["split"] == name]
        groups = certificate["splits"][name]["groups"]
        splits[name] = {"rows": int(counts[i]), "groups": groups, "bytes": sum(f["size"] for f in split_files), "files": len(split_files)}
    return splits, files


def _code_revision() -> dict[str, Any]:
    here = Path(hub.__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", str(here)], cwd=here, capture_output=True, text=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        rev, dirty = None, None
    return {"hub_version": hub.__version__, "git_commit": rev, "dirty": dirty}


def _manifest(entry: Entry, version: str, splits: dict, files: list, report: Report, parent: str | None, change: str | None, source: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": "hub-manifest/1",
        "dataset": entry.id,
        "version": version,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "modality": entry.modality,
        "record": entry.schema.record,
        "license": entry.license.to_dict(),
        "labels": list(entry.schema.labels),
        "features": entry.schema.features.to_dict(),
        "splits": splits,
        "files": [{k: v for k, v in f.items() if k != "md5"} for f in files],
        "rows": sum(s["rows"] for s in splits.values()),
        "validation": {"rows_read": report.rows_read, "rows_rejected": report.rows_rejected, "problems": report.counts()},
        "lineage": {
            "source": source,
            "dataset_yaml_sha256": sha256_file(entry.yaml_path),
            "params": {"split": entry.split.to_dict()},
            "code": _code_revision(),
        },
        "parent": {"version": parent, "change": change} if parent else None,
    }


_NOT_PUBLISHED = "Then publish again: nothing was published, the versions already there are as they were."


def _store(root: Path, staging: Path, files: list[dict[str, Any]], *, push: bool) -> None:
    """Put the shards into DVC's cache (`data.dvc`) and, if `push`, its default remote.

    The md5 of every shard was computed while writing it; DVC's state database is told, so
    `dvc add` does not read the files again.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo
    from dvc_data.hashfile.hash_info import HashInfo

    try:
        with dvc_lock(root), Repo(str(root)) as repo:
            repo.scm_context.quiet = True  # the library never prints: no "git add ..." hint
            known = [(str(staging / f["path"]), HashInfo("md5", f["md5"]), None) for f in files]
            repo.state.save_many(known, repo.fs)
            repo.add(str(staging / "data"))
            if push:
                try:
                    _copy_to_local_remote(repo, files)
                    repo.push(targets=[str(staging / "data.dvc")])
                except Exception as exc:  # DVC's, the file system's or the object store's client's: the version does not appear
                    remote = repo.config["remote"].get(repo.config["core"].get("remote", ""), {"url": "(no default remote)"})
                    raise remote_error(remote["url"], remote.get("endpointurl"), exc, after=_NOT_PUBLISHED) from exc
    except DvcException as exc:
        raise StorageError(f"DVC could not store {staging.name}: {exc}") from exc


def _copy_to_local_remote(repo: Any, files: list[dict[str, Any]]) -> None:
    """Copy the shards from the cache into a local default remote, on every core.

    DVC's push copies files into a local remote one at a time, which leaves a core idle for
    the length of a full copy of the data. The remote's own object database (`ObjectDB.add`:
    DVC's copy, under the md5 name and read-only) takes them here in parallel instead; the
    push then finds them there and sends the rest (the directory listing). Remotes that are
    not a local folder are left to the push.
    """
    remote = repo.cloud.get_remote_odb(None, "push")
    if remote.fs.protocol != "local" or len(files) < 2:
        return
    cache = repo.cache.local
    biggest_first = sorted(files, key=lambda f: -f["size"])
    with ThreadPoolExecutor(max_workers=min(len(files), os.cpu_count() or 1), thread_name_prefix="hub-remote") as pool:
        list(pool.map(lambda f: remote.add(cache.oid_to_path(f["md5"]), cache.fs, f["md5"]), biggest_first))


def _refresh_index(root: Path) -> None:
    from hub.catalog import Catalog

    try:
        Catalog(root).refresh()
    except Exception as exc:  # the index is derived and rebuilt on the next read
        log.warning("catalog index not refreshed (%s); it is rebuilt on the next read", exc)

