"""The ASGI application: routers, the one error shape, and `serve()`.

Every error, whatever raised it (the library, FastAPI's validation, an unknown route, a
malformed Range header, a query string too long), reaches the client as

    {"error": "<what went wrong>", "type": "<HubError subclass or HTTP reason>",
     "hint": "<what to do next>", "status": <HTTP status>, ...fields}

with the Hugging Face headers `X-Error-Code` / `X-Error-Message` where its clients read them.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

import hub
from hub import config, database
from hub.access import AccessStore, User
from hub.catalog import Catalog
from hub.errors import (
    AccessDenied,
    BadRequest,
    BrokenEntry,
    DatabaseUnavailable,
    DatasetExists,
    DatasetNotFound,
    EntryNotFound,
    GatedDataset,
    HubError,
    InvalidDatasetId,
    InvalidVersion,
    LicenseError,
    PayloadTooLarge,
    RateLimited,
    StorageError,
    ValidationFailed,
    VersionExists,
    VersionNotFound,
)

log = logging.getLogger(__name__)

__all__ = ["NoDelayH11Protocol", "app_from_env", "create_app", "error_response", "responses", "serve"]

# (status, Hugging Face X-Error-Code) per error type; the first match in MRO order wins
_STATUS: dict[type[HubError], tuple[int, str | None]] = {
    GatedDataset: (403, "GatedRepo"),
    AccessDenied: (401, None),
    DatasetNotFound: (404, "RepoNotFound"),
    VersionNotFound: (404, "RevisionNotFound"),
    EntryNotFound: (404, "EntryNotFound"),
    InvalidDatasetId: (400, None),
    InvalidVersion: (400, None),
    BadRequest: (400, None),
    LicenseError: (400, None),
    ValidationFailed: (422, None),
    BrokenEntry: (422, None),  # a dataset.yaml or manifest.json the hub cannot read: fixed in the registry
    DatasetExists: (409, None),
    VersionExists: (409, None),
    PayloadTooLarge: (413, None),
    RateLimited: (429, None),
    StorageError: (503, None),  # the data's store (DVC remote, object store) is down or lacks it: a retry may help
    DatabaseUnavailable: (503, None),  # HUB_CATALOG_URL's PostgreSQL is down: a retry works once it is back
}


def _status_of(exc: HubError) -> tuple[int, str | None]:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 400, None


def error_response(status: int, message: str, *, type_: str, hint: str = "", code: str | None = None, headers: dict[str, str] | None = None, **fields: Any) -> JSONResponse:
    body: dict[str, Any] = {"error": message, "type": type_, "status": status}
    if hint:
        body["hint"] = hint
    body.update({k: v for k, v in fields.items() if v is not None})
    out = {"X-Error-Message": " ".join(message.encode("ascii", "replace").decode().split())[:500]}  # one line: a newline in a header ends the response
    if code:
        out["X-Error-Code"] = code
    out.update(headers or {})
    return JSONResponse(body, status_code=status, headers=out)


_MEANINGS = {
    400: "A malformed request: a bad dataset id, version, split, path or header.",
    401: "No token where one is needed, or a token that is not valid.",
    403: "The token's user may not do this: a gated dataset whose terms they did not accept, or publishing without the right.",
    404: "No such dataset (or one the caller may not see: private datasets answer as if they did not exist), version, file, record or endpoint.",
    409: "The version exists already.",
    414: "The query string is longer than the server takes (HUB_MAX_QUERY_BYTES, default 8192 bytes).",
    413: "The upload is larger than the server takes.",
    416: "The Range is outside the file.",
    422: "The request's parameters do not validate, or the dataset's registry entry or version cannot be read (the message says which file).",
    429: "Over a per-token limit (evaluations a day): the Retry-After header says when to try again.",
    503: "The store holding the data (the DVC remote, an object store) or the hub's database cannot serve it now: the message says which.",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of these error statuses, all in the one error shape."""
    schema = {"type": "object", "required": ["error", "type", "status"], "properties": {
        "error": {"type": "string"}, "type": {"type": "string"}, "status": {"type": "integer"}, "hint": {"type": "string"}}}
    return {status: {"description": _MEANINGS[status], "content": {"application/json": {"schema": schema}}} for status in statuses}


def hub_error_response(exc: HubError) -> JSONResponse:
    status, code = _status_of(exc)
    if isinstance(exc, AccessDenied) and not isinstance(exc, GatedDataset) and exc.fields.get("user"):
        status = 403  # authenticated, but not allowed
    fields = {k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in exc.fields.items()}
    headers = {"Retry-After": str(fields["retry_after"])} if isinstance(exc, RateLimited) else None
    return error_response(status, exc.message, type_=type(exc).__name__, hint=exc.hint, code=code, headers=headers, **fields)


def create_app(root: Path | str | None = None, *, max_query_bytes: int | None = None) -> FastAPI:
    """The server for the hub repository at `root` (found from the cwd when None)."""
    from hub.server import api, dcat, evaluate, hf, pages, sql

    app = FastAPI(
        title="hub",
        version=hub.__version__,
        description="Annotated training data: the catalog, versions, splits, downloads (also through the Hugging Face Hub API).",
    )
    app.state.root = hub._root(root)
    app.state.catalog = Catalog(app.state.root, background=True)  # registry checks and rebuilds off the request path
    app.state.access = AccessStore(app.state.root)
    if app.state.access.database_url:
        database.check(app.state.access.database_url)  # a replica on a database of another schema refuses to start
    limit = max_query_bytes if max_query_bytes is not None else config.max_query_bytes()

    app.add_middleware(_QueryLimit, limit=limit)

    @app.exception_handler(HubError)
    async def _hub_error(request: Request, exc: HubError) -> JSONResponse:
        return hub_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"where": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()]
        summary = "; ".join(f"{p['where']}: {p['message']}" for p in problems)
        return error_response(422, f"invalid request: {summary}", type_="RequestValidationError", hint="See /openapi.json for the parameters.", problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        return error_response(exc.status_code, message, type_=_reason(exc.status_code), headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error: {type(exc).__name__}", type_="InternalError", hint="This is a bug in the hub: report it with the server log.")

    app.add_exception_handler(hf.RangeNotSatisfiable, lambda request, exc: hf.not_satisfiable(exc))
    app.include_router(api.router)
    app.include_router(hf.router)
    app.include_router(pages.router)
    app.include_router(evaluate.router)
    app.include_router(sql.router)
    app.include_router(dcat.router)
    return app


class _QueryLimit:
    """Answer 414 to a query string longer than `limit` bytes. Plain ASGI: Starlette's
    `BaseHTTPMiddleware` (`@app.middleware`) costs a task and a stream per request."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if len(query) > self.limit:
            response = error_response(414, f"the query string is {len(query)} bytes; the most this server takes is {self.limit}", type_="URITooLong", hint="Shorten the query.")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase.replace(" ", "")
    except ValueError:
        return "HTTPError"


def current_user(request: Request) -> User | None:
    """The user of the request's bearer token (None without one); raises `AccessDenied` for a bad token."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not token.strip():
        raise AccessDenied("the Authorization header must be `Bearer <token>`")
    return request.app.state.access.user(token.strip())


def app_from_env() -> FastAPI:
    """The app of one worker process of `serve()`: the repository named by HUB_ROOT (uvicorn's factory)."""
    return create_app(config.root_override())


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with Nagle's algorithm off on every connection.

    asyncio sets TCP_NODELAY only on accepted sockets whose `proto` is TCP, and a socket bound
    by uvicorn's `Config.bind_socket` (its own `--workers N`) has `proto` 0 (uvicorn issue
    #3149): each keep-alive response after the first then waited ~40 ms for the client's
    delayed ACK. The hub's workers bind their own sockets; this holds whoever binds them.
    """

    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def serve(root: Path | str | None = None, *, host: str = "127.0.0.1", port: int = 8000, workers: int | None = None, log_level: str = "info") -> None:
    """Run the server until interrupted, in `workers` processes (default `config.serve_workers()`).

    Each worker listens on a socket of its own (`hub.server.workers`) and has its own `Catalog`
    on the same index file (rebuilt by one process at a time, swapped in by rename).
    Raises `HubError` if `workers` is below 1, or a worker cannot start.
    """
    import os

    import uvicorn

    from hub.errors import HubError

    workers = config.serve_workers() if workers is None else workers
    if workers < 1:
        raise HubError(f"--workers must be at least 1, not {workers}", hint="Use 1 for a single process.")
    if database.url():
        database.check(database.url())  # down, or of another schema: say so here, not from inside a worker
    os.environ["HUB_ROOT"] = str(hub._root(root))  # each worker imports the app afresh and reads it (`app_from_env`)
    options = {"log_level": log_level, "http": NoDelayH11Protocol, "h11_max_incomplete_event_size": 1024 * 1024}
    if workers == 1:
        uvicorn.run("hub.server.app:app_from_env", factory=True, host=host, port=port, **options)
    else:
        from hub.server.workers import run_workers

        run_workers(workers, host=host, port=port, uvicorn_options=options)
