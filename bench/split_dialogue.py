"""Benchmark: group-disjoint train/validation/test Parquet splits, hub vs datasets, scikit-learn, DuckDB.

One run builds N synthetic dialogue rows in ~N/5 dialogues (`dialogue_id` is the group key; 1%
more rows are copies of a row put into another dialogue, half verbatim, half with other case
and whitespace) and measures, alternating, `--repeat` times each, each in its own subprocess
from the same in-memory Arrow table: split + write (80/10/10) by `hub.splits.assign_leakproof`
(with the optimizer of `hub.balance`, and as `hub-greedy` without it),
`datasets.Dataset.train_test_split`, sklearn `GroupShuffleSplit`, bare DuckDB `COPY ... WHERE
hash(dialogue_id) % 100 < 80`; exact-duplicate checks by `hub.dedup.find_duplicates` and bare
DuckDB `GROUP BY md5_number(text)`. Leakage (groups, normalized texts in two splits) is counted
from the written files by one DuckDB query for all. Wall time is `time.perf_counter` around the
operation only; peak memory is the child's VmHWM (loaded table included). See bench/README.md.

    .venv/bin/python bench/split_dialogue.py [--rows 1000000] [--repeat 3] [--json out.json]
    .venv/bin/python bench/split_dialogue.py --compare small.json large.json   # growth per method
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pull_split import _busy_s  # noqa: E402
from publish_dialogue import INTENTS, LANGUAGES, SOURCE_SCHEMA, TURN, _strings, begin, peak_kib

SPLITS = {"train": (0, 80), "validation": (80, 90), "test": (90, 100)}
SPLIT_METHODS = ["hub", "hub-greedy", "datasets", "sklearn", "duckdb"]
DEDUP_METHODS = ["hub-dedup", "duckdb-dedup"]
TEXT_SQL = "array_to_string(list_transform(turns, lambda t: t.text), ' ')"


def _texts(rng: np.random.Generator, n: int, vocab: np.ndarray, vlen: np.ndarray, words: tuple[int, int]) -> pa.StringArray:
    """`n` strings of `words` random words (as `publish_dialogue._texts`, with the word count as a parameter)."""
    words_per_text = rng.integers(words[0], words[1] + 1, n)
    w = rng.integers(0, len(vlen), int(words_per_text.sum()))
    first = np.concatenate([[0], np.cumsum(words_per_text)])
    width = vlen[w] + 1
    width[first[1:] - 1] -= 1
    word_start = np.concatenate([[0], np.cumsum(width)])
    word_of_byte = np.repeat(np.arange(len(w)), width)
    buf = vocab[w[word_of_byte], np.arange(word_start[-1]) - word_start[word_of_byte]]
    return pa.StringArray.from_buffers(n, pa.py_buffer(word_start[first].astype(np.int32)), pa.py_buffer(buf.tobytes()))


def build_table(rows: int, turns: tuple[int, int], words: tuple[int, int], per_group: int = 5, dup_share: float = 0.01,
                seed: int = 0, chunk: int = 250_000) -> pa.Table:
    """`rows` dialogue rows in ~rows/per_group dialogues (rows of a dialogue adjacent), then
    `dup_share` of rows appended as copies of random rows put into other dialogues."""
    rng = np.random.default_rng(seed)
    letters = rng.integers(ord("a"), ord("z") + 1, (5000, 11), dtype=np.uint8)
    vlen = rng.integers(2, 11, 5000)
    letters[np.arange(5000), vlen] = ord(" ")  # the byte after each word is its separator
    labels, langs, speakers = pa.array(INTENTS), pa.array(LANGUAGES), pa.array(["user", "bot"])
    n_dup = int(rows * dup_share)
    base = rows - n_dup
    dialogue = np.sort(rng.integers(0, max(1, rows // per_group), base))
    parts = []
    for lo in range(0, base, chunk):
        n = min(chunk, base - lo)
        n_turns = rng.integers(turns[0], turns[1] + 1, n)
        offsets = np.concatenate([[0], np.cumsum(n_turns)]).astype(np.int32)
        total = int(offsets[-1])
        position = np.arange(total) - np.repeat(offsets[:-1], n_turns)
        structs = pa.StructArray.from_arrays([speakers.take(pa.array(position % 2)), _texts(rng, total, letters, vlen, words),
                                              pa.nulls(total, pa.string())], fields=list(TURN))
        parts.append(pa.table({
            "id": _strings("rec-", np.arange(lo, lo + n)), "dialogue_id": _strings("dlg-", dialogue[lo:lo + n]),
            "language": langs.take(pa.array(rng.choice(len(LANGUAGES), n, p=[0.6, 0.25, 0.05, 0.05, 0.05]))),
            "intent": labels.take(pa.array(rng.integers(0, len(INTENTS), n))),
            "turns": pa.ListArray.from_arrays(pa.array(offsets), structs)}, schema=SOURCE_SCHEMA))
    table = pa.concat_tables(parts)
    if not n_dup:
        return table
    copies = table.take(pa.array(rng.choice(base, n_dup, replace=False))).combine_chunks()
    lists = copies.column("turns").chunk(0)
    flat = pc.list_flatten(lists)
    altered = np.repeat(np.arange(n_dup) % 2 == 1, pc.list_value_length(lists).to_numpy())  # every other copy: other case/spaces
    text = pc.if_else(pa.array(altered), pc.replace_substring(pc.utf8_upper(flat.field("text")), " ", "  "), flat.field("text"))
    flat = pa.StructArray.from_arrays([flat.field("speaker"), text, flat.field("intent")], fields=list(TURN))
    offsets = np.concatenate([[0], np.cumsum(pc.list_value_length(lists).to_numpy())]).astype(np.int32)
    copies = copies.set_column(copies.schema.get_field_index("turns"), "turns", pa.ListArray.from_arrays(pa.array(offsets), flat))
    copies = copies.set_column(0, "id", _strings("rec-", np.arange(base, rows)))
    copies = copies.set_column(1, "dialogue_id", _strings("dlg-", dialogue[rng.integers(0, base, n_dup)]))
    return pa.concat_tables([table, copies.cast(SOURCE_SCHEMA)])


def _timed(steps: dict[str, float], name: str, fn: Callable) -> Callable:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - t0
        return result
    return wrapper


def hub_write(table: pa.Table, index: np.ndarray, out: Path) -> None:
    """The hub's own shard writer (`hub.shards.write_splits`, as `hub publish` calls it, with
    the hub's default shard size) without the sha256/md5 hashing, which DuckDB does not do."""
    from hub import config
    from hub.shards import write_splits

    (out / "data").mkdir(parents=True, exist_ok=True)
    row_bytes = max(1, table.nbytes // max(1, table.num_rows))
    per_shard = max(1, min(config.shard_rows(), config.shard_bytes() // row_bytes))
    write_splits(out, table, index, list(SPLITS), per_shard, hashed=False)


def _operation(method: str, table: pa.Table, out: Path, steps: dict[str, float]) -> Callable[[], dict[str, Any]]:
    """The measured operation, its imports done; it returns what it found."""
    files = [out / f"{name}.parquet" for name in SPLITS]
    if method in ("hub", "hub-greedy", "hub-dedup"):
        import scipy.sparse.csgraph

        import hub.balance
        import hub.splits
        from hub.dedup import Thresholds, find_duplicates
        from hub.entry import SplitPolicy

        # per-step times (looked up at call time); the rest of assign_leakproof is anchors, pins, index.
        # find_duplicates runs in a thread while the groups are encoded and hashed: those overlap.
        pc.dictionary_encode = _timed(steps, "dictionary_encode", pc.dictionary_encode)
        hub.splits.group_hashes = _timed(steps, "group_hashes", hub.splits.group_hashes)
        hub.splits.find_duplicates = _timed(steps, "find_duplicates", hub.splits.find_duplicates)
        scipy.sparse.csgraph.connected_components = _timed(steps, "connected_components", scipy.sparse.csgraph.connected_components)
        hub.splits._majority = _timed(steps, "majority_stratum", hub.splits._majority)
        hub.splits._balance_free = _timed(steps, "balance", hub.splits._balance_free)
        if method == "hub-greedy":  # the optimizer off: the greedy pass's placement, as before it existed
            hub.balance.optimize = lambda split, *args: hub.balance.Balanced(split, "greedy: optimizer off")
        hub.balance.optimize = _timed(steps, "optimize", hub.balance.optimize)
        if method == "hub-dedup":
            def hub_dedup() -> dict[str, Any]:
                dups = find_duplicates(table, "dialogue", Thresholds(near=False))
                return {"clusters": dups.clusters, "dup_rows": len(dups.rows)}
            return hub_dedup
        policy = SplitPolicy("dialogue_id", "intent", {name: (hi - lo) / 100 for name, (lo, hi) in SPLITS.items()}, 1)
        assign_leakproof = _timed(steps, "assign_leakproof", hub.splits.assign_leakproof)

        def hub_split() -> dict[str, Any]:
            assignment = assign_leakproof(table, policy, "dialogue", Thresholds(near=False))
            t0 = time.perf_counter()
            hub_write(table, assignment.index, out)
            steps["filter_write"] = time.perf_counter() - t0
            return {"moved_rows": assignment.moved_rows, "balance": assignment.balance}
        return hub_split
    if method == "datasets":
        import datasets

        datasets.disable_progress_bars()

        def datasets_split() -> dict[str, Any]:
            first = datasets.Dataset(table).train_test_split(test_size=0.2, seed=1)
            second = first["test"].train_test_split(test_size=0.5, seed=1)
            for part, path in zip([first["train"], second["train"], second["test"]], files):
                part.to_parquet(path)
            return {}
        return datasets_split
    if method == "sklearn":
        from sklearn.model_selection import GroupShuffleSplit

        def sklearn_split() -> dict[str, Any]:
            groups = table.column("dialogue_id").to_numpy()
            train, rest = next(GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=1).split(groups, groups=groups))
            val, test = next(GroupShuffleSplit(n_splits=1, test_size=0.5, random_state=1).split(rest, groups=groups[rest]))
            for indices, path in zip([train, rest[val], rest[test]], files):
                pq.write_table(table.take(pa.array(indices)), path)
            return {}
        return sklearn_split
    import duckdb

    con = duckdb.connect()
    con.register("t", table)
    if method == "duckdb-dedup":
        def duckdb_dedup() -> dict[str, Any]:
            found = con.sql(f"SELECT md5_number({TEXT_SQL}) h, count(*) c FROM t GROUP BY h HAVING count(*) > 1").to_arrow_table()
            return {"clusters": found.num_rows, "dup_rows": int(pc.sum(found.column("c")).as_py() or 0)}
        return duckdb_dedup

    def duckdb_split() -> dict[str, Any]:
        for (lo, hi), path in zip(SPLITS.values(), files):
            con.execute(f"COPY (SELECT * FROM t WHERE hash(dialogue_id) % 100 >= {lo} AND hash(dialogue_id) % 100 < {hi}) TO '{path}' (FORMAT parquet)")
        return {}
    return duckdb_split


def child(method: str, src: Path, out: Path) -> dict[str, Any]:
    """Load the table (not timed), run one measured operation, return its figures."""
    with pa.OSFile(str(src)) as f:
        table = pa.ipc.open_file(f).read_all()
    steps: dict[str, float] = {}
    operation = _operation(method, table, out, steps)
    loaded = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmRSS:")) / 1024
    cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    figures = operation()
    seconds, cpu1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime  # every thread of the child, over the operation only
    return {"seconds": seconds, "cpu_s": cpu, "peak_mib": peak_kib() / 1024, "loaded_mib": loaded, "steps": steps, **figures}


def leakage(out: Path) -> dict[str, int]:
    """Rows written, groups in more than one split, normalized texts in more than one split."""
    import duckdb

    files = [str(f) for f in sorted(out.rglob("*.parquet"))]  # split.parquet, or the hub's data/split-NNNNN-of-NNNNN.parquet
    con = duckdb.connect()
    split = "regexp_extract(filename, '(train|validation|test)[^/]*$', 1)"
    con.execute(f"CREATE VIEW w AS SELECT {split} AS s, dialogue_id, {TEXT_SQL} AS x FROM read_parquet({files}, filename=true)")
    rows, groups, texts = con.execute(
        "SELECT (SELECT count(*) FROM w), (SELECT count(*) FROM (SELECT dialogue_id FROM w GROUP BY 1 HAVING count(DISTINCT s) > 1)), "
        "(SELECT count(*) FROM (SELECT md5_number(trim(regexp_replace(lower(x), '\\s+', ' ', 'g'))) h FROM w GROUP BY h HAVING count(DISTINCT s) > 1))").fetchone()
    return {"written_rows": rows, "leaked_groups": groups, "leaked_dup_texts": texts, "bytes": sum(Path(f).stat().st_size for f in files)}


def measure(method: str, work: Path, src: Path, i: int, timeout: float) -> dict[str, Any] | None:
    """One measured run in a fresh subprocess; None if it ran out of time."""
    out = work / f"{method}-{i}"
    out.mkdir()
    result_file = work / f"result-{method}-{i}.json"
    os.sync()  # the previous run's dirty pages are written back now, not during this run
    env = {**os.environ, "HUB_NO_PROGRESS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    busy0, own0 = _busy_s(), resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", method, str(src), str(out), str(result_file)], env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        shutil.rmtree(out)
        return None
    if proc.returncode:
        raise SystemExit(f"{method} run {i} failed with exit code {proc.returncode}")
    own1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(result_file.read_text())
    # CPU the rest of the machine used while the child ran (other users' jobs skew the figures)
    result["others_cpu_s"] = _busy_s() - busy0 - (own1.ru_utime + own1.ru_stime - own0.ru_utime - own0.ru_stime)
    result.update(leakage(out) if method in SPLIT_METHODS else {})
    shutil.rmtree(out)
    return result


def summarize(method: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    keys = ("written_rows", "leaked_groups", "leaked_dup_texts", "bytes", "clusters", "dup_rows", "moved_rows")
    steps = {k: statistics.median(r["steps"][k] for r in runs) for k in runs[0]["steps"]} if runs[0]["steps"] else {}
    return {"method": method, "median_s": statistics.median(seconds), "runs_s": seconds, "median_cpu_s": statistics.median(r["cpu_s"] for r in runs), "peak_mib": max(r["peak_mib"] for r in runs),
            "loaded_mib": max(r["loaded_mib"] for r in runs), **{k: runs[0][k] for k in keys if k in runs[0]}, "steps_s": steps, "runs": runs}


def _table(results: dict[str, dict[str, Any]], methods: list[str], extra: dict[str, tuple[str, int]]) -> None:
    print(f"\n{'method':<13} {'median_s':>9}  {'runs_s':<22} {'cpu_s':>6} {'peak_MiB':>8} {'loaded_MiB':>10} " + " ".join(f"{h:>{w}}" for h, (_, w) in extra.items()))
    for m in (m for m in methods if m in results):
        r = results[m]
        print(f"{m:<13} {r['median_s']:>9.2f}  {', '.join(f'{s:.2f}' for s in r['runs_s']):<22} {r['median_cpu_s']:>6.1f} {r['peak_mib']:>8.0f} {r['loaded_mib']:>10.0f} "
              + " ".join(f"{r[k]:>{w}}" for k, w in extra.values()))


def report(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Print the tables and the ratios against the targets; return the ratios."""
    _table(results, SPLIT_METHODS, {"rows": ("written_rows", 9), "leaked_groups": ("leaked_groups", 13), "leaked_dup_texts": ("leaked_dup_texts", 16)})
    ratios: dict[str, Any] = {}

    def ratio(name: str, a: str, b: str, key: str, target: str) -> None:
        if a in results and b in results:
            ratios[name] = results[a][key] / results[b][key]
            print(f"ratio {name}: {ratios[name]:.2f} (target {target})")
    ratio("hub/duckdb time", "hub", "duckdb", "median_s", "<= 1.5")
    ratio("hub/duckdb cpu (user + system s of the operation)", "hub", "duckdb", "median_cpu_s", "-")
    ratio("hub/duckdb peak", "hub", "duckdb", "peak_mib", "<= 1.5")
    ratio("hub/hub-greedy time (optimizer on/off)", "hub", "hub-greedy", "median_s", "~1")
    ratio("hub/hub-greedy peak (optimizer on/off)", "hub", "hub-greedy", "peak_mib", "~1")
    ratio("datasets/hub time", "datasets", "hub", "median_s", ">= 10")
    if "hub" in results and "balance" in results["hub"]["runs"][0]:
        print(f"hub balance: {results['hub']['runs'][0]['balance']}")
    if "hub" in results:
        print(f"hub leaked groups: {results['hub']['leaked_groups']} (target 0); hub steps (median s): "
              + ", ".join(f"{k} {v:.2f}" for k, v in results["hub"]["steps_s"].items()))
    _table(results, DEDUP_METHODS, {"clusters": ("clusters", 9), "rows_in_clusters": ("dup_rows", 16)})
    ratio("dedup hub/duckdb time", "hub-dedup", "duckdb-dedup", "median_s", "<= 1.5")
    return ratios


def compare(paths: list[Path]) -> None:
    """Growth of median time and peak memory per method between two JSON results."""
    small, large = (json.loads(p.read_text()) for p in paths)

    def added(r: dict[str, Any]) -> float:
        return r["peak_mib"] - r["loaded_mib"]
    print(f"growth from {small['rows']} to {large['rows']} rows ({large['rows'] / small['rows']:.0f}x):")
    for m, a in small["results"].items():
        if b := large["results"].get(m):
            print(f"  {m:<13} time {a['median_s']:8.2f} -> {b['median_s']:8.2f} s ({b['median_s'] / a['median_s']:5.1f}x)   "
                  f"peak {a['peak_mib']:6.0f} -> {b['peak_mib']:6.0f} MiB ({b['peak_mib'] / a['peak_mib']:4.1f}x)   "
                  f"peak-loaded {added(a):5.0f} -> {added(b):5.0f} MiB ({added(b) / added(a):4.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--turns", type=lambda t: tuple(map(int, t.split("-"))), default=(2, 6), help="turns per row, LO-HI (default 2-6)")
    parser.add_argument("--words", type=lambda t: tuple(map(int, t.split("-"))), default=(5, 20), help="words per turn, LO-HI (default 5-20)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each method, alternating (default 3)")
    parser.add_argument("--once", nargs="*", default=[], metavar="METHOD", help="methods to run in the first round only")
    parser.add_argument("--methods", nargs="*", default=SPLIT_METHODS + DEDUP_METHODS, help="methods to run (default all)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is killed and reported as missing")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--workdir", type=Path, help="where the source and the outputs go (default: a temporary folder)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("SMALL_JSON", "LARGE_JSON"), help="print growth between two results")
    parser.add_argument("--child", nargs=4, metavar=("METHOD", "SRC", "OUT", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, src, out, result = args.child
        Path(result).write_text(json.dumps(child(method, Path(src), Path(out))))
        return
    if args.compare:
        return compare(args.compare)

    info, work = begin("split-dialogue-", args.workdir, {"scikit-learn": metadata.version("scikit-learn")})
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in args.methods}
    try:
        t0 = time.perf_counter()
        table = build_table(args.rows, args.turns, args.words)
        src = work / "table.arrow"
        with pa.OSFile(str(src), "wb") as f, pa.ipc.new_file(f, table.schema) as writer:
            writer.write_table(table)
        groups = pc.count_distinct(table.column("dialogue_id")).as_py()
        print(f"data: {table.num_rows} rows, {groups} dialogues, {len(pc.list_flatten(table.column('turns')))} turns of "
              f"{args.words[0]}-{args.words[1]} words ({args.turns[0]}-{args.turns[1]} per row), {int(args.rows * 0.01)} copied rows; "
              f"{table.nbytes / 2**20:.0f} MiB in Arrow (built in {time.perf_counter() - t0:.1f} s, not timed)", flush=True)
        del table
        for i in range(args.repeat):
            for method in runs:
                if i and method in args.once:
                    continue
                r = measure(method, work, src, i, args.timeout)
                if r is None:
                    print(f"  run {i + 1} {method:12s} killed after {args.timeout:.0f} s", flush=True)
                    continue
                runs[method].append(r)
                found = f"leaked groups {r['leaked_groups']}" if method in SPLIT_METHODS else f"clusters {r['clusters']}"
                print(f"  run {i + 1} {method:12s} {r['seconds']:7.2f} s  cpu {r['cpu_s']:6.1f} s  peak {r['peak_mib']:6.0f} MiB  {found}  (others' cpu {r['others_cpu_s']:.1f} s)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    results = {m: summarize(m, rs) for m, rs in runs.items() if rs}
    ratios = report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"benchmark": "split_dialogue", "rows": args.rows, "groups": groups, "turns": args.turns,
                                         "words": args.words, "machine": info, "results": results, "ratios": ratios}, indent=2) + "\n")


if __name__ == "__main__":
    main()
