"""The HTML pages for people: the catalog, a dataset, a version.

Server-rendered from the Jinja2 templates next to this module (autoescape on), a thin layer
over the same library calls as the JSON API, with the same rules (`hub.server.gate`): a
private dataset does not exist for a caller without a token, and the preview's rows, records
as they are, are shown only to a caller who may download them. Every error becomes an HTML page with the
message and hint (the status the API would answer), never a traceback.

| page                                   | shows                                                    |
|----------------------------------------|----------------------------------------------------------|
| GET /                                  | search box, filters, the matching datasets               |
| GET /datasets/{ns}/{name}              | card, license, access, versions, splits, plots, preview  |
| GET /datasets/{ns}/{name}/v/{version}  | files with sha256, lineage, certificate, how to download |
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urlencode

import jinja2
from markupsafe import Markup
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse

import hub
from hub import records
from hub.arrowutil import sql_name
from hub.errors import AccessDenied, BadRequest, EntryNotFound, HubError, UnsafePath
from hub.server.api import read_json, read_rows, shards_for_duckdb, split_shards
from hub.server.app import current_user, hub_error_response
from hub.server.gate import check_download, visible_access, visible_entry
from hub.store import Revision, file_sha256, resolve_revision

log = logging.getLogger(__name__)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

HERE = Path(__file__).parent
MODALITIES = tuple(records.modalities())
MEDIA_KINDS = ("Audio", "Image", "Video")  # media features previewed; the cell kind is the lower-cased name
PREVIEW_ROWS = 10
MAX_PAGE_ROWS = 100  # rows of one page of the viewer
SERIES_VALUES = 8  # values shown per channel of a series
TEXT_CHARS = 300

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True)
_env.filters["size"] = lambda n: _human_size(n)
_env.filters["q"] = lambda s: quote(str(s), safe="")
_env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, default=str)


def _human_size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def render(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The template rendered as a page."""
    return HTMLResponse(_env.get_template(template).render(version_of_hub=hub.__version__, **context), status_code=status_code)


def error_page(status: int, message: str, *, type_: str, hint: str = "") -> HTMLResponse:
    return render("error.html", status, status=status, message=message, type=type_, hint=hint)


def page(func: Callable[..., HTMLResponse]) -> Callable[..., HTMLResponse]:
    """Turn a `HubError` (or a bug) raised by a page into an HTML error page."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> HTMLResponse:
        try:
            return func(*args, **kwargs)
        except HubError as exc:
            return error_page(hub_error_response(exc).status_code, exc.message, type_=type(exc).__name__, hint=exc.hint)
        except Exception as exc:
            log.exception("internal error rendering %s", func.__name__)
            return error_page(500, f"internal error: {type(exc).__name__}", type_="InternalError", hint="This is a bug in the hub: report it with the server log.")

    return wrapper


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    """The stylesheet and scripts (only files that exist in `static/`, by exact name)."""
    folder = HERE / "static"
    if name not in {p.name for p in folder.iterdir() if p.is_file()}:
        raise EntryNotFound(f"no static file {name!r}", path=name)
    media = {".css": "text/css", ".js": "text/javascript"}.get(Path(name).suffix, "application/octet-stream")
    return FileResponse(folder / name, media_type=media, headers={"Cache-Control": "public, max-age=3600"})


# -- the catalog ---------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
@page
def catalog(request: Request, search: str = "", modality: str = "", task: str = "", language: str = "", license: str = "", commercial: str = "") -> HTMLResponse:
    include_private = current_user(request) is not None
    if modality and modality not in MODALITIES:
        raise BadRequest(f"unknown modality {modality!r}", hint=f"Choose one of: {', '.join(MODALITIES)}.")
    allowed = {"": None, "yes": True, "true": True, "no": False, "false": False}
    if commercial.lower() not in allowed:
        raise BadRequest(f"commercial must be yes or no, not {commercial!r}", hint="Leave it empty for any license.")
    cat = request.app.state.catalog
    everything = cat.search(limit=100_000, include_private=include_private)
    results = cat.search(search, modality=modality or None, task=task or None, language=language or None, license=license or None,
                         commercial=allowed[commercial.lower()], limit=1000, include_private=include_private)
    choices = {
        "modality": MODALITIES,
        "task": sorted({t for row in everything for t in row["tasks"] or []}),
        "language": sorted({lang for row in everything for lang in row["languages"] or []}),
    }
    form = {"search": search, "modality": modality, "task": task, "language": language, "license": license, "commercial": commercial.lower()}
    return render("catalog.html", results=results, choices=choices, form=form, total=len(everything))


# -- a dataset and its versions ------------------------------------------------------------------


@router.get("/datasets/{ns}/{name}", response_class=HTMLResponse)
@page
def dataset(request: Request, ns: str, name: str, split: str = Query("", max_length=50), offset: int = Query(0, ge=0, le=10**9),
            length: int = Query(PREVIEW_ROWS, ge=1, le=MAX_PAGE_ROWS), search: str = Query("", max_length=200)) -> HTMLResponse:
    info = visible_entry(request, f"{ns}/{name}")
    rev = resolve_revision(request.app.state.root, info["id"]) if info["versions"] else None
    context: dict[str, Any] = {"info": info, "card": _card(request.app.state.root, info["id"]), "rev": rev}
    if rev is not None:
        context.update(_version_context(request, rev))
        classes = {k: v for k, v in request.query_params.items() if k in _class_columns(rev) and v}  # ?label=cat: rows of that class
        context["preview"] = _preview(request, rev, split, offset, length, search.strip(), classes)
    context["contaminated_by"] = _contaminated_by(request, info["id"])
    return render("dataset.html", **context)


def _contaminated_by(request: Request, dataset: str) -> list[dict[str, Any]]:
    """The datasets the caller may see whose latest version holds this one's test records."""
    seen = []
    for found in request.app.state.catalog.contaminated_by(dataset):
        try:
            visible_access(request, found["dataset"])
        except HubError:  # a private dataset's name is not told to a caller who may not see it
            continue
        seen.append(found)
    return seen


@router.get("/datasets/{ns}/{name}/v/{version}", response_class=HTMLResponse)
@page
def version(request: Request, ns: str, name: str, version: str) -> HTMLResponse:
    info = visible_entry(request, f"{ns}/{name}")
    rev = resolve_revision(request.app.state.root, info["id"], version)
    files = [{"path": f.path, "size": f.size, "sha256": file_sha256(rev, f), "split": f.split, "rows": f.rows, "url": _resolve_url(rev, f.path)} for f in rev.files.values()]
    base = str(request.base_url).rstrip("/")
    return render("version.html", info=info, rev=rev, files=files, base=base, **_version_context(request, rev))


def _version_context(request: Request, rev: Revision) -> dict[str, Any]:
    """What the dataset and version pages both show about one version."""
    certificate = read_json(rev, "leakage.json") or rev.manifest.get("certificate")
    splits = rev.manifest.get("splits", {})
    return {
        "manifest": rev.manifest,
        "license": rev.manifest.get("license") or {},
        "splits": splits,
        "certificate": certificate,
        "plots": [{"path": p, "url": _resolve_url(rev, p)} for p in rev.files if p.startswith("plots/") and p.endswith((".svg", ".png"))],
        "croissant": f"/api/datasets/{rev.dataset}/croissant?version={quote(rev.version)}",
    }


def _resolve_url(rev: Revision, path: str) -> str:
    return f"/datasets/{rev.dataset}/resolve/{quote(rev.version)}/{quote(path)}"


def _card(root: Path, dataset: str) -> str:
    """The registry README.md as safe HTML (raw HTML in the Markdown is escaped); a link out
    of the dataset's folder is not read."""
    from hub.entry import read_card
    from hub.repo import dataset_dir

    try:
        text = read_card(dataset_dir(root, dataset))
    except UnsafePath as exc:
        return str(Markup('<p class="bad">The card is not shown: {}.</p>').format(exc.message))
    return _card_html(text)


@functools.lru_cache(maxsize=1024)
def _card_html(text: str) -> str:
    """The Markdown of a card as HTML, its front matter left out (by content: a card renders once)."""
    if text.startswith("---\n") and "\n---" in text[4:]:
        text = text[text.index("\n---", 4) + 4 :].lstrip("-\n")
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # plain text, escaped
        return str(Markup("<pre>{}</pre>").format(text)) if text else ""
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


# -- the row preview -----------------------------------------------------------------------------


def _preview(request: Request, rev: Revision, split: str, offset: int, length: int, search: str, classes: dict[str, str]) -> dict[str, Any] | None:
    """A page of rows of a split (the test split, or the first, by default), those whose text
    fields hold `search` and whose class columns hold `classes` when given, as cells the template draws."""
    splits = rev.manifest.get("splits", {})
    if split and split not in splits:
        raise BadRequest(f"{rev.dataset}@{rev.version} has no split {split!r}", hint=f"Choose one of: {', '.join(splits)}.")
    split = split or ("test" if "test" in splits else next(iter(splits), None))
    if split is None:
        return None
    choices = _class_columns(rev)
    for column, value in classes.items():
        if value not in choices[column]:
            kind = "class" if rev.manifest.get("features", {}).get(column, {}).get("_type") == "ClassLabel" else "value"
            raise BadRequest(f"{column} has no {kind} {value!r}", hint=f"Choose one of: {', '.join(choices[column])}.")
    query = {"split": split, **({"search": search} if search else {}), **classes, **({"length": length} if length != PREVIEW_ROWS else {})}
    page_of = {"split": split, "splits": list(splits), "offset": offset, "length": length, "search": search, "classes": classes,
               "choices": choices, "query": urlencode(query)}
    try:
        check_download(request, rev.dataset)  # the rows are records: the download gate
    except AccessDenied as exc:
        return {**page_of, "hidden": exc.message, "error": None, "columns": [], "rows": [], "total": splits[split].get("rows", 0)}
    try:
        return {**_preview_cells(rev, split, offset, length, search, tuple(sorted(classes.items()))), **page_of}
    except Exception as exc:  # the page still shows everything else
        log.warning("no preview of %s@%s: %s", rev.dataset, rev.version, exc)
        return {**page_of, "error": getattr(exc, "message", None) or f"the rows could not be read ({type(exc).__name__})", "columns": [], "rows": [], "total": 0}


_PREVIEWS: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()  # the most recent 1,024, by version folder and commit
_PREVIEWS_LOCK = threading.Lock()


def _preview_cells(rev: Revision, split: str, offset: int = 0, length: int = PREVIEW_ROWS, search: str = "", classes: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """A page of a split's rows (no media bytes: URLs); a version never changes, so each page is read once."""
    key = (str(rev.path), rev.commit, split, offset, length, search, classes)
    with _PREVIEWS_LOCK:
        if key in _PREVIEWS:
            _PREVIEWS.move_to_end(key)
            return _PREVIEWS[key]
    features = rev.manifest.get("features", {})
    if search or classes:
        table, total = _matching_rows(rev, split, offset, length, search, dict(classes))
    else:
        table, total = read_rows(rev, split, offset, length)
    table_rows = table.to_pylist()
    names = [c for c in table.column_names if any(not _empty(row[c]) for row in table_rows)]
    empty = [c for c in table.column_names if c not in names]
    record = records.RECORD_TYPES.get(rev.manifest.get("record", ""))
    rows = []
    for row in table_rows:
        base = f"/api/datasets/{rev.dataset}/versions/{quote(rev.version)}/media/{quote(str(row.get('id')), safe='')}"
        own = record.preview(row, features) if record is not None else {}  # what the record type draws its own way
        cells = []
        for c in names:
            url = f"{base}/{quote(c, safe='')}"
            cell = own.get(c) or _cell(row[c], features.get(c, {}), url)
            cells.append({"url": url, **cell} if cell["kind"] in ("audio", "image") else cell)
        rows.append(cells)
    columns = [{"name": c, "type": _type_name(features.get(c, {}))} for c in names]
    found = {"split": split, "columns": columns, "empty": empty, "rows": rows, "total": total, "error": None, "hidden": ""}
    found["table"] = Markup(_env.get_template("_rows.html").render(preview=found))  # drawn once: the plots' points are long
    with _PREVIEWS_LOCK:
        _PREVIEWS[key] = found
        if len(_PREVIEWS) > 1024:
            _PREVIEWS.popitem(last=False)
    return found


def _class_columns(rev: Revision) -> dict[str, list[str]]:
    """The values of each column the viewer filters on: the class names of each class-label
    column (not one of thousands of classes), and the values of each extra text field (a
    corpus' own column the record schema does not name) that holds few of them."""
    features = rev.manifest.get("features", {})
    found = {c: f["names"] for c, f in features.items() if f.get("_type") == "ClassLabel" and 0 < len(f.get("names") or []) <= 200}
    key = (str(rev.path), rev.commit)
    if key not in _EXTRA_VALUES:  # read once per version: a version never changes
        if len(_EXTRA_VALUES) > 1024:
            _EXTRA_VALUES.clear()
        _EXTRA_VALUES[key] = _extra_values(rev)
    return {**found, **_EXTRA_VALUES[key]}


EXTRA_FILTER_VALUES = 50  # an extra text field with more distinct values is searched, not filtered
_EXTRA_VALUES: dict[tuple[str, str], dict[str, list[str]]] = {}


def _extra_values(rev: Revision) -> dict[str, list[str]]:
    """The distinct values of each extra text field of a version with at most `EXTRA_FILTER_VALUES`
    of them, over all its splits."""
    import duckdb

    schema = records.RECORD_TYPES.get(rev.manifest.get("record", ""))
    named = set(schema.record_schema(rev.manifest.get("labels") or []).properties) if schema is not None else set()
    texts = [c for c, f in rev.manifest.get("features", {}).items()
             if c not in named and f.get("_type") == "Value" and f.get("dtype") in ("string", "large_string")]
    if not texts or not rev.split_files():
        return {}
    found = {}
    with duckdb.connect() as con:
        source, params = shards_for_duckdb(con, rev, rev.split_files())  # here, or in the object store
        for column in texts:
            quoted = sql_name(column)
            values = [v for (v,) in con.sql(f"SELECT DISTINCT {quoted} FROM {source} WHERE {quoted} IS NOT NULL "
                                            f"ORDER BY 1 LIMIT {EXTRA_FILTER_VALUES + 1}", params=params).fetchall()]
            if 0 < len(values) <= EXTRA_FILTER_VALUES:
                found[column] = values
    return found


def _matching_rows(rev: Revision, split: str, offset: int, length: int, search: str, classes: dict[str, str]) -> tuple[Any, int]:
    """Rows [offset, offset+length) of those of a split whose text holds `search` (any case) and
    whose class columns hold `classes` (by name), and how many match. Text: the string columns,
    and the `text` of a list of turns."""
    import duckdb

    texts = []
    for column, feature in rev.manifest.get("features", {}).items():
        inner = feature.get("feature") or {}
        if feature.get("_type") == "Value" and feature.get("dtype") in ("string", "large_string"):
            texts.append(sql_name(column))
        elif feature.get("_type") == "List" and (inner.get("text") or {}).get("dtype") in ("string", "large_string"):
            texts.append(f"array_to_string(list_transform({sql_name(column)}, lambda t: t.text), ' ')")
    if search and not texts:
        raise BadRequest(f"{rev.dataset} has no text fields to search", hint="Leave the search empty to page through the rows.")
    params: dict[str, Any] = {}
    where = []
    if search:
        where.append("(" + " OR ".join(f"contains(lower({t}), lower($search))" for t in texts) + ")")
        params["search"] = search
    features = rev.manifest.get("features", {})
    names = _class_columns(rev)
    for i, (column, value) in enumerate(sorted(classes.items())):
        where.append(f"{sql_name(column)} = $class{i}")
        params[f"class{i}"] = names[column].index(value) if features.get(column, {}).get("_type") == "ClassLabel" else value  # a class by index, an extra field by value
    with duckdb.connect() as con:
        source, files = shards_for_duckdb(con, rev, split_shards(rev, split))  # here, or in the object store
        params.update(files)
        rows = f"FROM {source} WHERE {' AND '.join(where)}"
        total = con.sql(f"SELECT count(*) {rows}", params=params).fetchall()[0][0]
        table = con.sql(f"SELECT * {rows} LIMIT $length OFFSET $offset", params={**params, "length": length, "offset": offset}).to_arrow_table()
    return table, total


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == ""


def _type_name(feature: dict[str, Any]) -> str:
    """A column's type as the viewer's header shows it: `string`, `float32`, `class`, `audio`, `list<...>`."""
    kind = feature.get("_type")
    if kind == "Value":
        return str(feature.get("dtype", ""))
    if kind == "ClassLabel":
        return "class"
    if kind in MEDIA_KINDS:
        return kind.lower()
    if kind in ("List", "Sequence", "LargeList"):
        inner = feature.get("feature", {})
        return f"list<{_type_name(inner) if '_type' in inner else 'struct'}>"
    if kind is None and feature:
        return "struct"
    return str(kind or "")


def _cell(value: Any, feature: dict[str, Any], url: str) -> dict[str, Any]:
    kind = feature.get("_type")
    if value is None:
        return {"kind": "text", "text": ""}
    if kind in MEDIA_KINDS or (isinstance(value, dict) and "bytes" in value):
        return {"kind": (kind if kind in MEDIA_KINDS else "Image").lower(), "url": url}
    if kind == "ClassLabel" and isinstance(value, int) and 0 <= value < len(feature.get("names") or []):
        name = feature["names"][value]
        return {"kind": "text", "text": name if name == str(value) else f"{name} ({value})"}
    if isinstance(value, list) and value and all(isinstance(v, dict) and "text" in v for v in value):
        return {"kind": "turns", "turns": [{"speaker": str(v.get("speaker") or ""), "text": _cut(str(v.get("text") or ""))} for v in value]}
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value) and all(isinstance(x, (int, float)) for v in value for x in v[:SERIES_VALUES]):
        return {"kind": "series", "channels": [_series(v) for v in value]}
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        return {"kind": "series", "channels": [_series(value)]}
    if isinstance(value, list):
        return {"kind": "text", "text": _cut(", ".join(str(v) for v in value))}
    if isinstance(value, float):
        return {"kind": "text", "text": f"{value:.4g}"}
    return {"kind": "text", "text": _cut(str(value))}


def _series(values: list[float]) -> str:
    head = ", ".join(f"{v:.3g}" for v in values[:SERIES_VALUES])
    return f"{head}, … ({len(values)} values)" if len(values) > SERIES_VALUES else head


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_CHARS else text[:TEXT_CHARS] + "…"
