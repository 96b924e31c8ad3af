"""A thin wrapper over `label_studio_sdk`: the few calls the bridge makes, with SDK and
network failures turned into the hub's errors (`LabelStudioUnavailable`,
`LabelStudioAuthError`, `ProjectNotFound`, `AnnotationError`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from hub import config
from hub.errors import AnnotationError, LabelStudioAuthError, LabelStudioUnavailable, ProjectNotFound

log = logging.getLogger(__name__)

__all__ = ["Client"]

T = TypeVar("T")
IMPORT_BATCH = 5000
# Task ids per export request at most: Django (DATA_UPLOAD_MAX_NUMBER_FIELDS) answers 400 to a
# query of more than 1,000 fields, and each id is one (`ids[]=`)
EXPORT_WINDOW = 950
# What a listing of projects returns of each (the bridge reads no other field of a project it finds)
PROJECT_FIELDS = "id,title,description,maximum_annotations"
UNREACHABLE = ("Start it (`scripts/labelstudio start DATA_DIR PORT` runs one on this machine) or set HUB_LABEL_STUDIO_URL to the server "
               "that runs, then run the command again.")


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump() if hasattr(model, "model_dump") else dict(model)


class Client:
    """One Label Studio server (URL and token from `hub.config` unless given)."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 120.0) -> None:
        self.url = (url or config.label_studio_url()).rstrip("/")
        token = token or config.label_studio_token()
        if not token:
            raise LabelStudioAuthError(f"no API token for Label Studio at {self.url}: HUB_LABEL_STUDIO_TOKEN is not set", url=self.url)
        self.sdk = LabelStudio(base_url=self.url, api_key=token, timeout=timeout)

    def call(self, what: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`func(*args, **kwargs)`, with failures as hub errors saying `what` was being done."""
        try:
            return func(*args, **kwargs)
        except ApiError as exc:
            status = exc.status_code or 0
            if status in (401, 403):
                raise LabelStudioAuthError(f"Label Studio at {self.url} refused the API token (HTTP {status}) while {what}", url=self.url, status=status) from None
            if status >= 500:
                raise LabelStudioUnavailable(f"Label Studio at {self.url} failed (HTTP {status}) while {what}", url=self.url, status=status,
                                             hint="Its log says why; then run the command again.") from None
            if status == 404:
                raise ProjectNotFound(f"Label Studio at {self.url} has no such object (HTTP 404) while {what}", url=self.url, status=status) from None
            body = exc.body if isinstance(exc.body, (str, type(None))) else json.dumps(exc.body)[:500]
            raise AnnotationError(f"Label Studio at {self.url} rejected the request (HTTP {status}) while {what}: {body}", url=self.url, status=status) from None
        except httpx.TransportError as exc:
            raise LabelStudioUnavailable(f"Label Studio is not reachable at {self.url} ({type(exc).__name__}) while {what}", url=self.url,
                                         hint=UNREACHABLE) from None

    # -- the calls ------------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        return _dump(self.call("checking the token", self.sdk.users.whoami))

    def users(self) -> dict[int, str]:
        """User id -> email, for every user the token can see."""
        return {u.id: u.email for u in self.call("listing users", self.sdk.users.list)}

    def project(self, project_id: int) -> dict[str, Any]:
        try:
            return _dump(self.call(f"reading project {project_id}", self.sdk.projects.get, id=project_id))
        except ProjectNotFound:
            raise ProjectNotFound(f"Label Studio at {self.url} has no project {project_id}", url=self.url, project=project_id) from None

    def find_projects(self, title: str, *, page_size: int = 100) -> list[dict[str, Any]]:
        """Every project titled `title`, with the fields PROJECT_FIELDS only: the server's sparse
        fields (`include=`) spare it counting each listed project's tasks and annotations. Pages
        are read while full (the SDK's pager asks for one more after any page with items)."""
        found, page = [], 1
        while True:
            try:
                pager = self.call("listing projects", self.sdk.projects.list, title=title, include=PROJECT_FIELDS, page=page, page_size=page_size)
            except ProjectNotFound:
                if page > 1:  # past the last page
                    return found
                raise
            items = pager.items or []
            found += [_dump(p) for p in items if p.title == title]
            if len(items) < page_size:
                return found
            page += 1

    def create_project(self, title: str, description: str, label_config: str, **settings: Any) -> dict[str, Any]:
        return _dump(self.call("creating a project", self.sdk.projects.create, title=title, description=description, label_config=label_config,
                               **settings))

    def update_project(self, project_id: int, what: str, **fields: Any) -> None:
        self.call(f"updating the project's {what}", self.sdk.projects.update, id=project_id, **fields)

    def invite_link(self) -> str:
        """The organization's sign-up link (the server's own invite flow), as a full URL."""
        return self.url + self.call("reading the invite link", self.sdk.organizations.invites.get_invite_link).invite_url

    def local_storages(self, project_id: int) -> list[dict[str, Any]]:
        return [_dump(s) for s in self.call("listing local storages", self.sdk.import_storage.local.list, project=project_id)]

    def add_local_storage(self, project_id: int, path: str) -> None:
        self.call(f"connecting local files storage {path}", self.sdk.import_storage.local.create, project=project_id, path=path,
                  title="hub media", use_blob_urls=False, recursive_scan=True)

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]], *, batch: int = IMPORT_BATCH) -> int:
        """Import `tasks` in batches; return how many Label Studio created."""
        created = 0
        for start in range(0, len(tasks), batch):
            chunk = tasks[start: start + batch]
            result = self.call(f"importing tasks {start + 1}-{start + len(chunk)}", self.sdk.projects.import_tasks, id=project_id, request=chunk)
            created += int(getattr(result, "task_count", None) or 0)
        return created

    def tasks_page(self, project_id: int, page: int, *, page_size: int | None = None, annotations: bool = True) -> tuple[list[dict[str, Any]], bool]:
        """One page of the project's tasks in id order (with annotations), and whether more follow."""
        page_size = page_size or config.label_studio_page_size()
        query = json.dumps({"ordering": ["tasks:id"]})
        try:
            pager = self.call(f"exporting page {page} of project {project_id}", self.sdk.tasks.list, project=project_id, page=page, page_size=page_size,
                              fields="all" if annotations else "task_only", query=query)
        except ProjectNotFound:
            if page > 1:  # past the last page
                return [], False
            raise ProjectNotFound(f"Label Studio at {self.url} has no project {project_id}", url=self.url, project=project_id) from None
        items = [_dump(t) for t in pager.items or []]
        return items, len(items) >= page_size

    def next_task_id(self, project_id: int, after: int, *, page: int) -> int | None:
        """The smallest id of the project's tasks above `after` (None: there is none): one task
        of the Data Manager's list, filtered and ordered by id."""
        query = json.dumps({"filters": {"conjunction": "and", "items": [{"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": after}]},
                            "ordering": ["tasks:id"]})
        try:
            pager = self.call(f"exporting page {page} of project {project_id}", self.sdk.tasks.list, project=project_id, page=1, page_size=1,
                              fields="task_only", query=query)
        except ProjectNotFound:
            if after:  # past the last task
                return None
            raise ProjectNotFound(f"Label Studio at {self.url} has no project {project_id}", url=self.url, project=project_id) from None
        items = pager.items or []
        return int(items[0].id) if items else None

    def export_tasks(self, project_id: int, ids: range, *, page: int) -> list[dict[str, Any]]:
        """The project's tasks among `ids` (at most EXPORT_WINDOW of them), each with its
        annotations, in id order: Label Studio's own JSON export (`GET
        /api/projects/{id}/export?exportType=JSON&ids[]=...`), the fastest of its APIs at this.
        (The SDK's own `ids` argument sends `ids=`, which the server does not read.)"""
        assert len(ids) <= EXPORT_WINDOW
        options = {"additional_query_parameters": {"ids[]": [str(i) for i in ids]}}

        def download() -> bytes:
            return b"".join(self.sdk.projects.exports.download_sync(project_id, export_type="JSON", download_all_tasks=True, request_options=options))
        try:
            body = self.call(f"exporting page {page} of project {project_id}", download)
        except ProjectNotFound:
            raise ProjectNotFound(f"Label Studio at {self.url} has no project {project_id}", url=self.url, project=project_id) from None
        try:
            tasks = json.loads(body)
        except ValueError as exc:  # not JSON: a proxy's page, a cut-off body
            raise LabelStudioUnavailable(f"Label Studio at {self.url} sent no JSON ({exc}) while exporting page {page} of project {project_id}",
                                         url=self.url, hint="Run the command again: the pull resumes with the pages it has read.") from None
        return sorted(tasks, key=lambda t: t["id"])

    def iter_tasks(self, project_id: int, *, annotations: bool = True) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            items, more = self.tasks_page(project_id, page, annotations=annotations)
            yield from items
            if not more or not items:
                return
            page += 1
