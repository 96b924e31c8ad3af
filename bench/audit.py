"""Benchmark: `hub audit` of a 1M-row given split against a bare DuckDB GROUP BY of the same hashes.

Builds a Parquet folder in the Hub layout (`data/train-*.parquet`, `data/test-*.parquet`) of N
rows: `id`, `group` (~N/5 groups), `text` (random words; 1% of rows copy another row's text with
other case and spacing), and a given split by group (80/20) with leaks planted: 0.1% of the
groups also have a row in the other split. Then, each in its own subprocess, `--repeat` times,
alternating: `hub.audit(folder, group_key="group", near=False)` (groups and exact normalized
texts crossing splits, with ids) and one DuckDB query over the same files counting groups and
normalized-text hashes (`md5_number(lower(trim(regexp_replace(text, '\\s+', ' '))))`) found in
more than one split (counts only: no ids, no per-split figures). Both must agree on the counts.
Wall time is `time.perf_counter` around the call (imports done before); peak memory is the child's VmHWM.

    .venv/bin/python bench/audit.py [--rows 1000000] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from children import peak_mib, run_child

WORDS = np.array(["the", "a", "kettle", "boils", "in", "kitchen", "printer", "webcam", "turns", "on", "off", "my", "is", "not", "and", "what", "how", "why", "red", "blue", "green"])


def build(folder: Path, rows: int, seed: int = 0) -> dict[str, int]:
    """The Parquet folder; returns the planted counts."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, rows // 5, rows)
    words = rng.integers(0, len(WORDS), (rows, 8))
    texts = np.array([" ".join(WORDS[w]) + f" {i}" for i, w in enumerate(words)], dtype=object)  # unique but for the copies
    copies = rng.choice(rows, rows // 100, replace=False)
    sources = rng.integers(0, rows, len(copies))
    texts[copies] = ["  " + t.upper() for t in texts[sources]]
    test = (groups % 5) == 0
    leaky_groups = rng.choice(rows // 5, rows // 5000, replace=False)
    flip = np.flatnonzero(np.isin(groups, leaky_groups))
    _, first = np.unique(groups[flip], return_index=True)
    test[flip[first]] = ~test[flip[first]]  # one row of each leaky group in the other split
    table = pa.table({"id": pa.array([f"r{i}" for i in range(rows)]), "group": pa.array(groups.astype(str)), "text": pa.array(texts, pa.string())})
    (folder / "data").mkdir(parents=True)
    pq.write_table(table.filter(pa.array(~test)), folder / "data" / "train-00000-of-00001.parquet")
    pq.write_table(table.filter(pa.array(test)), folder / "data" / "test-00000-of-00001.parquet")
    return {"rows": rows, "leaky_groups": len(leaky_groups), "copies": len(copies)}


def child(method: str, folder: str) -> None:
    import duckdb

    import hub
    import hub.splits

    start = time.perf_counter()
    if method == "hub":
        report = hub.audit(folder, group_key="group", near=False)
        counts = {"groups": report["groups_crossing_splits"], "texts": report["duplicate_clusters_crossing_splits"]}
    else:
        con = duckdb.connect()
        files = f"read_parquet('{folder}/data/*.parquet', filename = true)"
        rows = f"SELECT split_part(parse_filename(filename), '-', 1) AS s, \"group\" AS g, md5_number(lower(trim(regexp_replace(text, '\\s+', ' ', 'g')))) AS h FROM {files}"
        g, t = con.execute(f"""WITH r AS ({rows})
            SELECT (SELECT count(*) FROM (SELECT g FROM r GROUP BY g HAVING count(DISTINCT s) > 1)),
                   (SELECT count(*) FROM (SELECT h FROM r GROUP BY h HAVING count(DISTINCT s) > 1))""").fetchone()
        counts = {"groups": g, "texts": t}
    seconds = time.perf_counter() - start
    print(json.dumps({"method": method, "seconds": seconds, "peak_mib": peak_mib(), **counts}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "given"
        planted = build(folder, args.rows)
        runs: dict[str, list[dict[str, Any]]] = {"hub": [], "duckdb": []}
        for _ in range(args.repeat):
            for method, done in runs.items():
                done.append(run_child(__file__, method, str(folder)))
    result = {"planted": planted, "runs": runs}
    print("| method | rows | median s | runs s | peak MiB | groups crossing | text clusters crossing |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for method, rs in runs.items():
        secs = [r["seconds"] for r in rs]
        print(f"| {method} | {args.rows:,} | {statistics.median(secs):.2f} | {', '.join(f'{s:.2f}' for s in secs)} | "
              f"{max(r['peak_mib'] for r in rs):.0f} | {rs[0]['groups']:,} | {rs[0]['texts']:,} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
