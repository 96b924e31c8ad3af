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

from hub import config
from hub.errors import DatasetExists, HubError, NotAHubRepo, StorageError, UnsafePath
from hub.ids import parse_dataset_id

log = logging.getLogger(__name__)

__all__ = ["dataset_dir", "dvc_lock", "file_lock", "find_root", "init", "inside", "work_dir"]

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_DVC = [sys.executable, "-m", "dvc"]  # the DVC installed with the hub, whatever PATH says


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
    """Create a hub repository at `path`: git + DVC, the fixed layout, a local DVC remote.

    `remote` is any DVC remote URL; the default is `.hub/remote` inside the repository.
    Returns the repository's root. Raises `DatasetExists` if `path` already holds a hub.
    """
    root = Path(path).resolve()
    if (root / "registry").exists():
        raise DatasetExists(f"{root} is already a hub repository", hint="Use it as it is, or pick an empty folder.", path=str(root))
    if root.exists() and any(root.iterdir()) and not (root / ".git").exists():
        raise HubError(f"{root} exists and is not empty", hint="Pick an empty or new folder.", path=str(root))
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
    _run([*_DVC, "remote", "add", "-f", "-d", "local", url], root)
    # Published files are immutable: link them from the cache instead of copying.
    _run([*_DVC, "config", "cache.type", "hardlink,symlink,copy"], root)
    if remote is None:
        (root / config.WORK_DIR / config.DEFAULT_REMOTE_DIR).mkdir(parents=True, exist_ok=True)
    log.info("initialised hub repository at %s", root)
    return root
