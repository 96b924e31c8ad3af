"""The download client: a pinned version from a hub server into a shared cache, verified.

    HUB_CACHE/<ns>/<name>/<version>/          what a version's folder holds, for the splits pulled
        manifest.json, README.md, NOTICE.md  (the license's obligations, written next to the data)
        data/<split>-NNNNN-of-NNNNN.parquet
        data/<...>.parquet.part               an interrupted download, resumed with HTTP Range

- every shard is checked against the sha256 in the version's manifest, after each download
  and on every later use of the cache; a file that no longer matches is removed and fetched
  again (or, offline, refused);
- one download per file at a time, across processes: a lock file beside it;
- `HUB_OFFLINE=1` never opens a connection: what is in the cache is used, verified.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from hub import config
from hub.errors import AccessDenied, DatasetNotFound, EntryNotFound, GatedDataset, HubError, IntegrityError, OfflineError, VersionNotFound
from hub.hashing import sha256_file, update_from_file
from hub.ids import check_dataset_id

log = logging.getLogger(__name__)

__all__ = ["Pulled", "accept", "load", "pull"]

CHUNK = 1024 * 1024


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


class _Server:
    def __init__(self, endpoint: str, token: str | None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.token = token

    def request(self, path: str, headers: dict[str, str] | None = None, *, method: str = "GET"):
        url = self.endpoint + urllib.parse.quote(path)
        req = urllib.request.Request(url, method=method, headers={**(headers or {}), **({"Authorization": f"Bearer {self.token}"} if self.token else {})})
        try:
            return urllib.request.urlopen(req, timeout=60)
        except urllib.error.HTTPError as exc:
            raise _error_from(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            raise HubError(
                f"cannot reach the hub server at {self.endpoint}: {getattr(exc, 'reason', exc)}",
                hint="Start one with `hub serve`, point HUB_ENDPOINT (or --endpoint) at yours, or set HUB_OFFLINE=1 to use the cache.",
                endpoint=self.endpoint,
            ) from None

    def json(self, path: str, *, method: str = "GET") -> Any:
        with self.request(path, method=method) as response:
            return json.loads(response.read())


def _error_from(exc: urllib.error.HTTPError) -> HubError:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        body = {}
    message = body.get("error") if isinstance(body.get("error"), str) else f"HTTP {exc.code} from {exc.url}"
    kinds = {"DatasetNotFound": DatasetNotFound, "VersionNotFound": VersionNotFound, "EntryNotFound": EntryNotFound, "GatedDataset": GatedDataset, "AccessDenied": AccessDenied}
    cls = kinds.get(body.get("type"), HubError)
    error = cls(message, status=exc.code)
    if body.get("hint"):
        error.hint = body["hint"]
    return error


def pull(ref: str, *, split: str | list[str] | None = None, endpoint: str | None = None, token: str | None = None, cache_dir: Path | str | None = None, progress: bool | None = None) -> Pulled:
    """Download `ns/name@version` (all splits, or `split`) into the cache and verify it.

    Without a version, the server's latest is pinned. Raises `DatasetNotFound`,
    `VersionNotFound`, `AccessDenied`/`GatedDataset`, `IntegrityError` (a download that does
    not match its sha256 twice), `OfflineError` (offline and not cached), `HubError`
    (the server is unreachable).
    """
    dataset, _, version = ref.partition("@")
    check_dataset_id(dataset)
    cache = Path(cache_dir) if cache_dir else config.cache_dir()
    offline = config.offline()
    server = None if offline else _Server(endpoint or config.endpoint(), token if token is not None else config.token())
    if not version:
        if server is None:
            version = _latest_cached(cache, dataset)
        else:
            version = server.json(f"/api/datasets/{dataset}")["version"]
    folder = cache / dataset / version
    manifest = _manifest(server, folder, dataset, version)
    all_splits = list(manifest.get("splits", {}))
    wanted = [split] if isinstance(split, str) else list(split or all_splits)
    unknown = [s for s in wanted if s not in all_splits]
    if unknown:
        raise HubError(f"{dataset}@{version} has no split {unknown[0]!r} (splits: {', '.join(all_splits)})", hint="Pick one of the splits listed.", dataset=dataset, version=version)
    shards = [f for f in manifest["files"] if f.get("split") in wanted]
    total = sum(f["size"] for f in shards)
    downloaded = 0
    with _progress(total, f"{dataset}@{version}", progress) as bar:
        for shard in shards:
            downloaded += _fetch(server, folder, dataset, version, shard, bar)
    if server is not None:
        _fetch_small(server, folder, dataset, version, "README.md")
    info = _info(server, folder, dataset, version)
    notice = _write_notice(folder, dataset, version, manifest, info)
    return Pulled(dataset, version, folder, wanted, [{"path": f["path"], "split": f["split"], "rows": f["rows"], "size": f["size"], "sha256": f["sha256"]} for f in shards], downloaded, notice)


def _latest_cached(cache: Path, dataset: str) -> str:
    from hub.ids import Version

    found = sorted((Version.parse(p.name) for p in (cache / dataset).glob("*") if (p / "manifest.json").is_file()), reverse=True) if (cache / dataset).is_dir() else []
    if not found:
        raise OfflineError(f"{dataset} is not in the cache ({cache}) and HUB_OFFLINE is set", dataset=dataset)
    return str(found[0])


def _manifest(server: _Server | None, folder: Path, dataset: str, version: str) -> dict[str, Any]:
    path = folder / "manifest.json"
    if server is None:
        if not path.is_file():
            raise OfflineError(f"{dataset}@{version} is not in the cache ({folder}) and HUB_OFFLINE is set", dataset=dataset, version=version)
    else:
        _fetch_small(server, folder, dataset, version, "manifest.json")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("dataset") != dataset or manifest.get("version") != version:
        path.unlink(missing_ok=True)
        raise IntegrityError(f"the manifest served for {dataset}@{version} names {manifest.get('dataset')}@{manifest.get('version')}", dataset=dataset, version=version)
    return manifest


def _info(server: _Server | None, folder: Path, dataset: str, version: str) -> dict[str, Any]:
    path = folder / "info.json"
    if server is not None:
        info = server.json(f"/api/datasets/{dataset}/revision/{version}")
        keep = {k: info.get(k) for k in ("id", "title", "license", "commercial", "creators", "citation", "homepage", "access", "terms", "sha")}
        _atomic_write(path, (json.dumps(keep, indent=2, ensure_ascii=False) + "\n").encode())
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _fetch_small(server: _Server, folder: Path, dataset: str, version: str, name: str) -> None:
    with server.request(f"/datasets/{dataset}/resolve/{version}/{name}") as response:
        _atomic_write(folder / name, response.read())


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fetch(server: _Server | None, folder: Path, dataset: str, version: str, shard: dict[str, Any], bar) -> int:
    """Make `folder/shard[path]` a verified copy; return the bytes downloaded for it."""
    target = folder / shard["path"]
    with _locked(target):
        if target.is_file():
            if target.stat().st_size == shard["size"] and sha256_file(target) == shard["sha256"]:
                bar.update(shard["size"])
                return 0
            log.warning("%s does not match its sha256 %s: removed, fetching it again", target, shard["sha256"])
            target.unlink()
            if server is None:
                raise IntegrityError(f"the cached {shard['path']} of {dataset}@{version} is corrupted (sha256 mismatch) and HUB_OFFLINE is set", hint="Unset HUB_OFFLINE and pull again: the bad copy was removed.", path=str(target))
        if server is None:
            raise OfflineError(f"{shard['path']} of {dataset}@{version} is not in the cache and HUB_OFFLINE is set", dataset=dataset, version=version, path=str(target))
        downloaded = 0
        for attempt in (1, 2):
            got, digest = _download(server, f"/datasets/{dataset}/resolve/{version}/{shard['path']}", target, shard, bar)
            downloaded += got
            if digest == shard["sha256"]:
                return downloaded
            target.unlink()
            log.warning("download of %s did not match its sha256 (attempt %d)", shard["path"], attempt)
        raise IntegrityError(f"{shard['path']} of {dataset}@{version} downloaded twice and never matched its sha256 {shard['sha256']}", hint="The server's copy is damaged: tell its operator (`hub check` on the server side).", path=shard["path"])


def _download(server: _Server, url_path: str, target: Path, shard: dict[str, Any], bar) -> tuple[int, str]:
    """Download into `target.part`, resuming from its length; rename when complete.

    Returns the bytes received and the sha256 of the whole file, hashed as it arrives (a
    resumed part is hashed first), so the file is read from disk only once.
    """
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    digest = hashlib.sha256()
    if have > shard["size"]:
        part.unlink()
        have = 0
    got = 0
    if have < shard["size"]:
        headers = {"Range": f"bytes={have}-"} if have else {}
        with server.request(url_path, headers) as response:
            if have and response.status == 206:
                update_from_file(digest, part)
                bar.update(have)
                mode = "ab"
            else:
                mode, have = "wb", 0
            with open(part, mode) as out:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
    else:
        update_from_file(digest, part)
        bar.update(have)
    os.replace(part, target)
    return got, digest.hexdigest()


@contextmanager
def _progress(total: int, label: str, enabled: bool | None):
    from tqdm import tqdm

    show = config.progress_enabled() if enabled is None else enabled
    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label, disable=not show) as bar:
        yield bar


def _write_notice(folder: Path, dataset: str, version: str, manifest: dict[str, Any], info: dict[str, Any]) -> Path:
    """NOTICE.md next to the data: the license, whether commercial use is allowed, what to credit."""
    lic = manifest.get("license", {})
    lines = [f"# {info.get('title') or dataset} ({dataset}@{version})", "", f"License: `{lic.get('expression')}`", ""]
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
    if info.get("terms"):
        lines += ["", "## Terms you accepted", "", str(info["terms"])]
    path = folder / "NOTICE.md"
    _atomic_write(path, ("\n".join(lines) + "\n").encode())
    return path


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
    pieces = []
    for part in instruction.to_absolute(sizes):
        files = [pulled.path / f["path"] for f in pulled.files if f["split"] == part.splitname]
        table = pa.concat_tables([pq.read_table(f) for f in files]) if files else None
        if table is not None:
            pieces.append(table.slice(part.from_, part.to - part.from_))
    table = pa.concat_tables(pieces) if pieces else pa.table({})
    features = datasets.Features.from_dict(manifest["features"])
    return datasets.Dataset(table, info=datasets.DatasetInfo(features=features, description=f"{dataset}@{pulled.version}"), split=datasets.NamedSplit(split))


def accept(dataset: str, *, endpoint: str | None = None, token: str | None = None) -> dict[str, Any]:
    """Accept `dataset`'s terms on the server for the token's user; return the recorded acceptance."""
    check_dataset_id(dataset)
    if config.offline():
        raise OfflineError("accepting terms needs the server, and HUB_OFFLINE is set", dataset=dataset)
    return _Server(endpoint or config.endpoint(), token if token is not None else config.token()).json(f"/api/datasets/{dataset}/accept", method="POST")
