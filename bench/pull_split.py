"""Benchmark: downloading one ~1 GB split from a `hub serve`, hub pull against curl.

One run builds a temporary hub with one dialogue dataset (the synthetic records of
publish_dialogue.py: random words, so the Parquet shards hold ~1 GB on disk), published in a child
process with `push=False` and ratios 5/5/90 so that its `test` split is ~`--mb` MB in several
shards, starts a real `hub serve` subprocess on a free port, then measures, alternating,
`--repeat` times each, each into an empty folder:

* curl              `curl -sS -o FILE URL` for each shard of the split, one after the other
                    (the same /datasets/{ns}/{name}/resolve/{version}/{path} URLs hub pull uses)
* curl+sha256sum    the same, then `sha256sum` of each file (what hub pull also does: it
                    verifies every shard against the manifest's sha256, hashing as it downloads)
* curl+openssl      the same with `openssl dgst -sha256` (coreutils 9.1's sha256sum does not use
                    the CPU's SHA instructions, OpenSSL and Python's hashlib do: ~4x faster here)
* hub pull (CLI)    `hub pull ns/name@1.0.0 --split test --endpoint URL --cache-dir EMPTY`: the
                    whole command, Python start-up and imports included
* hub.pull (lib)    `hub.pull(...)` in a fresh Python process, imports done before the clock

then, unless `--methods` leaves `startup` out, the start-up row: `--startup-runs` runs each,
alternating, of `python -c pass` (the interpreter alone), `hub --help`, `hub --root R list`,
`hub pull` of the `validation` split into a cache that already holds it (every sha256 checked
again, no byte downloaded), `hub.pull` of the same in a fresh process (imports done before the
clock: the CLI's row minus this one is its start-up) and `curl` of that split's shard(s):
median wall time of each (subprocess, from fork to exit).

Wall time is measured around the whole command (curl, CLI) or the call (lib); the client's
peak RSS is `/usr/bin/time`'s %M (the largest process of the command's tree) or, for the
library call, the child's VmHWM. CPU seconds of the client and of the server (from
/proc/PID/stat) over each run are recorded, and so is `others' cpu`: the busy CPU time of the
rest of the machine during the run. See bench/README.md.

    .venv/bin/python bench/pull_split.py [--mb 1000] [--repeat 3] [--startup-runs 9] [--json bench/results/pull_split_1g.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from publish_dialogue import DATASET_YAML as PUBLISH_YAML  # noqa: E402
from publish_dialogue import begin, build_table  # noqa: E402

from hub.hashing import sha256_file  # noqa: E402

DATASET = "bench/dialogue-1g"
VERSION = "1.0.0"
SPLIT = "test"
TEST_SHARE = 0.9
BYTES_PER_ROW = 358  # Parquet bytes of one publish_dialogue record, as the hub writes it (measured)
DATASET_YAML = {**PUBLISH_YAML, "title": "Synthetic dialogues (download benchmark)",
                "split": {**PUBLISH_YAML["split"], "ratios": {"train": 0.05, "validation": 0.05, "test": TEST_SHARE}}}
METHODS = ["curl", "curl+sha256sum", "curl+openssl", "hub-cli", "hub-lib", "startup"]
STARTUP_SPLIT = "validation"
STARTUP = ["python", "hub --help", "hub list", "hub pull (cached)", "hub.pull (cached, lib)", "curl (same split)"]
LABEL = {"curl": "curl", "curl+sha256sum": "curl + sha256sum", "curl+openssl": "curl + openssl sha256", "hub-cli": "hub pull (CLI)", "hub-lib": "hub.pull (library)"}


def _busy_s() -> float:
    """Non-idle CPU seconds of the whole machine since boot (/proc/stat)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` and its live children (`hub serve`'s worker
    processes), threads included."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        kids = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:  # gone meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") + sum(_proc_cpu_s(k) for k in kids)


def build_hub(work: Path, mb: float) -> dict[str, Any]:
    """A fresh hub with one published dialogue dataset whose test split is ~`mb` MB; returns its manifest.

    Runs in a child process (`--build`), so that this process stays small while it measures."""
    import yaml

    import hub

    root = hub.init(work / "hub")
    folder = root / "registry" / DATASET
    (folder / "raw").mkdir(parents=True)
    rows = int(mb * 1e6 / TEST_SHARE / BYTES_PER_ROW)
    table = build_table(rows)
    pq.write_table(table, folder / "raw" / "records.parquet")
    del table
    (folder / "dataset.yaml").write_text(yaml.safe_dump(DATASET_YAML, sort_keys=False), encoding="utf-8")
    manifest = hub.publish(DATASET, root=root, push=False).manifest
    print(f"data: {rows} dialogue records (random words), published with push=False, ratios {DATASET_YAML['split']['ratios']}", flush=True)
    return manifest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    hub_cli = Path(sys.executable).with_name("hub")
    proc = subprocess.Popen([str(hub_cli), "--root", str(root), "serve", "--port", str(port)], stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return proc, url
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"hub serve exited with {proc.returncode}: see {log}")
            time.sleep(0.1)
    raise SystemExit("hub serve did not answer /health in 30 s")


def _command(method: str, url: str, shards: list[dict[str, Any]], out: Path, result: Path) -> list[str]:
    if method.startswith("curl"):
        script = " && ".join(f"curl -sS -o {out / Path(f['path']).name} {url}/datasets/{DATASET}/resolve/{VERSION}/{f['path']}" for f in shards)
        if method == "curl+sha256sum":
            script += " && sha256sum " + " ".join(str(out / Path(f["path"]).name) for f in shards) + f" > {out / 'SHA256SUMS'}"
        elif method == "curl+openssl":  # coreutils 9.1's sha256sum does not use the CPU's SHA instructions; OpenSSL (and hashlib) do
            script += " && openssl dgst -sha256 " + " ".join(str(out / Path(f["path"]).name) for f in shards) + f" > {out / 'SHA256SUMS'}"
        return ["sh", "-c", script]
    if method == "hub-cli":
        return [str(Path(sys.executable).with_name("hub")), "pull", f"{DATASET}@{VERSION}", "--split", SPLIT, "--endpoint", url, "--cache-dir", str(out)]
    return [sys.executable, __file__, "--child", url, str(out), str(result), SPLIT]


def child(url: str, cache: Path, result: Path, split: str) -> None:
    """The library call, timed in this fresh process (imports not timed)."""
    import hub
    import hub.client  # noqa: F401  (the downloader's imports, before the clock)
    import hub.transport  # noqa: F401

    t0 = time.perf_counter()
    pulled = hub.pull(f"{DATASET}@{VERSION}", split=split, endpoint=url, cache_dir=cache)
    seconds = time.perf_counter() - t0
    hwm = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    result.write_text(json.dumps({"seconds": seconds, "peak_kib": hwm, "downloaded": pulled.downloaded_bytes}))


def measure(method: str, work: Path, url: str, shards: list[dict[str, Any]], server_pid: int, i: int) -> dict[str, Any]:
    """One run of `method` into an empty folder, in a fresh subprocess."""
    out = work / f"out-{method}-{i}"
    out.mkdir()
    result = work / f"result-{method}-{i}.json"
    os.sync()  # the previous run's dirty pages are written back now, not during this run
    env = {**os.environ, "HUB_NO_PROGRESS": "1"}
    busy0, server0 = _busy_s(), _proc_cpu_s(server_pid)
    t0 = time.perf_counter()
    # /usr/bin/time reports the peak RSS of the largest process of the command's tree: our own
    # ru_maxrss from wait4 would include this (large) process's RSS, inherited over fork + exec
    timed = ["/usr/bin/time", "-f", "%M %U %S", "-o", str(work / "time.txt")]
    proc = subprocess.Popen(timed + _command(method, url, shards, out, result), env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    busy1, server1 = _busy_s(), _proc_cpu_s(server_pid)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{method} run {i + 1} failed with exit status {os.waitstatus_to_exitcode(status)}")
    client_cpu = usage.ru_utime + usage.ru_stime
    peak_kib = int((work / "time.txt").read_text().split()[-3])
    r = {"wall_s": seconds, "seconds": seconds, "peak_mib": peak_kib / 1024, "client_cpu_s": client_cpu, "server_cpu_s": server1 - server0}
    if method == "hub-lib":
        inner = json.loads(result.read_text())
        r.update(seconds=inner["seconds"], peak_mib=inner["peak_kib"] / 1024)
    r["others_cpu_s"] = busy1 - busy0 - client_cpu - r["server_cpu_s"]
    # the bytes are the published ones: check every downloaded file (not timed)
    folder = out / DATASET / VERSION / "data" if method.startswith("hub") else out
    for f in shards:
        path = folder / Path(f["path"]).name
        if path.stat().st_size != f["size"] or sha256_file(path) != f["sha256"]:
            raise SystemExit(f"{method} run {i + 1}: {path} does not match the manifest")
    shutil.rmtree(out)
    return r


def measure_startup(work: Path, url: str, root: Path, manifest: dict[str, Any], runs: int) -> dict[str, Any]:
    """Median wall time of the start-up commands (see the module docstring), `runs` each, alternating."""
    hub_cli = str(Path(sys.executable).with_name("hub"))
    shards = [f for f in manifest["files"] if f.get("split") == STARTUP_SPLIT]
    cache, out, result = work / "startup-cache", work / "startup-curl", work / "startup-result.json"
    out.mkdir()
    pull = [hub_cli, "pull", f"{DATASET}@{VERSION}", "--split", STARTUP_SPLIT, "--endpoint", url, "--cache-dir", str(cache)]
    subprocess.run(pull, check=True, stdout=subprocess.DEVNULL)  # fills the cache (not timed)
    commands = {
        "python": [sys.executable, "-c", "pass"],
        "hub --help": [hub_cli, "--help"],
        "hub list": [hub_cli, "--root", str(root), "list"],
        "hub pull (cached)": pull,
        "hub.pull (cached, lib)": [sys.executable, __file__, "--child", url, str(cache), str(result), STARTUP_SPLIT],
        "curl (same split)": ["sh", "-c", " && ".join(f"curl -sS -o {out / Path(f['path']).name} {url}/datasets/{DATASET}/resolve/{VERSION}/{f['path']}" for f in shards)],
    }
    env = {**os.environ, "HUB_NO_PROGRESS": "1"}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(runs + 1):  # the first round warms the page cache, not reported
        for name, cmd in commands.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
            seconds = time.perf_counter() - t0
            if name == "hub.pull (cached, lib)":
                inner = json.loads(result.read_text())
                if inner["downloaded"]:
                    raise SystemExit(f"the cached pull downloaded {inner['downloaded']} bytes")
                seconds = inner["seconds"]
            if i:
                times[name].append(seconds)
    size = sum(f["size"] for f in shards)
    print(f"\nstart-up ({runs} runs each, median; the cached pull checks the sha256 of {STARTUP_SPLIT}: {len(shards)} shard(s), {size / 1e6:.0f} MB)")
    for name, ts in times.items():
        print(f"  {name:<24} {statistics.median(ts) * 1000:7.0f} ms   runs {', '.join(f'{t * 1000:.0f}' for t in ts)}")
    return {"split": STARTUP_SPLIT, "split_bytes": size, "runs": runs,
            "results": {name: {"median_ms": statistics.median(ts) * 1000, "runs_ms": [t * 1000 for t in ts]} for name, ts in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1000, help="size of the test split in MB (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each method, alternating (default 3)")
    parser.add_argument("--methods", nargs="*", default=METHODS, choices=METHODS)
    parser.add_argument("--startup-runs", type=int, default=9, help="runs of each start-up command (default 9)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--workdir", type=Path, help="where the hub and the downloads go (default: a temporary folder; needs ~4x --mb free)")
    parser.add_argument("--child", nargs=4, metavar=("URL", "CACHE", "RESULT", "SPLIT"), help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=2, metavar=("WORK", "MB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        manifest = build_hub(Path(args.build[0]), float(args.build[1]))
        (Path(args.build[0]) / "manifest.json").write_text(json.dumps(manifest))
        return
    if args.child:
        return child(args.child[0], Path(args.child[1]), Path(args.child[2]), args.child[3])

    curl = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split()[1]
    info, work = begin("pull-split-", args.workdir, {"curl": curl})
    server = None
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in args.methods if m != "startup"}
    startup = None
    try:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--build", str(work), str(args.mb)], check=True)
        root, manifest = work / "hub", json.loads((work / "manifest.json").read_text())
        shards = [f for f in manifest["files"] if f.get("split") == SPLIT]
        total = sum(f["size"] for f in shards)
        print(f"split {SPLIT}: {len(shards)} shards, {total / 1e6:.0f} MB ({', '.join(str(round(f['size'] / 1e6)) for f in shards)} MB), "
              f"{sum(f['rows'] for f in shards)} rows (hub built in {time.perf_counter() - t0:.0f} s, not timed)", flush=True)
        server, url = start_server(root, work / "server.log")
        # warm-up (not reported): the shards into the page cache, the server's first request
        measure("curl", work, url, shards, server.pid, -1)
        for i in range(args.repeat):
            for method in runs:
                r = measure(method, work, url, shards, server.pid, i)
                runs[method].append(r)
                print(f"  run {i + 1} {method:15s} {r['seconds']:6.2f} s  {total / 1e6 / r['seconds']:6.0f} MB/s  peak {r['peak_mib']:5.0f} MiB  "
                      f"client cpu {r['client_cpu_s']:5.2f} s  server cpu {r['server_cpu_s']:5.2f} s  (others' cpu {r['others_cpu_s']:.1f} s)", flush=True)
        if "startup" in args.methods:
            startup = measure_startup(work, url, root, manifest, args.startup_runs)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    results = {}
    for method, rs in runs.items():
        median = statistics.median(r["seconds"] for r in rs)
        results[method] = {"method": LABEL[method], "median_s": median, "runs_s": [r["seconds"] for r in rs], "mb_per_s": total / 1e6 / median,
                           "peak_mib": max(r["peak_mib"] for r in rs), "client_cpu_s": statistics.median(r["client_cpu_s"] for r in rs),
                           "server_cpu_s": statistics.median(r["server_cpu_s"] for r in rs), "max_others_cpu_s": max(r["others_cpu_s"] for r in rs), "runs": rs}
    print(f"\n{'method':<20} {'median_s':>8}  {'runs_s':<20} {'MB/s':>6} {'peak_MiB':>8} {'client_cpu_s':>12} {'server_cpu_s':>12} {'others_cpu_max':>14}")
    for r in results.values():
        print(f"{r['method']:<20} {r['median_s']:>8.2f}  {', '.join(f'{s:.2f}' for s in r['runs_s']):<20} {r['mb_per_s']:>6.0f} {r['peak_mib']:>8.0f} "
              f"{r['client_cpu_s']:>12.2f} {r['server_cpu_s']:>12.2f} {r['max_others_cpu_s']:>14.1f}")
    ratios = {}
    for hub_side in ("hub-cli", "hub-lib"):
        for base in ("curl", "curl+sha256sum", "curl+openssl"):
            if hub_side in results and base in results:
                ratios[f"{hub_side}/{base}"] = results[hub_side]["median_s"] / results[base]["median_s"]
                print(f"ratio {LABEL[hub_side]} / {LABEL[base]}: {ratios[f'{hub_side}/{base}']:.2f} (target <= 1.25)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"benchmark": "pull_split", "split_bytes": total, "shards": len(shards), "machine": info,
                                         "results": results, "ratios": ratios, "target": 1.25, "startup": startup}, indent=2) + "\n")


if __name__ == "__main__":
    main()
