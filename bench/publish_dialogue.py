"""Benchmark: `hub.publish` of a large dialogue dataset against plain pyarrow + sha256.

One run builds N synthetic dialogue records (schemas/dialogue.schema.json) as a Parquet
source, then measures, alternating, `--repeat` times each, in its own subprocess:

* baseline  `pq.read_table(source)` -> `pq.write_table` (default options) -> sha256 (1 MiB reads)
* baseline-zstd  the same with `compression="zstd", compression_level=1`: the codec of the
            hub's shards (`HUB_PARQUET_COMPRESSION`), so the same bytes are written
* hub       `hub.publish()` of the same source registered in a fresh `hub.init` repository
            (validation, splits, shards, sha256, `dvc add` + `dvc push` to the local remote,
            manifest, card, catalog refresh)
* hub --no-push  the same, with the data kept in the DVC cache only (no second full copy
            into the local remote, which DVC makes with a chunked Python read/write loop)

Wall time is `time.perf_counter` (and CPU user/sys time) around the operation only: imports
and repository set-up are not timed. Peak memory is the child's VmHWM (or, if larger, the
ru_maxrss of a process it waited for); ru_maxrss of the child itself would include the
parent's, inherited over exec. Reports medians, every run, peak MiB, bytes of Parquet data
written and every new byte on disk (for the hub: also DVC's remote copy, manifest, card).

    .venv/bin/python bench/publish_dialogue.py [--rows 1000000] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DATASET = "bench/dialogue-1m"
INTENTS = ["greeting", "goodbye", "thanks", "book_flight", "cancel_booking", "check_balance", "transfer_money",
           "weather", "play_music", "set_alarm", "order_food", "track_order", "complaint", "tech_support",
           "reset_password", "opening_hours", "small_talk", "jokes", "news", "other"]
LANGUAGES = ["en", "zh", "es", "de", "fr"]
TURN = pa.struct([("speaker", pa.string()), ("text", pa.string()), ("intent", pa.string())])
SOURCE_SCHEMA = pa.schema([("id", pa.string()), ("dialogue_id", pa.string()), ("language", pa.string()),
                           ("intent", pa.string()), ("turns", pa.list_(TURN))])
DATASET_YAML = {
    "title": "Synthetic dialogues (benchmark)", "description": "Random dialogue records for the publish benchmark.",
    "modality": "dialogue", "record": "dialogue", "tasks": ["text-classification"], "languages": LANGUAGES,
    "license": "CC0-1.0", "source": {"format": "parquet", "files": [{"path": "raw/records.parquet"}]}, "labels": INTENTS,
    "split": {"group_key": "dialogue_id", "stratify_key": "intent", "ratios": {"train": 0.8, "validation": 0.1, "test": 0.1}, "seed": 1}}


def _texts(rng: np.random.Generator, n: int, vocab: np.ndarray, vlen: np.ndarray) -> pa.StringArray:
    """`n` strings of 5-20 random words, assembled byte-wise with numpy (no Python loop)."""
    words_per_text = rng.integers(5, 21, n)
    w = rng.integers(0, len(vlen), int(words_per_text.sum()))
    first = np.concatenate([[0], np.cumsum(words_per_text)])
    width = vlen[w] + 1  # each word plus a space ...
    width[first[1:] - 1] -= 1  # ... except the last word of a text
    word_start = np.concatenate([[0], np.cumsum(width)])
    word_of_byte = np.repeat(np.arange(len(w)), width)
    pos = np.arange(word_start[-1]) - word_start[word_of_byte]
    buf = vocab[w[word_of_byte], pos]
    offsets = word_start[first].astype(np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf.tobytes()))


def _strings(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(pa.array(numbers).cast(pa.string()), 8, "0"), "")


def build_table(rows: int, seed: int = 0, chunk: int = 250_000) -> pa.Table:
    """`rows` dialogue records (one dialogue each, 2-6 turns) in the source schema."""
    rng = np.random.default_rng(seed)
    letters = rng.integers(ord("a"), ord("z") + 1, (5000, 11), dtype=np.uint8)
    vlen = rng.integers(2, 11, 5000)
    letters[np.arange(5000), vlen] = ord(" ")  # the byte after each word is its separator
    labels, langs, speakers = pa.array(INTENTS), pa.array(LANGUAGES), pa.array(["user", "bot"])
    parts = []
    for lo in range(0, rows, chunk):
        n = min(chunk, rows - lo)
        numbers = np.arange(lo, lo + n)
        n_turns = rng.integers(2, 7, n)
        offsets = np.concatenate([[0], np.cumsum(n_turns)]).astype(np.int32)
        total = int(offsets[-1])
        position = np.arange(total) - np.repeat(offsets[:-1], n_turns)
        turns = pa.StructArray.from_arrays(
            [speakers.take(pa.array(position % 2)), _texts(rng, total, letters, vlen), pa.nulls(total, pa.string())],
            fields=list(TURN))
        parts.append(pa.table({
            "id": _strings("rec-", numbers), "dialogue_id": _strings("dlg-", numbers),
            "language": langs.take(pa.array(rng.choice(len(LANGUAGES), n, p=[0.6, 0.25, 0.05, 0.05, 0.05]))),
            "intent": labels.take(pa.array(rng.integers(0, len(INTENTS), n))),
            "turns": pa.ListArray.from_arrays(pa.array(offsets), turns),
        }, schema=SOURCE_SCHEMA))
    return pa.concat_tables(parts)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _operation(method: str, src: Path, target: Path) -> Callable[[], dict[str, Any]]:
    """The measured operation, ready to call (its imports done); it returns rows and bytes."""
    if method.startswith("baseline"):
        options = {"compression": "zstd", "compression_level": 1} if method == "baseline-zstd" else {}

        def baseline() -> dict[str, Any]:
            table = pq.read_table(src)
            pq.write_table(table, target / "out.parquet", **options)
            digest = _sha256(target / "out.parquet")
            return {"rows": table.num_rows, "bytes": (target / "out.parquet").stat().st_size, "sha256": digest}
        return baseline
    import dvc.repo  # noqa: F401

    import hub
    import hub.publishing  # noqa: F401 (imports not timed)

    publish = hub.publish

    def hub_publish() -> dict[str, Any]:
        manifest = publish(DATASET, root=target, push=method == "hub").manifest
        return {"rows": manifest["rows"], "bytes": sum(f["size"] for f in manifest["files"]), "files": len(manifest["files"])}
    return hub_publish


def child(method: str, src: Path, target: Path) -> dict[str, Any]:
    """Run one measured operation in this process; return its figures."""
    operation = _operation(method, src, target)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    figures = operation()
    seconds, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    return {"seconds": seconds, **figures, "cpu_user_s": r1.ru_utime - r0.ru_utime, "cpu_sys_s": r1.ru_stime - r0.ru_stime, "peak_mib": peak_kib() / 1024}


def peak_kib() -> int:
    """This process's peak RSS (VmHWM: reset by exec, unlike ru_maxrss) or that of a child it waited for."""
    hwm = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    return max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def _disk_bytes(folder: Path) -> dict[tuple[int, int], int]:
    """Size of every distinct file (by inode) under `folder`."""
    stats = [p.stat() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return {(st.st_dev, st.st_ino): st.st_size for st in stats}


def _setup_hub(work: Path, src: Path, i: int) -> Path:
    import yaml

    import hub

    root = hub.init(work / f"hub-{i}")
    folder = root / "registry" / DATASET
    (folder / "raw").mkdir(parents=True)
    os.link(src, folder / "raw" / "records.parquet")  # the same bytes, no copy
    (folder / "dataset.yaml").write_text(yaml.safe_dump(DATASET_YAML, sort_keys=False), encoding="utf-8")
    return root


def measure(method: str, work: Path, src: Path, i: int) -> dict[str, Any]:
    """One measured run in a fresh subprocess (with its own fresh output folder)."""
    if method.startswith("hub"):
        target = _setup_hub(work, src, i)
    else:
        target = work / f"baseline-{i}"
        target.mkdir()
    before = _disk_bytes(target)
    result_file = work / f"result-{method}-{i}.json"
    os.sync()  # the previous run's dirty pages are written back now, not during this run
    env = {**os.environ, "HUB_NO_PROGRESS": "1"}
    proc = subprocess.run([sys.executable, __file__, "--child", method, str(src), str(target), str(result_file)], env=env)
    if proc.returncode:
        raise SystemExit(f"{method} run {i} failed with exit code {proc.returncode}")
    result = json.loads(result_file.read_text())
    after = _disk_bytes(target)
    result["disk_bytes"] = sum(size for key, size in after.items() if key not in before)  # all new files: shards, cache, remote, ...
    shutil.rmtree(target)
    return result


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """nproc, CPU model, Python and library versions."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    versions = {name: _version(name) for name in ("hub", "pyarrow", "numpy", "duckdb", "dvc", "datasets")}
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return {"nproc": nproc, "cpu": cpu, "python": platform.python_version(), "platform": platform.platform(), "versions": versions}


def begin(prefix: str, workdir: Path | None, versions: dict[str, str] | None = None) -> tuple[dict[str, Any], Path]:
    """A benchmark's start: the venv's tools (dvc) first on PATH, the machine printed (with the
    `versions` of tools beyond `machine()`'s), and a fresh work folder under `workdir` (default:
    the system's temporary folder). Returns (machine info, work folder)."""
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # the venv's dvc
    info = machine()
    info["versions"].update(versions or {})
    print(f"machine: nproc={info['nproc']} cpu={info['cpu']!r} python={info['python']} "
          + " ".join(f"{k}={v}" for k, v in info["versions"].items()), flush=True)
    if workdir:
        workdir.mkdir(parents=True, exist_ok=True)
    return info, Path(tempfile.mkdtemp(prefix=prefix, dir=workdir))


def summarize(label: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    return {"method": label, "rows": runs[0]["rows"], "median_s": statistics.median(seconds), "runs_s": seconds,
            "peak_mib": max(r["peak_mib"] for r in runs), "bytes": runs[0]["bytes"], "disk_bytes": runs[0]["disk_bytes"], "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--workdir", type=Path, help="where the source and the hub repositories go (default: a temporary folder)")
    parser.add_argument("--child", nargs=4, metavar=("METHOD", "SRC", "TARGET", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, src, target, result = args.child
        Path(result).write_text(json.dumps(child(method, Path(src), Path(target))))
        return

    info, work = begin("publish-dialogue-", args.workdir)
    try:
        t0 = time.perf_counter()
        table = build_table(args.rows)
        src = work / "records.parquet"
        pq.write_table(table, src)
        print(f"data: {table.num_rows} records, {len(pc.list_flatten(table.column('turns')))} turns, "
              f"{table.nbytes / 2**20:.0f} MiB in Arrow, source {src.stat().st_size / 2**20:.0f} MiB "
              f"(built in {time.perf_counter() - t0:.1f} s, not timed)", flush=True)
        del table
        runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "baseline-zstd": [], "hub": [], "hub-no-push": []}
        for i in range(args.repeat):
            for method in runs:
                r = measure(method, work, src, i)
                runs[method].append(r)
                print(f"  run {i + 1} {method:13s} {r['seconds']:6.2f} s  (cpu user {r['cpu_user_s']:.2f} s, sys {r['cpu_sys_s']:.2f} s)  "
                      f"peak {r['peak_mib']:5.0f} MiB", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = [summarize("pyarrow+sha256", runs["baseline"]), summarize("hub publish", runs["hub"]),
            summarize("hub --no-push", runs["hub-no-push"]), summarize("pyarrow+sha256 zstd", runs["baseline-zstd"])]
    ratio = rows[1]["median_s"] / rows[0]["median_s"]
    ratio_no_push = rows[2]["median_s"] / rows[0]["median_s"]
    ratio_zstd = rows[1]["median_s"] / rows[3]["median_s"]
    print(f"\n{'method':<19} {'rows':>9} {'median_s':>9}   {'runs_s':<22} {'peak_MiB':>9} {'bytes':>12} {'disk_bytes':>12}")
    for r in rows:
        runs_s = ", ".join(f"{s:.2f}" for s in r["runs_s"])
        print(f"{r['method']:<19} {r['rows']:>9} {r['median_s']:>9.2f}   {runs_s:<22} {r['peak_mib']:>9.0f} {r['bytes']:>12} {r['disk_bytes']:>12}")
    print(f"ratio hub/baseline: {ratio:.2f} (target <= 1.5); without the copy to the DVC remote: {ratio_no_push:.2f}; "
          f"against the baseline writing zstd like the hub: {ratio_zstd:.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"benchmark": "publish_dialogue", "rows_requested": args.rows, "machine": info,
                                         "results": rows, "ratio": ratio, "ratio_no_push": ratio_no_push, "ratio_zstd_baseline": ratio_zstd, "target": 1.5}, indent=2) + "\n")


if __name__ == "__main__":
    main()
