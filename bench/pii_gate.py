"""Benchmark: the PII gate (hub.pii) over 1M dialogue turns against its recognizers called
directly, and against one plain regex pass; and its share of a publish.

The turns are the chatterbot demo's 6,386 (real text), repeated in their dialogues until
`--turns` is reached; every `--every`-th turn gets one of four personal values appended (an
email, a phone number, a Chinese mobile number, a valid Chinese resident ID), so the
findings path runs too. Timed, alternating, `--repeat` times each, in this process:

* direct     `find_pii(text)` for every turn of a Python list of the texts, built beforehand,
             the findings collected in a list
* gate       `hub.pii.scan(table, [("turns", "text")])` over the Arrow table of dialogues: what
             validation's PII step does (the texts out of Arrow, the recognizers, each finding
             mapped to its row and turn)
* regex      one alternation of the same seven patterns, `finditer` over every text, no
             checksum and no overlap rule: the floor a recognizer pass cannot go under
* redact     `hub.pii.redact_table` over the table (`pii: redact` at publishing)

Then `--publish-turns` of the same turns are published in a fresh hub (`pii: report`), and the
gate's time over those turns (`scan`, as above) is set against the publish's.

    .venv/bin/python bench/pii_gate.py [--turns 1000000] [--repeat 3] [--publish-turns 200000]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub import pii  # noqa: E402
from hub.demo.chatterbot import load  # noqa: E402

VALUES = [" write to li.wei@163.com", " call +44 20 7946 0958", " 我的手机号是13812345678", " 身份证号 11010519491231002X"]


def dialogues(turns: int, every: int) -> pa.Table:
    """Chatterbot dialogues, repeated (ids made unique) until they hold `turns` turns."""
    base = list(load({}))
    records, n, copy = [], 0, 0
    while n < turns:
        for r in base:
            if n >= turns:
                break
            kept = r["turns"][: turns - n]
            out = []
            for t in kept:
                n += 1
                out.append({**t, "text": t["text"] + (VALUES[(n // every) % 4] if n % every == 0 else "")})
            records.append({**r, "id": f"{r['id']}-{copy}", "dialogue_id": f"{r['dialogue_id']}-{copy}", "turns": out})
        copy += 1
    return pa.Table.from_pylist(records)


def timed(fn, repeat: int) -> list[float]:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return runs


def plain_pass(texts: list[str]) -> int:
    combined = re.compile("|".join(f"(?:{pattern.pattern})" for _, pattern, _ in pii._RECOGNIZERS))
    return sum(1 for text in texts for _ in combined.finditer(text))


def publish_seconds(table: pa.Table, policy: str) -> float:
    import hub

    with tempfile.TemporaryDirectory() as tmp:
        root = hub.init(Path(tmp) / "hub")
        folder = root / "registry" / "bench" / "chat"
        (folder / "raw").mkdir(parents=True)
        pq.write_table(table, folder / "raw" / "records.parquet")
        labels = sorted(set(table.column("intent").to_pylist()))
        doc = {"title": "Chatterbot turns (benchmark)", "description": "The chatterbot demo's dialogues, repeated.", "modality": "dialogue",
               "record": "dialogue", "license": "BSD-3-Clause", "pii": policy, "labels": labels,
               "source": {"format": "parquet", "files": [{"path": "raw/records.parquet"}]},
               "split": {"group_key": "dialogue_id", "ratios": {"train": 0.8, "validation": 0.1, "test": 0.1}, "seed": 1}}
        (folder / "dataset.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
        started = time.perf_counter()
        hub.publish("bench/chat", allow_rejects=True, root=root)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=1000, help="one turn in this many gets a personal value")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--publish-turns", type=int, default=200_000, help="0: no publish")
    args = parser.parse_args()

    table = dialogues(args.turns, args.every)
    texts = [t["text"] for turns in table.column("turns").to_pylist() for t in turns]
    print(f"{len(texts):,} turns in {table.num_rows:,} dialogues, {sum(len(t) for t in texts) / 1e6:.1f} M characters")
    found = sum(len(pii.find_pii(t)) for t in texts)
    gate_found = len(pii.scan(table, [("turns", "text")]))
    print(f"findings: direct {found}, gate {gate_found}, plain regex matches {plain_pass(texts)}")
    runs: dict[str, list[float]] = {"direct": [], "gate": [], "regex": [], "redact": []}
    for _ in range(args.repeat):  # alternating, so load on the machine falls on all alike
        runs["direct"] += timed(lambda: [f for t in texts for f in pii.find_pii(t)], 1)
        runs["gate"] += timed(lambda: pii.scan(table, [("turns", "text")]), 1)
        runs["regex"] += timed(lambda: plain_pass(texts), 1)
        runs["redact"] += timed(lambda: pii.redact_table(table, _Entry()), 1)
    median = {k: statistics.median(v) for k, v in runs.items()}
    for name, value in median.items():
        print(f"{name:>7}: {value:6.2f} s median ({', '.join(f'{v:.2f}' for v in runs[name])}); {value / median['direct']:.2f}x direct")
    if args.publish_turns:
        small = dialogues(args.publish_turns, args.every)
        publish = publish_seconds(small, "report")
        gate = statistics.median(timed(lambda: pii.scan(small, [("turns", "text")]), args.repeat))
        print(f"publish of {args.publish_turns:,} turns (pii: report): {publish:.2f} s; the gate over them {gate:.2f} s ({gate / publish:.1%} of the publish)")


class _Entry:
    """What `redact_table` reads of an entry: a dialogue record type and no extras."""

    class schema:  # noqa: N801
        record = "dialogue"
        extras = ()

    split = None


if __name__ == "__main__":
    main()
