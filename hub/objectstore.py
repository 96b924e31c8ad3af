"""Shards straight from an S3 DVC remote, for a server replica that holds no copy of the data.

A version folder in git names its shards by `data.dvc`: the md5 of DVC's listing of `data/`
(the `.dir` object), which names each file's md5, the key of its object in the remote
(`PREFIX/files/md5/ab/cdef...`). A replica that was cloned without `dvc pull` answers a
shard download with a short-lived presigned URL of that object: the client fetches the bytes
(with its Range) from the object store, and checks the manifest's sha256 as for any download.
The object is first checked against the manifest: its size, and its ETag against the md5
DVC recorded (for an object uploaded in one part, the ETag is its md5).

What the replica reads whole itself (the split a blind test set is scored on, its withheld
labels, a parent's shards for `hub derive`) it copies one object at a time into the work
folder (`fetch_object`), checked against the manifest's sha256, rather than `dvc pull` every
split of the version.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from hub.errors import StorageError
from hub.repo import remote_error, s3_filesystem

__all__ = ["PRESIGNED_SECONDS", "fetch_object", "presigned_shard", "shard_files", "shard_object"]

PRESIGNED_SECONDS = 300  # long enough to start a download; a resume asks the server again


def presigned_shard(root: Path, version: Path, path: str, size: int) -> str | None:
    """A presigned GET URL of shard `path` (`data/...`, `size` bytes in the manifest) of the
    version in folder `version`, or None when the repository's default remote is not S3.

    Raises `StorageError` when the remote does not hold the shard, cannot be reached, or holds
    another object under its name than the one the manifest and DVC recorded.
    """
    found = shard_object(root, version, path, size)
    if found is None:
        return None
    fs, key = found
    return fs.url(key, expires=PRESIGNED_SECONDS)


def shard_files(root: Path, version: Path, shards: list[tuple[str, int]]) -> tuple[Any, list[str]] | None:
    """(a pyarrow file system, the paths in it) of the version's `shards` ((path, size) each)
    in the S3 remote, each checked as `presigned_shard` checks it: what the row previews and the
    SQL console of a replica without the data read (Parquet footers and row groups, by Range).
    None when the repository's default remote is not S3. Raises `StorageError`."""
    import pyarrow.fs as pafs

    keys = []
    for path, size in shards:
        found = shard_object(root, version, path, size)
        if found is None:
            return None
        keys.append(found[1])
    return pafs.PyFileSystem(pafs.FSSpecHandler(_filesystem(_s3_remote(root)[1]))), keys


def fetch_object(root: Path, version: Path, path: str, size: int, sha256: str) -> Path | None:
    """A copy of the version's file `path` (`size` bytes, `sha256` in the manifest) from the S3
    remote, in the work folder (`.hub/objects/<sha256>`: fetched once, checked each time it is
    given), or None when the default remote is not S3. Raises `StorageError` when the remote
    does not hold it, cannot be reached, or holds other bytes under its name."""
    from hub.hashing import sha256_file
    from hub.repo import work_dir

    dest = work_dir(root) / "objects" / sha256
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    found = shard_object(root, version, path, size)
    if found is None:
        return None
    fs, key = found
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{sha256}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with fs.open(key, "rb") as source, open(tmp, "wb") as out:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot copy {path} of version {version.name} from the S3 remote into {dest.parent}: {exc}",
                           hint="Free space on that disk, and check the object store.", path=path) from exc
    except Exception as exc:  # boto's and s3fs's errors share no base but Exception
        tmp.unlink(missing_ok=True)
        url, endpoint = _s3_remote(root)
        raise remote_error(url, endpoint, exc) from exc
    if digest.hexdigest() != sha256:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"the object {key} is not {path} of version {version.name}: its sha256 is {digest.hexdigest()} (the manifest says {sha256})",
                           hint="Push the version again from a clone that has its data (`dvc push`), and check the object store.", path=path)
    os.replace(tmp, dest)
    return dest


def shard_object(root: Path, version: Path, path: str, size: int) -> tuple[Any, str] | None:
    """(s3fs file system, key) of shard `path` in the S3 remote, checked against the manifest's
    size and DVC's md5; None when the default remote is not S3. Raises `StorageError`."""
    remote = _s3_remote(root)
    if remote is None:
        return None
    url, endpoint = remote
    fs = _filesystem(endpoint)
    base = url.removeprefix("s3://").rstrip("/")
    try:
        md5 = _listing(endpoint, base, _dir_md5(version)).get(path.removeprefix("data/"))
        if md5 is None:
            raise StorageError(f"{path} of {version.name} is not in DVC's listing of its data (data.dvc)", path=path)
        key = f"{base}/files/md5/{md5[:2]}/{md5[2:]}"
        info = fs.info(key)
    except FileNotFoundError as exc:
        raise StorageError(f"the S3 remote {url} does not hold {path} of version {version.name} ({exc})",
                           hint="Push the version from a clone that has its data: `dvc push`.", path=path) from exc
    except StorageError:
        raise
    except Exception as exc:  # boto's and s3fs's errors share no base but Exception
        raise remote_error(url, endpoint, exc) from exc
    etag = str(info.get("ETag", "")).strip('"')
    if info.get("size") != size or ("-" not in etag and etag != md5):
        raise StorageError(f"the object {key} is not {path} of version {version.name}: {info.get('size')} bytes, ETag {etag} "
                           f"(the manifest says {size} bytes, DVC md5 {md5})", path=path,
                           hint="Push the version again from a clone that has its data (`dvc push`), and check the object store.")
    return fs, key


def _dir_md5(version: Path) -> str:
    out = yaml.safe_load((version / "data.dvc").read_text(encoding="utf-8"))["outs"][0]
    return out["md5"].removesuffix(".dir")


@lru_cache(maxsize=8)
def _filesystem(endpoint: str | None) -> Any:
    return s3_filesystem(endpoint)


@lru_cache(maxsize=256)  # content-addressed: a listing never changes
def _listing(endpoint: str | None, base: str, dir_md5: str) -> dict[str, str]:
    """{path in data/: md5} of DVC's `.dir` object `dir_md5` in the remote at `base`."""
    entries = json.loads(_filesystem(endpoint).cat(f"{base}/files/md5/{dir_md5[:2]}/{dir_md5[2:]}.dir"))
    return {e["relpath"]: e["md5"] for e in entries}


@lru_cache(maxsize=16)
def _s3_remote(root: Path) -> tuple[str, str | None] | None:
    """(url, endpoint) of the repository's default DVC remote if it is S3 (read once per process)."""
    from dvc.config import Config

    config = Config(dvc_dir=str(root / ".dvc"))
    remote = config["remote"].get(config["core"].get("remote", ""), {})
    if not str(remote.get("url", "")).startswith("s3://"):
        return None
    return remote["url"], remote.get("endpointurl")
