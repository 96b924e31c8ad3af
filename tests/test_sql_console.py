"""The SQL console (issue #16): one read-only DuckDB SELECT over a version's splits, through
the download gate, against a real uvicorn server over a copy of the published demo hub."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import duckdb
import httpx
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import uvicorn_thread
from hub.access import AccessStore, User
from hub.store import resolve_revision

SPEECH = "demo/espeak-speech"
GATED = "acme/gated-speech"
PRIVATE = "acme/private-speech"
TERMS = "Evaluation only."


def sql_url(dataset: str, version: str = "1.0.0") -> str:
    return f"/api/datasets/{dataset}/versions/{version}/sql"


@pytest.fixture(scope="module")
def site(demo_root: Path, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The demo hub with a gated and a private copy of the speech set; a token that accepted
    the gated terms and one that did not."""
    from hub.server import create_app

    root = tmp_path_factory.mktemp("sql") / "hub"
    shutil.copytree(demo_root, root, symlinks=True)
    for dataset, access in ((GATED, {"access": "gated", "terms": TERMS}), (PRIVATE, {"access": "private"})):
        folder = root / "registry" / dataset
        shutil.copytree(root / "registry" / SPEECH, folder, symlinks=True)
        doc = yaml.safe_load((folder / "dataset.yaml").read_text())
        doc.update(access)
        (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    store = AccessStore(root)
    tokens = {"accepted": store.create_token("ada"), "not-accepted": store.create_token("una")}
    store.accept(User("ada"), GATED)
    with uvicorn_thread(create_app(root)) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield {"root": root, "client": client, "tokens": tokens}


def plain_duckdb(root: Path, dataset: str, query: str) -> list[list[Any]]:
    """The same query run by DuckDB itself over the version's Parquet shards (one view per split)."""
    rev = resolve_revision(root, dataset, "1.0.0")
    with duckdb.connect() as con:
        for split in rev.manifest["splits"]:
            files = ", ".join(f"'{rev.path / f.path}'" for f in rev.split_files(split))
            con.execute(f"CREATE VIEW {split} AS SELECT * FROM read_parquet([{files}])")
        return [list(row) for row in con.execute(query).fetchall()]


def run(site: dict[str, Any], dataset: str, query: str, token: str | None = None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {site['tokens'][token]}"} if token else {}
    return site["client"].get(sql_url(dataset), params={"query": query, **params}, headers=headers)


@pytest.mark.parametrize("dataset, query", [
    (SPEECH, "SELECT speaker, count(*) AS n, avg(duration) AS mean FROM test GROUP BY speaker ORDER BY speaker"),
    (SPEECH, "SELECT id, transcript, sample_rate FROM train ORDER BY id"),
    (SPEECH, "SELECT 'train' AS split, count(*) FROM train UNION ALL SELECT 'test', count(*) FROM test ORDER BY 1"),
    ("demo/digits", "SELECT label, count(*) FROM test GROUP BY label ORDER BY label"),
    ("demo/basicmotions", "SELECT id, channels, series[1][1:3] FROM test ORDER BY id"),
])
def test_results_equal_duckdb_over_the_same_parquet(site, dataset, query):
    got = run(site, dataset, query)
    assert got.status_code == 200, got.text
    body = got.json()
    expected = plain_duckdb(site["root"], dataset, query)
    assert body["rows"] == expected and len(expected) > 0
    assert body["truncated"] is False and body["elapsed"] > 0


def test_columns_carry_duckdb_types(site):
    body = run(site, SPEECH, "SELECT label AS l, count(*) AS n, avg(duration) AS d FROM (SELECT speaker AS label, duration FROM test) GROUP BY l").json()
    assert body["columns"] == [{"name": "l", "type": "VARCHAR"}, {"name": "n", "type": "BIGINT"}, {"name": "d", "type": "DOUBLE"}]


def test_two_columns_of_one_name_keep_both_values(site):
    body = run(site, SPEECH, "SELECT 1 AS a, 2 AS a").json()
    assert body["rows"] == [[1, 2]] and [c["name"] for c in body["columns"]] == ["a", "a"]


PERMISSION = "file system operations are disabled by configuration"


@pytest.mark.parametrize("query, message", [
    ("SELECT * FROM read_csv('/etc/passwd')", f'the query failed: Permission Error: Cannot access file "/etc/passwd" - {PERMISSION}'),
    ("SELECT * FROM read_blob('/etc/hostname')", f'the query failed: Permission Error: Cannot access file "/etc/hostname" - {PERMISSION}'),
    ("SELECT * FROM glob('/etc/*')", f'the query failed: Permission Error: Cannot access file "/etc/*" - {PERMISSION}'),
    ("SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')", f'the query failed: Permission Error: Cannot access file "http://127.0.0.1:9/x.csv" - {PERMISSION}'),
    ("COPY test TO '/tmp/h16-sql-escape.csv'", "the console runs only SELECT queries, not COPY"),
    ("ATTACH '/tmp/h16-sql-escape.db' AS other", "the console runs only SELECT queries, not ATTACH"),
    ("INSTALL httpfs", "the console runs only SELECT queries, not LOAD"),
    ("LOAD httpfs", "the console runs only SELECT queries, not LOAD"),
    ("SET enable_external_access = true", "the console runs only SELECT queries, not SET"),
    ("RESET lock_configuration", "the console runs only SELECT queries, not SET"),
    ("PRAGMA database_list", "the console runs only SELECT queries, not PRAGMA"),
    ("CREATE TABLE t AS SELECT * FROM test", "the console runs only SELECT queries, not CREATE"),
    ("SELECT 1; SELECT * FROM read_csv('/etc/passwd')", "the console runs one statement, the query has 2"),
    ("SELECT 1; SET enable_external_access = true", "the console runs one statement, the query has 2"),
])
def test_escapes_are_refused(site, query, message):
    got = run(site, SPEECH, query)
    assert got.status_code == 400, got.text
    assert got.json()["error"] == message
    assert not Path("/tmp/h16-sql-escape.csv").exists() and not Path("/tmp/h16-sql-escape.db").exists()


def test_the_shards_cannot_be_read_by_path(site):
    """Not even the version's own files: only the registered tables."""
    shard = resolve_revision(site["root"], SPEECH, "1.0.0")
    path = shard.path / shard.split_files("test")[0].path
    got = run(site, SPEECH, f"SELECT count(*) FROM read_parquet('{path}')")
    assert got.status_code == 400 and got.json()["error"] == f'the query failed: Permission Error: Cannot access file "{path}" - {PERMISSION}'


def test_settings_stay_locked(site):
    body = run(site, SPEECH, "SELECT current_setting('enable_external_access'), current_setting('lock_configuration')").json()
    assert body["rows"] == [[False, True]]


def test_bad_sql_and_unknown_tables_say_what_is_there(site):
    got = run(site, SPEECH, "SELECT * FROM nosuch").json()
    assert got["error"].startswith("the query failed: Catalog Error: Table with name nosuch does not exist!")
    assert got["hint"] == "The splits are the tables train, validation, test."
    got = run(site, SPEECH, "SELEC 1")
    assert got.status_code == 400 and got.json()["error"].startswith('the query is not valid SQL: Parser Error: syntax error at or near "SELEC"')
    assert "\n" not in got.headers["x-error-message"]


def test_time_limit(site, monkeypatch):
    import hub.server.sql

    monkeypatch.setattr(hub.server.sql, "TIME_LIMIT", 0.5)
    got = run(site, SPEECH, "SELECT sum(range) FROM range(100000000000000)")
    assert got.status_code == 400
    assert got.json() == {"error": "the query ran past the time limit of 0.5 s and was stopped", "type": "BadRequest", "status": 400,
                          "hint": "Add a LIMIT or a filter, or query fewer rows."}
    assert run(site, SPEECH, "SELECT count(*) FROM test").status_code == 200  # the next query runs


def test_row_limit(site):
    total = plain_duckdb(site["root"], SPEECH, "SELECT count(*) FROM train")[0][0]
    body = run(site, SPEECH, "SELECT id FROM train ORDER BY id", limit=5).json()
    assert body["rows"] == plain_duckdb(site["root"], SPEECH, "SELECT id FROM train ORDER BY id LIMIT 5")
    assert body["truncated"] is True and body["limit"] == 5
    body = run(site, SPEECH, "SELECT id FROM train", limit=total).json()
    assert len(body["rows"]) == total and body["truncated"] is False
    body = run(site, SPEECH, "SELECT * FROM range(5000)").json()
    assert len(body["rows"]) == 1000 and body["truncated"] is True
    got = run(site, SPEECH, "SELECT 1", limit=1001)
    assert got.status_code == 422 and got.json()["problems"][0]["where"] == "query.limit"


def test_csv_and_parquet(site):
    query = "SELECT id, transcript, duration FROM test ORDER BY id"
    expected = plain_duckdb(site["root"], SPEECH, query)
    got = run(site, SPEECH, query, format="csv")
    assert got.status_code == 200 and got.headers["content-type"] == "text/csv; charset=utf-8"
    assert got.headers["content-disposition"] == 'attachment; filename="demo-espeak-speech-1.0.0.csv"'
    assert got.headers["x-hub-truncated"] == "false"
    import csv

    lines = list(csv.reader(io.StringIO(got.text)))
    assert lines[0] == ["id", "transcript", "duration"]
    assert [row[:2] for row in lines[1:]] == [row[:2] for row in expected]
    got = run(site, SPEECH, query, format="parquet", limit=3)
    assert got.status_code == 200 and got.content.startswith(b"PAR1") and got.headers["x-hub-truncated"] == "true"
    assert [list(r.values()) for r in pq.read_table(io.BytesIO(got.content)).to_pylist()] == expected[:3]


def test_csv_refuses_what_it_cannot_hold(site):
    got = run(site, SPEECH, "SELECT id, audio FROM test", format="csv")
    assert got.status_code == 400
    assert got.json()["error"] == "CSV cannot hold the column audio (struct<bytes: binary, path: string>)"
    assert got.json()["hint"] == "Select other columns, or ask for format=parquet."


def test_media_bytes_come_as_base64(site):
    import base64

    body = run(site, SPEECH, "SELECT audio.bytes AS wav FROM test LIMIT 1").json()
    assert body["columns"] == [{"name": "wav", "type": "BLOB"}]
    assert base64.b64decode(body["rows"][0][0])[:4] == b"RIFF"


def test_gated_and_private_datasets_answer_as_the_gate_does(site):
    query = "SELECT count(*) FROM test"
    got = run(site, GATED, query)
    assert (got.status_code, got.headers["x-error-code"]) == (403, "GatedRepo")
    assert got.json()["error"] == f"dataset {GATED!r} is gated: downloads need a token whose user accepted its terms"
    got = run(site, GATED, query, token="not-accepted")
    assert got.status_code == 403 and got.json()["error"] == f"user 'una' has not accepted the terms of {GATED!r}"
    assert run(site, GATED, query, token="accepted").json()["rows"] == plain_duckdb(site["root"], SPEECH, query)
    got = run(site, PRIVATE, query)
    assert (got.status_code, got.json()["error"]) == (404, f"dataset {PRIVATE!r} is not registered")
    assert run(site, PRIVATE, query, token="not-accepted").status_code == 200
    got = run(site, "acme/no-such-speech", "SELECT 1")
    assert (got.status_code, got.json()["error"]) == (404, "dataset 'acme/no-such-speech' is not registered")


def test_a_missing_version(site):
    got = site["client"].get(sql_url(SPEECH, "9.9.9"), params={"query": "SELECT 1"})
    assert got.status_code == 404 and json.loads(got.text)["type"] == "VersionNotFound"


def test_a_blind_split_cannot_be_queried_for_its_labels(tmp_path):
    """`split.blind` (issue #14) keeps the test labels out of the shards; the console reads only
    the shards, so neither the table nor the labels' file gives them."""
    import hub
    from conftest import DEMO
    from hub.server import create_app

    root = hub.init(tmp_path / "hub")
    folder = root / "registry" / "acme" / "blind-digits"
    shutil.copytree(DEMO / "digits", folder, ignore=shutil.ignore_patterns("versions"))
    doc = yaml.safe_load((folder / "dataset.yaml").read_text())
    doc["source"]["options"] = {"limit": 400}
    doc["split"]["blind"] = ["test"]
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    published = hub.publish("acme/blind-digits", root=root)
    labels = published.path / published.manifest["blind"]["test"]["labels"]["path"]
    assert labels.is_file()
    with uvicorn_thread(create_app(root)) as url, httpx.Client(base_url=url, timeout=60) as client:
        def ask(query: str) -> httpx.Response:
            return client.get(sql_url("acme/blind-digits"), params={"query": query})

        assert [c["name"] for c in ask("SELECT * FROM test LIMIT 1").json()["columns"]] == ["id", "image", "group"]
        assert "label" in [c["name"] for c in ask("SELECT * FROM train LIMIT 1").json()["columns"]]
        got = ask("SELECT label FROM test")
        assert got.status_code == 400 and got.json()["error"].startswith('the query failed: Binder Error: Referenced column "label" not found')
        got = ask(f"SELECT * FROM read_parquet('{labels}')")
        assert got.json()["error"] == f'the query failed: Permission Error: Cannot access file "{labels}" - {PERMISSION}'


@pytest.mark.parametrize("query, column_type, value", [
    ("SELECT INTERVAL 1 DAY AS v", "INTERVAL", [0, 1, 0]),  # months, days, nanoseconds
    ("SELECT 170141183460469231731687303715884105727::HUGEINT AS v", "HUGEINT", "170141183460469231731687303715884105727"),
    ("SELECT 1.5::DECIMAL(10,2) AS v", "DECIMAL(10,2)", "1.50"),
    ("SELECT TIMESTAMP '2020-01-01 10:00' AS v", "TIMESTAMP", "2020-01-01T10:00:00"),
    ("SELECT MAP {'a': 1} AS v", "MAP(VARCHAR, INTEGER)", [["a", 1]]),
    ("SELECT 'nan'::DOUBLE AS v", "DOUBLE", None),
    ("SELECT '\\x00\\xff'::BLOB AS v", "BLOB", "AP8="),
])
def test_every_duckdb_type_answers_as_json(site, query, column_type, value):
    body = run(site, SPEECH, query).json()
    assert body["columns"] == [{"name": "v", "type": column_type}] and body["rows"] == [[value]]


@pytest.mark.parametrize("format", ["csv", "parquet"])
def test_a_file_format_that_cannot_hold_a_type_says_so(site, format):
    got = run(site, SPEECH, "SELECT INTERVAL 1 DAY AS v", format=format)
    assert got.status_code == 400 and got.json()["error"].startswith(f"{format.upper()} cannot hold this answer: ")
    assert got.json()["hint"] == "Cast the column to text (column::VARCHAR), or ask for format=json."
    assert run(site, SPEECH, "SELECT (INTERVAL 1 DAY)::VARCHAR AS v", format=format).status_code == 200


def test_duckdbs_spill_folder_is_not_readable(site, tmp_path, monkeypatch):
    """With external access off DuckDB still allows its temp folder, `.tmp/` under the cwd; the
    console opens DuckDB without one."""
    monkeypatch.chdir(tmp_path)  # the server's cwd too: it runs in a thread of this process
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "secret.csv").write_text("token\nhub_secret\n")
    path = tmp_path / ".tmp" / "secret.csv"
    got = run(site, SPEECH, f"SELECT * FROM read_csv('{path}')")
    assert got.status_code == 400 and got.json()["error"] == f'the query failed: Permission Error: Cannot access file "{path}" - {PERMISSION}'
    assert "hub_secret" not in got.text


@pytest.mark.parametrize("inner", ["COPY test TO ''/tmp/h16-sql-escape.csv''", "SET enable_external_access = true", "ATTACH '':memory:'' AS other"])
def test_a_statement_inside_query_is_refused(site, inner):
    """DuckDB's `query()` table function runs SQL text: it too takes only one SELECT."""
    got = run(site, SPEECH, f"SELECT * FROM query('{inner}')")
    assert got.status_code == 400 and got.json()["error"].startswith("the query failed: Parser Error: Expected a single SELECT statement")
    assert not Path("/tmp/h16-sql-escape.csv").exists()
