"""A hub repository on disk: finding it, creating it (`hub init`) and its dataset folders."""

from __future__ import annotations

import fcntl
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from hub import config
from hub.errors import DatasetExists, HubError, NotAHubRepo, StorageError, UnsafePath
from hub.ids import parse_dataset_id

log = logging.getLogger(__name__)

__all__ = ["dataset_dir", "dvc_lock", "file_lock", "find_root", "init", "inside", "remote_error", "s3_filesystem", "work_dir"]

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_DVC = [sys.executable, "-m", "dvc"]  # the DVC installed with the hub, whatever PATH says
S3_KEYS_HINT = "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to keys the object store accepts."
S3_ENDPOINT_HINT = ("Start the object store (scripts/seaweedfs start DATA_DIR PORT) or set HUB_S3_ENDPOINT to the URL "
                    "of its S3 API, and check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.")


def find_root(start: Path | str | None = None) -> Path:
    """The hub repository containing `start` (or HUB_ROOT, or the cwd).

    A hub repository is a folder holding `registry/`. Raises `NotAHubRepo` naming every
    place it looked.
    """
    if start is None:
        start = config.root_override() or Path.cwd()
    start = Path(start).resolve()
    looked = []
    for candidate in (start, *start.parents):
        looked.append(str(candidate))
        if (candidate / "registry").is_dir():
            return candidate
    raise NotAHubRepo(f"no hub repository (a folder with registry/) at {start} or above", looked=looked)


def work_dir(root: Path) -> Path:
    """`.hub/` inside the repository: index, build outputs, quarantine, the default remote."""
    path = root / config.WORK_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def file_lock(path: Path, *, blocking: bool = True) -> Iterator[Path | None]:
    """Hold an exclusive lock on file `path` (created if missing) across processes; yields
    `path`, or None when `blocking` is False and another process holds it."""
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield None
            return
        try:
            yield path
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def dvc_lock(root: Path) -> AbstractContextManager[Path | None]:
    """One DVC operation at a time in the repository, across processes (a server's workers, `hub
    publish`): DVC's own lock makes a second one fail after 3 s instead of waiting."""
    return file_lock(work_dir(root) / "dvc.lock")


def dataset_dir(root: Path, dataset: str) -> Path:
    """`registry/<ns>/<name>` for a checked dataset id (never outside `registry/`)."""
    namespace, name = parse_dataset_id(dataset)
    return root / "registry" / namespace / name


def inside(folder: Path, relative: str | Path) -> Path:
    """`folder / relative`, resolved, if it stays inside `folder` once every link is followed.

    The one check for every file the hub reads from a dataset's folder (dataset.yaml, the
    README card, source files, media, annotations) or a version's folder (manifest.json).
    Raises `UnsafePath` (a `ValueError`) for an absolute path, a `..`, or a link, of the file
    or of a folder on its way, that leads out of `folder`.
    """
    text = str(relative)
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts or "\\" in text:
        raise UnsafePath(f"path {text!r} leaves the dataset folder", path=text)
    full = (folder / candidate).resolve()
    if not full.is_relative_to(folder.resolve()):
        raise UnsafePath(f"path {text!r} leaves the dataset folder (through a link)", path=text)
    return full


def _run(args: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise StorageError(f"`{args[0]}` is not installed", hint="Run scripts/bootstrap to install the hub's tools.") from exc
    except subprocess.CalledProcessError as exc:
        raise StorageError(f"`{' '.join(args)}` failed in {cwd}: {exc.stderr.strip() or exc.stdout.strip()}") from exc
    return done.stdout


def init(path: Path | str, *, remote: str | None = None) -> Path:
    """Create a hub repository at `path`: git + DVC, the fixed layout, a DVC remote.

    `remote` is any DVC remote URL; the default is `.hub/remote` inside the repository. An
    `s3://BUCKET/PREFIX` remote lives at HUB_S3_ENDPOINT (AWS itself when unset), which goes
    into `.dvc/config`; its keys are AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY's and are never
    written down. Its bucket is created if missing. Returns the repository's root. Raises
    `DatasetExists` if `path` already holds a hub, `StorageError` for an S3 remote that cannot
    be reached or refuses the keys (before anything is written).
    """
    root = Path(path).resolve()
    if (root / "registry").exists():
        raise DatasetExists(f"{root} is already a hub repository", hint="Use it as it is, or pick an empty folder.", path=str(root))
    if root.exists() and any(root.iterdir()) and not (root / ".git").exists():
        raise HubError(f"{root} exists and is not empty", hint="Pick an empty or new folder.", path=str(root))
    endpoint = config.s3_endpoint()
    if remote and remote.startswith("s3://"):
        _ensure_bucket(remote, endpoint)
    root.mkdir(parents=True, exist_ok=True)
    for folder in ("registry", "pipelines", "schemas"):
        (root / folder).mkdir(exist_ok=True)
    from hub.schema import SCHEMA_DIR  # pyarrow: not at the top, so that `hub list` starts fast

    for schema in SCHEMA_DIR.glob("*.schema.json"):
        shutil.copy2(schema, root / "schemas" / schema.name)
    init = _TEMPLATES / "init"
    for template in sorted(p for p in init.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        target = root / str(template.relative_to(init)).replace("dot-", ".")  # dvc.yaml, params.yaml, pipelines/*.py...
        if not target.exists():
            shutil.copy2(template, target)
    (root / "registry" / ".gitkeep").touch()
    if not (root / ".git").exists():
        _run(["git", "init", "-q", "-b", "main"], root)
    if not (root / ".dvc").exists():
        _run([*_DVC, "init", "-q"], root)
    url = remote or str(Path(config.WORK_DIR) / config.DEFAULT_REMOTE_DIR)  # relative to root; DVC stores it relative to .dvc/
    name = "s3" if url.startswith("s3://") else "local"
    _run([*_DVC, "remote", "add", "-f", "-d", name, url], root)
    if name == "s3" and endpoint:
        _run([*_DVC, "remote", "modify", name, "endpointurl", endpoint], root)
    # Published files are immutable: link them from the cache instead of copying.
    _run([*_DVC, "config", "cache.type", "hardlink,symlink,copy"], root)
    if remote is None:
        (root / config.WORK_DIR / config.DEFAULT_REMOTE_DIR).mkdir(parents=True, exist_ok=True)
    log.info("initialised hub repository at %s", root)
    return root


def s3_filesystem(endpoint: str | None) -> Any:
    """dvc-s3's file system (s3fs) at `endpoint`, keys from the AWS_* environment; few retries."""
    import s3fs

    return s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint} if endpoint else {}, skip_instance_cache=True,
                             config_kwargs={"connect_timeout": 5, "retries": {"max_attempts": 2}})


def _ensure_bucket(url: str, endpoint: str | None) -> None:
    """Create the bucket of S3 remote `url` if it is missing.

    Run before `hub init` writes anything, so that a wrong endpoint or key is named here and
    not at the first publish. Raises `StorageError`.
    """
    bucket = _bucket(url)
    fs = s3_filesystem(endpoint)
    try:
        try:
            fs.ls(bucket)
        except FileNotFoundError:
            fs.mkdir(bucket)
    except Exception as exc:  # boto's and s3fs's errors share no base but Exception
        raise remote_error(url, endpoint, exc) from exc


def _bucket(url: str) -> str:
    return url.removeprefix("s3://").split("/")[0]


def remote_error(url: str, endpoint: str | None, exc: Exception, *, after: str = "") -> StorageError:
    """The `StorageError` for DVC remote `url` (at S3 `endpoint`) failing with `exc`: keys
    refused, nothing answering, or else DVC's or the store's own words. `after` ends the hint.

    DVC reports a push that failed part-way only as a count ("3 files failed to upload"): an
    S3 remote is then asked once more, and its answer names the cause.
    """
    from botocore.exceptions import ConnectionError as Unreachable
    from botocore.exceptions import NoCredentialsError

    s3 = url.startswith("s3://")
    refused, down = (PermissionError, NoCredentialsError), Unreachable
    counted = ""
    if s3 and not isinstance(exc, (*refused, down)):
        try:
            s3_filesystem(endpoint).ls(_bucket(url))
        except Exception as cause:  # noqa: BLE001  (whatever it is, it is the store's answer)
            exc, counted = cause, f" ({exc})"
    what, where = ("S3 remote", f"{url} at {endpoint or 'AWS'}") if s3 else ("DVC remote", url)
    if s3 and isinstance(exc, refused):
        message, hint = f"the {what} {where} refused the keys: {exc}", S3_KEYS_HINT
    elif s3 and isinstance(exc, down):
        message, hint = f"nothing answers at {endpoint or 'AWS'}, the endpoint of the {what} {url}", S3_ENDPOINT_HINT
    else:
        message, hint = f"the {what} {where} failed: {exc}", S3_ENDPOINT_HINT if s3 else "Check the remote's folder (space, rights)."
    return StorageError(message + counted, hint=f"{hint} {after}".strip(), remote=url, endpoint=endpoint)
