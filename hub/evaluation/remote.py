"""Scoring on a hub server: `hub eval ... --server URL` posts the predictions file to
`POST /api/datasets/{ns}/{name}/versions/{v}/evaluate` (`hub.server.evaluate`) and returns the
server's report. The only way to score a blind split: its labels never leave the server."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.parse
from pathlib import Path
from typing import Any, Iterable

from hub import config
from hub.errors import HubError, PredictionsError

__all__ = ["submit"]

_TYPES = {".jsonl": "application/x-ndjson", ".ndjson": "application/x-ndjson", ".csv": "text/csv", ".parquet": "application/vnd.apache.parquet",
          ".pq": "application/vnd.apache.parquet"}


def submit(dataset: str, version: str, predictions: Path | str, *, server: str, split: str = "test", task: str | None = None,
           targets: Iterable[str] = (), token: str | None = None, model: str | None = None, link: str | None = None,
           contamination: dict[str, Any] | None = None) -> dict[str, Any]:
    """The server's report (JSON) of `predictions` scored on `split` of `dataset@version`;
    `contamination` is the submitter's check of their training data (`training_check`), sent
    for the leaderboard.

    Raises `PredictionsError` for a file that is not there, and the `HubError` the server's
    answer names (404, 401/403, 413 too large, 429 over the daily limit, ...)."""
    import http.client

    from hub.transport import _error_from

    path = Path(predictions)
    if not path.is_file():
        raise PredictionsError(f"predictions file {path} does not exist", hint="Pass --predictions with the path of a JSONL, CSV or Parquet file.", path=str(path))
    query = [("split", split), *([("task", task)] if task else []), *(("target", t) for t in targets), *([("model", model)] if model else []),
             *([("link", link)] if link else []),
             *((f"training_{key}", str(contamination[key])) for key in ("matches", "exact", "near", "report_sha256") if contamination)]
    url = f"{server.rstrip('/')}/api/datasets/{urllib.parse.quote(dataset)}/versions/{urllib.parse.quote(version)}/evaluate?{urllib.parse.urlencode(query)}"
    token = token if token is not None else config.token()
    headers = {"Content-Type": _TYPES.get(path.suffix.lower(), "application/octet-stream"), "Content-Length": str(path.stat().st_size),
               **({"Authorization": f"Bearer {token}"} if token else {})}
    try:
        status, data = _post(url, path, headers)
    except (OSError, http.client.HTTPException) as exc:
        raise HubError(f"cannot reach the hub server at {server}: {getattr(exc, 'reason', exc)}",
                       hint="Check --server (a `hub serve` URL); the predictions were not scored.", endpoint=server) from None
    if status >= 400:
        raise _error_from(urllib.error.HTTPError(url, status, "", {}, io.BytesIO(data))) from None  # the one mapping of the server's error answers
    return json.loads(data)


def _post(url: str, path: Path, headers: dict[str, str]) -> tuple[int, bytes]:
    """(status, body) of POSTing the file at `path` to `url`. The answer is read even when the
    server stops the upload early (413 past its size limit): urllib would report only the reset."""
    import http.client

    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname, parts.port, timeout=config.download_timeout())
    try:
        conn.putrequest("POST", parts.path + (f"?{parts.query}" if parts.query else ""))
        for key, value in headers.items():
            conn.putheader(key, value)
        conn.endheaders()
        try:
            with path.open("rb") as body:
                while chunk := body.read(1 << 20):
                    conn.send(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered before it read the whole body: its answer says why
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
