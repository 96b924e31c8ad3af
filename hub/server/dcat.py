"""`GET /api/catalog/dcat`: the catalog as DCAT-AP JSON-LD (`hub.dcat`), for data portals to harvest.

A listing: each dataset is in it if `hub.server.gate.visible_access` lets the caller see it
(a private one needs a valid token; a gated one is listed, its records stay behind the gate).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from hub.dcat import catalog
from hub.errors import BrokenEntry, DatasetNotFound
from hub.server.app import current_user, responses
from hub.server.gate import visible_access

__all__ = ["router"]

router = APIRouter()


@router.get("/api/catalog/dcat", tags=["catalog"], summary="The catalog as DCAT-AP JSON-LD (for data portals to harvest)", responses=responses(401))
def dcat(request: Request) -> dict[str, Any]:  # sync: FastAPI runs it in its thread pool (it reads every dataset.yaml)
    current_user(request)  # a bad token is refused here, as on /api/datasets
    rows = request.app.state.catalog.search(limit=1_000_000)
    seen = []
    for row in rows:
        try:
            visible_access(request, row["id"])
        except (DatasetNotFound, BrokenEntry):
            continue
        seen.append(row)
    return catalog(request.app.state.root, seen, str(request.base_url))
