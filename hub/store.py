"""The read side of published versions: which files a version holds, their checksums, and
the one safe way to turn a (dataset, revision, path) into a file on disk.

A version is exposed the way the Hugging Face Hub exposes a git revision:

- its **revision names** are the version (`1.0.0`), `main` (the latest version) and its
  **commit id**, the sha1 of its `manifest.json` (40 hex digits, immutable like the version);
- its **files** are what the version folder holds (card, manifest, stats, certificate, plots,
  Parquet shards); `data.dvc` and dot-files are not files of the dataset. Shards carry the sha256 the manifest recorded, the way the Hub lists LFS files.

Every path a caller gives is checked against that listing, so no request can name a file
outside the version (`..`, absolute paths and symlinks never match an entry).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from hub.errors import EntryNotFound, VersionNotFound
from hub.hashing import sha256_file
from hub.ids import Version, check_dataset_id
from hub.repo import dataset_dir
from hub.versions import published_versions

__all__ = ["RepoFile", "Revision", "resolve_revision", "revision_at"]

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
    if revision in (None, "", "main"):
        return _load(root, dataset, versions_root / versions[-1])
    if _COMMIT.match(revision):
        for version in reversed(versions):
            found = _load(root, dataset, versions_root / version)
            if found.commit == revision:
                return found
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
    return _load_cached(root, dataset, path, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=1024)  # a server's versions: a miss reads and hashes every small file of the folder
def _load_cached(root: Path, dataset: str, path: Path, _mtime: int, _size: int) -> Revision:
    raw = (path / "manifest.json").read_bytes()
    manifest = json.loads(raw)
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
