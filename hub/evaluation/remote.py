"""Scoring on a hub server: `hub eval ... --server URL` posts the predictions file to
`POST /api/datasets/{ns}/{name}/versions/{v}/evaluate` (`hub.server.evaluate`) and returns the
server's report. The only way to score a blind split: its labels never leave the server."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterable

from hub import config
from hub.errors import HubError, PredictionsError

__all__ = ["submit"]

_TYPES = {".jsonl": "application/x-ndjson", ".ndjson": "application/x-ndjson", ".csv": "text/csv", ".parquet": "application/vnd.apache.parquet",
          ".pq": "application/vnd.apache.parquet"}


def submit(dataset: str, version: str, predictions: Path | str, *, server: str, split: str = "test", task: str | None = None,
           targets: Iterable[str] = (), token: str | None = None, model: str | None = None, link: str | None = None) -> dict[str, Any]:
    """The server's report (JSON) of `predictions` scored on `split` of `dataset@version`.

    Raises `PredictionsError` for a file that is not there, and the `HubError` the server's
    answer names (404, 401/403, 413 too large, 429 over the daily limit, ...)."""
    from hub.transport import _error_from

    path = Path(predictions)
    if not path.is_file():
        raise PredictionsError(f"predictions file {path} does not exist", hint="Pass --predictions with the path of a JSONL, CSV or Parquet file.", path=str(path))
    query = [("split", split), *([("task", task)] if task else []), *(("target", t) for t in targets), *([("model", model)] if model else []),
             *([("link", link)] if link else [])]
    url = f"{server.rstrip('/')}/api/datasets/{urllib.parse.quote(dataset)}/versions/{urllib.parse.quote(version)}/evaluate?{urllib.parse.urlencode(query)}"
    token = token if token is not None else config.token()
    headers = {"Content-Type": _TYPES.get(path.suffix.lower(), "application/octet-stream"), "Content-Length": str(path.stat().st_size),
               **({"Authorization": f"Bearer {token}"} if token else {})}
    with path.open("rb") as body:
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=config.download_timeout()) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise _error_from(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            raise HubError(f"cannot reach the hub server at {server}: {getattr(exc, 'reason', exc)}",
                           hint="Check --server (a `hub serve` URL); the predictions were not scored.", endpoint=server) from None
