"""Benchmark: `hub serve` under load, a catalog of 1,000 datasets.

One run builds a temporary hub: the four demo datasets (registry/demo: sensor, dialogue, image,
speech) copied in and published for real (`hub.publish(push=False)`), then 249 more entries of
each, made by copying: the entry's dataset.yaml (title numbered, two tag words added from a
100-word vocabulary, so that searches match different subsets) and README.md, and the published
`versions/1.0.0` folder (its data shards hard-linked, its manifest's `dataset` field rewritten),
under 10 namespaces. It starts real `hub serve --workers W` subprocesses on free ports, one per
`--workers` value (default: 1 and the server's default count, side by side), and, per scenario
and concurrency, for each server in turn, a load generator in another process: N threads, each
with one keep-alive `http.client` connection, sending requests back to back for `--seconds`:

* search     GET /api/datasets?search=<word>[&modality=<m>]  (words from titles, tags, cards and
             some that match nothing; modality none or one of the four)
* dataset    GET /api/datasets/{ns}/{name}                   (a random dataset of the 1,000)
* page       GET /datasets/{ns}/{name}                       (the HTML page: card, versions, preview)
* version    GET /datasets/{ns}/{name}/v/1.0.0               (the version page: files, certificate, the SQL box)
* sql        GET /api/datasets/{ns}/{name}/versions/1.0.0/sql?query=...  (one of `SQL_QUERIES` over a
             random dataset: the SQL console, DuckDB over the version's shards)
* health     GET /health                                      (the floor: the framework alone)

Reported: requests/s, p50/p99 latency, errors (any status but 200, or a broken connection),
the server's CPU seconds per request (its worker processes included), `others' cpu`: CPU the
rest of the machine used meanwhile (the server and the load generator subtracted), and the
1-minute load average at the end of each measurement. `--profile` also times, in this
process, what one request does to the catalog (`Catalog.fingerprint`, `refresh`, the DuckDB
open, `search`, `show`); with the `sql` scenario, each of `SQL_QUERIES` over each demo dataset
is timed in-process too: DuckDB alone over the same shards (its own views of `read_parquet`),
against `hub.server.sql.run_query` (the console's overhead). See bench/README.md.

    .venv/bin/python bench/serve_load.py [--seconds 20] [--concurrency 1 8 50] [--workers 1 2] [--json bench/results/serve_load.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from publish_dialogue import begin  # noqa: E402
from pull_split import _busy_s, _free_port  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEMO = ["demo/basicmotions", "demo/chatterbot-dialogue", "demo/digits", "demo/espeak-speech"]
MODALITIES = [None, "industrial", "dialogue", "image", "speech"]
VOCAB = ("alpha amber anchor apple arctic aspen atlas aurora autumn badger bamboo banjo basalt beacon birch bison blossom bronze "
         "cactus canyon carbon cedar cobalt comet coral cosmos crater cypress delta desert dolphin dune eagle ember falcon fern "
         "fjord flint forest fossil galaxy garnet geyser glacier granite harbor hazel heron horizon iris island ivory jade jasmine "
         "juniper kelp kestrel lagoon lantern lava lemon lotus lunar magnet maple marble meadow meteor mint mist nebula nectar "
         "oasis obsidian ocean olive onyx orbit orchid otter pebble pepper pine planet prairie quartz raven reef river saffron "
         "sage sapphire sequoia sierra").split()
NAMESPACES = [f"org{i}" for i in range(10)]
SCENARIOS = ["search", "dataset", "page", "version", "sql", "health"]
SQL_QUERIES = ["SELECT count(*) AS n FROM train", "SELECT id FROM test ORDER BY id LIMIT 10",
               "SELECT count(DISTINCT id) AS n FROM (SELECT id FROM train UNION ALL SELECT id FROM test)"]


def build_hub(work: Path, total: int) -> tuple[Path, list[str], list[str]]:
    """A hub with `total` datasets (4 published, the rest copies); returns root, ids, search words."""
    import yaml

    import hub

    root = hub.init(work / "hub")
    t0 = time.perf_counter()
    for dataset in DEMO:
        shutil.copytree(REPO / "registry" / dataset, root / "registry" / dataset, ignore=shutil.ignore_patterns("versions"))
        hub.publish(dataset, root=root, push=False)
    print(f"published the 4 demo datasets in {time.perf_counter() - t0:.0f} s", flush=True)
    t0 = time.perf_counter()
    rng = random.Random(0)
    ids = list(DEMO)
    words = set()
    per_demo = (total - len(DEMO)) // len(DEMO)
    for dataset in DEMO:
        source = root / "registry" / dataset
        entry = yaml.safe_load((source / "dataset.yaml").read_text(encoding="utf-8"))
        words.update(w.strip(".,()").lower() for w in entry["title"].split() if len(w) > 3)
        manifest = json.loads((source / "versions" / "1.0.0" / "manifest.json").read_text(encoding="utf-8"))
        for k in range(per_demo):
            new = f"{NAMESPACES[len(ids) % len(NAMESPACES)]}/{dataset.split('/')[1]}-{k:03d}"
            folder = root / "registry" / new
            folder.mkdir(parents=True)
            doc = {**entry, "title": f"{entry['title']} #{k}", "tags": list(entry.get("tags") or []) + rng.sample(VOCAB, 2)}
            (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
            shutil.copy2(source / "README.md", folder / "README.md")
            shutil.copytree(source / "versions" / "1.0.0", folder / "versions" / "1.0.0", copy_function=os.link)
            manifest_path = folder / "versions" / "1.0.0" / "manifest.json"
            manifest_path.unlink()  # a hard link to the original's: write a new file
            manifest_path.write_text(json.dumps({**manifest, "dataset": new}, indent=2) + "\n", encoding="utf-8")
            ids.append(new)
    words.update(rng.sample(VOCAB, 20))
    words.update(["nosuchword", "zzz"])  # match nothing
    t1 = time.perf_counter()
    count = hub.index(root=root)["datasets"]
    print(f"copied {len(ids) - len(DEMO)} more entries in {t1 - t0:.0f} s; catalog index built in {time.perf_counter() - t1:.1f} s: {count} datasets", flush=True)
    (root / ".hub" / "serve-load.json").write_text(json.dumps({"ids": ids, "words": sorted(words)}))  # for --hub
    return root, ids, sorted(words)


def _tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` and of its live descendants (the server's workers)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(c for c, parent in parents.items() if parent == p)
    total = 0.0
    for p in tree:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def start_server(root: Path, workers: int, log: Path) -> tuple[subprocess.Popen, int]:
    """`hub serve --workers N` on a free port, once every worker answers /health (they say their pid)."""
    port = _free_port()
    hub_cli = Path(sys.executable).with_name("hub")
    proc = subprocess.Popen([str(hub_cli), "--root", str(root), "serve", "--port", str(port), "--workers", str(workers)],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while len(seen) < workers:
        if proc.poll() is not None:
            raise SystemExit(f"hub serve exited with {proc.returncode}: see {log}")
        if time.monotonic() > deadline:
            raise SystemExit(f"hub serve --workers {workers}: {len(seen)} workers answered in 120 s")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            seen.add(json.loads(conn.getresponse().read())["worker"])
            conn.close()
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            time.sleep(0.1)
    return proc, port


def _paths(scenario: str, ids: list[str], words: list[str], rng: random.Random, n: int = 5000) -> list[str]:
    from urllib.parse import quote

    out = []
    for _ in range(n):
        if scenario == "search":
            modality = rng.choice(MODALITIES)
            out.append(f"/api/datasets?search={quote(rng.choice(words))}" + (f"&modality={modality}" if modality else ""))
        elif scenario == "dataset":
            out.append(f"/api/datasets/{rng.choice(ids)}")
        elif scenario == "page":
            out.append(f"/datasets/{rng.choice(ids)}")
        elif scenario == "version":
            out.append(f"/datasets/{rng.choice(ids)}/v/1.0.0")
        elif scenario == "sql":
            out.append(f"/api/datasets/{rng.choice(ids)}/versions/1.0.0/sql?query={quote(rng.choice(SQL_QUERIES))}")
        else:
            out.append("/health")
    return out


def generate(port: int, paths: list[str], concurrency: int, seconds: float) -> dict[str, Any]:
    """The load generator (runs in its own process): `concurrency` keep-alive connections."""
    deadline = time.perf_counter() + seconds
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[list[str]] = [[] for _ in range(concurrency)]
    start = threading.Barrier(concurrency)

    def worker(w: int) -> None:
        rng = random.Random(w)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start.wait()
        while time.perf_counter() < deadline:
            path = paths[rng.randrange(len(paths))]
            t0 = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors[w].append(f"{response.status} {path}")
            except (OSError, http.client.HTTPException) as exc:
                errors[w].append(f"{type(exc).__name__} {path}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            latencies[w].append(time.perf_counter() - t0)
        conn.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    flat = sorted(x for ls in latencies for x in ls)
    errs = [e for es in errors for e in es]

    def q(p: float) -> float:
        return flat[min(len(flat) - 1, int(p * len(flat)))] * 1000 if flat else float("nan")
    return {"requests": len(flat), "seconds": elapsed, "rps": len(flat) / elapsed, "p50_ms": q(0.5), "p99_ms": q(0.99),
            "max_ms": flat[-1] * 1000 if flat else float("nan"), "errors": len(errs), "error_samples": errs[:5]}


def measure(port: int, server_pid: int, scenario: str, paths: list[str], concurrency: int, seconds: float, work: Path) -> dict[str, Any]:
    spec, out = work / "paths.json", work / "load.json"
    spec.write_text(json.dumps(paths))
    busy0, server0 = _busy_s(), _tree_cpu_s(server_pid)
    proc = subprocess.Popen([sys.executable, __file__, "--generate", str(port), str(spec), str(concurrency), str(seconds), str(out)])
    _, status, usage = os.wait4(proc.pid, 0)
    busy1, server1 = _busy_s(), _tree_cpu_s(server_pid)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"the load generator failed ({scenario}, {concurrency})")
    r = json.loads(out.read_text())
    client_cpu = usage.ru_utime + usage.ru_stime
    r.update(scenario=scenario, concurrency=concurrency, server_cpu_s=server1 - server0, client_cpu_s=client_cpu,
             others_cpu_s=busy1 - busy0 - client_cpu - (server1 - server0), load_1min=os.getloadavg()[0])
    r["server_cpu_ms_per_request"] = r["server_cpu_s"] / max(1, r["requests"]) * 1000
    return r


def profile(root: Path, ids: list[str], n: int = 50) -> dict[str, float]:
    """Milliseconds, in this process, of the catalog steps one request goes through (median of n)."""
    import duckdb

    from hub.catalog import Catalog

    catalog = Catalog(root)
    catalog.refresh()
    rng = random.Random(1)

    def timed(fn, before=None) -> float:
        times = []
        for _ in range(n):
            if before is not None:
                before()
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000

    def open_close() -> None:
        duckdb.connect(str(catalog.path), read_only=True).close()

    def forget() -> None:  # the catalog's memo of answers read from this index file
        memo = catalog._session()[1]
        memo.answers.clear()
        memo.rows = 0
    return {"Catalog.fingerprint": timed(catalog.fingerprint), "Catalog.refresh (unchanged)": timed(catalog.refresh),
            "duckdb.connect(read_only) + close": timed(open_close),
            "Catalog.search('river'), first": timed(lambda: catalog.search("river"), forget),
            "Catalog.search('river'), again": timed(lambda: catalog.search("river")),
            "Catalog.search('river', public only), again": timed(lambda: catalog.search("river", include_private=False)),
            "Catalog.show(random id), first": timed(lambda: catalog.show(rng.choice(ids)), forget),
            "Catalog.show(random id), again": timed(lambda: catalog.show(rng.choice(ids[:n])), lambda: [catalog.show(i) for i in ids[:n]])}


def sql_overhead(root: Path, n: int = 30) -> dict[str, dict[str, float]]:
    """Median ms, in this process, of each of `SQL_QUERIES` over each demo dataset: DuckDB alone
    (a fresh connection, a view of `read_parquet` per split) and the console's `run_query`."""
    import duckdb

    from hub.server.sql import run_query
    from hub.store import resolve_revision

    def timed(fn) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000

    def plain(rev, query: str) -> None:
        with duckdb.connect() as con:
            for split in rev.manifest["splits"]:
                files = ", ".join(f"'{rev.path / f.path}'" for f in rev.split_files(split))
                con.execute(f"CREATE VIEW {split} AS SELECT * FROM read_parquet([{files}])")
            con.sql(query).to_arrow_table()

    out = {}
    for dataset in DEMO:
        rev = resolve_revision(root, dataset, "1.0.0")
        for query in SQL_QUERIES:
            out[f"{dataset}: {query}"] = {"duckdb_ms": timed(lambda: plain(rev, query)), "run_query_ms": timed(lambda: run_query(rev, query))}
    return out


def _line(r: dict[str, Any]) -> str:
    return (f"  {r['scenario']:8s} c={r['concurrency']:<3d} workers={r['workers']}  {r['rps']:7.1f} req/s  p50 {r['p50_ms']:7.1f} ms  "
            f"p99 {r['p99_ms']:7.1f} ms  errors {r['errors']}  server cpu {r['server_cpu_ms_per_request']:.1f} ms/req  "
            f"(others' cpu {r['others_cpu_s']:.1f} s in {r['seconds']:.0f} s, load {r['load_1min']:.2f})")


def main() -> None:
    from hub import config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1000, help="catalog size (default 1000)")
    parser.add_argument("--seconds", type=float, default=20, help="duration of each scenario at each concurrency (default 20)")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 8, 50])
    parser.add_argument("--workers", type=int, nargs="*", help=f"worker counts to compare, a server each (default: 1 and hub serve's default, here {config.serve_workers()})")
    parser.add_argument("--scenarios", nargs="*", default=SCENARIOS, choices=SCENARIOS)
    parser.add_argument("--profile", action="store_true", help="also time the catalog steps of one request in-process")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--workdir", type=Path, help="where the hub goes (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the hub built (its path is printed) for --hub")
    parser.add_argument("--hub", type=Path, help="serve this hub, which a run with --keep built, instead of building one")
    parser.add_argument("--generate", nargs=5, metavar=("PORT", "PATHS", "CONCURRENCY", "SECONDS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        port, spec, concurrency, seconds, out = args.generate
        Path(out).write_text(json.dumps(generate(int(port), json.loads(Path(spec).read_text()), int(concurrency), float(seconds))))
        return

    workers = list(dict.fromkeys(args.workers or [1, config.serve_workers()]))
    os.environ.setdefault("HUB_NO_PROGRESS", "1")
    info, work = begin("serve-load-", args.workdir)
    servers: dict[int, tuple[subprocess.Popen, int]] = {}
    root: Path | None = None
    results: list[dict[str, Any]] = []
    steps: dict[str, float] = {}
    sql_ms: dict[str, dict[str, float]] = {}
    try:
        if args.hub:
            root = args.hub.resolve()
            kept = json.loads((root / ".hub" / "serve-load.json").read_text())
            ids, words = kept["ids"], kept["words"]
        else:
            root, ids, words = build_hub(work, args.datasets)
        if args.profile:
            steps = profile(root, ids)
            print("in-process, median ms: " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()), flush=True)
        if "sql" in args.scenarios:
            sql_ms = sql_overhead(root)
            for name, t in sql_ms.items():
                print(f"  {name}: DuckDB alone {t['duckdb_ms']:.1f} ms, run_query {t['run_query_ms']:.1f} ms", flush=True)
        for w in workers:  # all started first: an idle server costs nothing (its catalog checks run on requests)
            servers[w] = start_server(root, w, work / f"server-{w}.log")
        rng = random.Random(0)
        warm = [p for s in SCENARIOS for p in _paths(s, ids, words, rng, 50)]
        for w, (server, port) in servers.items():  # warm-up (not reported): imports on first use, the catalog's first read, templates
            measure(port, server.pid, "warm-up", warm, 2 * w, 3, work)
        for scenario in args.scenarios:
            paths = _paths(scenario, ids, words, rng)
            for concurrency in args.concurrency:
                for w, (server, port) in servers.items():  # one after the other: the same load from the rest of the machine, roughly
                    r = measure(port, server.pid, scenario, paths, concurrency, args.seconds, work)
                    r["workers"] = w
                    results.append(r)
                    print(_line(r), flush=True)
                    if r["errors"]:
                        print(f"    e.g. {r['error_samples']}", flush=True)
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=30)
        if args.keep and not args.hub and root is not None:
            print(f"kept the hub: --hub {root}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)

    head = "".join(f" | {w} worker{'s' if w > 1 else ''}: req/s | p50 ms | p99 ms | errors | server ms/req" for w in workers)
    print(f"\n| scenario | conc.{head} | others' CPU s | load (1 min) |")
    print("|---|---:" + "|---:|---:|---:|---:|---:" * len(workers) + "|---:|---:|")
    for scenario in args.scenarios:
        for concurrency in args.concurrency:
            rows = [r for r in results if r["scenario"] == scenario and r["concurrency"] == concurrency]
            cells = "".join(f" | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | {r['server_cpu_ms_per_request']:.1f}" for r in rows)
            others = " / ".join(f"{r['others_cpu_s']:.1f}" for r in rows)
            load = " / ".join(f"{r['load_1min']:.2f}" for r in rows)
            print(f"| {scenario} | {concurrency}{cells} | {others} | {load} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"benchmark": "serve_load", "datasets": len(ids), "seconds": args.seconds, "workers": workers, "machine": info,
                                         "profile_ms": steps, "sql_ms": sql_ms, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
