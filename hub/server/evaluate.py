"""Server scoring: a predictions file posted to a version is scored against its labels, blind
splits included (`hub.blind`: the labels never leave the server; only the report does).

    POST /api/datasets/{ns}/{name}/versions/{version}/evaluate?split=test[&task=..][&model=..]
    body: the predictions file itself (JSONL, CSV or Parquet, as `hub eval --predictions` reads)

The caller needs a token, and the rights of a download (`gate.readable_revision`: a private
or gated dataset's rules). A body over `MAX_BYTES` is refused with 413 before it is read
whole; a token's user gets `split.submissions_per_day` scored evaluations of a dataset per 24
hours, then 429 with Retry-After. Each scored evaluation is recorded (`Submissions`), with the
submitter's contamination check of their training data when sent (`training_*`), and
`GET /api/.../leaderboard` (JSON) and the page `/datasets/{ns}/{name}/leaderboard` rank them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from hub.errors import AccessDenied, BadRequest, PayloadTooLarge
from hub.evaluation.submissions import Submissions, ranked
from hub.server.app import current_user, responses
from hub.server.gate import readable_revision, visible_revision
from hub.server.pages import page, render

__all__ = ["MAX_BYTES", "router"]

router = APIRouter()

MAX_BYTES = 64 * 1024 * 1024  # a million classification predictions are ~40 MB of JSONL
_SUFFIXES = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet"}
_TYPES = {"application/x-ndjson": "jsonl", "application/jsonl": "jsonl", "text/csv": "csv", "application/vnd.apache.parquet": "parquet"}


def _limit(request: Request) -> int:
    return getattr(request.app.state, "max_predictions_bytes", MAX_BYTES)


def _too_large(limit: int, size: int | None = None) -> PayloadTooLarge:
    said = f"{size} bytes" if size is not None else f"more than {limit} bytes"
    return PayloadTooLarge(f"the predictions file is {said}; the most this server scores is {limit} bytes", limit=limit)


async def _save(request: Request, folder: Path, suffix: str) -> Path:
    """The request body in a file under `folder`; `PayloadTooLarge` past the limit, counted as it arrives."""
    limit = _limit(request)
    path = folder / f"predictions{suffix}"
    size = 0
    with path.open("wb") as f:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            f.write(chunk)
    return path


@router.post("/api/datasets/{ns}/{name}/versions/{version}/evaluate", tags=["evaluation"],
             summary="Score a predictions file (the request body) on a split, blind splits too; the report", responses=responses(400, 401, 403, 404, 413, 422, 429))
async def evaluate(
    request: Request,
    ns: str,
    name: str,
    version: str,
    split: str = Query("test", max_length=50, description="The split scored."),
    task: str | None = Query(None, max_length=50, description="The task scored (default: the record type's first)."),
    format: Literal["jsonl", "csv", "parquet"] | None = Query(None, description="The body's format (default: from Content-Type, else JSONL; Parquet is told by its bytes)."),
    target: list[str] = Query([], description='Checks such as "accuracy>=0.9" (repeatable): the report says whether each is met.'),
    model: str | None = Query(None, max_length=200, description="The model's name, for the leaderboard."),
    link: str | None = Query(None, max_length=500, description="A link about the model (paper, code), for the leaderboard."),
    training_matches: int | None = Query(None, ge=0, description="The submitter's contamination check: training records that are records of this split."),
    training_exact: int | None = Query(None, ge=0, description="Of them, identical ones."),
    training_near: int | None = Query(None, ge=0, description="Of them, near duplicates only."),
    training_report_sha256: str | None = Query(None, pattern="^[0-9a-f]{64}$", description="The sha256 of the check's JSON report."),
) -> dict[str, Any]:
    from hub.entry import load_entry
    from hub.evaluation import evaluate as score

    rev = await run_in_threadpool(readable_revision, request, ns, name, version)
    if link is not None and not link.startswith(("https://", "http://")):
        raise BadRequest(f"link {link!r} is not an http(s) URL", hint="Give the model's page, paper or code as https://...", link=link)
    told = {"matches": training_matches, "exact": training_exact, "near": training_near, "report_sha256": training_report_sha256}
    if any(v is not None for v in told.values()) and not all(v is not None for v in told.values()):
        raise BadRequest(f"a contamination check needs training_matches, training_exact, training_near and training_report_sha256 together; "
                         f"{', '.join('training_' + k for k, v in told.items() if v is None)} missing",
                         hint="Send all four (hub eval --training-data does), or none: the submission then says 'not checked'.")
    contamination = {"checked": True, **told} if training_report_sha256 else None  # the submitter's own check: the server cannot see their training data
    user = current_user(request)
    if user is None:
        raise AccessDenied(f"scoring on {rev.dataset} needs a token", hint="Pass --token (or set HUB_TOKEN) with a token from `hub token create`.", dataset=rev.dataset)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > _limit(request):
        raise _too_large(_limit(request), int(declared))
    entry = load_entry(request.app.state.root, rev.dataset)
    per_day = entry.split.submissions_per_day if entry.split else 10
    submissions = Submissions(request.app.state.root)
    slot = await run_in_threadpool(submissions.reserve, user.name, rev.dataset, per_day)
    try:
        kind = format or _TYPES.get(request.headers.get("content-type", "").split(";")[0].strip().lower(), "jsonl")
        with tempfile.TemporaryDirectory(prefix="hub-eval-") as folder:
            path = await _save(request, Path(folder), _SUFFIXES[kind])
            report = (await run_in_threadpool(lambda: score(f"{rev.dataset}@{rev.version}", path, split=split, task=task, targets=target,
                                                            root=request.app.state.root))).to_dict()
    except BaseException:
        await run_in_threadpool(submissions.release, slot)
        raise
    report["predictions"]["path"] = model or "upload"  # not the server's temporary file
    report["source"] = {"kind": "server", "submitted_by": user.name}
    report["submission"] = await run_in_threadpool(lambda: submissions.record(slot, report, model=model, link=link, contamination=contamination))
    return report


def _leaderboard(request: Request, ns: str, name: str, version: str | None) -> dict[str, Any]:
    from hub.entry import load_entry

    rev = visible_revision(request, ns, name, version)
    rows = Submissions(request.app.state.root).leaderboard(rev.dataset, rev.version if version else None)
    targets = load_entry(request.app.state.root, rev.dataset).targets  # dataset.yaml's as it is now: a target is the dataset's, not a version's
    return {"dataset": rev.dataset, "version": version, "blind": list(rev.manifest.get("blind") or {}),
            "targets": [{"target": t.text, "metric": t.metric, "condition": t.condition} for t in targets], "tasks": ranked(rows, targets)}


@router.get("/api/datasets/{ns}/{name}/leaderboard", tags=["evaluation"], summary="The scored submissions of a dataset (of one version), best first per task",
            responses=responses(400, 401, 404, 422))
def leaderboard(request: Request, ns: str, name: str, version: str | None = Query(None, max_length=40, description="A version; every version when absent.")) -> dict[str, Any]:
    return _leaderboard(request, ns, name, version)


@router.get("/datasets/{ns}/{name}/leaderboard", response_class=HTMLResponse, include_in_schema=False)
@page
def leaderboard_page(request: Request, ns: str, name: str, version: str | None = Query(None, max_length=40)) -> HTMLResponse:
    """The leaderboard as a page: one ranked table per version, split and task."""
    return render("leaderboard.html", **_leaderboard(request, ns, name, version))
