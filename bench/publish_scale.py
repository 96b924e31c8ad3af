"""Benchmark: does a publish's memory grow with its rows? `hub.publish` of 1M, 10M and 50M
small dialogues, on the local engine and on Ray, against a streaming pyarrow copy.

Per size, a synthetic source of small dialogue records (1-2 turns of 3-8 random words, five
rows per dialogue, 1% of rows repeating another row's turns; schemas/dialogue.schema.json) is
written chunk by chunk with a `ParquetWriter` (the bench never holds it whole). Then, each in a
fresh subprocess:

* baseline  what a user would write to stream it: `ParquetFile.iter_batches` ->
            `ParquetWriter` (zstd level 1, the hub's shard codec) -> sha256 of the output;
            no validation, split or dedup: the floor of reading and writing the bytes
* local     `hub.publish(..., push=False)` in a fresh `hub.init` repository (validation,
            the leakage-proof split, fingerprints, shards, `dvc add`, manifest, card, index)
* ray       the same with HUB_ENGINE=ray on a local Ray cluster started by `scripts/ray`
            (checks, fingerprints and shard writing as Ray tasks)

Memory is sampled every 20 ms: the child's own anonymous memory (RssAnon: what it allocated,
not the file pages it maps or reads, which the kernel reclaims) and the machine's memory in
use (MemTotal - MemAvailable, less its value before the run: Ray's workers and object store
included). Reported per run: seconds, peak RssAnon, VmHWM, peak machine memory in use, and
for the hub the seconds and peak RssAnon of each publish stage; across sizes, the growth of
peak RssAnon per row (what stays in memory per row: its hashes, split index and ids).

    .venv/bin/python bench/publish_scale.py [--sizes 1000000,10000000,50000000] [--engines baseline,local,ray]
        [--work DIR] [--json out.json]

The work folder (default `.hub/bench/publish-scale`) needs about 2.5x the sources' bytes free.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from publish_dialogue import DATASET_YAML, INTENTS, LANGUAGES, SOURCE_SCHEMA, TURN, _sha256, _strings  # noqa: E402
from split_dialogue import _texts  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DATASET = "bench/dialogue-scale"
CHUNK = 500_000  # rows generated (and written as one row group) at a time


def write_source(path: Path, rows: int, seed: int = 0) -> int:
    """`rows` small dialogue records as a Parquet file at `path`, a chunk at a time; its bytes."""
    rng = np.random.default_rng(seed)
    letters = rng.integers(ord("a"), ord("z") + 1, (5000, 11), dtype=np.uint8)
    vlen = rng.integers(2, 11, 5000)
    letters[np.arange(5000), vlen] = ord(" ")
    labels, langs, speakers = pa.array(INTENTS), pa.array(LANGUAGES), pa.array(["user", "bot"])
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, SOURCE_SCHEMA, compression="zstd", compression_level=1) as writer:
        for lo in range(0, rows, CHUNK):
            n = min(CHUNK, rows - lo)
            n_turns = rng.integers(1, 3, n)
            offsets = np.concatenate([[0], np.cumsum(n_turns)]).astype(np.int32)
            total = int(offsets[-1])
            position = np.arange(total) - np.repeat(offsets[:-1], n_turns)
            structs = pa.StructArray.from_arrays([speakers.take(pa.array(position % 2)), _texts(rng, total, letters, vlen, (3, 8)),
                                                  pa.nulls(total, pa.string())], fields=list(TURN))
            turns = pa.ListArray.from_arrays(pa.array(offsets), structs)
            repeat = rng.random(n) < 0.01  # 1%: another row's turns (a duplicate the split must keep on one side)
            source = np.where(repeat, rng.integers(0, n, n), np.arange(n))
            turns = turns.take(pa.array(source))
            writer.write_table(pa.table({
                "id": _strings("rec-", np.arange(lo, lo + n)), "dialogue_id": _strings("dlg-", np.arange(lo, lo + n) // 5),
                "language": langs.take(pa.array(rng.choice(len(LANGUAGES), n, p=[0.6, 0.25, 0.05, 0.05, 0.05]))),
                "intent": labels.take(pa.array(rng.integers(0, len(INTENTS), n))), "turns": turns}, schema=SOURCE_SCHEMA))
    tmp.rename(path)
    return path.stat().st_size


# -- memory ----------------------------------------------------------------------------------


def _status(key: str) -> int:
    """A /proc/self/status figure, KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def machine_used_kib() -> int:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])


class Sampler:
    """Peak of `read()` every 20 ms, in a thread; `mark()` starts a new segment (a stage)."""

    def __init__(self, read: Any) -> None:
        self.read, self.peak, self.segment, self.segments = read, 0, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._sample()

    def _sample(self) -> None:
        value = self.read()
        self.peak, self.segment = max(self.peak, value), max(self.segment, value)

    def mark(self) -> int:
        self._sample()
        segment, self.segment = self.segment, self.read()
        return segment

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self._sample()
        return self.peak


# -- the measured operations (in a child) -------------------------------------------------------


def child(method: str, src: Path, target: Path) -> dict[str, Any]:
    stages: dict[str, dict[str, float]] = {}
    if method == "baseline":
        def operation() -> dict[str, Any]:
            file = pq.ParquetFile(src)
            out = target / "out.parquet"
            with pq.ParquetWriter(out, file.schema_arrow, compression="zstd", compression_level=1) as writer:
                for batch in file.iter_batches(batch_size=65_536):
                    writer.write_batch(batch)
            return {"rows": file.metadata.num_rows, "sha256": _sha256(out)}
    else:
        import hub
        import hub.publishing

        lap = hub.publishing._Clock.lap  # each publish stage's seconds and peak anonymous memory

        def noted(clock: Any, name: str) -> None:
            lap(clock, name)
            stages[name] = {"seconds": round(clock.laps[name], 2), "peak_anon_mib": round(sampler.mark() / 1024)}
        hub.publishing._Clock.lap = noted

        def operation() -> dict[str, Any]:
            manifest = hub.publish(DATASET, root=target, push=False).manifest
            return {"rows": manifest["rows"], "shards": len(manifest["files"]), "engine": manifest["engine"]}
    sampler = Sampler(lambda: _status("RssAnon"))
    sampler.mark()
    t0 = time.perf_counter()
    figures = operation()
    seconds = time.perf_counter() - t0
    peak = sampler.stop()
    return {"seconds": round(seconds, 2), **figures, "peak_anon_mib": round(peak / 1024), "vmhwm_mib": round(_status("VmHWM") / 1024), "stages": stages}


def _setup_hub(work: Path, src: Path) -> Path:
    import yaml

    import hub

    root = hub.init(work / "hub")
    folder = root / "registry" / DATASET
    (folder / "raw").mkdir(parents=True)
    os.link(src, folder / "raw" / "records.parquet")
    (folder / "dataset.yaml").write_text(yaml.safe_dump(DATASET_YAML, sort_keys=False), encoding="utf-8")
    return root


def measure(method: str, work: Path, src: Path, env: dict[str, str]) -> dict[str, Any]:
    run = work / f"run-{method}"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    target = _setup_hub(run, src) if method != "baseline" else run
    result = run / "result.json"
    os.sync()
    before = machine_used_kib()
    machine = Sampler(machine_used_kib)
    proc = subprocess.run([sys.executable, __file__, "--child", method, str(src), str(target), str(result)], env=env)
    peak = machine.stop()
    if proc.returncode:
        raise SystemExit(f"{method} on {src.name} failed with exit code {proc.returncode}")
    figures = json.loads(result.read_text())
    figures["machine_peak_mib"] = round((peak - before) / 1024)
    shutil.rmtree(run)
    return figures


def _ray_cluster() -> tuple[dict[str, str], Any]:
    """A local Ray cluster by `scripts/ray start` (its socket folder under /tmp: short paths); its client environment and a stop."""
    temp = Path("/tmp") / f"hub-bench-ray-{os.getpid()}"
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = subprocess.run([str(REPO / "scripts" / "ray"), "start", str(temp), str(port)], capture_output=True, text=True, timeout=300)
    if started.returncode:
        raise SystemExit(f"scripts/ray start failed:\n{started.stderr[-2000:]}")

    def stop() -> None:
        subprocess.run([str(REPO / "scripts" / "ray"), "stop"], capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
    return dict(item.split("=", 1) for item in started.stdout.split()), stop


def _growth(results: dict[str, dict[str, Any]], engine: str) -> float | None:
    """Bytes of peak RssAnon per row between the smallest and the largest size."""
    runs = sorted((r["rows"], r["peak_anon_mib"]) for r in (results[s].get(engine) for s in results) if r)
    if len(runs) < 2 or runs[-1][0] == runs[0][0]:
        return None
    return round((runs[-1][1] - runs[0][1]) * 2**20 / (runs[-1][0] - runs[0][0]), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000,50000000")
    parser.add_argument("--engines", default="baseline,local,ray")
    parser.add_argument("--work", type=Path, default=REPO / ".hub" / "bench" / "publish-scale")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep-sources", action="store_true", help="keep the generated sources for a rerun")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, src, target, out = args.child
        Path(out).write_text(json.dumps(child(method, Path(src), Path(target))))
        return
    sizes, engines = [int(s) for s in args.sizes.split(",")], args.engines.split(",")
    args.work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HUB_NO_PROGRESS": "1"}
    env.pop("HUB_ENGINE", None)
    ray_env, stop = (_ray_cluster() if "ray" in engines else ({}, lambda: None))
    results: dict[str, dict[str, Any]] = {}
    try:
        for rows in sizes:
            src = args.work / f"source-{rows}.parquet"
            if not src.is_file():
                t0 = time.perf_counter()
                size = write_source(src, rows)
                print(f"source: {rows:,} rows, {size / 1e6:.0f} MB, written in {time.perf_counter() - t0:.0f} s", flush=True)
            results[str(rows)] = {}
            for method in engines:
                method_env = {**env, **ray_env, "HUB_ENGINE": "ray"} if method == "ray" else env
                r = measure(method, args.work, src, method_env)
                results[str(rows)][method] = r
                print(f"{rows:>11,} {method:<9} {r['seconds']:>8.1f} s  peak anon {r['peak_anon_mib']:>6,} MiB  VmHWM {r['vmhwm_mib']:>6,} MiB  "
                      f"machine {r['machine_peak_mib']:>6,} MiB", flush=True)
                for name, stage in r["stages"].items():
                    print(f"{'':>22}{name:<34} {stage['seconds']:>7.1f} s  peak anon {stage['peak_anon_mib']:>6,} MiB", flush=True)
            if not args.keep_sources:
                src.unlink()
    finally:
        stop()
    summary = {"growth_bytes_per_row": {e: _growth(results, e) for e in engines},
               "ratios_to_baseline": {rows: {e: round(r[e]["seconds"] / r["baseline"]["seconds"], 2) for e in r if e != "baseline"}
                                      for rows, r in results.items() if "baseline" in r}}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"results": results, **summary}, indent=1))


if __name__ == "__main__":
    main()
