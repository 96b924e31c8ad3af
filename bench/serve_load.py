"""Benchmark: `hub serve` under load, a catalog of 1,000 datasets.

One run builds a temporary hub: the four demo datasets (registry/demo: sensor, dialogue, image,
speech) copied in and published for real (`hub.publish(push=False)`), then 249 more entries of
each, made by copying: the entry's dataset.yaml (title numbered, two tag words added from a
100-word vocabulary, so that searches match different subsets) and README.md, and the published
`versions/1.0.0` folder (its data shards hard-linked, its manifest's `dataset` field rewritten),
under 10 namespaces. It starts a real `hub serve` subprocess on a free port and, per scenario and
concurrency, a load generator in another process: N threads, each with one keep-alive
`http.client` connection, sending requests back to back for `--seconds`:

* search     GET /api/datasets?search=<word>[&modality=<m>]  (words from titles, tags, cards and
             some that match nothing; modality none or one of the four)
* dataset    GET /api/datasets/{ns}/{name}                   (a random dataset of the 1,000)
* page       GET /datasets/{ns}/{name}                       (the HTML page: card, versions, preview)
* health     GET /health                                      (the floor: the framework alone)

Reported: requests/s, p50/p99 latency, errors (any status but 200, or a broken connection),
the server's CPU seconds per request, and `others' cpu`: CPU the rest of the machine used
meanwhile (the server and the load generator subtracted). `--profile` also times, in this
process, what one request does to the catalog (`Catalog.fingerprint`, `refresh`, the DuckDB
open, `search`, `show`). See bench/README.md.

    .venv/bin/python bench/serve_load.py [--seconds 20] [--concurrency 1 8 32] [--json bench/results/serve_load.json]
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
from pull_split import _busy_s, _proc_cpu_s, start_server  # noqa: E402

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
SCENARIOS = ["search", "dataset", "page", "health"]


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
    return root, ids, sorted(words)


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
    busy0, server0 = _busy_s(), _proc_cpu_s(server_pid)
    proc = subprocess.Popen([sys.executable, __file__, "--generate", str(port), str(spec), str(concurrency), str(seconds), str(out)])
    _, status, usage = os.wait4(proc.pid, 0)
    busy1, server1 = _busy_s(), _proc_cpu_s(server_pid)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"the load generator failed ({scenario}, {concurrency})")
    r = json.loads(out.read_text())
    client_cpu = usage.ru_utime + usage.ru_stime
    r.update(scenario=scenario, concurrency=concurrency, server_cpu_s=server1 - server0, client_cpu_s=client_cpu,
             others_cpu_s=busy1 - busy0 - client_cpu - (server1 - server0))
    r["server_cpu_ms_per_request"] = r["server_cpu_s"] / max(1, r["requests"]) * 1000
    return r


def profile(root: Path, ids: list[str], n: int = 50) -> dict[str, float]:
    """Milliseconds, in this process, of the catalog steps one request goes through (median of n)."""
    import duckdb

    from hub.catalog import Catalog

    catalog = Catalog(root)
    catalog.refresh()
    rng = random.Random(1)

    def timed(fn) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000

    def open_close() -> None:
        duckdb.connect(str(catalog.path), read_only=True).close()
    return {"Catalog.fingerprint": timed(catalog.fingerprint), "Catalog.refresh (unchanged)": timed(catalog.refresh),
            "duckdb.connect(read_only) + close": timed(open_close), "Catalog.search('river')": timed(lambda: catalog.search("river")),
            "Catalog.show(random id)": timed(lambda: catalog.show(rng.choice(ids)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1000, help="catalog size (default 1000)")
    parser.add_argument("--seconds", type=float, default=20, help="duration of each scenario at each concurrency (default 20)")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 8, 32])
    parser.add_argument("--scenarios", nargs="*", default=SCENARIOS, choices=SCENARIOS)
    parser.add_argument("--profile", action="store_true", help="also time the catalog steps of one request in-process")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--workdir", type=Path, help="where the hub goes (default: a temporary folder)")
    parser.add_argument("--generate", nargs=5, metavar=("PORT", "PATHS", "CONCURRENCY", "SECONDS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        port, spec, concurrency, seconds, out = args.generate
        Path(out).write_text(json.dumps(generate(int(port), json.loads(Path(spec).read_text()), int(concurrency), float(seconds))))
        return

    os.environ.setdefault("HUB_NO_PROGRESS", "1")
    info, work = begin("serve-load-", args.workdir)
    server = None
    results: list[dict[str, Any]] = []
    steps: dict[str, float] = {}
    try:
        root, ids, words = build_hub(work, args.datasets)
        if args.profile:
            steps = profile(root, ids)
            print("in-process, median ms: " + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()), flush=True)
        server, url = start_server(root, work / "server.log")
        port = int(url.rsplit(":", 1)[1])
        rng = random.Random(0)
        # warm-up (not reported): imports on first use, the catalog's first read, templates
        measure(port, server.pid, "warm-up", [p for s in SCENARIOS for p in _paths(s, ids, words, rng, 50)], 2, 3, work)
        for scenario in args.scenarios:
            paths = _paths(scenario, ids, words, rng)
            for concurrency in args.concurrency:
                r = measure(port, server.pid, scenario, paths, concurrency, args.seconds, work)
                results.append(r)
                print(f"  {scenario:8s} c={concurrency:<3d} {r['rps']:7.1f} req/s  p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
                      f"errors {r['errors']}  server cpu {r['server_cpu_ms_per_request']:.1f} ms/req  (others' cpu {r['others_cpu_s']:.1f} s "
                      f"in {r['seconds']:.0f} s)", flush=True)
                if r["errors"]:
                    print(f"    e.g. {r['error_samples']}", flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{'scenario':<9} {'conc':>4} {'req/s':>8} {'p50_ms':>8} {'p99_ms':>8} {'errors':>6} {'server_ms/req':>13} {'others_cpu_s':>12}")
    for r in results:
        print(f"{r['scenario']:<9} {r['concurrency']:>4} {r['rps']:>8.1f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['errors']:>6} "
              f"{r['server_cpu_ms_per_request']:>13.1f} {r['others_cpu_s']:>12.1f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"benchmark": "serve_load", "datasets": args.datasets, "seconds": args.seconds, "machine": info,
                                         "profile_ms": steps, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
