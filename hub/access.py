"""Who may see, download and publish what: API tokens, private and gated datasets.

- A dataset's `access` in dataset.yaml is `public` (the default), `private` (invisible without
  a valid token) or `gated` (visible, but its files need a token whose user accepted the
  dataset's `terms`; the acceptance is recorded with its time).
- Tokens are created by `hub token create USER [--publish]`, shown once, and stored only as
  their sha256 in `.hub/access/tokens.json`. A `publish` token may publish through the API.
- Acceptances are appended to `.hub/access/acceptances.jsonl`, one JSON object per line.
- With HUB_CATALOG_URL set, both live in PostgreSQL instead (`hub.database`), shared by every
  server replica on that database.
- Access decisions read the entry's `access` from its dataset.yaml (`entry_access`, cached by
  the file's inode, mtime and size), never from the catalog index, which may be behind. An
  entry whose access cannot be told (dataset.yaml unreadable, a link out of its folder, an
  unknown level) is `BrokenEntry`: the server shows it to no one without a token, and serves
  none of its data.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
import threading
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub import database
from hub.errors import AccessDenied, BrokenEntry, DatasetNotFound, GatedDataset, HubError
from hub.ids import parse_dataset_id
from hub.repo import work_dir

if TYPE_CHECKING:
    from hub.entry import Entry

__all__ = ["ACCESS_LEVELS", "AccessStore", "User", "entry_access", "level_of"]

ACCESS_LEVELS = ("public", "private", "gated")
TOKEN_PREFIX = "hub_"
_lock = threading.Lock()


@dataclass(frozen=True)
class User:
    name: str
    publish: bool = False


def level_of(entry: Entry) -> str:
    """The access level `entry` declares (`public` when it says nothing).

    Raises `BrokenEntry` when it cannot be told: dataset.yaml unreadable (malformed YAML, a
    link out of the folder) or `access` not one of `ACCESS_LEVELS`.
    """
    if not entry.data:
        first = next((p for p in entry.report.problems if p.file and p.file.endswith("dataset.yaml")), None)
        reason = f"{first.file}: {first.message}" if first else "dataset.yaml holds no fields"
        raise BrokenEntry(f"the entry of {entry.id!r} cannot be read: {reason}", dataset=entry.id, file=first.file if first else None)
    level = entry.data.get("access") or "public"
    if level not in ACCESS_LEVELS:
        file = f"registry/{entry.id}/dataset.yaml"
        raise BrokenEntry(f"the entry of {entry.id!r} cannot be read: {file}: access must be one of {', '.join(ACCESS_LEVELS)}, not {level!r}",
                          dataset=entry.id, file=file)
    return level


def entry_access(root: Path, dataset: str) -> str:
    """The access level of `dataset` as its dataset.yaml says now (cached per version of the file).

    Raises `InvalidDatasetId`, `DatasetNotFound` (no dataset.yaml) or `BrokenEntry`.
    """
    namespace, name = parse_dataset_id(dataset)  # `dataset_dir`'s check, with a str path: 4 Path joins were 60% of this
    path = os.path.join(root, "registry", namespace, name, "dataset.yaml")
    try:
        st = os.lstat(path)  # one system call for a file (a search checks each of its results)
        link = stat.S_ISLNK(st.st_mode)
        if link:
            st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise DatasetNotFound(f"dataset {dataset!r} is not registered", dataset=dataset) from None
    level, problem = _entry_access(root, dataset, st.st_ino, st.st_mtime_ns, st.st_size, link)
    if problem is not None:
        raise BrokenEntry(problem[0], dataset=dataset, file=problem[1])
    return level


@lru_cache(maxsize=4096)
def _entry_access(root: Path, dataset: str, _ino: int, _mtime: int, _size: int, _link: bool) -> tuple[str, tuple[str, str | None] | None]:
    from hub.entry import load_entry

    try:
        return level_of(load_entry(root, dataset, check=False)), None
    except BrokenEntry as exc:
        return "", (exc.message, exc.fields.get("file"))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccessStore:
    """Tokens and acceptances of one hub repository."""

    def __init__(self, root: Path) -> None:
        self.dir = work_dir(root) / "access"
        self.tokens_path = self.dir / "tokens.json"
        self.acceptances_path = self.dir / "acceptances.jsonl"
        self.database_url = database.url()

    def _tokens(self) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(self.tokens_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    def create_token(self, user: str, *, publish: bool = False) -> str:
        """A new token for `user`; only its sha256 is stored, so this is the one chance to see it."""
        if not user or not user.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise HubError(f"invalid user name {user!r}", hint="Use letters, digits, '-', '_' or '.'.")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        if self.database_url:
            database.add_token(self.database_url, _digest(token), user, publish, _now())
            return token
        with _lock:
            tokens = self._tokens()
            tokens[_digest(token)] = {"user": user, "publish": publish, "created": _now()}
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.tokens_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(tokens, indent=2) + "\n", encoding="utf-8")
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.tokens_path)
        return token

    def user(self, token: str | None) -> User | None:
        """The token's user; None without a token. Raises `AccessDenied` for an unknown token."""
        if not token:
            return None
        if self.database_url:
            found = database.token(self.database_url, _digest(token))
        else:
            record = self._tokens().get(_digest(token))
            found = (record["user"], bool(record.get("publish"))) if record else None
        if found is None:
            raise AccessDenied("the token is not valid", hint="Check the token, or ask an admin for one (`hub token create USER`).")
        return User(*found)

    def accepted(self, user: User, dataset: str) -> bool:
        if self.database_url:
            return database.accepted(self.database_url, user.name, dataset)
        return any(a["user"] == user.name and a["dataset"] == dataset for a in self.acceptances())

    def acceptances(self) -> list[dict[str, Any]]:
        if self.database_url:
            return database.acceptances(self.database_url)
        try:
            lines = self.acceptances_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def accept(self, user: User, dataset: str) -> dict[str, Any]:
        """Record that `user` accepted `dataset`'s terms (once); return the record."""
        if self.database_url:
            return database.accept(self.database_url, user.name, dataset, _now())
        for record in self.acceptances():
            if record["user"] == user.name and record["dataset"] == dataset:
                return record
        record = {"user": user.name, "dataset": dataset, "accepted_at": _now()}
        with _lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            with self.acceptances_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        return record

    # -- the rules ------------------------------------------------------------------------------

    def can_see(self, access: str, user: User | None) -> bool:
        return access != "private" or user is not None

    def check_download(self, dataset: str, access: str, user: User | None) -> None:
        """Raise unless `user` may download the files of a dataset with this access level."""
        if access == "private" and user is None:
            raise AccessDenied(f"dataset {dataset!r} is private", dataset=dataset)
        if access == "gated":
            if user is None:
                raise GatedDataset(f"dataset {dataset!r} is gated: downloads need a token whose user accepted its terms", dataset=dataset)
            if not self.accepted(user, dataset):
                raise GatedDataset(f"user {user.name!r} has not accepted the terms of {dataset!r}", dataset=dataset, user=user.name)

    def check_publish(self, user: User | None) -> User:
        if user is None:
            raise AccessDenied("publishing needs a token")
        if not user.publish:
            raise AccessDenied(f"user {user.name!r} may not publish", hint="Ask an admin for a token made with `hub token create USER --publish`.", user=user.name)
        return user


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
