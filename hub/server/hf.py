"""The subset of the Hugging Face Hub API that `huggingface_hub` and `datasets` call.

Read from `huggingface_hub` 2.x (`hf_api.py`, `file_download.py`, `hf_file_system.py`):

| call                                   | endpoint                                                  |
|----------------------------------------|-----------------------------------------------------------|
| `dataset_info`, `snapshot_download`    | GET  /api/datasets/{ns}/{name}[/revision/{rev}]  (in api) |
| `list_repo_tree`, `HfFileSystem.ls`    | GET  /api/datasets/{ns}/{name}/tree/{rev}[/{path}]        |
| `get_paths_info`, `HfFileSystem.info`  | POST /api/datasets/{ns}/{name}/paths-info/{rev}           |
| `list_repo_refs`                       | GET  /api/datasets/{ns}/{name}/refs                       |
| `hf_hub_download`, `HfFileSystem.open` | HEAD/GET /datasets/{ns}/{name}/resolve/{rev}/{path}       |

A version is a revision (tag) whose commit id is the sha1 of its manifest; `main` is the
latest version. Shards are listed as LFS files whose `oid` is their sha256, and downloads send
it as `X-Linked-Etag`, so the client's cache is keyed by the sha256 the manifest recorded.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from hub.errors import BadRequest, BrokenEntry, EntryNotFound
from hub.server.app import responses
from hub.server.gate import check_download, visible_revision
from hub.store import RepoFile, Revision, resolve_revision

__all__ = ["router"]

router = APIRouter(responses=responses(400))
_LISTING = responses(401, 404, 422)

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _children(revision: Revision, path: str, recursive: bool) -> list[dict[str, Any]]:
    prefix = path.strip("/")
    if prefix and prefix not in _directories(revision) and prefix not in revision.files:
        raise EntryNotFound(f"{revision.dataset}@{revision.version} has no path {path!r}", dataset=revision.dataset, version=revision.version, path=path)
    if prefix in revision.files:
        return [revision.files[prefix].to_hf()]
    base = prefix + "/" if prefix else ""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for rel, entry in revision.files.items():
        if not rel.startswith(base):
            continue
        rest = rel[len(base):]
        if "/" in rest and not recursive:
            folder = base + rest.split("/", 1)[0]
            if folder not in seen:
                seen.add(folder)
                out.append(_directory(revision, folder))
            continue
        if recursive:
            parts = rest.split("/")[:-1]
            for i in range(len(parts)):
                folder = base + "/".join(parts[: i + 1])
                if folder not in seen:
                    seen.add(folder)
                    out.append(_directory(revision, folder))
        out.append(entry.to_hf())
    return out


def _directories(revision: Revision) -> set[str]:
    dirs = set()
    for rel in revision.files:
        parts = rel.split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return dirs


def _directory(revision: Revision, folder: str) -> dict[str, Any]:
    import hashlib

    return {"type": "directory", "oid": hashlib.sha1(f"{revision.commit}:{folder}".encode()).hexdigest(), "size": 0, "path": folder}


@router.get("/api/datasets/{ns}/{name}/tree/{revision}", tags=["huggingface"], summary="List a revision's files (HF tree API)", responses=_LISTING)
@router.get("/api/datasets/{ns}/{name}/tree/{revision}/{path:path}", tags=["huggingface"], summary="List a folder of a revision (HF tree API)", responses=_LISTING)
def tree(request: Request, ns: str, name: str, revision: str, path: str = "", recursive: bool = Query(False, description="List sub-folders too."), expand: bool = Query(False, description="Accepted for compatibility; ignored.")) -> list[dict[str, Any]]:
    rev = visible_revision(request, ns, name, revision)
    return _children(rev, path, recursive)


@router.post("/api/datasets/{ns}/{name}/paths-info/{revision}", tags=["huggingface"], summary="Describe given paths of a revision (HF paths-info API)", responses=_LISTING)
def paths_info(request: Request, ns: str, name: str, revision: str, paths: list[str] = Form(default=[], description="Paths in the revision."), expand: bool = Form(False, description="Accepted for compatibility; ignored.")) -> list[dict[str, Any]]:
    rev = visible_revision(request, ns, name, revision)
    dirs = _directories(rev)
    out = []
    for path in paths:
        key = path.strip("/")
        if key in rev.files:
            out.append(rev.files[key].to_hf())
        elif key in dirs:
            out.append(_directory(rev, key))
    return out


@router.get("/api/datasets/{ns}/{name}/refs", tags=["huggingface"], summary="Branches and tags (HF refs API)", responses=_LISTING)
def refs(request: Request, ns: str, name: str) -> dict[str, Any]:
    from hub.versions import published_versions
    from hub.repo import dataset_dir

    latest = visible_revision(request, ns, name, None)
    tags = []
    for version in published_versions(dataset_dir(request.app.state.root, f"{ns}/{name}") / "versions"):
        try:
            rev = resolve_revision(request.app.state.root, f"{ns}/{name}", version)
        except BrokenEntry:  # listed among the dataset's problems, not as a revision
            continue
        tags.append({"name": version, "ref": f"refs/tags/{version}", "targetCommit": rev.commit})
    return {"branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": latest.commit}], "converts": [], "tags": tags}


@router.head("/datasets/{ns}/{name}/resolve/{revision}/{path:path}", include_in_schema=False)
@router.get("/datasets/{ns}/{name}/resolve/{revision}/{path:path}", tags=["huggingface"], summary="Download one file of a revision (HTTP Range supported)",
            responses={**responses(401, 403, 404, 416, 422, 503), 206: {"description": "The part of the file the Range asked for."},
                       307: {"description": "A shard this replica has no copy of: a short-lived presigned URL of the object store."}})
def resolve(request: Request, ns: str, name: str, revision: str, path: str) -> Response:
    rev = visible_revision(request, ns, name, revision)
    entry, where = rev.file(path)
    if entry.sha256:  # shards hold the records: the download gate
        check_download(request, rev.dataset)
    etag = entry.sha256 or entry.blob_id
    headers = {"X-Repo-Commit": rev.commit, "ETag": f'"{etag}"', "Accept-Ranges": "bytes", "Cache-Control": "public, max-age=31536000, immutable",
               # A dataset's files are data: opened directly (an SVG plot, say), nothing in them runs.
               "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox", "X-Content-Type-Options": "nosniff"}
    if entry.sha256:
        headers["X-Linked-Etag"] = f'"{entry.sha256}"'
        headers["X-Linked-Size"] = str(entry.size)
    media = _media_type(path)
    range_header = request.headers.get("range")
    if range_header:
        _check_range(range_header, entry.size)
    if not where.is_file():
        redirect = _from_object_store(rev, entry, headers)
        if redirect is not None:
            return redirect
        rev.ensure_data()
    return _File(where, media_type=media, headers=headers, stat_result=None)


def _from_object_store(rev: Revision, entry: RepoFile, headers: dict[str, str]) -> Response | None:
    """For a shard not on disk in a repository whose DVC remote is S3: a redirect to the object
    (`hub.objectstore`), which the client's Range and sha256 check then apply to. None otherwise."""
    if not entry.sha256:
        return None
    from hub.objectstore import presigned_shard

    url = presigned_shard(rev.root, rev.path, entry.path, entry.size)
    if url is None:
        return None
    return RedirectResponse(url, status_code=307, headers={**headers, "Cache-Control": "private, no-store"})  # the URL expires


class _File(FileResponse):
    chunk_size = 1024 * 1024  # 1 MiB reads: a 1 GB shard should go as fast as the disk


def _check_range(header: str, size: int) -> None:
    """Refuse a Range header we would not serve, with the error shape (Starlette's own is plain text)."""
    if len(header) > 200 or "," in header:
        raise BadRequest(f"unsupported Range header {header[:60]!r}: ask for one range, `bytes=START-[END]`", hint="Send `Range: bytes=START-` to resume.")
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        raise BadRequest(f"malformed Range header {header!r}: expected `bytes=START-[END]` or `bytes=-SUFFIX`", hint="Send `Range: bytes=START-` to resume.")
    start, end = match.groups()
    if start and (int(start) >= size or (end and int(end) < int(start))):
        raise RangeNotSatisfiable(f"range {header!r} is outside the file's {size} bytes", size=size)


class RangeNotSatisfiable(BadRequest):
    """Raised for a Range past the end of the file (HTTP 416)."""


def _media_type(path: str) -> str:
    if path.endswith(".parquet"):
        return "application/vnd.apache.parquet"
    if path.endswith(".json"):
        return "application/json"
    if path.endswith(".md"):
        return "text/markdown; charset=utf-8"
    if path.endswith(".png"):
        return "image/png"
    if path.endswith(".svg"):
        return "image/svg+xml"
    return "application/octet-stream"


def not_satisfiable(exc: RangeNotSatisfiable) -> JSONResponse:
    from hub.server.app import error_response

    return error_response(416, exc.message, type_="RangeNotSatisfiable", hint="Ask for a range inside the file.", headers={"Content-Range": f"bytes */{exc.fields.get('size')}"})
