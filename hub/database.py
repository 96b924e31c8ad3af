"""The hub's shared state in PostgreSQL, so that server replicas see the same tokens,
acceptances and submissions.

Without HUB_CATALOG_URL (or its older alias HUB_DATABASE_URL; the default) nothing here is
used: tokens and acceptances are files under `.hub/access/` (`hub.access`) and submissions an
SQLite file (`hub.evaluation.submissions`).
With it (`postgresql://hub:PASSWORD@HOST:PORT/hub`, as `scripts/postgres` prints), those stores
keep their records here, behind the same methods, so the gate and the routes do not change.

The schema is versioned: `MIGRATIONS` in order, each recorded in `schema_migrations` when
`hub db migrate` applies it. A server refuses a database whose schema is older or newer than
the migrations it knows (`check`), naming the migration, rather than fail on a missing column
in the middle of a request.

A call takes an idle connection of this process (a few are kept: a new one costs a TCP and
password handshake, 40 ms under load against 1 ms for a token from the file) after a `SELECT 1`
shows it still answers, or opens one. While the database is down a request fails with
`DatabaseUnavailable` (503); the connections of before are dropped, so the first request after
it is back works.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hub.errors import DatabaseSchemaError, DatabaseUnavailable, HubError

__all__ = ["MIGRATIONS", "SUBMISSION_COLUMNS", "accept", "accepted", "acceptances", "add_token", "check", "connect", "migrate", "record", "redacted",
           "release", "reserve", "scored", "token", "url"]

# (name, SQL); a migration, once released, is never edited: a change is a new one at the end
MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("0001_access", """
        CREATE TABLE tokens (digest TEXT PRIMARY KEY, "user" TEXT NOT NULL, publish BOOLEAN NOT NULL, created TEXT NOT NULL);
        CREATE TABLE acceptances (id BIGSERIAL PRIMARY KEY, "user" TEXT NOT NULL, dataset TEXT NOT NULL, accepted_at TEXT NOT NULL,
                                  UNIQUE ("user", dataset))"""),
    ("0002_submissions", """
        CREATE TABLE submissions (id BIGSERIAL PRIMARY KEY, "user" TEXT NOT NULL, dataset TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
                                  status TEXT NOT NULL, version TEXT, manifest_sha256 TEXT, split TEXT, task TEXT, predictions_sha256 TEXT,
                                  model TEXT, link TEXT, metrics TEXT, coverage TEXT);
        CREATE INDEX submissions_by_user ON submissions ("user", dataset, at)"""),
    ("0003_submission_contamination", """
        ALTER TABLE submissions ADD COLUMN contamination TEXT"""),
)

_MIGRATE_LOCK = 18  # pg_advisory_xact_lock key: two `hub db migrate` at once take turns
_KEEP = 4  # idle connections kept per URL
_idle: dict[str, list[Any]] = {}
_idle_lock = threading.Lock()


def url() -> str | None:
    """HUB_CATALOG_URL (the documented name) or its older alias HUB_DATABASE_URL, or None (the
    files and SQLite under `.hub/`); a `HubError` when both are set to different databases."""
    catalog, database = os.environ.get("HUB_CATALOG_URL") or None, os.environ.get("HUB_DATABASE_URL") or None
    if catalog and database and catalog != database:
        raise HubError(f"HUB_CATALOG_URL ({redacted(catalog)}) and HUB_DATABASE_URL ({redacted(database)}) name different databases",
                       hint="Set HUB_CATALOG_URL only: HUB_DATABASE_URL is its older name, kept as an alias.")
    return catalog or database


def _named(database_url: str) -> str:
    """The variable `database_url` came from, for a message about it."""
    if database_url == os.environ.get("HUB_CATALOG_URL"):
        return "HUB_CATALOG_URL"
    if database_url == os.environ.get("HUB_DATABASE_URL"):
        return "HUB_DATABASE_URL (the older name of HUB_CATALOG_URL)"
    return "the database URL"


def redacted(database_url: str) -> str:
    """`database_url` without its password, fit for messages and logs."""
    parts = urlsplit(database_url)
    if parts.password is None:
        return database_url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@contextmanager
def connect(database_url: str) -> Iterator[Any]:
    """A connection in a transaction, committed when the block ends without an error.

    Raises `DatabaseUnavailable` when the server cannot be reached or the connection breaks.
    """
    import psycopg

    con = _idle_connection(database_url)
    try:
        if con is None:
            con = _open(database_url)
        with con.transaction():
            yield con
    except psycopg.OperationalError as exc:
        if con is not None:
            con.close()
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__  # libpq's words: host and port, never the password
        raise DatabaseUnavailable(f"the hub's database at {redacted(database_url)} cannot be reached", url=redacted(database_url), reason=reason) from None
    except BaseException:
        _give_back(database_url, con)  # rolled back, and still good
        raise
    _give_back(database_url, con)


def _open(database_url: str) -> Any:
    import psycopg

    try:
        return psycopg.connect(database_url, autocommit=True, connect_timeout=5)
    except psycopg.ProgrammingError:  # its message may quote the URL, password and all: not passed on
        raise HubError(f"{_named(database_url)} is not a URL PostgreSQL takes",
                       hint="Use postgresql://USER:PASSWORD@HOST:PORT/DATABASE, as `scripts/postgres start` prints it.") from None


def _idle_connection(database_url: str) -> Any:
    """An idle connection to `database_url` that still answers, or None."""
    import psycopg

    while True:
        with _idle_lock:
            pool = _idle.get(database_url)
            if not pool:
                return None
            con = pool.pop()
        try:
            con.execute("SELECT 1")
            return con
        except psycopg.Error:
            con.close()  # the server restarted or is down: this one is dead


def _give_back(database_url: str, con: Any) -> None:
    if con is None:
        return
    with _idle_lock:
        pool = _idle.setdefault(database_url, [])
        if len(pool) < _KEEP and not con.closed:
            pool.append(con)
            return
    con.close()


def _applied(con: Any) -> list[str]:
    if con.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
        return []
    return [name for (name,) in con.execute("SELECT name FROM schema_migrations ORDER BY version")]


def check(database_url: str) -> None:
    """Return if the database's schema is this hub's; raise `DatabaseSchemaError` naming the
    migrations it lacks (or the newer one it has), or `DatabaseUnavailable`."""
    with connect(database_url) as con:
        applied = _applied(con)
    known = [name for name, _ in MIGRATIONS]
    where = redacted(database_url)
    if len(applied) > len(known):
        raise DatabaseSchemaError(f"the database at {where} has schema version {len(applied)} ({applied[-1]}), newer than this hub knows ({len(known)}, {known[-1]})",
                                  hint="Upgrade this hub to the release that made that migration, or point HUB_CATALOG_URL at another database.",
                                  url=where, applied=applied)
    if len(applied) < len(known):
        missing = known[len(applied):]
        named = f"migrations {', '.join(missing)} are" if len(missing) > 1 else f"migration {missing[0]} is"
        raise DatabaseSchemaError(f"the database at {where} has schema version {len(applied)}, older than this hub's {len(known)}: "
                                  f"{named} not applied", url=where, missing=missing)


def migrate(database_url: str | None = None, *, upto: int | None = None) -> list[str]:
    """Apply the migrations the database (default `url()`: HUB_CATALOG_URL) lacks, or the first `upto`
    of `MIGRATIONS`, in one transaction; return the names applied. Raises `HubError` without a
    URL, `DatabaseSchemaError` for a database newer than this hub, `DatabaseUnavailable`."""
    database_url = database_url or url()
    if not database_url:
        raise HubError("HUB_CATALOG_URL is not set: there is no database to migrate",
                       hint="Set it to the URL `scripts/postgres start DATA_DIR PORT` printed (postgresql://hub:PASSWORD@HOST:PORT/hub).")
    target = MIGRATIONS[:upto] if upto is not None else MIGRATIONS
    with connect(database_url) as con:
        con.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
        con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                    "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        applied = _applied(con)
        if len(applied) > len(MIGRATIONS):
            raise DatabaseSchemaError(f"the database at {redacted(database_url)} has schema version {len(applied)} ({applied[-1]}), "
                                      f"newer than this hub knows ({len(MIGRATIONS)})", hint="Upgrade this hub; nothing was changed.")
        done = []
        for version, (name, sql) in enumerate(target[len(applied):], start=len(applied) + 1):
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
            done.append(name)
    return done


# -- tokens and acceptances (hub.access.AccessStore) ------------------------------------------


def add_token(database_url: str, digest: str, user: str, publish: bool, created: str) -> None:
    with connect(database_url) as con:
        con.execute('INSERT INTO tokens (digest, "user", publish, created) VALUES (%s, %s, %s, %s)', (digest, user, publish, created))


def token(database_url: str, digest: str) -> tuple[str, bool] | None:
    """The (user, publish) of the token with this sha256, or None."""
    with connect(database_url) as con:
        return con.execute('SELECT "user", publish FROM tokens WHERE digest = %s', (digest,)).fetchone()


def acceptances(database_url: str) -> list[dict[str, Any]]:
    with connect(database_url) as con:
        rows = con.execute('SELECT "user", dataset, accepted_at FROM acceptances ORDER BY id').fetchall()
    return [{"user": u, "dataset": d, "accepted_at": at} for u, d, at in rows]


def accepted(database_url: str, user: str, dataset: str) -> bool:
    with connect(database_url) as con:
        return con.execute('SELECT 1 FROM acceptances WHERE "user" = %s AND dataset = %s', (user, dataset)).fetchone() is not None


def accept(database_url: str, user: str, dataset: str, at: str) -> dict[str, Any]:
    """Record the acceptance (the first one stays); return the recorded one."""
    with connect(database_url) as con:
        con.execute('INSERT INTO acceptances ("user", dataset, accepted_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING', (user, dataset, at))
        (first,) = con.execute('SELECT accepted_at FROM acceptances WHERE "user" = %s AND dataset = %s', (user, dataset)).fetchone()
    return {"user": user, "dataset": dataset, "accepted_at": first}


# -- submissions (hub.evaluation.submissions.Submissions) -------------------------------------

SUBMISSION_COLUMNS = ("id", "user", "dataset", "at", "version", "manifest_sha256", "split", "task", "predictions_sha256", "model", "link", "metrics", "coverage",
                      "contamination")
_SELECT = "SELECT " + ", ".join(f'"{c}"' for c in SUBMISSION_COLUMNS) + " FROM submissions"


def reserve(database_url: str, user: str, dataset: str, since: float, now: float, allow: Callable[[int, float | None], None]) -> int:
    """A slot for a submission of `dataset` by `user` at `now`; its id. `allow(count, oldest)`
    sees the user's submissions after `since` and raises to refuse; the table is locked until
    the slot is taken, so two replicas cannot both take the last one."""
    with connect(database_url) as con:
        con.execute("LOCK TABLE submissions IN SHARE ROW EXCLUSIVE MODE")
        count, oldest = con.execute('SELECT count(*), min(at) FROM submissions WHERE "user" = %s AND dataset = %s AND at > %s', (user, dataset, since)).fetchone()
        allow(count, oldest)
        return con.execute("""INSERT INTO submissions ("user", dataset, at, status) VALUES (%s, %s, %s, 'scoring') RETURNING id""", (user, dataset, now)).fetchone()[0]


def release(database_url: str, slot: int) -> None:
    with connect(database_url) as con:
        con.execute("DELETE FROM submissions WHERE id = %s AND status = 'scoring'", (slot,))


def record(database_url: str, slot: int, values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Store the scored figures of `slot` (version, manifest_sha256, split, task,
    predictions_sha256, model, link, metrics, coverage, contamination); return its row (`SUBMISSION_COLUMNS`)."""
    with connect(database_url) as con:
        con.execute("UPDATE submissions SET status = 'scored', version = %s, manifest_sha256 = %s, split = %s, task = %s, predictions_sha256 = %s, "
                    "model = %s, link = %s, metrics = %s, coverage = %s, contamination = %s WHERE id = %s", (*values, slot))
        return con.execute(_SELECT + " WHERE id = %s", (slot,)).fetchone()


def scored(database_url: str, dataset: str, version: str | None) -> list[tuple[Any, ...]]:
    """The rows of the scored submissions of `dataset` (of one version), oldest first."""
    with connect(database_url) as con:
        return con.execute(_SELECT + " WHERE status = 'scored' AND dataset = %s AND (%s::text IS NULL OR version = %s) ORDER BY at, id",
                           (dataset, version, version)).fetchall()
