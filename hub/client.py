"""The download client: a pinned version from a hub server into a shared cache, verified.

    HUB_CACHE/<ns>/<name>/<version>/          what a version's folder holds, for the splits pulled
        info.json, manifest.json, README.md  (what the server said about the version)
        NOTICE.md                            (the license's obligations, written next to the data)
        .fetched-by.json                     (non-public versions: hashes of the tokens that fetched them)
        data/<split>-NNNNN-of-NNNNN.parquet
        data/<...>.parquet.part               an interrupted download, resumed with HTTP Range

- nothing the server says is trusted to name a place on disk: every path (manifest files,
  the version) is checked to stay inside the version's folder before anything is written;
- every shard is checked against the sha256 in the version's manifest, after each download
  and on every later use of the cache; a file that no longer matches is removed and fetched
  again (or, offline, refused);
- a download that is cut off keeps what arrived and resumes with `Range`, up to
  HUB_DOWNLOAD_RETRIES times in one pull, waiting HUB_DOWNLOAD_BACKOFF (doubling) in between;
- one download per file at a time, across processes: a lock file beside it;
- files of private and gated datasets are written 0600 in 0700 folders, and the cache hands
  them out only to a token that the server let fetch them: offline, the same token;
- `HUB_OFFLINE=1` never opens a connection: what is in the cache is used, verified.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from hub import config
from hub import progress as bars
from hub.errors import AccessDenied, GatedDataset, HubError, IntegrityError, OfflineError, VersionNotFound
from hub.hashing import sha256_file, update_from_file
from hub.ids import Version, check_dataset_id

if TYPE_CHECKING:
    from hub.transport import Server  # imported when online: offline use does without urllib

log = logging.getLogger(__name__)

__all__ = ["Pulled", "accept", "load", "pull"]

CHUNK = 1024 * 1024
FETCHED_BY = ".fetched-by.json"
_OWN_SUFFIXES = (".part", ".lock", ".tmp")  # names the cache uses for its own files
_HEX = set("0123456789abcdef")


@dataclass
class Pulled:
    """A version (or some of its splits) in the cache, every file verified."""

    dataset: str
    version: str
    path: Path
    splits: list[str]
    files: list[dict[str, Any]] = field(default_factory=list)
    downloaded_bytes: int = 0
    notice: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "version": self.version, "path": str(self.path), "splits": self.splits, "files": self.files, "downloaded_bytes": self.downloaded_bytes, "notice": str(self.notice) if self.notice else None}


@dataclass
class _Snapshot:
    """One version's folder in the cache, and how its files are written."""

    dataset: str
    version: str
    folder: Path
    private: bool  # not public: files 0600, folders 0700

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"

    @property
    def file_mode(self) -> int:
        return 0o600 if self.private else 0o666  # less the umask

    @property
    def dir_mode(self) -> int:
        return 0o700 if self.private else 0o777


def pull(ref: str, *, split: str | list[str] | None = None, endpoint: str | None = None, token: str | None = None, cache_dir: Path | str | None = None, progress: bool | None = None) -> Pulled:
    """Download `ns/name@version` (all splits, or `split`) into the cache and verify it.

    Without a version, the server's latest is pinned. Raises `DatasetNotFound`,
    `VersionNotFound`, `AccessDenied`/`GatedDataset` (also offline, for a private or gated
    version without the token that fetched it), `IntegrityError` (a download that does not
    match its sha256), `OfflineError` (offline and not cached), `HubError` (the server is
    unreachable, keeps cutting the download off, or names a path outside the version's folder).
    """
    dataset, _, version = ref.partition("@")
    check_dataset_id(dataset)
    if version:
        Version.parse(version)
    cache = Path(cache_dir) if cache_dir else config.cache_dir()
    token = token if token is not None else config.token()
    if config.offline():
        return _pull_offline(cache, dataset, version or _latest_cached(cache, dataset), split, token, progress)
    from hub.transport import Server

    server = Server(endpoint or config.endpoint(), token)
    if not version:
        version = server.json(f"/api/datasets/{dataset}").get("version")
        if version is None:
            raise VersionNotFound(f"{dataset} has no published version on the server at {server.endpoint}", dataset=dataset)
        _check_version(server, dataset, version)
    info = server.json(f"/api/datasets/{dataset}/revision/{version}")
    info = {k: info.get(k) for k in ("id", "title", "license", "commercial", "creators", "citation", "homepage", "access", "terms", "sha")}
    data = server.small(f"/datasets/{dataset}/resolve/{version}/manifest.json")
    manifest = _parse_manifest(data, f"the server at {server.endpoint}", dataset, version)
    snap = _Snapshot(dataset, version, cache / dataset / version, info.get("access") not in (None, "public"))
    shards = _wanted(manifest, snap, split)
    _check_paths(manifest, snap, f"the server at {server.endpoint}")  # nothing is written before this
    _make_folder(snap, cache)
    _write(snap, "info.json", (json.dumps(info, indent=2, ensure_ascii=False) + "\n").encode())
    _write(snap, "manifest.json", data)
    if snap.private and shards:
        _confirm_access(server, snap, shards[0], info.get("access"))
    downloaded = _fetch_all(server, snap, shards, progress)
    _write(snap, "README.md", server.small(f"/datasets/{dataset}/resolve/{version}/README.md"))
    return _pulled(snap, manifest, info, split, shards, downloaded)


def _pull_offline(cache: Path, dataset: str, version: str, split: str | list[str] | None, token: str | None, show: bool | None) -> Pulled:
    folder = cache / dataset / version
    if not (folder / "manifest.json").is_file():
        raise OfflineError(f"{dataset}@{version} is not in the cache ({folder}) and HUB_OFFLINE is set", dataset=dataset, version=version)
    try:
        info = json.loads((folder / "info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise OfflineError(f"{dataset}@{version} in the cache ({folder}) does not say who may read it (no readable info.json) and HUB_OFFLINE is set",
                           hint="Unset HUB_OFFLINE and pull it once more: the server says who may read it.", dataset=dataset, version=version) from None
    snap = _Snapshot(dataset, version, folder, info.get("access") not in (None, "public"))
    if snap.private:
        _check_offline_token(snap, info.get("access"), token)
    source = f"the cached manifest {folder / 'manifest.json'}"
    manifest = _parse_manifest((folder / "manifest.json").read_bytes(), source, dataset, version)
    shards = _wanted(manifest, snap, split)
    _check_paths(manifest, snap, source)
    downloaded = _fetch_all(None, snap, shards, show)
    return _pulled(snap, manifest, info, split, shards, downloaded)


def _pulled(snap: _Snapshot, manifest: dict[str, Any], info: dict[str, Any], split: Any, shards: list[dict[str, Any]], downloaded: int) -> Pulled:
    notice = _write_notice(snap, manifest, info)
    files = [{"path": f["path"], "split": f["split"], "rows": f["rows"], "size": f["size"], "sha256": f["sha256"]} for f in shards]
    return Pulled(snap.dataset, snap.version, snap.folder, _split_names(manifest, split), files, downloaded, notice)


def _split_names(manifest: dict[str, Any], split: str | list[str] | None) -> list[str]:
    return [split] if isinstance(split, str) else list(split or manifest.get("splits", {}))


def _wanted(manifest: dict[str, Any], snap: _Snapshot, split: str | list[str] | None) -> list[dict[str, Any]]:
    all_splits = list(manifest.get("splits", {}))
    wanted = _split_names(manifest, split)
    unknown = [s for s in wanted if s not in all_splits]
    if unknown:
        raise HubError(f"{snap.ref} has no split {unknown[0]!r} (splits: {', '.join(all_splits)})", hint="Pick one of the splits listed.", dataset=snap.dataset, version=snap.version)
    return [f for f in manifest["files"] if f.get("split") in wanted]


def _latest_cached(cache: Path, dataset: str) -> str:
    found = []
    if (cache / dataset).is_dir():
        for p in (cache / dataset).iterdir():
            try:
                if (p / "manifest.json").is_file():
                    found.append(Version.parse(p.name))
            except HubError:
                continue  # not a version's folder
    if not found:
        raise OfflineError(f"{dataset} is not in the cache ({cache}) and HUB_OFFLINE is set", dataset=dataset)
    return str(max(found))


# -- what the server says, checked before anything is written ---------------------------------

def _refuse(source: str, what: str, value: Any, snap_or_ref: str, why: str, **fields: Any) -> HubError:
    return HubError(f"{source} gave the {what} {value!r} for {snap_or_ref}, which {why}: refused, nothing was written",
                    hint="Pull only from a hub server you trust (--endpoint, HUB_ENDPOINT) and tell its operator: "
                         "a hub names its files like data/train-00000-of-00001.parquet, inside the version's folder.",
                    source=source, **fields)


def _check_version(server: Server, dataset: str, version: Any) -> None:
    try:
        Version.parse(version)
    except HubError:
        raise _refuse(f"the server at {server.endpoint}", "version", version, dataset, "is not MAJOR.MINOR.PATCH",
                      endpoint=server.endpoint, dataset=dataset, version=str(version)) from None


def _parse_manifest(data: bytes, source: str, dataset: str, version: str) -> dict[str, Any]:
    """The manifest's JSON, its id and files checked (the paths by `_check_paths`)."""
    ref = f"{dataset}@{version}"
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise IntegrityError(f"{source} gave a manifest for {ref} that is not JSON ({exc})", hint="Nothing was written; tell the server's operator.", dataset=dataset, version=version) from None
    if not isinstance(manifest, dict) or manifest.get("dataset") != dataset or manifest.get("version") != version:
        named = f"{manifest.get('dataset')}@{manifest.get('version')}" if isinstance(manifest, dict) else type(manifest).__name__
        raise IntegrityError(f"the manifest served for {ref} names {named}", hint="Nothing was written; check --endpoint / HUB_ENDPOINT.", dataset=dataset, version=version)
    files, splits = manifest.get("files"), manifest.get("splits", {})
    good = isinstance(files, list) and isinstance(splits, dict) and all(
        isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("split"), str)
        and all(isinstance(f.get(k), int) and not isinstance(f.get(k), bool) and f[k] >= 0 for k in ("size", "rows"))
        and isinstance(f.get("sha256"), str) and len(f["sha256"]) == 64 and set(f["sha256"]) <= _HEX for f in files)
    if not good:
        raise IntegrityError(f"{source} gave a manifest for {ref} whose files are not a list of {{path, split, rows, size, sha256}}",
                             hint="Nothing was written; tell the server's operator.", dataset=dataset, version=version)
    return manifest


def _path_problem(path: str) -> str | None:
    """Why `path` (relative, from a manifest) may not be written under a version's folder, or None."""
    if not path:
        return "is empty"
    if "\\" in path:
        return "contains a backslash"
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "contains a control character"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "is an absolute path"
    parts = path.split("/")
    if ".." in parts:
        return "leaves the version's folder (a '..' part)"
    if any(p in ("", ".") for p in parts):
        return "has an empty or '.' part"
    if parts[0] != "data" or len(parts) < 2:
        return "is not below data/"
    if any(p.startswith(".") for p in parts) or path.endswith(_OWN_SUFFIXES):
        return "is a hidden name or ends in .part, .lock or .tmp (names the cache keeps for itself)"
    if any(len(p.encode()) > 255 for p in parts):
        return "has a part longer than 255 bytes"
    return None


def _check_paths(manifest: dict[str, Any], snap: _Snapshot, source: str) -> None:
    """Raise unless every file of the manifest stays inside the version's folder, symlinks followed."""
    seen: set[str] = set()
    base = os.path.realpath(snap.folder)
    for f in manifest["files"]:
        path = f["path"]
        why = _path_problem(path)
        if why is None and path in seen:
            why = "is listed twice"
        if why is None:
            resolved = os.path.realpath(snap.folder / path)
            if os.path.commonpath([base, resolved]) != base:
                why = f"leads out of the version's folder through a symbolic link (to {resolved})"
        if why is not None:
            raise _refuse(source, "file path", path, snap.ref, why, path=path, dataset=snap.dataset, version=snap.version)
        seen.add(path)


# -- the cache's folders and files ---------------------------------------------------------

def _make_folder(snap: _Snapshot, cache: Path) -> None:
    """Create the version's folder (and data/); 0700 from <name>/ down for a non-public one."""
    ns, name = snap.dataset.split("/")
    levels = [(cache, 0o777), (cache / ns, 0o777), (cache / ns / name, snap.dir_mode), (snap.folder, snap.dir_mode), (snap.folder / "data", snap.dir_mode)]
    try:
        for path, mode in levels:
            try:
                os.mkdir(path, mode)
            except FileExistsError:
                pass
        if snap.private:
            _restrict(snap.folder.parent)
    except PermissionError as exc:
        raise HubError(f"cannot write to the cache at {exc.filename or cache}: permission denied", hint="Point HUB_CACHE (or --cache-dir) at a folder you may write to.", path=str(exc.filename)) from None


def _restrict(top: Path) -> None:
    """Make what is under `top` private to its owner: a version that was public once may not be now."""
    os.chmod(top, 0o700)
    for dirpath, dirnames, filenames in os.walk(top):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o700, follow_symlinks=False)
        for f in filenames:
            path = os.path.join(dirpath, f)
            if not os.path.islink(path):
                os.chmod(path, 0o600)


def _open(path: Path, flags: int, mode: int) -> int:
    """os.open that never follows a symlink at `path` and creates files with `mode` (less the umask)."""
    return os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)


def _write(snap: _Snapshot, name: str, data: bytes) -> None:
    """Write `folder/name` whole or not at all (a temporary file renamed)."""
    path = snap.folder / name
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    with os.fdopen(_open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, snap.file_mode), "wb") as out:
        out.write(data)
    os.replace(tmp, path)


@contextmanager
def _locked(path: Path, mode: int) -> Iterator[None]:
    fd = _open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


# -- who may use a private or gated version in the cache ------------------------------------

def _token_id(token: str) -> str:
    """What the cache keeps of a token: a salted sha256, never the token."""
    return hashlib.sha256(b"hub-cache-token\0" + token.encode()).hexdigest()


def _fetched_by(snap: _Snapshot) -> dict[str, Any]:
    try:
        data = json.loads((snap.folder / FETCHED_BY).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) and isinstance(data.get("tokens"), dict) else {"tokens": {}}
    except (OSError, ValueError):
        return {"tokens": {}}


def _confirm_access(server: Server, snap: _Snapshot, shard: dict[str, Any], access: str | None) -> None:
    """Ask the server whether this token may download the version (cached or not); record it."""
    with server.request(f"/datasets/{snap.dataset}/resolve/{snap.version}/{shard['path']}", {"Range": "bytes=0-0"}) as response:
        response.read(1)
    if server.token is None:
        return
    try:
        user = server.json("/api/whoami-v2").get("name")
    except HubError:
        user = None
    record = _fetched_by(snap)
    record["access"] = access
    record["tokens"][_token_id(server.token)] = {"user": user, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    _write(snap, FETCHED_BY, (json.dumps(record, indent=2) + "\n").encode())


def _check_offline_token(snap: _Snapshot, access: str | None, token: str | None) -> None:
    kind = GatedDataset if access == "gated" else AccessDenied
    hint = "Pass the token you pulled it with (--token, HUB_TOKEN), or unset HUB_OFFLINE so that the server checks yours."
    if not token:
        raise kind(f"{snap.ref} is {access}: offline, the cache hands it only to the token that fetched it, and no token was given", hint=hint, dataset=snap.dataset, version=snap.version)
    if _token_id(token) not in _fetched_by(snap)["tokens"]:
        raise kind(f"{snap.ref} is {access}: offline, the cache hands it only to the token that fetched it, and this token did not", hint=hint, dataset=snap.dataset, version=snap.version)


# -- the shards -----------------------------------------------------------------------------

def _fetch_all(server: Server | None, snap: _Snapshot, shards: list[dict[str, Any]], show: bool | None) -> int:
    downloaded = 0
    with bars.bytes_bar(sum(f["size"] for f in shards), snap.ref, show) as bar:
        for shard in shards:
            downloaded += _fetch(server, snap, shard, bar)
    return downloaded


def _fetch(server: Server | None, snap: _Snapshot, shard: dict[str, Any], bar: Any) -> int:
    """Make `folder/shard[path]` a verified copy; return the bytes downloaded for it."""
    target = snap.folder / shard["path"]
    if server is not None:
        for parent in reversed(target.relative_to(snap.folder).parents[:-1]):
            (snap.folder / parent).mkdir(mode=snap.dir_mode, exist_ok=True)
    elif not target.parent.is_dir():
        raise OfflineError(f"{shard['path']} of {snap.ref} is not in the cache and HUB_OFFLINE is set", dataset=snap.dataset, version=snap.version, path=str(target))
    with _locked(target, snap.file_mode):
        if target.is_file() and not target.is_symlink():
            if target.stat().st_size == shard["size"] and sha256_file(target) == shard["sha256"]:
                bar.update(shard["size"])
                return 0
            log.warning("%s does not match its sha256 %s: removed, fetching it again", target, shard["sha256"])
            target.unlink()
            if server is None:
                raise IntegrityError(f"the cached {shard['path']} of {snap.ref} is corrupted (sha256 mismatch) and HUB_OFFLINE is set", hint="Unset HUB_OFFLINE and pull again: the bad copy was removed.", path=str(target))
        elif target.is_symlink():
            target.unlink()  # the cache holds files, never links
        if server is None:
            raise OfflineError(f"{shard['path']} of {snap.ref} is not in the cache and HUB_OFFLINE is set", dataset=snap.dataset, version=snap.version, path=str(target))
        return _download_verified(server, snap, shard, target, bar)


def _download_verified(server: Server, snap: _Snapshot, shard: dict[str, Any], target: Path, bar: Any) -> int:
    """Download into `target.part` (resuming it), check the sha256, rename; return the bytes received.

    A part that was resumed and does not match is discarded and the file downloaded whole
    once more; a whole download that does not match is an `IntegrityError`."""
    part = target.with_name(target.name + ".part")
    received = 0
    for attempt in (1, 2):
        got, digest, resumed = _download(server, snap, shard, part, bar)
        received += got
        if digest == shard["sha256"]:
            os.replace(part, target)
            return received
        part.unlink()
        bar.update(-shard["size"])
        if attempt == 2 or not resumed:
            break
        log.warning("%s of %s, resumed from a partial download, does not match its sha256: the partial file was discarded, downloading it whole", shard["path"], snap.ref)
    what = "a resumed download and then a whole one" if attempt == 2 else "the download"
    raise IntegrityError(f"{shard['path']} of {snap.ref} does not match its sha256 {shard['sha256']}: {what} from {server.endpoint} gave other bytes",
                         hint="The server's copy is damaged: tell its operator (`hub check` on the server side). Nothing bad was kept.", path=shard["path"])


def _download(server: Server, snap: _Snapshot, shard: dict[str, Any], part: Path, bar: Any) -> tuple[int, str, bool]:
    """Fill `part` to the shard's size, resuming with Range after a cut (with backoff).

    Returns the bytes received, the sha256 of the whole part (hashed as the bytes arrive; a
    part left by an earlier run is hashed from disk once) and whether its last piece was a
    resumed one (asked for with Range)."""
    from hub.transport import Cut

    size, url = shard["size"], f"/datasets/{snap.dataset}/resolve/{snap.version}/{shard['path']}"
    retries, backoff = config.download_retries(), config.download_backoff()
    digest, hashed, shown, got, cuts, resumed = hashlib.sha256(), 0, 0, 0, 0, False
    have = _size_of(part)
    if have > size:
        part.unlink()
        have = 0
    while have < size:
        try:
            with server.stream(url, have) as (response, start):
                if start != have:  # the server would not resume there: start over
                    have, digest, hashed = 0, hashlib.sha256(), 0
                if hashed != have:  # a part from an earlier run: hash what is there, once
                    update_from_file(digest, part)
                    hashed = have
                resumed = have > 0
                bar.update(have - shown)
                shown = have
                n, reason = _receive(response, part, have, size, digest, bar, snap.file_mode)
                got, have, hashed, shown = got + n, have + n, hashed + n, shown + n
                if reason:
                    raise Cut(reason)
        except Cut as exc:
            if _size_of(part) != have:  # not what was counted: hash the part again from disk
                have, digest, hashed = _size_of(part), hashlib.sha256(), 0
            cuts += 1
            if cuts > retries:
                raise HubError(f"the download of {shard['path']} of {snap.ref} from {server.endpoint} was cut off {cuts} times ({exc.reason}); "
                               f"{have} of {size} bytes are kept in {part}",
                               hint="Run the command again: it resumes from there (HUB_DOWNLOAD_RETRIES sets how often one pull retries).",
                               path=shard["path"], endpoint=server.endpoint) from None
            wait = min(30.0, backoff * 2 ** (cuts - 1))
            log.warning("download of %s cut off (%s), %d of %d bytes kept: retry %d of %d in %.1f s", shard["path"], exc.reason, have, size, cuts, retries, wait)
            time.sleep(wait)
    if hashed != have:  # the whole part was there already
        update_from_file(digest, part)
        resumed = True
    bar.update(have - shown)
    return got, digest.hexdigest(), resumed


def _size_of(path: Path) -> int:
    try:
        return path.lstat().st_size
    except FileNotFoundError:
        return 0


def _receive(response: Any, part: Path, start: int, size: int, digest: Any, bar: Any, mode: int) -> tuple[int, str | None]:
    """Write the body into `part` from byte `start` (what follows is cut), at most `size - start`
    bytes; return how many came and, if the body stopped short, why."""
    got, want = 0, size - start
    buffer = memoryview(bytearray(CHUNK))
    try:
        with os.fdopen(_open(part, os.O_WRONLY | os.O_CREAT, mode), "wb") as out:
            out.truncate(start)
            out.seek(start)
            while got < want:
                try:
                    n = response.readinto(buffer[: min(CHUNK, want - got)])
                except Exception as exc:  # reset, timeout, http.client.IncompleteRead, ...
                    return got, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if not n:
                    return got, f"the connection closed after {start + got} of {size} bytes"
                out.write(buffer[:n])
                digest.update(buffer[:n])
                got += n
                bar.update(n)
    except OSError as exc:
        raise HubError(f"cannot write {part}: {exc.strerror or exc}", hint="Free some space (or point HUB_CACHE elsewhere) and pull again: it resumes from what is kept.", path=str(part)) from None
    return got, None


# -- notice, load, accept -------------------------------------------------------------------

def _write_notice(snap: _Snapshot, manifest: dict[str, Any], info: dict[str, Any]) -> Path:
    """NOTICE.md next to the data: the license, whether commercial use is allowed, what to credit."""
    lic = manifest.get("license") or {}
    lines = [f"# {info.get('title') or snap.dataset} ({snap.ref})", "", f"License: `{lic.get('expression')}`", ""]
    if lic.get("commercial"):
        lines.append("Commercial use: allowed by the license.")
    else:
        lines.append("**Commercial use: NOT allowed.** This dataset's license does not permit commercial use; use it for research and evaluation only, or obtain other terms from its creators.")
    lines.append("")
    for obligation in lic.get("obligations", []):
        lines.append(f"- {obligation}")
    if info.get("creators") or info.get("citation"):
        lines += ["", "## Attribution", ""]
        if info.get("creators"):
            names = [c.get("name", str(c)) if isinstance(c, dict) else str(c) for c in info["creators"]]
            lines.append("Creators: " + ", ".join(names))
        if info.get("citation"):
            lines += ["", "Cite as:", "", "```", str(info["citation"]).strip(), "```"]
    parents = (manifest.get("lineage") or {}).get("parents")
    if parents:  # a derived version: each parent's terms apply to its records
        from hub.notice import parent_lines

        lines += ["", *parent_lines(parents)]
    if info.get("terms"):
        lines += ["", "## Terms you accepted", "", str(info["terms"])]
    _write(snap, "NOTICE.md", ("\n".join(lines) + "\n").encode())
    return snap.folder / "NOTICE.md"


def load(dataset: str, *, version: str | None = None, split: str = "test", endpoint: str | None = None, token: str | None = None, cache_dir: Path | str | None = None, progress: bool | None = None):
    """A `datasets.Dataset` of one split or a TFDS-style slice (`test[:10%]`, `train[100:200]`,
    `train[:50%]+test`), pulled and verified first; features as published.
    """
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        instruction = datasets.ReadInstruction.from_spec(split)
    except (ValueError, AssertionError) as exc:
        raise HubError(f"invalid split {split!r}: {exc}", hint="Write a split or a TFDS slice: `test`, `test[:10%]`, `train[100:200]`, `train+test`.") from None
    ref = f"{dataset}@{version}" if version else dataset
    names = sorted({part.split("[")[0] for part in split.split("+")})
    pulled = pull(ref, split=names, endpoint=endpoint, token=token, cache_dir=cache_dir, progress=progress)
    manifest = json.loads((pulled.path / "manifest.json").read_text(encoding="utf-8"))
    sizes = {name: s["rows"] for name, s in manifest["splits"].items()}
    from hub.blind import withheld

    blind = {field for name in names for field in withheld(manifest, name)}  # a blind split has no labels: nor do the splits read with it
    pieces = []
    for part in instruction.to_absolute(sizes):
        files = [pulled.path / f["path"] for f in pulled.files if f["split"] == part.splitname]
        table = pa.concat_tables([pq.read_table(f) for f in files]) if files else None
        if table is not None:
            pieces.append(table.slice(part.from_, part.to - part.from_).drop_columns([c for c in blind if c in table.column_names]))
    table = pa.concat_tables(pieces) if pieces else pa.table({})
    features = datasets.Features.from_dict({k: v for k, v in manifest["features"].items() if k not in blind})
    return datasets.Dataset(table, info=datasets.DatasetInfo(features=features, description=f"{dataset}@{pulled.version}"), split=datasets.NamedSplit(split))


def accept(dataset: str, *, endpoint: str | None = None, token: str | None = None) -> dict[str, Any]:
    """Accept `dataset`'s terms on the server for the token's user; return the recorded acceptance."""
    check_dataset_id(dataset)
    if config.offline():
        raise OfflineError("accepting terms needs the server, and HUB_OFFLINE is set", dataset=dataset)
    from hub.transport import Server

    return Server(endpoint or config.endpoint(), token if token is not None else config.token()).json(f"/api/datasets/{dataset}/accept", method="POST")
