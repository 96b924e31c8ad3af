"""Two server replicas on one real PostgreSQL (started by scripts/postgres): tokens and
acceptances made through one hold on the other; a database of another schema is refused with
the migration named; PostgreSQL stopped mid-run is a 503 in the one error shape, and the
replicas recover when it is back (#18)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import yaml
from click.testing import CliRunner

import hub
from conftest import DEMO, REPO, free_port, uvicorn_thread
from hub import database
from hub.access import AccessStore
from hub.cli import main
from hub.errors import DatabaseSchemaError, RateLimited

GATED = "acme/gated-digits"
HINT = "Start it (`scripts/postgres start DATA_DIR PORT` prints the URL) or fix HUB_CATALOG_URL; a retry works once it is back."


class Postgres:
    """scripts/postgres in the foreground, in a data dir of its own; `url` is what it printed."""

    def __init__(self, data: Path, port: int, log: Path) -> None:
        self.data, self.port, self.log_path = data, port, log
        self.start()

    def start(self) -> None:
        self.log = self.log_path.open("a")
        self.process = subprocess.Popen([str(REPO / "scripts" / "postgres"), "start", str(self.data), str(self.port)],
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.url = self.process.stdout.readline().strip()
        deadline = time.monotonic() + 60
        while True:
            try:  # not through hub.database: its kept connections are what a restart tests
                psycopg.connect(self.url, connect_timeout=5).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"scripts/postgres did not start (exit {self.process.returncode}): see {self.log.name}")
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)  # a fast shutdown: open connections are ended
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.log.close()


@pytest.fixture(scope="module")
def postgres(tmp_path_factory) -> Iterator[Postgres]:
    data = Path(tempfile.mkdtemp(prefix="hub-pg-"))  # not under pytest's 0700 base: as root, the server runs as hubpg
    try:
        server = Postgres(data, free_port(), tmp_path_factory.mktemp("postgres") / "postgres.log")
        yield server
        server.stop()
    finally:
        shutil.rmtree(data)


@pytest.fixture(scope="module")
def replicas(postgres, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """Two clones of one hub with a gated dataset, each behind its own server, on one database."""
    from hub.server import create_app

    first = hub.init(tmp_path_factory.mktemp("replica-a") / "hub")
    folder = first / "registry" / GATED
    shutil.copytree(DEMO / "digits", folder, ignore=shutil.ignore_patterns("versions"))
    doc = yaml.safe_load((folder / "dataset.yaml").read_text())
    doc.update(access="gated", terms="Evaluation only.")
    doc["source"]["options"] = {"limit": 100}
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    published = hub.publish(GATED, root=first, allow_contamination=True)
    second = tmp_path_factory.mktemp("replica-b") / "hub"
    shutil.copytree(first, second, symlinks=True)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HUB_CATALOG_URL", postgres.url)
        assert database.migrate() == ["0001_access", "0002_submissions", "0003_submission_contamination"]
        apps = [create_app(first), create_app(second)]
    with uvicorn_thread(apps[0]) as a, uvicorn_thread(apps[1]) as b, httpx.Client(base_url=a, timeout=60) as one, httpx.Client(base_url=b, timeout=60) as other:
        yield {"roots": (first, second), "one": one, "other": other, "version": published.version}


def rows(client: httpx.Client, version: str, token: str) -> httpx.Response:
    return client.get(f"/api/datasets/{GATED}/versions/{version}/rows", params={"split": "train"}, headers={"Authorization": f"Bearer {token}"})


def test_a_token_and_an_acceptance_hold_on_both_replicas(replicas, postgres, monkeypatch):
    monkeypatch.setenv("HUB_CATALOG_URL", postgres.url)
    first, second = replicas["roots"]
    made = CliRunner().invoke(main, ["--root", str(first), "token", "create", "ada", "--json"])
    assert made.exit_code == 0, made.output
    token = yaml.safe_load(made.stdout)["token"]
    for client in (replicas["one"], replicas["other"]):
        got = client.get("/api/whoami-v2", headers={"Authorization": f"Bearer {token}"})
        assert got.status_code == 200 and got.json()["name"] == "ada"
    assert not (first / ".hub" / "access" / "tokens.json").exists()  # in the database, not the clone's files

    refused = rows(replicas["other"], replicas["version"], token)
    assert refused.status_code == 403 and refused.json()["error"] == f"user 'ada' has not accepted the terms of {GATED!r}"
    accepted = replicas["one"].post(f"/api/datasets/{GATED}/accept", headers={"Authorization": f"Bearer {token}"})
    assert accepted.status_code == 200 and accepted.json()["user"] == "ada"
    got = rows(replicas["other"], replicas["version"], token)
    assert got.status_code == 200 and len(got.json()["rows"]) > 0
    assert [a["user"] for a in AccessStore(second).acceptances()] == ["ada"]
    assert not (second / ".hub" / "access" / "acceptances.jsonl").exists()


def test_submissions_and_their_daily_limit_are_shared(replicas, postgres, monkeypatch):
    """The evaluation route's store: a slot taken through one replica counts on the other."""
    from hub.evaluation.submissions import Submissions

    monkeypatch.setenv("HUB_CATALOG_URL", postgres.url)
    one, other = (Submissions(root) for root in replicas["roots"])
    report = {"version": "1.0.0", "manifest_sha256": "m" * 64, "split": "test", "task": "classification", "predictions": {"sha256": "p" * 64},
              "metrics": {"accuracy": {"value": 0.5}}, "coverage": {"scored": 10}}
    recorded = one.record(one.reserve("cy", GATED, 2, now=1000.0), report, model="first", link=None)
    other.release(other.reserve("cy", GATED, 2, now=1001.0))  # a failed scoring gives its slot back
    other.reserve("cy", GATED, 2, now=1002.0)
    with pytest.raises(RateLimited) as over:
        one.reserve("cy", GATED, 2, now=1003.0)
    assert over.value.message == f"user 'cy' has made 2 evaluations of {GATED} in the last 24 hours, the most it allows; retry after 1970-01-02T00:16:40+00:00"
    assert over.value.retry_after == 86397
    assert other.leaderboard(GATED) == [recorded] and recorded["user"] == "cy" and recorded["at"] == "1970-01-01T00:16:40+00:00"
    assert other.leaderboard(GATED, "1.0.0") == [recorded] and other.leaderboard(GATED, "2.0.0") == []
    assert not any((root / ".hub" / "submissions.sqlite").exists() for root in replicas["roots"])


def test_a_database_of_another_schema_is_refused_with_the_migration_named(replicas, postgres, monkeypatch):
    """A replica whose database is behind (or ahead of) its migrations does not start; `hub db migrate` catches it up."""
    from hub.server import create_app

    with database.connect(postgres.url) as con:
        con.execute("DROP SCHEMA IF EXISTS old CASCADE")
        con.execute("CREATE SCHEMA old")
    old = postgres.url + "?options=-csearch_path%3Dold"  # a database of its own, as far as the hub can tell
    where = f"postgresql://hub@127.0.0.1:{postgres.port}/hub?options=-csearch_path%3Dold"
    assert database.migrate(old, upto=1) == ["0001_access"]
    monkeypatch.setenv("HUB_CATALOG_URL", old)
    message = f"the database at {where} has schema version 1, older than this hub's 3: migrations 0002_submissions, 0003_submission_contamination are not applied"
    with pytest.raises(DatabaseSchemaError) as refused:
        create_app(replicas["roots"][0])
    assert refused.value.message == message
    served = CliRunner().invoke(main, ["--root", str(replicas["roots"][0]), "serve", "--port", str(free_port())])
    assert served.exit_code == 1
    assert served.stderr == f"Error: {message}\nHint: Apply the migrations with `hub db migrate` (with HUB_CATALOG_URL set), then start the server again.\n"

    url_hint = "Hint: Use postgresql://USER:PASSWORD@HOST:PORT/DATABASE, as `scripts/postgres start` prints it.\n"
    monkeypatch.setenv("HUB_CATALOG_URL", "hub:secret@127.0.0.1/hub")
    garbled = CliRunner().invoke(main, ["db", "migrate"])
    assert (garbled.exit_code, garbled.stderr) == (1, f"Error: HUB_CATALOG_URL is not a URL PostgreSQL takes\n{url_hint}")
    monkeypatch.delenv("HUB_CATALOG_URL")
    monkeypatch.setenv("HUB_DATABASE_URL", "hub:secret@127.0.0.1/hub")  # the alias: the message names what was set
    garbled = CliRunner().invoke(main, ["db", "migrate"])
    assert (garbled.exit_code, garbled.stderr) == (1, f"Error: HUB_DATABASE_URL (the older name of HUB_CATALOG_URL) is not a URL PostgreSQL takes\n{url_hint}")
    monkeypatch.delenv("HUB_DATABASE_URL")
    unset = CliRunner().invoke(main, ["db", "migrate"])
    assert (unset.exit_code, unset.stderr) == (1, "Error: HUB_CATALOG_URL is not set: there is no database to migrate\nHint: Set it to the URL "
                                                  "`scripts/postgres start DATA_DIR PORT` printed (postgresql://hub:PASSWORD@HOST:PORT/hub).\n")
    monkeypatch.setenv("HUB_CATALOG_URL", old)
    migrated = CliRunner().invoke(main, ["db", "migrate"])
    assert (migrated.exit_code, migrated.stdout) == (0, f"{where}: applied 0002_submissions, 0003_submission_contamination\n")
    create_app(replicas["roots"][0])  # starts now
    with database.connect(old) as con:
        con.execute("INSERT INTO schema_migrations (version, name) VALUES (4, '0004_from_a_newer_hub')")
    with pytest.raises(DatabaseSchemaError) as refused:
        create_app(replicas["roots"][0])
    assert refused.value.message == f"the database at {where} has schema version 4 (0004_from_a_newer_hub), newer than this hub knows (3, 0003_submission_contamination)"


def test_postgres_down_is_a_503_and_the_replicas_recover(replicas, postgres, monkeypatch):
    monkeypatch.setenv("HUB_CATALOG_URL", postgres.url)
    token = hub.create_token("bea", root=replicas["roots"][0])
    where = f"postgresql://hub@127.0.0.1:{postgres.port}/hub"
    postgres.stop()
    try:
        for client in (replicas["one"], replicas["other"]):
            got = client.get("/api/whoami-v2", headers={"Authorization": f"Bearer {token}"})
            assert got.status_code == 503
            body = got.json()
            assert (body["error"], body["type"], body["status"], body["hint"]) == (f"the hub's database at {where} cannot be reached", "DatabaseUnavailable", 503, HINT)
            assert body["url"] == where and urlsplit(postgres.url).password not in got.text
            assert body["reason"].endswith(f'port {postgres.port} failed: Connection refused')
        assert client.get("/health").status_code == 200  # what needs no database still works
        served = CliRunner().invoke(main, ["--root", str(replicas["roots"][1]), "serve", "--port", str(free_port())])
        assert (served.exit_code, served.stderr) == (1, f"Error: the hub's database at {where} cannot be reached\nHint: {HINT}\n")
    finally:
        postgres.start()
    for client in (replicas["one"], replicas["other"]):
        got = client.get("/api/whoami-v2", headers={"Authorization": f"Bearer {token}"})
        assert got.status_code == 200 and got.json()["name"] == "bea"
    postgres.stop()  # a restart between two requests: the kept connections are dead, and replaced
    postgres.start()
    got = replicas["other"].get("/api/whoami-v2", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200 and got.json()["name"] == "bea"


def test_hub_catalog_url_is_the_name_and_hub_database_url_its_alias(replicas, postgres, monkeypatch):
    monkeypatch.delenv("HUB_DATABASE_URL", raising=False)
    monkeypatch.setenv("HUB_CATALOG_URL", postgres.url)
    made = CliRunner().invoke(main, ["--root", str(replicas["roots"][0]), "token", "create", "cai", "--json"])
    assert made.exit_code == 0, made.output
    token = yaml.safe_load(made.stdout)["token"]
    got = replicas["other"].get("/api/whoami-v2", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200 and got.json()["name"] == "cai"
    assert not (replicas["roots"][0] / ".hub" / "access" / "tokens.json").exists()
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql://hub:other@127.0.0.1:1/hub")
    clash = CliRunner().invoke(main, ["--root", str(replicas["roots"][0]), "token", "create", "dan"])
    where = f"postgresql://hub@127.0.0.1:{postgres.port}/hub"
    assert (clash.exit_code, clash.stderr) == (1, f"Error: HUB_CATALOG_URL ({where}) and HUB_DATABASE_URL (postgresql://hub@127.0.0.1:1/hub) name different databases\n"
                                                  "Hint: Set HUB_CATALOG_URL only: HUB_DATABASE_URL is its older name, kept as an alias.\n")
    monkeypatch.delenv("HUB_CATALOG_URL")
    monkeypatch.setenv("HUB_DATABASE_URL", postgres.url)  # the alias alone still names the shared database
    made = CliRunner().invoke(main, ["--root", str(replicas["roots"][0]), "token", "create", "dan", "--json"])
    assert made.exit_code == 0, made.output
    got = replicas["other"].get("/api/whoami-v2", headers={"Authorization": f"Bearer {yaml.safe_load(made.stdout)['token']}"})
    assert got.status_code == 200 and got.json()["name"] == "dan"
