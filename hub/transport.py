"""HTTP to a hub server, for the client: errors mapped to the hub's, redirects kept honest.

- an error answer (`{"error", "type", "hint"}`) becomes the matching `HubError` subclass;
- a redirect is followed only to http(s), and the token is not sent on to another origin;
- `Server.stream` opens a file for download from a byte offset (HTTP Range) and turns what
  a retry can cure (a refused or dropped connection, a timeout, a 5xx) into `Cut`.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from typing import Any, Iterator

from hub import config
from hub.errors import AccessDenied, DatasetNotFound, EntryNotFound, GatedDataset, HubError, VersionNotFound

__all__ = ["Cut", "Server"]

SMALL_LIMIT = 64 * 1024 * 1024  # the most a manifest, card or JSON answer may be
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class Cut(Exception):
    """A download stopped for a reason a retry may cure."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect to http(s) only, and drop the token when it leaves the origin."""

    max_redirections = 5

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201 (urllib's signature)
        newurl = urllib.parse.urljoin(req.full_url, newurl)
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise HubError(f"the server redirected {req.full_url} to {newurl!r}, which is not an http(s) address: refused",
                           hint="Pull only from a hub server you trust (--endpoint, HUB_ENDPOINT).", url=req.full_url, location=newurl)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            new.remove_header("Authorization")
        return new


_opener = urllib.request.build_opener(_Redirects)


def _error_from(exc: urllib.error.HTTPError) -> HubError:
    try:
        body = json.loads(exc.read(SMALL_LIMIT) or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = body.get("error") if isinstance(body.get("error"), str) else f"HTTP {exc.code} from {exc.url}"
    kinds = {"DatasetNotFound": DatasetNotFound, "VersionNotFound": VersionNotFound, "EntryNotFound": EntryNotFound, "GatedDataset": GatedDataset, "AccessDenied": AccessDenied}
    cls = kinds.get(body.get("type"), HubError)
    error = cls(message, status=exc.code)
    if isinstance(body.get("hint"), str) and body["hint"]:
        error.hint = body["hint"]
    return error


class Server:
    """One hub server (`endpoint`), with the token sent as `Authorization: Bearer`."""

    def __init__(self, endpoint: str, token: str | None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.token = token

    def _open(self, path: str, headers: dict[str, str] | None, method: str) -> Any:
        url = self.endpoint + urllib.parse.quote(path)
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        req = urllib.request.Request(url, method=method, headers={**(headers or {}), **auth})
        return _opener.open(req, timeout=config.download_timeout())

    def _unreachable(self, exc: Exception) -> HubError:
        return HubError(
            f"cannot reach the hub server at {self.endpoint}: {getattr(exc, 'reason', exc)}",
            hint="Start one with `hub serve`, point HUB_ENDPOINT (or --endpoint) at yours, or set HUB_OFFLINE=1 to use the cache.",
            endpoint=self.endpoint,
        )

    def request(self, path: str, headers: dict[str, str] | None = None, *, method: str = "GET") -> Any:
        """The response to `method path`; raises the `HubError` the server's error answer names."""
        try:
            return self._open(path, headers, method)
        except urllib.error.HTTPError as exc:
            raise _error_from(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            raise self._unreachable(exc) from None

    def small(self, path: str) -> bytes:
        """A small body (manifest, card, JSON) whole; refused beyond `SMALL_LIMIT` bytes."""
        try:
            with self.request(path) as response:
                data = response.read(SMALL_LIMIT + 1)
        except (OSError, ValueError) as exc:
            raise self._unreachable(exc) from None
        if len(data) > SMALL_LIMIT:
            raise HubError(f"the server at {self.endpoint} sent more than {SMALL_LIMIT} bytes for {path}: refused", hint="Pull only from a hub server you trust (--endpoint, HUB_ENDPOINT).", endpoint=self.endpoint)
        return data

    def json(self, path: str, *, method: str = "GET") -> Any:
        if method == "GET":
            data = self.small(path)
        else:
            with self.request(path, method=method) as response:
                data = response.read(SMALL_LIMIT)
        try:
            value = json.loads(data)
        except ValueError:
            raise HubError(f"the server at {self.endpoint} answered {path} with something that is not JSON", hint="Check that --endpoint / HUB_ENDPOINT is a hub server.", endpoint=self.endpoint) from None
        if not isinstance(value, dict):
            raise HubError(f"the server at {self.endpoint} answered {path} with JSON that is not an object", hint="Check that --endpoint / HUB_ENDPOINT is a hub server.", endpoint=self.endpoint)
        return value

    @contextmanager
    def stream(self, path: str, start: int = 0) -> Iterator[tuple[Any, int]]:
        """(response, offset of its first byte) for `path` from byte `start` on (0 if the server
        will not resume there). Raises `Cut` for what a retry may cure, `HubError` otherwise."""
        response = self._stream(path, start)
        try:
            offset = 0
            if start and response.status == 206:
                match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                offset = int(match.group(1)) if match else -1
                if offset != start:  # not the range asked for: start over
                    response.close()
                    response, offset = self._stream(path, 0), 0
            yield response, offset
        finally:
            response.close()

    def _stream(self, path: str, start: int) -> Any:
        try:
            return self._open(path, {"Range": f"bytes={start}-"} if start else None, "GET")
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and start:  # the server's file is not as long as the part: start over
                exc.close()
                return self._stream(path, 0)
            if exc.code in _RETRY_STATUS:
                exc.close()
                raise Cut(f"HTTP {exc.code}") from None
            raise _error_from(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            raise Cut(str(getattr(exc, "reason", exc))) from None
