"""Benchmark: the contamination check's exact matching against a bare DuckDB join of the same hashes.

Builds, for scale (synthetic: random 16-byte digests, as `hub.fingerprints` stores them), a
reference fingerprint file of `--reference` rows (a hub's test splits: 10M by default) and a
train split of `--rows` rows (1M) of which 1% copy a reference record. Then, each in its own
subprocess, `--repeat` times, alternating:

- `hub`: `hub.fingerprints.matches` (what `hub publish` and `hub contamination` run per
  reference version: a DuckDB join streamed over the reference file, then the pairs as Arrow),
  the train split's fingerprints (the columns it reads) from Parquet into memory first (inside the clock);
- `duckdb`: one DuckDB query joining the two Parquet files on the digest (pairs counted, not
  returned: a lower bound).

Both must find the same number of pairs. With `--near-rows N` (default 100k), the near
matching of N dialogue-like records (16 MinHash band keys each) against 10 N reference records
is timed too (`hub` only: band join and Jaccard verification; 1% planted near copies).
Wall time is `time.perf_counter` around the call (imports done before); peak memory is the
child's VmHWM.

    .venv/bin/python bench/contamination.py [--rows 1000000] [--reference 10000000] [--repeat 3] [--json out.json]
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


def _prints(n: int, exact: np.ndarray, bands: list[list[int]] | None = None, near: list[bytes] | None = None, split: str = "test") -> pa.Table:
    from hub.fingerprints import SCHEMA

    return pa.Table.from_arrays([
        pa.array(np.arange(n, dtype=np.int64)), pa.array([split] * n, pa.string()), pa.array([f"r{i}" for i in range(n)], pa.string()),
        pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(exact.tobytes())]).cast(pa.binary()),
        pa.array(bands if bands is not None else [[]] * n, pa.list_(pa.uint64())), pa.array(near if near is not None else [None] * n, pa.binary()),
    ], schema=SCHEMA)


def build(folder: Path, rows: int, reference: int, near_rows: int, seed: int = 0) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 256, (reference, 16), dtype=np.uint8)
    ours = rng.integers(0, 256, (rows, 16), dtype=np.uint8)
    copies = rng.choice(rows, rows // 100, replace=False)
    ours[copies] = ref[rng.choice(reference, len(copies), replace=False)]
    pq.write_table(_prints(reference, ref), folder / "reference.parquet", row_group_size=1 << 20)
    pq.write_table(_prints(rows, ours, split="train"), folder / "ours.parquet", row_group_size=1 << 20)
    planted = {"rows": rows, "reference": reference, "exact_copies": len(copies)}
    if near_rows:
        n_ref = near_rows * 10
        shingles = [rng.integers(0, 1 << 61, 40, dtype=np.uint64) for _ in range(n_ref)]
        ref_bands = rng.integers(0, 1 << 63, (n_ref, 16), dtype=np.uint64)
        mine = [rng.integers(0, 1 << 61, 40, dtype=np.uint64) for _ in range(near_rows)]
        my_bands = rng.integers(0, 1 << 63, (near_rows, 16), dtype=np.uint64)
        planted_near = rng.choice(near_rows, near_rows // 100, replace=False)
        for i, j in zip(planted_near, rng.choice(n_ref, len(planted_near), replace=False)):
            mine[i] = np.concatenate([shingles[j][:38], mine[i][:2]])  # 38 of 42 shingles shared: Jaccard 0.90
            my_bands[i, :4] = ref_bands[j, :4]
        pq.write_table(_prints(n_ref, rng.integers(0, 256, (n_ref, 16), dtype=np.uint8), ref_bands.tolist(), [np.sort(s).tobytes() for s in shingles]),
                       folder / "near-reference.parquet")
        pq.write_table(_prints(near_rows, rng.integers(0, 256, (near_rows, 16), dtype=np.uint8), my_bands.tolist(), [np.sort(s).tobytes() for s in mine], "train"),
                       folder / "near-ours.parquet")
        planted["near_rows"], planted["near_reference"], planted["near_copies"] = near_rows, n_ref, len(planted_near)
    return planted


def child(method: str, folder: str) -> None:
    import duckdb

    from hub import fingerprints, records  # noqa: F401 - imported before the clock, as at publish
    from hub.dedup import Thresholds

    start = time.perf_counter()
    if method == "hub":
        pairs = fingerprints.matches(pq.read_table(f"{folder}/ours.parquet", columns=["row", "exact", "bands", "near"]), Path(folder) / "reference.parquet", "image", Thresholds(near=False), ("test",))
        found = {"pairs": pairs.num_rows}
    elif method == "duckdb":
        ((n,),) = duckdb.sql(f"SELECT count(*) FROM read_parquet('{folder}/ours.parquet') o JOIN read_parquet('{folder}/reference.parquet') r "
                          "ON o.exact = r.exact WHERE r.split IN ('test')").fetchall()
        found = {"pairs": n}
    else:  # near
        pairs = fingerprints.matches(pq.read_table(f"{folder}/near-ours.parquet"), Path(folder) / "near-reference.parquet", "dialogue", Thresholds(), ("test",))
        found = {"pairs": pairs.num_rows, "near": int((~pairs.column("exact").to_numpy()).sum())}
    print(json.dumps({"method": method, "seconds": time.perf_counter() - start, "peak_mib": peak_mib(), **found}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference", type=int, default=10_000_000)
    parser.add_argument("--near-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        planted = build(folder, args.rows, args.reference, args.near_rows)
        methods = ["hub", "duckdb"] + (["near"] if args.near_rows else [])
        runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
        for _ in range(args.repeat):
            for method, done in runs.items():
                done.append(run_child(__file__, method, str(folder)))
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"planted: {planted}; load average {' '.join(load)}")
    print("| method | rows x reference | median s | runs s | peak MiB | pairs |")
    print("|---|---|---:|---|---:|---:|")
    for method, rs in runs.items():
        secs = [r["seconds"] for r in rs]
        scale = f"{planted['near_rows']:,} x {planted['near_reference']:,}" if method == "near" else f"{args.rows:,} x {args.reference:,}"
        extra = f" (near {rs[0]['near']:,})" if method == "near" else ""
        print(f"| {method} | {scale} | {statistics.median(secs):.2f} | {', '.join(f'{s:.2f}' for s in secs)} | {max(r['peak_mib'] for r in rs):.0f} | {rs[0]['pairs']:,}{extra} |")
    if "duckdb" in runs:
        print(f"ratio hub/duckdb (median): {statistics.median(r['seconds'] for r in runs['hub']) / statistics.median(r['seconds'] for r in runs['duckdb']):.2f}")
    if args.json:
        args.json.write_text(json.dumps({"planted": planted, "load": load, "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
