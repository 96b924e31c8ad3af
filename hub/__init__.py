"""The hub: register, validate, split and publish annotated datasets.

Library first: every function returns a value and never prints; `hub.cli` and the server
are thin layers over these. `root` is the hub repository (default: found from the cwd or
HUB_ROOT).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

__version__ = "0.1.0"

from hub.errors import (  # noqa: E402
    AccessDenied,
    AnnotationError,
    DatasetExists,
    DatasetNotFound,
    GatedDataset,
    HubError,
    IntegrityError,
    InvalidDatasetId,
    InvalidVersion,
    LabelStudioAuthError,
    LabelStudioUnavailable,
    LeakageError,
    LicenseError,
    NotAHubRepo,
    OfflineError,
    ProjectNotFound,
    SourceError,
    StorageError,
    ValidationFailed,
    VersionExists,
    VersionNotFound,
)

from hub.audit import audit  # noqa: E402  (a function: it shadows the module's name, so it is imported here, not in a function)

logging.getLogger("hub").addHandler(logging.NullHandler())

__all__ = [
    "AccessDenied",
    "AnnotationError",
    "DatasetExists",
    "DatasetNotFound",
    "GatedDataset",
    "HubError",
    "IntegrityError",
    "InvalidDatasetId",
    "InvalidVersion",
    "LabelStudioAuthError",
    "LabelStudioUnavailable",
    "LeakageError",
    "LicenseError",
    "NotAHubRepo",
    "OfflineError",
    "ProjectNotFound",
    "SourceError",
    "StorageError",
    "ValidationFailed",
    "VersionExists",
    "VersionNotFound",
    "__version__",
    "accept",
    "annotate_invite",
    "annotate_pull",
    "annotate_push",
    "annotate_status",
    "audit",
    "check",
    "create_token",
    "derive",
    "evaluate",
    "import_corpus",
    "index",
    "init",
    "list_datasets",
    "load",
    "new",
    "publish",
    "pull",
    "search",
    "serve",
    "show",
    "split",
    "validate",
]


def _root(root: Path | str | None) -> Path:
    from hub.repo import find_root

    return find_root(root)


def init(path: Path | str, *, remote: str | None = None) -> Path:
    """Create a hub repository (git + DVC, fixed layout, a local DVC remote); return its root."""
    from hub.repo import init as _init

    return _init(path, remote=remote)


def new(dataset: str, *, modality: str, record: str | None = None, license: str = "CC-BY-4.0", title: str | None = None, root: Path | str | None = None) -> Path:
    """Scaffold `registry/<dataset>/` to edit; return its folder."""
    from hub.entry import new_entry

    return new_entry(_root(root), dataset, modality=modality, record=record, license=license, title=title)


def import_corpus(format: str, path: Path | str, dataset: str, *, license: str = "LicenseRef-Unknown", language: str | None = None,
                  window: int | None = None, title: str | None = None, root: Path | str | None = None):
    """Import a corpus folder (`format`: hf-disk, imagefolder, kaldi, coco, ... or auto) as a
    registry entry, then validate it; return `Imported`. See `hub.importers.import_dataset`."""
    from hub.importers import import_dataset

    return import_dataset(_root(root), format, Path(path), dataset, license=license, language=language, window=window, title=title)


def derive(dataset: str, sources: list[str], *, filter: str | None = None, license: str | None = None, accept_license_risk: bool = False,
           title: str | None = None, root: Path | str | None = None):
    """Write a registry entry from records of published versions (`sources`: `ns/name@X.Y.Z[:split]`),
    then validate it; return `Derived`. See `hub.deriving.derive`."""
    from hub.deriving import derive as _derive

    return _derive(_root(root), dataset, sources, filter=filter, license=license, accept_license_risk=accept_license_risk, title=title)


def validate(dataset: str, *, root: Path | str | None = None):
    """Validate an entry and all its records; return the `Report` (never raises for problems)."""
    from hub.validation import validate as _validate

    return _validate(_root(root), dataset).report


def publish(dataset: str, *, version: str | None = None, bump: str | None = None, allow_rejects: bool = False, allow_leaks: bool = False,
            allow_moves: bool = False, allow_contamination: bool = False, push: bool = True, skip_unchanged: bool = False,
            root: Path | str | None = None):
    """Publish a new immutable version; return `Published`. See `hub.publishing.publish`."""
    from hub.publishing import publish as _publish

    return _publish(_root(root), dataset, version=version, bump=bump, allow_rejects=allow_rejects, allow_leaks=allow_leaks, allow_moves=allow_moves,
                    allow_contamination=allow_contamination, push=push, skip_unchanged=skip_unchanged)


def split(dataset: str, *, allow_leaks: bool = False, allow_moves: bool = False, root: Path | str | None = None) -> dict[str, Any]:
    """Validate and split a dataset into `.hub/build/<ns>/<name>/` (shards, certificate,
    stats, plots, card); return the summary with the certificate. See `hub.build.split`."""
    from hub.build import split as _split

    return _split(_root(root), dataset, allow_leaks=allow_leaks, allow_moves=allow_moves)


def check(dataset: str, *, allow_leaks: bool = False, root: Path | str | None = None) -> dict[str, Any]:
    """Certify a dataset's build from its files: no group, no duplicate in two splits.

    Returns the certificate; raises `LeakageError` if it does not hold (unless `allow_leaks`)."""
    from hub.build import check as _check

    return _check(_root(root), dataset, allow_leaks=allow_leaks)


def search(query: str = "", *, root: Path | str | None = None, **filters: Any) -> list[dict[str, Any]]:
    """Datasets matching `query` and the filters (modality, task, language, license, commercial)."""
    from hub.catalog import Catalog

    return Catalog(_root(root)).search(query, **filters)


def list_datasets(*, root: Path | str | None = None) -> list[dict[str, Any]]:
    """Every registered dataset."""
    from hub.catalog import Catalog

    return Catalog(_root(root)).list()


def show(ref: str, *, root: Path | str | None = None) -> dict[str, Any]:
    """A dataset (`ns/name`) or one version (`ns/name@1.0.0`), with its manifest."""
    from hub.catalog import Catalog

    return Catalog(_root(root)).show(ref)


def check_contamination(target: str | Path, *, against: str | None = None, record: str | None = None, root: Path | str | None = None) -> dict[str, Any]:
    """Which records of `target` are another dataset's test or validation records (`hub.contamination`).

    `target`: a registered dataset (`ns/name`, validated and split as a publish would) or a
    Parquet file or folder, or a `save_to_disk` folder (`record` names its record type).
    `against`: only that dataset (`ns/name[@X.Y.Z]`). `contaminated` is true when training
    records match.
    """
    from hub.contamination import check, check_path, refusing

    repo = _root(root)
    if isinstance(target, str) and "/" in target and not Path(target).exists():
        from hub.publishing import prepare

        prepared = prepare(repo, target, allow_rejects=True)
        matches = check(repo, prepared.entry.schema.record, prepared.table, prepared.assignment.index, prepared.assignment.names,
                        thresholds=prepared.entry.split.thresholds(), exclude=target, only=against)
    else:
        if record is None:
            from hub import records
            from hub.errors import HubError

            raise HubError("the record type of data on disk must be named", hint=f"Pass record= ({', '.join(records.RECORD_TYPES)}).")
        matches = check_path(repo, Path(target), record, only=against)
    return {"target": str(target), "matches": [m.to_dict() for m in matches], "contaminated": bool(refusing(matches))}


def index(*, root: Path | str | None = None) -> dict[str, Any]:
    """Rebuild the catalog index from `registry/`; return where it is and what it holds."""
    from hub.catalog import Catalog

    catalog = Catalog(_root(root))
    catalog.refresh(force=True)
    return {"path": str(catalog.path), "datasets": len(catalog.list())}


def serve(*, host: str = "127.0.0.1", port: int = 8000, root: Path | str | None = None, workers: int | None = None) -> None:
    """Serve the catalog (pages, JSON API, Hugging Face API subset) until interrupted, in
    `workers` processes (default: HUB_WORKERS, else one per core, at most 4)."""
    from hub.server import serve as _serve

    _serve(_root(root), host=host, port=port, workers=workers)


def create_token(user: str, *, publish: bool = False, root: Path | str | None = None) -> str:
    """A new API token for `user` (stored hashed; this is the only time it is shown)."""
    from hub.access import AccessStore

    return AccessStore(_root(root)).create_token(user, publish=publish)


def pull(ref: str, *, split: str | list[str] | None = None, endpoint: str | None = None, token: str | None = None, cache_dir: Path | str | None = None):
    """Download `ns/name@version` (or one split) from a hub server into the cache, verified;
    return `Pulled` (path, files, NOTICE.md). See `hub.client.pull`."""
    from hub.client import pull as _pull

    return _pull(ref, split=split, endpoint=endpoint, token=token, cache_dir=cache_dir)


def load(dataset: str, *, version: str | None = None, split: str = "test", endpoint: str | None = None, token: str | None = None, cache_dir: Path | str | None = None):
    """A `datasets.Dataset` of a split or TFDS slice (`test[:10%]`) of a pinned version."""
    from hub.client import load as _load

    return _load(dataset, version=version, split=split, endpoint=endpoint, token=token, cache_dir=cache_dir)


def evaluate(ref: str, predictions: Path | str, *, split: str = "test", task: str | None = None, targets: list[str] | tuple[str, ...] = (),
             resamples: int = 1000, seed: int = 0, root: Path | str | None = None, endpoint: str | None = None, token: str | None = None,
             cache_dir: Path | str | None = None, server: str | None = None, model: str | None = None, link: str | None = None,
             training_data: Path | str | None = None):
    """Score a predictions file (JSONL/CSV/Parquet of `id`, `prediction`) on a split of `ref`
    (`ns/name@X.Y.Z`); return the `EvalReport`. With `server`, that hub server scores it (blind
    splits too) and records the submission, with the contamination check of `training_data`
    against the split when given. See `hub.evaluation.evaluate`."""
    from hub.evaluation import evaluate as _evaluate

    return _evaluate(ref, predictions, split=split, task=task, targets=targets, resamples=resamples, seed=seed, root=root,
                     endpoint=endpoint, token=token, cache_dir=cache_dir, server=server, model=model, link=link, training_data=training_data)


def accept(dataset: str, *, endpoint: str | None = None, token: str | None = None) -> dict[str, Any]:
    """Accept a gated dataset's terms on the server, for the token's user; return the record."""
    from hub.client import accept as _accept

    return _accept(dataset, endpoint=endpoint, token=token)
def annotate_push(ref: str, *, split: str = "train", task: str | None = None, limit: int | None = None, sample: int | None = None, seed: int = 0,
                  prelabel: bool = False, predictions: dict[str, Any] | None = None, model_version: str | None = None,
                  overlap: int | None = None, root: Path | str | None = None) -> dict[str, Any]:
    """Create or update the Label Studio project for `ref` (`ns/name@X.Y.Z`) and import the
    split's records that have no task yet; each task goes to `overlap` annotators (a new
    project's default: 3). Return the project and counts. See `hub.labelstudio.bridge.push`."""
    from hub.labelstudio.bridge import push

    return push(_root(root), ref, split=split, task=task, limit=limit, sample=sample, seed=seed, prelabel=prelabel,
                predictions=predictions, model_version=model_version, overlap=overlap)


def annotate_invite() -> dict[str, Any]:
    """The Label Studio server's sign-up link for annotators (`invite_url`). See `hub.labelstudio.bridge.invite`."""
    from hub.labelstudio.bridge import invite

    return invite()


def annotate_status(project: int | str, *, root: Path | str | None = None) -> dict[str, Any]:
    """A Label Studio project's progress: tasks, done, annotations per task, agreement so far."""
    from hub.labelstudio.bridge import status

    return status(_root(root), project)


def annotate_pull(project: int | str, *, rule: str = "majority", reviewers: list[str] | tuple[str, ...] = (), push: bool = True,
                  root: Path | str | None = None) -> dict[str, Any]:
    """Pull a project's annotations, resolve them by `rule` and publish the changed labels as a
    new version; return the report (version None when nothing changed). See `hub.labelstudio.bridge.pull`."""
    from hub.labelstudio.bridge import pull

    return pull(_root(root), project, rule=rule, reviewers=reviewers, push=push)
