"""The read side of published versions: which files a version holds, their checksums, and
the one safe way to turn a (dataset, revision, path) into a file on disk.

A version is exposed the way the Hugging Face Hub exposes a git revision:

- its **revision names** are the version (`1.0.0`), `main` (the latest version) and its
  **commit id**, the sha1 of its `manifest.json` (40 hex digits, immutable like the version);
- its **files** are what the version folder holds (card, manifest, stats, certificate, plots,
  Parquet shards); `data.dvc` and dot-files are not files of the dataset. Shards carry the sha256 the manifest recorded, the way the Hub lists LFS files.

Every path a caller gives is checked against that listing, so no request can name a file
outside the version (`..`, absolute paths and symlinks never match an entry). A version
whose manifest.json cannot be read, or names a file outside `data/`, is `BrokenEntry`: it is
skipped when resolving `main` or a commit id, and named, it is refused with the reason.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from hub.errors import BrokenEntry, EntryNotFound, StorageError, UnsafePath, VersionNotFound
from hub.hashing import sha256_file
from hub.ids import Version, check_dataset_id
from hub.repo import dataset_dir, inside
from hub.versions import published_versions

__all__ = ["RepoFile", "Revision", "check_manifest", "resolve_revision", "revision_at"]

_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class RepoFile:
    """One file of a version, as the Hub's tree API lists it."""

    path: str
    size: int
    blob_id: str  # git blob sha1 of the content (or of the LFS pointer, for shards)
    sha256: str | None = None  # set for data shards (listed as LFS files)
    split: str | None = None
    rows: int | None = None

    def to_hf(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "file", "oid": self.blob_id, "size": self.size, "path": self.path}
        if self.sha256:
            data["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": len(_lfs_pointer(self.sha256, self.size))}
        return data


@dataclass
class Revision:
    """A published version of a dataset, resolved from any of its revision names."""

    root: Path
    dataset: str
    version: str
    path: Path
    manifest: dict[str, Any]
    commit: str
    files: dict[str, RepoFile] = field(default_factory=dict)

    def file(self, path: str) -> tuple[RepoFile, Path]:
        """The entry and where its bytes are.

        Raises `EntryNotFound` for anything not listed, whatever the path looks like.
        """
        entry = self.files.get(path)
        if entry is None:
            raise EntryNotFound(f"{self.dataset}@{self.version} has no file {path!r}", dataset=self.dataset, version=self.version, path=path)
        return entry, self.path / path

    def ensure_data(self) -> None:
        """Fetch the shards from the DVC remote if this checkout has only `data.dvc`."""
        from hub.versions import _ensure_data

        _ensure_data(self.path)

    def shard_source(self, files: list[RepoFile]) -> tuple[Any, list[str]]:
        """Where to read the shards `files` of this version from: (None, their paths) in this
        checkout; in a replica cloned without the data whose DVC remote is S3, (a pyarrow file
        system, their keys) in the object store, each checked against the manifest
        (`hub.objectstore.shard_files`); else they are fetched first (`ensure_data`)."""
        local = [str(self.path / f.path) for f in files]
        if not files or (self.path / files[0].path).is_file():
            return None, local
        from hub.objectstore import shard_files

        remote = shard_files(self.root, self.path, [(f.path, f.size) for f in files])
        if remote is not None:
            return remote
        self.ensure_data()
        return None, local

    def fetched(self, path: str, size: int, sha256: str) -> Path:
        """Where to read the version's file `path` (a shard, a blind split's withheld labels)
        whole: in this checkout; in a replica cloned without the data whose DVC remote is S3, a
        copy of that one object, its sha256 checked (`hub.objectstore.fetch_object`); else in
        this checkout once the version's data is fetched (`ensure_data`). The caller checks what
        it reads (`verified`, with `where`)."""
        where = self.path / path
        if where.is_file():
            return where
        from hub.objectstore import fetch_object

        copy = fetch_object(self.root, self.path, path, size, sha256)
        if copy is not None:
            return copy
        self.ensure_data()
        return where

    def verified(self, path: str, sha256: str | None,
                 hint: str = "The published data was changed on disk: restore it with `dvc checkout` (or `dvc pull`).",
                 where: Path | None = None) -> Path:
        """Where the version's file `path` is (in the checkout, or `where`: a copy from `fetched`),
        once its bytes are checked against the sha256 its manifest records (a shard, or a file the
        manifest names elsewhere); `StorageError` if not."""
        where = self.path / path if where is None else where
        if not where.is_file() or sha256_file(where) != sha256:
            raise StorageError(f"{self.dataset}@{self.version}: {path} does not match the sha256 of its manifest", hint=hint,
                               dataset=self.dataset, version=self.version, path=path)
        return where

    def split_files(self, split: str | None = None) -> list[RepoFile]:
        return [f for f in self.files.values() if f.sha256 and (split is None or f.split == split)]


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def resolve_revision(root: Path, dataset: str, revision: str | None = None) -> Revision:
    """Resolve `revision` (a version, `main`/None for the latest, or a commit id).

    Raises `DatasetNotFound`/`InvalidDatasetId` for the dataset, `VersionNotFound` for the
    revision.
    """
    check_dataset_id(dataset)
    folder = dataset_dir(root, dataset)
    if not (folder / "dataset.yaml").is_file():
        from hub.errors import DatasetNotFound

        raise DatasetNotFound(f"dataset {dataset!r} is not registered", dataset=dataset)
    versions_root = folder / "versions"
    versions = published_versions(versions_root)
    if not versions:
        raise VersionNotFound(f"{dataset} has no published version", dataset=dataset, version=revision)
    if revision in (None, "", "main") or _COMMIT.match(revision):
        broken: BrokenEntry | None = None
        for version in reversed(versions):  # the latest readable version, or the one with that commit id
            try:
                found = _load(root, dataset, versions_root / version)
            except BrokenEntry as exc:
                broken = broken or exc
                continue
            if revision in (None, "", "main") or found.commit == revision:
                return found
        if revision in (None, "", "main") and broken is not None:
            raise broken
    else:
        try:
            version = str(Version.parse(revision))
        except ValueError:
            version = None
        if version in versions:
            return _load(root, dataset, versions_root / version)
    raise VersionNotFound(
        f"{dataset} has no version {revision!r} (versions: {', '.join(versions)})",
        hint="Name a published version, `main` for the latest, or a commit id the API returned.",
        dataset=dataset,
        version=revision,
    )


def revision_at(root: Path, dataset: str, path: Path) -> Revision:
    """The version in folder `path` (which holds its manifest.json), wherever the folder is
    (a published version, or one being staged)."""
    return _load(root, dataset, path)


def _load(root: Path, dataset: str, path: Path) -> Revision:
    manifest_path = path / "manifest.json"
    st = manifest_path.stat()
    return _load_cached(root, dataset, path, st.st_mtime_ns, st.st_size, st.st_ino)


def _rel(root: Path, path: Path) -> str:
    """`path` relative to the repository (never the server's absolute path)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _read_manifest(root: Path, dataset: str, folder: Path) -> tuple[dict[str, Any], bytes]:
    rel = _rel(root, folder / "manifest.json")

    def broken(reason: str) -> BrokenEntry:
        return BrokenEntry(f"{rel} {reason}", dataset=dataset, version=folder.name, file=rel)

    try:
        raw = inside(folder, "manifest.json").read_bytes()
    except UnsafePath:
        raise broken("is a link out of its version folder") from None
    try:
        manifest = json.loads(raw)
    except UnicodeDecodeError:
        raise broken("is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise broken(f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(manifest, dict):
        raise broken(f"must hold a JSON object, not {type(manifest).__name__}")
    files = manifest.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        raise broken("has no list of files")
    for f in files:
        path = f.get("path")
        if not isinstance(path, str) or not path.startswith("data/") or ".." in path.split("/") or "\\" in path or "//" in path:
            raise broken(f"names a file outside the version's data/ folder: {path!r}")
        if not isinstance(f.get("size"), int) or not isinstance(f.get("sha256"), str):
            raise broken(f"gives no size and sha256 for {path!r}")
    if not isinstance(manifest.get("splits", {}), dict):
        raise broken("has no mapping of splits")
    return manifest, raw


def check_manifest(root: Path, dataset: str, folder: Path) -> dict[str, Any]:
    """The manifest.json of the version in `folder`, checked enough to be served.

    Raises `BrokenEntry` naming the file (relative to `root`) and what is wrong with it: not a
    JSON object, a link out of the folder, a file listed outside `data/`, no size or sha256.
    """
    return _read_manifest(root, dataset, folder)[0]


@lru_cache(maxsize=1024)  # a server's versions: a miss reads and hashes every small file of the folder
def _load_cached(root: Path, dataset: str, path: Path, _mtime: int, _size: int, _ino: int) -> Revision:
    manifest, raw = _read_manifest(root, dataset, path)
    revision = Revision(root, dataset, manifest.get("version", path.name), path, manifest, hashlib.sha1(raw).hexdigest())
    shards = {f["path"]: f for f in manifest.get("files", [])}
    entries: dict[str, RepoFile] = {}
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = file.relative_to(path).as_posix()
        if rel == "data.dvc" or any(part.startswith(".") for part in rel.split("/")) or rel.startswith("data/"):
            continue
        data = file.read_bytes()
        entries[rel] = RepoFile(rel, len(data), _git_blob_id(data), sha256=None)
    for rel, shard in shards.items():
        entries[rel] = RepoFile(rel, shard["size"], _git_blob_id(_lfs_pointer(shard["sha256"], shard["size"])), shard["sha256"], shard.get("split"), shard.get("rows"))
    revision.files = dict(sorted(entries.items()))
    return revision


def file_sha256(revision: Revision, entry: RepoFile) -> str:
    """The sha256 of a listed file (recorded for shards, computed for the rest)."""
    if entry.sha256:
        return entry.sha256
    return sha256_file(revision.file(entry.path)[1])
