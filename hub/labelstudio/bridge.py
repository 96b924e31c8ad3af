"""The bridge: push a published version's records to Label Studio, report progress, pull the
annotations back and publish them as a new version.

A project remembers what it annotates in its description (`hub-annotate/1` JSON: dataset,
version, split, task, labels, and the path of the hub repository it belongs to: two hubs
sharing a server never share a project), so `status` and `pull` need only its id. Tasks carry the
record id (`data.record_id`); pushing again imports only records that have no task yet.

Pulling exports the tasks page by page (each page is kept under `.hub/annotate/pulls/` until
the pull is done, so a rerun after a failure resumes), turns every annotation into the
record field's value (or a reported problem), computes agreement, resolves each task by
the rule, and writes the changed labels to the dataset's label overlay
(`hub.annotations`), from which `hub.publishing.publish` makes the new version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from hub import config, records
from hub.annotations import append_overlay, overlay_path, read_overlay
from hub.entry import Entry, load_entry
from hub.errors import AnnotationError, DatasetNotFound, LabelStudioUnavailable, ProjectNotFound, VersionNotFound
from hub.hashing import sha256_file
from hub.ids import parse_ref
from hub.labelstudio.agreement import agreement
from hub.labelstudio.client import Client
from hub.labelstudio.config import ResultError, TaskSpec, from_results, label_config, task_spec, tasks_for
from hub.labelstudio.resolve import RULES, Vote, resolve
from hub.labelstudio.tasks import build_tasks, check_media_dir, decode_value, media_columns, read_records, write_media
from hub.repo import dataset_dir, work_dir
from hub.versions import _shards_with_split, published_versions, read_manifest, version_dir

log = logging.getLogger(__name__)

__all__ = ["invite", "pull", "push", "status"]

FORMAT = "hub-annotate/1"


# -- projects -------------------------------------------------------------------------------


def _title(dataset: str, version: str, split: str, task: str) -> str:
    return f"{dataset}@{version} {split} {task}"


def _meta(project: dict[str, Any], client: Client, *, strict: bool = True) -> dict[str, Any]:
    text = project.get("description") or ""
    for line in reversed(text.splitlines()):
        if line.startswith(FORMAT + " "):
            try:
                meta = json.loads(line[len(FORMAT) + 1:])
            except ValueError:
                break
            if isinstance(meta, dict) and meta.get("format") == FORMAT:
                return meta
            break
    if not strict:
        return {}
    raise AnnotationError(f"Label Studio project {project['id']} ({project.get('title')!r}) at {client.url} was not created by `hub annotate push`",
                          hint="Give the id of a project that `hub annotate push` created.", project=project["id"])


def _describe(meta: dict[str, Any]) -> str:
    return (f"Labels for {meta['dataset']}@{meta['version']} ({meta['split']} split, {meta['task']}), managed by the hub: "
            f"`hub annotate pull {{id}}` publishes them. Do not edit the line below.\n\n{FORMAT} " + json.dumps(meta, sort_keys=True))


def _project_id(project: int | str) -> int:
    try:
        return int(project)
    except (TypeError, ValueError):
        raise ProjectNotFound(f"{project!r} is not a Label Studio project id (a number)", project=project) from None


def _spec(entry: Entry, task: str | None) -> TaskSpec:
    record = entry.schema.record
    try:
        return task_spec(record, task)
    except (KeyError, StopIteration):
        raise AnnotationError(f"no annotation task {task!r} for {record} records of {entry.id}",
                              hint=f"Use one of: {', '.join(tasks_for(record))}.", dataset=entry.id, task=task) from None


def _entry(root: Path, dataset: str) -> Entry:
    entry = load_entry(root, dataset)
    if entry.schema is None:
        entry.report.raise_for_problems()
    return entry


def _version(root: Path, dataset: str, version: str | None) -> str:
    versions = published_versions(dataset_dir(root, dataset) / "versions")
    if not versions:
        raise VersionNotFound(f"{dataset} has no published version to annotate", hint=f"Publish it first: `hub publish {dataset}`.", dataset=dataset)
    if version is None:
        return versions[-1]
    read_manifest(dataset_dir(root, dataset) / "versions", dataset, version)  # raises VersionNotFound
    return version


def _document_root(root: Path) -> Path:
    configured = config.label_studio_document_root()
    return Path(configured) if configured else work_dir(root) / "annotate" / "media"


# -- push -----------------------------------------------------------------------------------

# Annotators per task of a new project: every task computes agreement, and three break a tie
# that two cannot (majority resolution)
DEFAULT_OVERLAP = 3


def _queue_settings(overlap: int) -> dict[str, Any]:
    """Project settings by which Label Studio's labelling queue (`/api/projects/{id}/next`, the
    UI's "Label All Tasks") gives each task to `overlap` different annotators, in task order,
    finishing tasks others started first. The queue shows an annotator only their own
    annotations; the open-source server has no setting that hides the others' in the Data
    Manager (it has no annotator role), so annotators who want to be independent use the queue."""
    return {"maximum_annotations": overlap, "overlap_cohort_percentage": 100, "sampling": "Sequential sampling", "show_annotation_history": False}


def _project_url(client: Client, pid: int) -> str:
    return f"{client.url}/projects/{pid}/data"



class _MediaWriter:
    """Writes the media files of a push (`write_media`) in a thread while the push asks the
    server (finding and creating the project, connecting storage, importing), and waits for it
    at the end: a push returns once every file is there. A failed write raises after the
    import; the same push run again writes the files still missing (of every selected record,
    tasks already there or not). When the push itself fails, the writer stops after its batch."""

    def __init__(self, spec: TaskSpec, table: Any, media_dir: Path) -> None:
        self.stop = threading.Event()
        self.media_dir = media_dir
        self.thread, self.error = None, None
        if records.get(spec.record).task_media(spec) and table.num_rows:
            self.thread = threading.Thread(target=self._run, args=(spec, table, media_dir), name="hub-media-writer", daemon=True)

    def _run(self, spec: TaskSpec, table: Any, media_dir: Path) -> None:
        try:
            write_media(spec, table, media_dir, stop=self.stop)
        except BaseException as exc:  # reported by __exit__, in the push's thread
            self.error = exc

    def __enter__(self) -> _MediaWriter:
        if self.thread is not None:
            self.thread.start()
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if self.thread is None:
            return
        if exc is not None:
            self.stop.set()
        self.thread.join()
        if exc is None and self.error is not None:
            raise AnnotationError(f"writing the media files to {self.media_dir} failed: {self.error}",
                                  hint="The tasks are in the project; free the disk or fix the folder's permissions and run the same push again: "
                                       "it writes the files still missing.") from self.error


def push(root: Path, ref: str, *, split: str = "train", task: str | None = None, limit: int | None = None, sample: int | None = None,
         seed: int = 0, prelabel: bool = False, predictions: dict[str, Any] | None = None, model_version: str | None = None,
         overlap: int | None = None, client: Client | None = None) -> dict[str, Any]:
    """Create (or update) the Label Studio project for `ref`'s `split` and `task`, and import
    tasks for the records that have none yet.

    `overlap` is how many different annotators each task reaches through the labelling queue
    (the project's annotations per task; None: for a new project the dataset entry's
    `annotation: {overlap: N}`, else DEFAULT_OVERLAP; an existing project keeps its own).
    `ref` is `ns/name@X.Y.Z` (or `ns/name`: the latest version). Returns the project and counts (selected, already there, imported, problems). Raises `DatasetNotFound`,
    `VersionNotFound`, `AnnotationError` (bad task, split or options) and the Label Studio
    errors (`LabelStudioUnavailable`, `LabelStudioAuthError`).
    """
    if limit is not None and sample is not None:
        raise AnnotationError("--limit and --sample exclude each other", hint="Give one of them.")
    if overlap is not None and overlap < 1:
        raise AnnotationError(f"overlap {overlap} is not a number of annotators", hint="Give 1 (a single pass) or more.")
    dataset, version = parse_ref(ref)
    entry = _entry(root, dataset)
    bad = next((p for p in entry.report.problems if p.field == "annotation.overlap"), None)
    if bad is not None and overlap is None:  # not silently the default
        raise AnnotationError(f"{entry.id}: {bad.message}", hint=f"{bad.hint} Or give --overlap.", dataset=dataset)
    version = _version(root, dataset, version)
    spec = _spec(entry, task)
    vdir = version_dir(dataset_dir(root, dataset) / "versions", version)
    manifest = json.loads((vdir / "manifest.json").read_text(encoding="utf-8"))
    if split not in manifest["splits"]:
        raise AnnotationError(f"{dataset}@{version} has no split {split!r}", hint=f"Use one of: {', '.join(manifest['splits'])}.", dataset=dataset, split=split)
    labels = list(manifest.get("labels") or [])
    table = read_records(vdir, split, [*media_columns(spec), spec.field], limit=limit, sample=sample, seed=seed)
    kind = records.get(spec.record)
    document_root = _document_root(root)
    media_dir = document_root / dataset / version / split
    if kind.task_media(spec) and table.num_rows:
        check_media_dir(media_dir, document_root)  # before anything is written or asked of the server
    client = client or Client()  # before the writer starts: making its TLS context is CPU work the thread would slow
    with _MediaWriter(spec, table, media_dir):  # the files are written while the server is busy
        title = _title(dataset, version, split, spec.name)
        hub_root = str(root.resolve())  # a project belongs to one hub repository
        project = next((p for p in client.find_projects(title) if _meta(p, client, strict=False).get("root") == hub_root), None)
        meta = _meta(project, client) if project else {
            "format": FORMAT, "dataset": dataset, "version": version, "split": split, "task": spec.name, "record": spec.record, "field": spec.field,
            "labels": [], "channels": None, "root": hub_root,
        }
        config_labels = labels
        if spec.labels_from:  # e.g. the speakers of speaker segments
            config_labels = sorted(set(meta["labels"]) | set(table.column(spec.labels_from).to_pylist()))
        elif spec.needs_labels and not labels:
            raise AnnotationError(f"{dataset} has no label set for the {spec.name} task", hint="List the classes under `labels:` in dataset.yaml and publish again.", dataset=dataset)
        if meta["channels"] is None and table.num_rows:
            meta["channels"] = kind.task_channels(spec, table)
        xml = label_config(spec, config_labels, channels=meta["channels"])
        created = project is None
        if created:
            meta["labels"] = config_labels
            project = client.create_project(title, _describe(meta), xml, **_queue_settings(overlap or entry.overlap or DEFAULT_OVERLAP))
        else:
            if meta["labels"] != config_labels:
                meta["labels"] = config_labels
                client.update_project(project["id"], "label config", label_config=xml, description=_describe(meta))
            if overlap is not None and overlap != project.get("maximum_annotations"):
                client.update_project(project["id"], "annotations per task", **_queue_settings(overlap))
        pid = project["id"]
        existing = set() if created else {t["data"].get("record_id") for t in client.iter_tasks(pid, annotations=False)}  # a new project has none
        new = table.filter([rid not in existing for rid in table.column("id").to_pylist()]) if existing else table
        if kind.task_media(spec) and new.num_rows:
            storage = str(media_dir.resolve())
            if created or not any(s.get("path") == storage for s in client.local_storages(pid)):  # a new project has none
                media_dir.mkdir(parents=True, exist_ok=True)
                client.add_local_storage(pid, storage)
        tasks, problems = build_tasks(spec, new, labels, media_dir=media_dir, document_root=document_root, write=False, prelabel=prelabel,
                                      predictions=predictions, model_version=model_version or f"{dataset}@{version}", channels=meta["channels"])
        imported = client.import_tasks(pid, tasks) if tasks else 0
    return {
        "project": {"id": pid, "title": title, "url": _project_url(client, pid),
                    "overlap": overlap or project["maximum_annotations"]},
        "dataset": dataset, "version": version, "split": split, "task": spec.name, "field": spec.field,
        "selected": table.num_rows, "already_there": table.num_rows - new.num_rows, "imported": imported,
        "predictions": sum(1 for t in tasks if t.get("predictions")), "problems": problems,
    }


def invite(*, client: Client | None = None) -> dict[str, Any]:
    """The server's sign-up link for annotators: whoever opens it makes an account (email and
    password) in the token's organization and sees its projects; Label Studio resets the link
    when an admin asks it to (Organization > Members)."""
    client = client or Client()
    return {"server": client.url, "invite_url": client.invite_link()}


# -- reading annotations back -----------------------------------------------------------------


def _salt(root: Path) -> str:
    configured = config.annotator_salt()
    if configured:
        return configured
    path = work_dir(root) / "annotate" / "salt"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16) + "\n", encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()


def _pseudonym(salt: str, email: str) -> str:
    """The annotator's name in published data: from the salt and the email only, so one person
    keeps one pseudonym however the server's URL is spelled and on whichever server they work."""
    return "annotator-" + hashlib.sha256(f"{salt}\0{email.strip().lower()}".encode()).hexdigest()[:12]


def _trim(task: dict[str, Any]) -> dict[str, Any]:
    keep = ("id", "result", "completed_by", "was_cancelled", "created_at", "updated_at")
    return {"id": task["id"], "updated_at": _stamp(task.get("updated_at")), "data": {k: task["data"].get(k) for k in ("record_id", "width", "height", "fps")},
            "annotations": [{k: a.get(k) for k in keep} for a in task.get("annotations") or []]}


def _stamp(value: Any) -> str:
    """A task's `updated_at` in one spelling: the SDK gives text ending in Z in a full export
    and a datetime in a light listing."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.isoformat() if value is not None else ""


def _export_page(client: Client, pid: int, page: int, after: int, first: int, last: int, saved: Path | None) -> dict[str, Any]:
    """Page `page`: the tasks with ids `first`..`last` (the first task after `after` and the
    window from it), exported, trimmed and kept in `saved`."""
    kept = {"after": after, "first": first, "last": last, "tasks": [_trim(t) for t in client.export_tasks(pid, range(first, last + 1), page=page)]}
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        tmp = saved.with_suffix(".tmp")
        tmp.write_text(json.dumps(kept), encoding="utf-8")
        tmp.replace(saved)
    return kept


def _export(client: Client, pid: int, cache: Path | None, *, total: int | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Every task of the project with its annotations, page by page, and warnings; pages are
    kept in `cache` so that a rerun after a failure fetches only the rest.

    A page is a window of task ids (`HUB_LABEL_STUDIO_PAGE_SIZE` ids from the first task after
    the last page's window, at most `client.EXPORT_WINDOW`) read through Label Studio's JSON
    export. A rerun first lists the tasks without annotations (a light listing): a kept page
    holding a task whose `updated_at` changed since (Label Studio moves it on every annotation
    made, changed or deleted), a task gone, or a new task in its window, is exported again, and
    the counts of annotations are checked against the listing's at the end, so a resumed pull
    publishes what the server holds.

    The next window starts right after the last one; only a window that comes back empty asks
    the server for the next task id. A pull stops once it holds as many tasks as the project
    had when it began (`total`, or the rerun's listing), without asking whether more follow."""
    from hub.labelstudio.client import EXPORT_WINDOW

    window = min(config.label_studio_page_size(), EXPORT_WINDOW)
    tasks: list[dict[str, Any]] = []
    current = None
    if cache is not None and any(cache.glob("page-*.json")):
        current = {t["id"]: t for t in client.iter_tasks(pid, annotations=False)}
    expected = len(current) if current is not None else total
    warnings = []
    page, after = 1, 0
    while True:
        saved = cache / f"page-{page:06d}.json" if cache else None
        kept = json.loads(saved.read_text(encoding="utf-8")) if saved is not None and saved.is_file() else None
        if not isinstance(kept, dict) or kept.get("after") != after:  # none, or written by another layout of pages
            kept = None
        if kept is not None and current is not None:
            held = {t["id"] for t in kept["tasks"]}
            if (any(t["id"] not in current or _stamp(current[t["id"]].get("updated_at")) != t["updated_at"] for t in kept["tasks"])
                    or any(after < i <= kept["last"] and i not in held for i in current)):
                warnings.append(f"page {page} changed on the server since the interrupted pull cached it: fetched again")
                kept = _export_page(client, pid, page, after, kept["first"], kept["last"], saved)  # the same window: the pages after it stay
        if kept is None:
            if expected is not None and len(tasks) >= expected:
                break
            first = after + 1 if page > 1 else client.next_task_id(pid, after, page=page)
            kept = _export_page(client, pid, page, after, first, first + window - 1, saved) if first is not None else None
            if kept is not None and not kept["tasks"]:  # a gap in the ids: from the next task
                first = client.next_task_id(pid, after, page=page)
                kept = _export_page(client, pid, page, after, first, first + window - 1, saved) if first is not None else None
            if kept is None:
                if saved is not None:
                    saved.unlink(missing_ok=True)
                break
        tasks += kept["tasks"]
        after = kept["last"]
        page += 1
    if current is not None:
        held = sum(int(t.get("total_annotations") or 0) + int(t.get("cancelled_annotations") or 0) for t in current.values())
        pulled = sum(len(t["annotations"]) for t in tasks)
        if held != pulled or len(current) != len(tasks):
            warnings.append(f"the server held {len(current)} tasks with {held} annotations when this pull began, the pull read {len(tasks)} "
                            f"with {pulled}: they changed during the pull; pull again for the rest")
    for w in warnings:
        log.warning("project %s: %s", pid, w)
    return tasks, warnings


def _json_default(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _collect(spec: TaskSpec, labels: list[str], tasks: list[dict[str, Any]], names: dict[str, str], reviewers: set[str]) -> dict[str, Any]:
    """Votes per record and every annotation that cannot be one (skipped, empty, not fitting)."""
    votes: dict[str, list[Vote]] = {}
    task_of: dict[str, int] = {}
    skipped, empty, rejected, duplicates = [], [], [], []
    unannotated = 0
    for task in tasks:
        rid = task["data"].get("record_id")
        anns = task["annotations"]
        if not anns:
            unannotated += 1
            continue
        if rid in task_of:
            duplicates.append({"task": task["id"], "record_id": rid, "other_task": task_of[rid]})
        task_of.setdefault(rid, task["id"])
        size = (task["data"].get("width"), task["data"].get("height"))
        usable = votes.setdefault(rid, [])
        for ann in anns:
            who = names.get(str(ann.get("completed_by")), str(ann.get("completed_by")))
            where = {"task": task["id"], "record_id": rid, "annotation": ann["id"], "annotator": who}
            if ann.get("was_cancelled"):
                skipped.append(where)
                continue
            if not ann.get("result"):
                empty.append(where)
                continue
            try:
                value = from_results(spec, ann["result"], labels, size if all(size) else None, task["data"].get("fps"))
            except ResultError as exc:
                rejected.append({**where, "message": str(exc)})
                continue
            if value is None:
                empty.append(where)
                continue
            updated = str(_json_default(ann.get("updated_at") or ann.get("created_at") or ""))
            usable.append(Vote(int(ann["id"]), who, updated, value, reviewer=ann.get("__email") in reviewers))
    return {"votes": {k: v for k, v in votes.items() if v}, "task_of": task_of, "skipped": skipped, "empty": empty, "rejected": rejected,
            "duplicates": duplicates, "unannotated": unannotated}


def _names(root: Path, client: Client, tasks: list[dict[str, Any]], reviewers: set[str]) -> dict[str, str]:
    """User id -> pseudonym; marks reviewer annotations (by email) on the way."""
    emails = client.users()
    salt = _salt(root)
    for task in tasks:
        for ann in task["annotations"]:
            ann["__email"] = emails.get(ann.get("completed_by"))
    return {str(uid): _pseudonym(salt, email or f"{client.url}#{uid}") for uid, email in emails.items()}  # no email: the server's id


def _load_project(root: Path, project: int | str, client: Client) -> tuple[int, dict[str, Any], Entry, TaskSpec, int, int | None]:
    """The project's id, hub metadata, dataset entry, task spec, annotations per task and
    number of tasks (None if the server does not say)."""
    pid = _project_id(project)
    found = client.project(pid)
    meta = _meta(found, client)
    try:
        entry = _entry(root, meta["dataset"])
    except DatasetNotFound:
        raise DatasetNotFound(f"Label Studio project {pid} annotates {meta['dataset']}, which is not registered in {root}",
                              dataset=meta["dataset"], project=pid) from None
    total = found.get("task_number")
    return pid, meta, entry, _spec(entry, meta["task"]), int(found.get("maximum_annotations") or 1), int(total) if total is not None else None


def _summary(collected: dict[str, Any], tasks: list[dict[str, Any]], spec: TaskSpec) -> dict[str, Any]:
    per_task: dict[int, int] = {}
    for task in tasks:
        n = sum(1 for a in task["annotations"] if not a.get("was_cancelled"))
        per_task[n] = per_task.get(n, 0) + 1
    votes = collected["votes"]
    figures = agreement(spec.kind, {rid: [(v.annotator, v.value) for v in vs] for rid, vs in votes.items()})
    return {
        "tasks": len(tasks),
        "done": len(votes),
        "annotations": sum(len(t["annotations"]) for t in tasks),
        "annotations_per_task": {str(k): v for k, v in sorted(per_task.items())},
        "skipped": len(collected["skipped"]), "empty": len(collected["empty"]), "rejected": len(collected["rejected"]),
        "agreement": figures,
    }


def status(root: Path, project: int | str, *, client: Client | None = None) -> dict[str, Any]:
    """Progress of a project: tasks, done, annotations per task, the overlap (annotations per
    task) it asks for, how many tasks reached it and how many still need how many more
    (`still_needed`: {"1": tasks needing one more}), annotations and skips per annotator
    (pseudonyms, as published), agreement so far."""
    client = client or Client()
    pid, meta, entry, spec, overlap, total = _load_project(root, project, client)
    tasks, _ = _export(client, pid, None, total=total)
    names = _names(root, client, tasks, set())
    collected = _collect(spec, meta["labels"], tasks, names, set())
    counts = [sum(1 for a in t["annotations"] if not a.get("was_cancelled")) for t in tasks]
    needed: dict[int, int] = {}
    for n in counts:
        if n < overlap:
            needed[overlap - n] = needed.get(overlap - n, 0) + 1
    per_annotator: dict[str, dict[str, int]] = {}
    for task in tasks:
        for ann in task["annotations"]:
            mine = per_annotator.setdefault(names.get(str(ann.get("completed_by")), str(ann.get("completed_by"))), {"annotations": 0, "skipped": 0})
            mine["skipped" if ann.get("was_cancelled") else "annotations"] += 1
    return {"project": {"id": pid, "url": _project_url(client, pid)}, "dataset": meta["dataset"], "version": meta["version"],
            "split": meta["split"], "task": meta["task"], **_summary(collected, tasks, spec),
            "overlap": overlap, "overlap_reached": sum(1 for n in counts if n >= overlap),
            "still_needed": {str(k): v for k, v in sorted(needed.items())}, "per_annotator": dict(sorted(per_annotator.items()))}


# -- pull -----------------------------------------------------------------------------------


def _norm(value: Any) -> Any:
    """A value in a form that compares equal across float32 storage and JSON."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def _current(root: Path, dataset: str, version: str, spec: TaskSpec, labels: list[str]) -> dict[str, Any]:
    """record id -> the labelled field's value in `version` (source form)."""
    vdir = version_dir(dataset_dir(root, dataset) / "versions", version)
    con = duckdb.connect()
    try:
        rows = con.execute(f'SELECT id, "{spec.field}" FROM ({_shards_with_split(vdir, "__split")})').fetchall()
    finally:
        con.close()
    return {rid: decode_value(spec, value, labels) for rid, value in rows}


def pull(root: Path, project: int | str, *, rule: str = "majority", reviewers: tuple[str, ...] | list[str] = (), push: bool = True,
         client: Client | None = None) -> dict[str, Any]:
    """Export a project's annotations, compute agreement, resolve each task by `rule`
    (`majority`, `reviewer` with `reviewers` given by email, or `latest`), and publish the
    labels that changed as a new version of the dataset (MINOR when only labels changed).

    Returns what happened: the new version (None when nothing changed), agreement, and every
    conflict, skipped task, empty or rejected annotation and annotation of a record that no
    longer exists, none of which is published. Raises `ProjectNotFound`, `AnnotationError`,
    the Label Studio errors (a rerun resumes the export), and publishing's errors.
    """
    if rule not in RULES:
        raise AnnotationError(f"unknown resolution rule {rule!r}", hint=f"Use one of: {', '.join(RULES)}.")
    client = client or Client()
    try:
        pid, meta, entry, spec, _, total = _load_project(root, project, client)
        host = client.url.split("//", 1)[-1].replace(":", "-").replace("/", "_")
        cache = work_dir(root) / "annotate" / "pulls" / f"{host}-{pid}"
        clock = time.perf_counter()
        tasks, warnings = _export(client, pid, cache, total=total)
    except LabelStudioUnavailable as exc:
        exc.hint += " Nothing was published; the pull resumes with the pages it has read."
        raise
    dataset = entry.id
    timings = {"export_s": round(time.perf_counter() - clock, 3)}
    clock = time.perf_counter()
    reviewer_set = set(reviewers)
    names = _names(root, client, tasks, reviewer_set)
    collected = _collect(spec, meta["labels"], tasks, names, reviewer_set)
    summary = _summary(collected, tasks, spec)
    parent = published_versions(dataset_dir(root, dataset) / "versions")[-1]
    parent_labels = list(read_manifest(dataset_dir(root, dataset) / "versions", dataset, parent).get("labels") or [])
    current = _current(root, dataset, parent, spec, parent_labels)
    overlay = read_overlay(entry.path).get(spec.field, {})
    resolved, conflicts, missing, changed = {}, [], [], []
    for rid, votes in collected["votes"].items():
        if rid not in current:
            missing.append({"record_id": rid, "task": collected["task_of"][rid], "annotations": [v.annotation for v in votes]})
            continue
        winner, how = resolve(spec.kind, votes, rule)
        if winner is None:
            conflicts.append({"record_id": rid, "task": collected["task_of"][rid],
                              "values": [{"annotation": v.annotation, "annotator": v.annotator, "value": v.value} for v in votes]})
            continue
        resolved[rid] = (winner, how, votes)
        if _norm(winner.value) != _norm(current[rid]) or (rid in overlay and _norm(overlay[rid]["value"]) != _norm(winner.value)):
            changed.append(rid)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    timings["convert_agree_resolve_s"] = round(time.perf_counter() - clock, 3)
    report = {
        "project": {"id": pid, "title": _title(meta["dataset"], meta["version"], meta["split"], meta["task"]), "url": _project_url(client, pid)},
        "dataset": dataset, "annotated_version": meta["version"], "parent": parent, "task": spec.name, "field": spec.field, "rule": rule,
        **summary,
        "records_changed": len(changed), "records_unchanged": len(resolved) - len(changed),
        "conflicts": conflicts, "missing_records": missing, "duplicate_tasks": collected["duplicates"],
        "skipped_tasks": collected["skipped"], "empty_annotations": collected["empty"], "rejected_annotations": collected["rejected"],
        "version": None, "published": False, "warnings": warnings, "timings": timings,
    }
    if not changed:
        shutil.rmtree(cache, ignore_errors=True)
        report["message"] = f"nothing changed: {dataset}@{parent} already holds every resolved label of project {pid}; no version published"
        return report
    records = []
    lines = []
    for rid in sorted(changed):
        winner, how, votes = resolved[rid]
        source = {"project": pid, "task": collected["task_of"][rid], "annotations": sorted(v.annotation for v in votes),
                  "annotators": sorted({v.annotator for v in votes}), "updated": max(v.updated for v in votes), "decided_by": how,
                  "chosen_annotation": winner.annotation}
        records.append({"id": rid, **source})
        lines.append({"id": rid, "field": spec.field, "value": winner.value, "provenance": {**source, "server": client.url, "pulled": now}})
    path = overlay_path(entry.path)
    before = path.read_bytes() if path.is_file() else None
    append_overlay(entry.path, lines)
    provenance = {
        "tool": "label-studio", "server": client.url, "project": report["project"], "task": spec.name, "field": spec.field, "rule": rule,
        "pulled": now, "annotated_version": meta["version"], "tasks": summary["tasks"], "annotations": summary["annotations"],
        "annotators": sorted({a for r in records for a in r["annotators"]}),
        "agreement": summary["agreement"], "records_changed": len(changed), "records": records,
        "conflicts": len(conflicts), "conflict_records": [c["record_id"] for c in conflicts],
        "skipped": len(collected["skipped"]), "rejected": len(collected["rejected"]) + len(collected["empty"]) + len(missing),
        "overlay": {"path": str(path.relative_to(root)), "sha256": sha256_file(path)},
        "pseudonyms": "annotator-<sha256(salt, email)[:12]>; the salt stays in the hub's .hub/annotate/salt (or HUB_ANNOTATOR_SALT)",
    }
    from hub.publishing import publish

    clock = time.perf_counter()
    try:
        published = publish(root, dataset, push=push, skip_unchanged=True, annotation=provenance)
    except BaseException:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(before)
        raise
    shutil.rmtree(cache, ignore_errors=True)
    timings["overlay_and_publish_s"] = round(time.perf_counter() - clock, 3)
    report.update(version=published.version, published=not published.unchanged, path=str(published.path),
                  change=(published.manifest.get("parent") or {}).get("change"))
    report["message"] = (f"published {dataset}@{published.version}: {len(changed)} records relabelled from project {pid}"
                         if not published.unchanged else f"nothing changed: {dataset}@{published.version} already holds these records")
    return report
