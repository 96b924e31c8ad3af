"""Download one big shard through a `hub serve` replica backed by SeaweedFS, against `curl`
straight from SeaweedFS (a presigned URL of the same object), in one run. Target: the
replica's median within 1.25x of the direct one.

The replica is a `git clone` of the hub repository with no `dvc pull`: it answers the shard's
`resolve` URL with a 307 to a presigned URL of the object (`hub.objectstore`), which curl
(`-L`) follows. See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
from publish_dialogue import DATASET_YAML, build_table  # noqa: E402  (the same synthetic dialogues)

sys.path.insert(0, str(REPO / "tests"))
from seaweedfs_fixtures import KEY, SECRET, SeaweedFS, free_s3_port  # noqa: E402  (scripts/seaweedfs, waited for)

DATASET = "bench/replica-download"


def _curl(url: str, *, follow: bool) -> tuple[float, int, float]:
    """curl's own total time, the bytes it got, and its peak resident memory (MiB, by GNU time: the
    ru_maxrss of a child of this big process would count the pages it had at the fork)."""
    with tempfile.NamedTemporaryFile("r") as peak:
        out = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", peak.name,
                              "curl", "-sS", "-o", "/dev/null", "-w", "%{time_total} %{size_download}", *(["-L"] if follow else []), url],
                             check=True, capture_output=True, text=True).stdout.split()
        return float(out[0]), int(out[1]), int(peak.read().split()[-1]) / 1024


def _tree(pid: int) -> list[int]:
    """pid and every process under it (the replica's worker processes)."""
    pids, todo = [], [pid]
    while todo:
        pids.append(current := todo.pop())
        for task in Path(f"/proc/{current}/task").glob("*"):
            todo += [int(child) for child in (task / "children").read_text().split()]
    return pids


def _hwm_mib(pid: int) -> float:
    """A live process's peak resident memory (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _sha256_of(url: str) -> str:
    digest = hashlib.sha256()
    with urllib.request.urlopen(url) as response:
        while block := response.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _serve(root: Path, port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "hub", "--root", str(root), "serve", "--port", str(port)],
                               stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hub serve did not start:\n{log.read_text()}")
            time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="dialogues published (the train shard holds 80%%)")
    parser.add_argument("--repeat", type=int, default=5, help="downloads of each side, alternating")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--workdir", type=Path, help="where the store, the hub and its replica go (default: a temporary folder)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hub-replica-", dir=args.workdir))
    store = SeaweedFS(work / "seaweedfs", free_s3_port())
    store.data.mkdir()
    os.environ.update({"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "HUB_S3_ENDPOINT": store.endpoint, "HUB_NO_PROGRESS": "1",
                       "HUB_SHARD_BYTES": str(64 << 30), "HUB_SHARD_ROWS": str(10**9)})  # one train shard, however big
    server = None
    try:
        store.start()
        import hub

        root = hub.init(work / "hub", remote="s3://bench-replica/registry")
        folder = root / "registry" / DATASET
        (folder / "raw").mkdir(parents=True)
        pq.write_table(build_table(args.rows), folder / "raw" / "records.parquet")
        (folder / "dataset.yaml").write_text(yaml.safe_dump(DATASET_YAML, sort_keys=False), encoding="utf-8")
        published = hub.publish(DATASET, root=root)
        shard = max(published.manifest["files"], key=lambda f: f["size"])
        for args_ in (["add", "-A"], ["-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "publish"]):
            subprocess.run(["git", *args_], cwd=root, check=True, capture_output=True)
        replica = work / "replica"
        subprocess.run(["git", "clone", "-q", str(root), str(replica)], check=True)

        port = free_s3_port()
        server = _serve(replica, port, work / "serve.log")
        through_replica = f"http://127.0.0.1:{port}/datasets/{DATASET}/resolve/{published.version}/{shard['path']}"
        assert _sha256_of(through_replica) == shard["sha256"], "the replica served other bytes than the manifest's"
        md5 = {e["relpath"]: e["md5"] for e in json.loads(store.s3().cat(
            f"bench-replica/registry/files/md5/{_dir_md5(published.path)[:2]}/{_dir_md5(published.path)[2:]}.dir"))}[shard["path"].removeprefix("data/")]
        direct = store.s3().url(f"bench-replica/registry/files/md5/{md5[:2]}/{md5[2:]}", expires=3600)

        runs: dict[str, list[float]] = {"replica": [], "direct": [], "redirect_only": []}
        curl_peak = {"replica": 0.0, "direct": 0.0}
        sides = [("direct", direct), ("replica", through_replica)]
        for i in range(args.repeat):
            for side, url in sides if i % 2 == 0 else sides[::-1]:  # each side first every other time
                seconds, size, peak = _curl(url, follow=side == "replica")
                assert size == shard["size"], f"{side}: {size} bytes, not {shard['size']}"
                runs[side].append(seconds)
                curl_peak[side] = max(curl_peak[side], peak)
            runs["redirect_only"].append(_curl(through_replica, follow=False)[0])  # the replica's part: the 307 alone
        medians = {side: statistics.median(times) for side, times in runs.items()}
        peak_mib = {"curl_direct": curl_peak["direct"], "curl_replica": curl_peak["replica"],
                    "replica_processes": {str(pid): _hwm_mib(pid) for pid in _tree(server.pid)},
                    "seaweedfs": max(_hwm_mib(pid) for pid in _tree(store.process.pid)),
                    "bench_and_publish": _hwm_mib(os.getpid())}
        result = {"rows": args.rows, "shard_bytes": shard["size"], "repeat": args.repeat, "runs_s": runs, "median_s": medians,
                  "ratio": medians["replica"] / medians["direct"], "mib_per_s": {s: shard["size"] / medians[s] / 2**20 for s in ("replica", "direct")},
                  "peak_mib": peak_mib, "load_average": os.getloadavg(), "cpus": len(os.sched_getaffinity(0))}
        print(f"shard {shard['size'] / 2**20:.0f} MiB ({args.rows:,} rows): direct median {medians['direct']:.3f} s, "
              f"through the replica {medians['replica']:.3f} s (its 307 alone {medians['redirect_only']:.3f} s), ratio {result['ratio']:.2f} "
              f"(target <= 1.25); load {os.getloadavg()[0]:.1f}")
        print(f"peak memory: curl {curl_peak['direct']:.0f} MiB direct, {curl_peak['replica']:.0f} MiB through the replica; "
              f"the replica's processes {max(peak_mib['replica_processes'].values()):.0f} MiB at most "
              f"({len(peak_mib['replica_processes'])} processes); SeaweedFS {peak_mib['seaweedfs']:.0f} MiB; "
              f"this bench with its publish {peak_mib['bench_and_publish']:.0f} MiB")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
        store.kill()
        shutil.rmtree(work, ignore_errors=True)


def _dir_md5(version: Path) -> str:
    return yaml.safe_load((version / "data.dvc").read_text())["outs"][0]["md5"].removesuffix(".dir")


if __name__ == "__main__":
    main()
