"""The server's record of evaluations: who scored what, when, and the figures.

One SQLite file, `.hub/submissions.sqlite` (the hub's state, not the registry), shared by the
server's worker processes. A submission is reserved before it is scored: the reservation is
what the daily limit counts (`split.submissions_per_day`, per token's user and dataset, over
the last 24 hours), taken in one write transaction so that two workers cannot both take the
last slot. A scoring that fails gives its slot back; one that succeeds records the report's
binding (version, manifest sha256, split, task, predictions sha256) and its headline figures.
With HUB_CATALOG_URL set, the same records live in PostgreSQL (`hub.database`), shared by
every server replica on that database.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from hub import database
from hub.errors import RateLimited

if TYPE_CHECKING:
    from hub.evaluation import Target

__all__ = ["DAY", "LOWER_IS_BETTER", "Submissions", "contamination_status", "ranked"]

DAY = 24 * 3600

_SCHEMA = """CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY, user TEXT NOT NULL, dataset TEXT NOT NULL, at REAL NOT NULL, status TEXT NOT NULL,
    version TEXT, manifest_sha256 TEXT, split TEXT, task TEXT, predictions_sha256 TEXT, model TEXT, link TEXT, metrics TEXT, coverage TEXT,
    contamination TEXT)"""


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")


class Submissions:
    """The submissions of the hub at `root`."""

    def __init__(self, root: Path) -> None:
        from hub.repo import work_dir

        self.path = work_dir(root) / "submissions.sqlite"
        self.database_url = database.url()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.execute(_SCHEMA)
        if "contamination" not in {row[1] for row in con.execute("PRAGMA table_info(submissions)")}:  # a file from before the column
            con.execute("ALTER TABLE submissions ADD COLUMN contamination TEXT")
        return con

    def reserve(self, user: str, dataset: str, limit: int, *, now: float | None = None) -> int:
        """A slot for one evaluation of `dataset` by `user`; its id. Raises `RateLimited` (with
        `retry_after` seconds) when `user` has `limit` submissions in the last 24 hours."""
        now = time.time() if now is None else now

        def allow(count: int, oldest: float | None) -> None:
            if count >= limit:
                retry = max(1, math.ceil(oldest + DAY - now))
                raise RateLimited(f"user {user!r} has made {count} evaluations of {dataset} in the last 24 hours, the most it allows; retry after {_iso(oldest + DAY)}",
                                  hint=f"Retry in {retry} seconds. The limit is the dataset's split.submissions_per_day ({limit}).",
                                  dataset=dataset, user=user, limit=limit, retry_after=retry)

        if self.database_url:
            return database.reserve(self.database_url, user, dataset, now - DAY, now, allow)
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            count, oldest = con.execute("SELECT count(*), min(at) FROM submissions WHERE user = ? AND dataset = ? AND at > ?",
                                        (user, dataset, now - DAY)).fetchone()
            if count >= limit:
                con.execute("ROLLBACK")
            allow(count, oldest)
            cursor = con.execute("INSERT INTO submissions (user, dataset, at, status) VALUES (?, ?, ?, 'scoring')", (user, dataset, now))
            con.execute("COMMIT")
            return int(cursor.lastrowid)
        finally:
            con.close()

    def release(self, slot: int) -> None:
        """Give back a slot whose scoring failed."""
        if self.database_url:
            return database.release(self.database_url, slot)
        con = self._connect()
        try:
            con.execute("DELETE FROM submissions WHERE id = ? AND status = 'scoring'", (slot,))
        finally:
            con.close()

    def record(self, slot: int, report: dict[str, Any], *, model: str | None, link: str | None, contamination: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store the scored report of `slot`, with the submitter's contamination check of their
        training data (None: not checked); return the submission as `leaderboard` lists it."""
        values = (report["version"], report["manifest_sha256"], report["split"], report["task"], report["predictions"]["sha256"], model, link,
                  json.dumps(report["metrics"]), json.dumps(report["coverage"]), json.dumps(contamination) if contamination else None)
        if self.database_url:
            return _items([database.record(self.database_url, slot, values)])[0]
        con = self._connect()
        try:
            con.execute("UPDATE submissions SET status = 'scored', version = ?, manifest_sha256 = ?, split = ?, task = ?, predictions_sha256 = ?, "
                        "model = ?, link = ?, metrics = ?, coverage = ?, contamination = ? WHERE id = ?", (*values, slot))
            return self._rows(con, "WHERE id = ?", (slot,))[0]
        finally:
            con.close()

    def leaderboard(self, dataset: str, version: str | None = None) -> list[dict[str, Any]]:
        """The scored submissions of `dataset` (of one version), oldest first."""
        if self.database_url:
            return _items(database.scored(self.database_url, dataset, version))
        con = self._connect()
        try:
            where, args = "WHERE status = 'scored' AND dataset = ?", [dataset]
            if version is not None:
                where, args = where + " AND version = ?", [*args, version]
            return self._rows(con, where + " ORDER BY at, id", tuple(args))
        finally:
            con.close()

    @staticmethod
    def _rows(con: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        rows = con.execute("SELECT id, user, dataset, at, version, manifest_sha256, split, task, predictions_sha256, model, link, metrics, coverage, "
                           f"contamination FROM submissions {where}", args).fetchall()
        return _items(rows)


def _items(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Rows of `database.SUBMISSION_COLUMNS` as `leaderboard` lists them."""
    out = []
    for row in rows:
        item = dict(zip(database.SUBMISSION_COLUMNS, row))
        item["at"] = _iso(item["at"])
        item["metrics"], item["coverage"] = json.loads(item["metrics"]), json.loads(item["coverage"])
        item["contamination"] = json.loads(item["contamination"]) if item["contamination"] else {"checked": False}
        item["contamination_status"] = contamination_status(item["contamination"])
        out.append(item)
    return out


def contamination_status(contamination: dict[str, Any]) -> str:
    """What the leaderboard says of a submission's training data: "not checked", "checked: no
    overlap", "checked: 12 records overlap" (the submitter's own check, not the server's)."""
    if not contamination.get("checked"):
        return "not checked"
    n = contamination["matches"]
    return "checked: no overlap" if n == 0 else f"checked: {n} record{'s' if n != 1 else ''} overlap{'s' if n == 1 else ''}"


LOWER_IS_BETTER = frozenset({"wer", "cer", "der", "false_alarm", "missed_detection", "confusion"})  # error rates; every other figure is a score


def ranked(submissions: list[dict[str, Any]], targets: Iterable[Target] = ()) -> list[dict[str, Any]]:
    """The submissions grouped by (version, split, task), each group ranked on its headline
    figure (the first the reports give: accuracy, WER, mAP, ...), best first; ties keep the
    earlier submission first. A group lists the `targets` (the dataset's) whose metric its task
    reports, and each submission whether it meets each of them."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for s in submissions:
        groups.setdefault((s["version"], s["split"], s["task"]), []).append(s)
    out = []
    for (version, split, task), items in groups.items():
        metric = next((m for m, f in items[0]["metrics"].items() if f.get("value") is not None), next(iter(items[0]["metrics"]), None))
        sign = 1 if metric in LOWER_IS_BETTER else -1

        def key(s: dict[str, Any]) -> tuple[bool, float]:
            value = (s["metrics"].get(metric) or {}).get("value")
            return value is None, sign * value if value is not None else 0.0

        reported = [t for t in targets if any(t.metric in s["metrics"] for s in items)]
        entries = [{"rank": i + 1, **s, "targets": [{"target": t.text, "met": t.met((s["metrics"].get(t.metric) or {}).get("value"))} for t in reported]}
                   for i, s in enumerate(sorted(items, key=key))]
        out.append({"version": version, "split": split, "task": task, "metric": metric, "lower_is_better": metric in LOWER_IS_BETTER,
                    "targets": [t.text for t in reported], "submissions": entries})
    return out
