"""The SQL console: one read-only DuckDB query over one version's splits (issue #16).

`GET /api/datasets/{ns}/{name}/versions/{version}/sql?query=SELECT ...` answers the rows as
JSON (or `format=csv|parquet`). The route reads records, so it goes through the download gate
(`hub.server.gate.readable_revision`): private and gated datasets answer as their shards do.

Each split's shards are a `pyarrow.dataset` registered under the split's name in a fresh
in-memory DuckDB opened with `enable_external_access = false` and `lock_configuration = true`:
DuckDB itself can open no file, reach no network, load no extension and change no setting;
pyarrow reads the shards, and only the columns the query names. Only one SELECT statement is
run, because PRAGMA, CREATE TABLE and a second statement are not stopped by that
configuration. A timer interrupts the query at the time limit, and rows past the row limit
are cut (the answer says so).
"""

from __future__ import annotations

import base64
import io
import math
import threading
import time
from datetime import date, datetime, time as clock, timedelta
from decimal import Decimal
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from hub.errors import BadRequest
from hub.server.app import responses
from hub.server.gate import readable_revision
from hub.store import Revision

__all__ = ["MAX_ROWS", "TIME_LIMIT", "router", "run_query"]

router = APIRouter()

MAX_ROWS = 1000
TIME_LIMIT = 5.0  # seconds; read at each request (the tests lower it)
# temp_directory "": DuckDB otherwise allows its spill folder, `.tmp/` under the server's cwd, to be read
_CONFIG = {"enable_external_access": False, "lock_configuration": True, "temp_directory": "", "threads": 1, "memory_limit": "1GB"}


def _statement(query: str) -> None:
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise BadRequest(f"the query is not valid SQL: {exc}", hint="Fix the query and run it again.") from None
    if len(statements) != 1:
        raise BadRequest(f"the console runs one statement, the query has {len(statements)}", hint="Remove the statements after the first ';'.")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise BadRequest(f"the console runs only SELECT queries, not {statements[0].type.name}", hint="Write a SELECT over the splits' tables.")


def _connect(rev: Revision) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the version's splits as tables, external access off and locked."""
    splits = {split: rev.shard_source(rev.split_files(split)) for split in rev.manifest.get("splits", {})}  # on disk, or in the object store
    con = duckdb.connect(":memory:", config=_CONFIG)
    for split, (fs, paths) in splits.items():
        if paths:
            con.register(split, ds.dataset(paths, format="parquet", filesystem=fs))
    return con


def _first_rows(reader: pa.RecordBatchReader, n: int) -> pa.Table:
    """At most `n` rows of a reader, reading no further."""
    batches, got = [], 0
    for batch in reader:
        batches.append(batch)
        got += batch.num_rows
        if got >= n:
            break
    return pa.Table.from_batches(batches, schema=reader.schema).slice(0, n)


def run_query(rev: Revision, query: str, max_rows: int = MAX_ROWS, time_limit: float = TIME_LIMIT) -> tuple[pa.Table, list[str], bool]:
    """The query's first `max_rows` rows, the DuckDB type of each column, and whether there were more.

    Raises `BadRequest` for a query that is not one SELECT, that DuckDB refuses or fails (the
    message is DuckDB's), or that runs past `time_limit` seconds.
    """
    _statement(query)
    con = _connect(rev)
    timer = threading.Timer(time_limit, con.interrupt)
    timer.start()
    try:
        relation = con.sql(query)
        types = [str(t) for t in relation.types]
        table = _first_rows(relation.to_arrow_reader(), max_rows + 1)
    except duckdb.InterruptException:
        raise BadRequest(f"the query ran past the time limit of {time_limit:g} s and was stopped", hint="Add a LIMIT or a filter, or query fewer rows.") from None
    except duckdb.Error as exc:
        tables = ", ".join(rev.manifest.get("splits", {}))
        raise BadRequest(f"the query failed: {exc}", hint=f"The splits are the tables {tables}.") from None
    finally:
        timer.cancel()
        con.close()
    return table.slice(0, max_rows), types, table.num_rows > max_rows


@router.get("/api/datasets/{ns}/{name}/versions/{version}/sql", tags=["catalog"], responses=responses(400, 401, 403, 404, 414, 422),
            summary="One read-only DuckDB SELECT over a version's splits (tables named by split)")
def sql(
    request: Request,
    ns: str,
    name: str,
    version: str,
    query: str = Query(..., min_length=1, max_length=20_000, description="One SELECT, e.g. SELECT label, count(*) FROM test GROUP BY label."),
    format: Literal["json", "csv", "parquet"] = Query("json", description="json: columns, rows, truncated, elapsed; csv or parquet: a file."),
    limit: int = Query(MAX_ROWS, ge=1, le=MAX_ROWS, description="The most rows to answer; `truncated` says whether there were more."),
) -> Response:
    rev = readable_revision(request, ns, name, version)
    start = time.perf_counter()
    table, types, truncated = run_query(rev, query, limit, TIME_LIMIT)
    elapsed = time.perf_counter() - start
    headers = {"X-Hub-Truncated": "true" if truncated else "false", "X-Hub-Elapsed": f"{elapsed:.6f}"}
    if format == "json":
        columns = [{"name": n, "type": t} for n, t in zip(table.column_names, types)]
        values = [table.column(i).to_pylist() for i in range(table.num_columns)]  # by position: `SELECT 1 AS a, 2 AS a` has two
        rows = [[_json(v) for v in row] for row in zip(*values)]
        return JSONResponse({"dataset": rev.dataset, "version": rev.version, "query": query, "columns": columns, "rows": rows,
                             "truncated": truncated, "limit": limit, "elapsed": round(elapsed, 6)}, headers=headers)
    filename = f"{rev.dataset.replace('/', '-')}-{rev.version}.{format}"
    headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    media = "text/csv; charset=utf-8" if format == "csv" else "application/vnd.apache.parquet"
    return Response(_file(table, format), media_type=media, headers=headers)


def _json(value: Any) -> Any:
    """A value as JSON holds it: bytes as base64 text, times as ISO 8601, NaN and infinities as null."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (datetime, date, clock)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value


def _file(table: pa.Table, format: str) -> bytes:
    """The rows as a CSV or Parquet file; raises `BadRequest` for a column the format cannot hold."""
    import pyarrow.csv
    import pyarrow.parquet as pq

    if format == "csv":
        nested = [f"{f.name} ({f.type})" for f in table.schema if pa.types.is_nested(f.type) or pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
        if nested:
            raise BadRequest(f"CSV cannot hold the column{'s' if len(nested) > 1 else ''} {', '.join(nested)}",
                             hint="Select other columns, or ask for format=parquet.")
    out = io.BytesIO()
    try:
        pyarrow.csv.write_csv(table, out) if format == "csv" else pq.write_table(table, out)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # an INTERVAL, for one
        raise BadRequest(f"{format.upper()} cannot hold this answer: {exc}", hint="Cast the column to text (column::VARCHAR), or ask for format=json.") from None
    return out.getvalue()
