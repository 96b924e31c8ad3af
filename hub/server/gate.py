"""Who may see a dataset and who may read its records: the server's one gate.

- `visible_entry` / `visible_revision`: the metadata of a dataset (entry, versions, file
  listings, card, stats, certificate, Croissant). A private dataset, and one whose entry
  cannot be read (its access unknown), do not exist for a caller without a valid token: the
  answer is the 404 of a dataset that is not registered, the same status, message and
  headers whether the token is missing or bad (so a status never tells a private name apart
  from a free one).
- `check_download` / `readable_revision`: record content (shards, rows, media, the rows of
  a page's preview). Every route that returns records calls `check_download`; besides the
  rules above, a gated dataset needs a token whose user accepted its terms (403 otherwise).

Both read the dataset's access from its dataset.yaml as it is now (`hub.access.entry_access`,
cached per version of the file), never from the catalog index, which may be behind.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from hub.access import User, entry_access
from hub.errors import AccessDenied, BrokenEntry, DatasetNotFound
from hub.ids import check_dataset_id
from hub.server.app import current_user
from hub.store import Revision, resolve_revision

__all__ = ["check_download", "readable_revision", "visible_access", "visible_entry", "visible_revision"]


def _valid_user(request: Request) -> User | None:
    """The token's user, or None without a token or with one that is not valid."""
    try:
        return current_user(request)
    except AccessDenied:
        return None


def visible_access(request: Request, dataset: str) -> str:
    """The access level of `dataset` (from its dataset.yaml now) if the caller may see it.

    Raises `DatasetNotFound` for a missing dataset, and for a private or unreadable one
    without a valid token; `BrokenEntry` for an unreadable one with a valid token.
    """
    check_dataset_id(dataset)
    try:
        level = entry_access(request.app.state.root, dataset)
    except BrokenEntry:
        if _valid_user(request) is None:
            raise _not_found(dataset) from None
        raise
    if level == "private" and _valid_user(request) is None:
        raise _not_found(dataset)
    return level


def _not_found(dataset: str) -> DatasetNotFound:
    return DatasetNotFound(f"dataset {dataset!r} is not registered", dataset=dataset)


def visible_entry(request: Request, dataset: str) -> dict[str, Any]:
    """The catalog's record of a dataset the caller may see, with its access as it is now."""
    level = visible_access(request, dataset)
    return {**request.app.state.catalog.show(dataset), "access": level}


def visible_revision(request: Request, ns: str, name: str, revision: str | None) -> Revision:
    """Resolve the revision of a dataset the caller may see (`visible_access`'s rule)."""
    visible_access(request, f"{ns}/{name}")
    return resolve_revision(request.app.state.root, f"{ns}/{name}", revision)


def check_download(request: Request, dataset: str) -> None:
    """The download gate: raise unless the caller may read the records of `dataset`.

    `DatasetNotFound` where `visible_access` says so; `AccessDenied` (401) for a bad token;
    `GatedDataset` (403) for a gated dataset without a token whose user accepted its terms.
    """
    level = visible_access(request, dataset)
    request.app.state.access.check_download(dataset, level, current_user(request))


def readable_revision(request: Request, ns: str, name: str, revision: str | None) -> Revision:
    """Resolve the revision of a dataset whose records the caller may read (`check_download`)."""
    check_download(request, f"{ns}/{name}")
    return resolve_revision(request.app.state.root, f"{ns}/{name}", revision)
