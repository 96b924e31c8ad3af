"""The JSON API: the catalog, datasets, versions, row previews, media, Croissant, access.

`GET /api/datasets/{ns}/{name}` answers both our clients and `huggingface_hub.dataset_info`:
the Hub's fields (`id`, `sha`, `siblings`, `private`, `gated`, `cardData`...) and the hub's
(`title`, `license`, `versions`, `splits`, `problems`...) side by side.

Who may see what is decided in `hub.server.gate`: routes that return records (rows, media)
go through its `check_download`, the others through `visible_entry`/`visible_revision`.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Body, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

import hub
from hub import records
from hub.errors import BadRequest, EntryNotFound
from hub.server.app import current_user, responses
from hub.server.gate import readable_revision, visible_entry, visible_revision
from hub.store import Revision, resolve_revision

__all__ = ["read_json", "read_rows", "router"]

router = APIRouter(responses=responses(400))

MAX_PREVIEW_ROWS = 100
Modality = Literal[tuple(records.modalities())]  # type: ignore[valid-type]  # the registry's modalities, as a query parameter's choices
_DATASET = responses(401, 404, 422)  # a bad token (public and gated datasets), not registered or not visible, bad parameters
_CONTENT = responses(401, 403, 404, 422)  # also: a gated dataset whose terms the token's user did not accept


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/health", tags=["meta"], summary="Liveness, and which worker process answered")
def health() -> dict[str, Any]:
    import os

    return {"status": "ok", "version": hub.__version__, "worker": os.getpid()}


@router.get("/api/whoami-v2", tags=["huggingface"], summary="The token's user (HF whoami)", responses=responses(401))
def whoami(request: Request) -> dict[str, Any]:
    user = current_user(request)
    if user is None:
        from hub.errors import AccessDenied

        raise AccessDenied("no token given")
    return {"type": "user", "name": user.name, "fullname": user.name, "canPublish": user.publish, "auth": {"type": "access_token"}}


@router.get("/api/datasets", tags=["catalog"], summary="Search the catalog", responses=responses(401, 422))
def search(
    request: Request,
    search: str = Query("", max_length=500, description="Words that must all appear (id, title, description, tags, card)."),
    modality: Modality | None = Query(None, description="Only this modality."),
    task: str | None = Query(None, max_length=100, description="Only datasets with this task."),
    language: str | None = Query(None, max_length=20, description="Only datasets in this language (ISO 639-1)."),
    license: str | None = Query(None, max_length=200, description="Only licenses containing this text (e.g. CC-BY)."),
    commercial: bool | None = Query(None, description="true: commercial use allowed; false: not allowed."),
    limit: int = Query(100, ge=1, le=1000, description="The most results to return."),
    offset: int = Query(0, ge=0, le=1_000_000, description="Skip this many results."),
) -> list[dict[str, Any]]:
    user = current_user(request)
    rows = request.app.state.catalog.search(search, modality=modality, task=task, language=language, license=license, commercial=commercial, limit=limit, offset=offset, include_private=user is not None)
    return [{**row, "private": row["access"] == "private", "gated": "manual" if row["access"] == "gated" else False} for row in rows]


@router.get("/api/datasets/{ns}/{name}", tags=["catalog"], summary="A dataset: its entry, versions and the latest version's files", responses=_DATASET)
@router.get("/api/datasets/{ns}/{name}/revision/{revision}", tags=["huggingface"], summary="A dataset at one revision (HF dataset_info)", responses=_DATASET)
def dataset(request: Request, ns: str, name: str, revision: str | None = None) -> dict[str, Any]:
    dataset_id = f"{ns}/{name}"
    info = visible_entry(request, dataset_id)
    out: dict[str, Any] = {**info, "_id": dataset_id, "id": dataset_id, "author": ns, "private": info["access"] == "private", "gated": "manual" if info["access"] == "gated" else False, "disabled": False, "downloads": 0, "likes": 0, "tags": _tags(info)}
    if info["versions"] or revision is not None:
        rev = resolve_revision(request.app.state.root, dataset_id, revision)
        out.update({"sha": rev.commit, "version": rev.version, "lastModified": _hf_time(rev.manifest.get("created")), "createdAt": _hf_time(rev.manifest.get("created")), "siblings": [{"rfilename": p} for p in rev.files], "splits": rev.manifest.get("splits", {}), "cardData": _card_data(rev)})
    return out


def _hf_time(iso: str | None) -> str | None:
    """`2026-01-02T03:04:05+00:00` as the Hub writes times (`...05.000Z`), which its client parses."""
    from datetime import datetime, timezone

    if not iso:
        return None
    return datetime.fromisoformat(iso).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _tags(info: dict[str, Any]) -> list[str]:
    tags = [f"modality:{info.get('modality')}", f"license:{(info.get('license') or '').lower()}"]
    tags += [f"task_categories:{t}" for t in info.get("tasks") or []]
    tags += [f"language:{lang}" for lang in info.get("languages") or []]
    return tags + list(info.get("tags") or [])


def _card_data(rev: Revision) -> dict[str, Any]:
    """The YAML front matter of the version's README.md (the HF `cardData`); do not modify it."""
    text = rev.file("README.md")[1].read_text(encoding="utf-8") if "README.md" in rev.files else ""
    return _front_matter(text)


@functools.lru_cache(maxsize=1024)
def _front_matter(text: str) -> dict[str, Any]:
    """Parsed once per content: with PyYAML's pure-Python parser it was a third of this route's CPU."""
    import yaml

    if text.startswith("---\n"):
        try:
            return yaml.load(text[4 : text.index("\n---", 4)], Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        except (ValueError, yaml.YAMLError):
            return {}
    return {}


@router.get("/api/datasets/{ns}/{name}/versions/{version}", tags=["catalog"], summary="One version: manifest, stats, certificate, files", responses=_DATASET)
def version(request: Request, ns: str, name: str, version: str) -> dict[str, Any]:
    rev = visible_revision(request, ns, name, version)
    base = _base(request)
    return {
        "dataset": rev.dataset,
        "version": rev.version,
        "commit": rev.commit,
        "manifest": rev.manifest,
        "stats": read_json(rev, "stats.json"),
        "leakage": read_json(rev, "leakage.json"),
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256, "split": f.split, "rows": f.rows, "url": f"{base}/datasets/{rev.dataset}/resolve/{rev.version}/{f.path}"} for f in rev.files.values()],
        "plots": [f"{base}/datasets/{rev.dataset}/resolve/{rev.version}/{p}" for p in rev.files if p.startswith("plots/")],
        "croissant": f"{base}/api/datasets/{rev.dataset}/croissant?version={rev.version}",
    }


def read_json(rev: Revision, name: str) -> Any:
    """A JSON file of the version folder (stats.json, leakage.json), or None if it has none
    (a link is not a file of the version: `hub.store`)."""
    import json

    return json.loads(rev.file(name)[1].read_text(encoding="utf-8")) if name in rev.files else None


@router.get("/api/datasets/{ns}/{name}/croissant", tags=["catalog"], summary="Croissant 1.1 JSON-LD of a version (the latest by default)", responses=_DATASET)
def croissant(request: Request, ns: str, name: str, version: str | None = Query(None, max_length=40, description="A version; the latest when absent.")) -> JSONResponse:
    from hub.croissant import croissant as make

    rev = visible_revision(request, ns, name, version)
    doc = make(rev, base_url=f"{_base(request)}/datasets/{rev.dataset}/resolve/{rev.commit}/")
    return JSONResponse(doc, media_type="application/ld+json")


@router.get("/api/datasets/{ns}/{name}/versions/{version}/rows", tags=["catalog"], summary="A page of rows of one split, media as URLs", responses=_CONTENT)
def rows(
    request: Request,
    ns: str,
    name: str,
    version: str,
    split: str = Query(..., max_length=50, description="train, validation or test."),
    offset: int = Query(0, ge=0, le=10**9, description="The first row."),
    length: int = Query(20, ge=1, le=MAX_PREVIEW_ROWS, description="How many rows."),
) -> dict[str, Any]:
    rev = readable_revision(request, ns, name, version)
    table, total = read_rows(rev, split, offset, length)
    media_base = f"{_base(request)}/api/datasets/{rev.dataset}/versions/{rev.version}/media"
    out = []
    for row in table.to_pylist():
        out.append({key: _preview(value, f"{media_base}/{row.get('id')}/{key}") for key, value in row.items()})
    return {"dataset": rev.dataset, "version": rev.version, "split": split, "offset": offset, "total": total, "rows": out}


def split_shards(rev: Revision, split: str) -> list:
    """The shards of `split` of `rev`; `BadRequest` naming the splits there are for another."""
    files = rev.split_files(split)
    if not files:
        raise BadRequest(f"{rev.dataset}@{rev.version} has no split {split!r} (splits: {', '.join(rev.manifest.get('splits', {}))})", dataset=rev.dataset, version=rev.version)
    return files


def read_rows(rev: Revision, split: str, offset: int, length: int) -> tuple[pa.Table, int]:
    """Rows [offset, offset+length) of a split, reading only the row groups they are in (from
    this checkout, or from the object store: `Revision.shard_source`)."""
    files = split_shards(rev, split)
    total = sum(f.rows or 0 for f in files)
    pieces, skip, want = [], offset, length
    wanted = []
    for f in files:  # the shards the rows are in
        if want <= 0:
            break
        if skip >= (f.rows or 0):
            skip -= f.rows or 0
            continue
        wanted.append(f)
        want -= (f.rows or 0) - skip
        skip = 0
    if not wanted:
        return pa.table({}), total
    fs, paths = rev.shard_source(wanted)
    skip, want = offset - sum(f.rows or 0 for f in files[:files.index(wanted[0])]), length
    for path in paths:
        if want <= 0:
            break
        parquet = pq.ParquetFile(fs.open_input_file(path) if fs is not None else path)
        for g in range(parquet.num_row_groups):
            n = parquet.metadata.row_group(g).num_rows
            if skip >= n:
                skip -= n
                continue
            chunk = parquet.read_row_group(g).slice(skip, want)
            pieces.append(chunk)
            want -= chunk.num_rows
            skip = 0
            if want <= 0:
                break
    if not pieces:
        return pa.table({}), total
    return pa.concat_tables(pieces), total


def shards_for_duckdb(con: Any, rev: Revision, files: list) -> tuple[str, dict[str, Any]]:
    """What a DuckDB query on `con` reads the shards `files` of `rev` from, and its parameters:
    `read_parquet` of the files in this checkout, or, on a replica that reads them from the
    object store (`Revision.shard_source`), an Arrow dataset of them registered on `con`. The
    columns are those of all the shards (a blind split has no labels: nulls there)."""
    import pyarrow.dataset as ds

    fs, paths = rev.shard_source(files)
    if fs is None:
        return "read_parquet($files, union_by_name = true)", {"files": paths}
    schema = pa.unify_schemas([pq.read_schema(p, filesystem=fs) for p in paths], promote_options="permissive") if paths else None
    con.register("shards", ds.dataset(paths, format="parquet", filesystem=fs, schema=schema))
    return "shards", {}


def _preview(value: Any, url: str) -> Any:
    """Bytes of media become a URL; long series are cut to a preview."""
    if isinstance(value, dict) and "bytes" in value:
        return {"url": url, "path": value.get("path")}
    if isinstance(value, bytes):
        return {"url": url}
    if isinstance(value, list) and len(value) > 50 and all(isinstance(v, (int, float)) for v in value[:50]):
        return value[:50] + ["…"]
    if isinstance(value, list):
        return [_preview(v, url) for v in value]
    if isinstance(value, dict):
        return {k: _preview(v, url) for k, v in value.items()}
    return value


def _is_media(feature: Any) -> bool:
    """Whether a `datasets` feature holds media bytes: Image, Audio, or a struct of bytes and path (video)."""
    return isinstance(feature, dict) and (feature.get("_type") in ("Image", "Audio", "Video") or {"bytes", "path"} <= set(feature))


@router.get("/api/datasets/{ns}/{name}/versions/{version}/media/{record_id}/{field}", tags=["catalog"], summary="The audio or image bytes of one record's field", responses=_CONTENT)
def media(request: Request, ns: str, name: str, version: str, record_id: str, field: str) -> Response:
    import duckdb

    rev = readable_revision(request, ns, name, version)
    columns = rev.manifest.get("features", {})
    if not _is_media(columns.get(field)):  # (a label, or a blind split's withheld label, is no media)
        raise EntryNotFound(f"{rev.dataset}@{rev.version} has no media field {field!r}", dataset=rev.dataset, version=rev.version, path=field)
    with duckdb.connect() as con:
        source, params = shards_for_duckdb(con, rev, rev.split_files())
        found = con.execute(f'SELECT "{field}" FROM {source} WHERE id = $id LIMIT 1', {**params, "id": record_id}).fetchall()
    if not found:
        raise EntryNotFound(f"{rev.dataset}@{rev.version} has no record {record_id!r}", dataset=rev.dataset, version=rev.version, path=record_id)
    value = found[0][0]
    data = value.get("bytes") if isinstance(value, dict) else value
    if not isinstance(data, (bytes, bytearray)):
        raise EntryNotFound(f"field {field!r} of {record_id!r} holds no media bytes", dataset=rev.dataset, version=rev.version, path=field)
    return Response(bytes(data), media_type=_sniff(bytes(data)), headers={"Cache-Control": "public, max-age=31536000, immutable"})


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return "audio/wav"
    if data.startswith(b"fLaC"):
        return "audio/flac"
    if data.startswith(b"OggS"):
        return "audio/ogg"
    return "application/octet-stream"


@router.post("/api/datasets/{ns}/{name}/accept", tags=["access"], summary="Accept a gated dataset's terms (recorded)", responses=responses(401, 404, 422))
def accept(request: Request, ns: str, name: str) -> dict[str, Any]:
    from hub.errors import AccessDenied

    info = visible_entry(request, f"{ns}/{name}")
    user = current_user(request)
    if user is None:
        raise AccessDenied("accepting terms needs a token: the acceptance is recorded for its user")
    record = request.app.state.access.accept(user, info["id"])
    return {**record, "terms": info.get("terms")}


@router.post("/api/datasets/{ns}/{name}/publish", tags=["access"], summary="Publish a new version from the registry entry (needs a publish token)",
             responses=responses(401, 403, 404, 409, 422))
async def publish(
    request: Request,
    ns: str,
    name: str,
    version: str | None = Body(None, embed=True, max_length=40, description="The version to publish; chosen by the change when absent."),
    bump: Literal["major", "minor", "patch"] | None = Body(None, embed=True, description="Force this bump."),
) -> dict[str, Any]:
    request.app.state.access.check_publish(current_user(request))
    visible_entry(request, f"{ns}/{name}")
    root = request.app.state.root
    published = await run_in_threadpool(hub.publish, f"{ns}/{name}", version=version, bump=bump, root=root)
    return {**published.to_dict(), "path": published.path.relative_to(root).as_posix()}  # never the server's own path
