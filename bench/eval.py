"""Benchmark: `hub.evaluate` against calling scikit-learn and jiwer directly on the same data.

Two cases, each a published version's test split and a predictions file on disk:

* classification: `--rows` records (default 1,000,000) of 10 classes, a prediction for each
  (85% right), as Parquet;
* transcription: `--transcripts` records (default 100,000) of 4-12 random words, a prediction
  for each with ~10% of the words substituted, deleted or inserted, as Parquet.

The version folders are written directly in the layout `hub publish` gives them (dataset.yaml,
versions/1.0.0/manifest.json with each shard's sha256, data/test-00000-of-00001.parquet): the
bench measures scoring, not publishing (`publish_dialogue.py` does that).

Sides, alternating, `--repeat` times each, in this process (imports done before the clock):

* baseline: read both Parquet files with pyarrow, line the predictions up with the records by
  id (a pandas join), then scikit-learn's accuracy_score + precision_recall_fscore_support
  (per class and macro) + confusion_matrix on the string labels; or jiwer.wer + jiwer.cer on
  the transcripts (jiwer's own transforms: lower-case, remove punctuation, collapse spaces);
After one untimed warm-up run of each side (imports, the page cache):

* hub: `hub.evaluate(...)` (the split's shards checked against the manifest's sha256, the
  file's sha256, coverage, the figures), with `--resamples` bootstrap resamples (default 1000),
  and with `resamples=0` (no intervals) as a third row.

    .venv/bin/python bench/eval.py [--rows 1000000] [--transcripts 100000] [--repeat 3] [--json bench/results/eval.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

LABELS = [f"class-{i}" for i in range(10)]
WORDS = "the a kettle is boiling in kitchen we go to market today rain sun cold warm bread milk tea coffee water".split()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_version(root: Path, dataset: str, record: str, table: pa.Table, features: dict, labels: list[str], group_key: str) -> None:
    """A published version's folder as `hub publish` lays it out (no DVC: the shard is in place)."""
    folder = root / "registry" / dataset
    data = folder / "versions/1.0.0/data"
    data.mkdir(parents=True)
    (folder / "dataset.yaml").write_text(yaml.safe_dump({"title": dataset, "record": record, "labels": labels}))
    shard = data / "test-00000-of-00001.parquet"
    pq.write_table(table, shard)
    manifest = {"format": "hub-manifest/1", "dataset": dataset, "version": "1.0.0", "record": record, "labels": labels, "features": features,
                "splits": {"test": {"rows": table.num_rows, "files": 1}}, "rows": table.num_rows,
                "files": [{"path": "data/test-00000-of-00001.parquet", "split": "test", "rows": table.num_rows, "size": shard.stat().st_size, "sha256": sha256(shard)}],
                "certificate": {"holds": True, "group_key": group_key}}
    (folder / "versions/1.0.0/manifest.json").write_text(json.dumps(manifest))


def classification_case(root: Path, rows: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 10, rows)
    pred = np.where(rng.random(rows) < 0.85, truth, rng.integers(0, 10, rows))
    ids = pa.array([f"r{i:07d}" for i in range(rows)])
    write_version(root, "bench/classes", "image", pa.table({"id": ids, "label": pa.array(truth), "group": pa.array([f"g{i // 4}" for i in range(rows)])}),
                  {"id": {"dtype": "string", "_type": "Value"}, "label": {"names": LABELS, "_type": "ClassLabel"}, "group": {"dtype": "string", "_type": "Value"}},
                  LABELS, "group")
    predictions = root / "classes.parquet"
    pq.write_table(pa.table({"id": ids, "prediction": pa.array(np.array(LABELS)[pred])}), predictions)
    return root / "registry/bench/classes/versions/1.0.0/data/test-00000-of-00001.parquet", predictions


def transcription_case(root: Path, rows: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(2)
    refs, hyps = [], []
    for _ in range(rows):
        words = list(rng.choice(WORDS, rng.integers(4, 13)))
        refs.append(" ".join(words).capitalize() + ".")
        out = []
        for w in words:
            r = rng.random()
            if r < 0.04:
                continue  # deletion
            out.append(str(rng.choice(WORDS)) if r < 0.08 else w)
            if r > 0.98:
                out.append("um")  # insertion
        hyps.append(" ".join(out))
    ids = pa.array([f"u{i:06d}" for i in range(rows)])
    write_version(root, "bench/speech", "speech", pa.table({"id": ids, "transcript": refs, "language": ["en"] * rows, "speaker": [f"s{i % 500}" for i in range(rows)]}),
                  {"id": {"dtype": "string", "_type": "Value"}, "transcript": {"dtype": "string", "_type": "Value"},
                   "language": {"dtype": "string", "_type": "Value"}, "speaker": {"dtype": "string", "_type": "Value"}}, [], "speaker")
    predictions = root / "speech.parquet"
    pq.write_table(pa.table({"id": ids, "prediction": hyps}), predictions)
    return root / "registry/bench/speech/versions/1.0.0/data/test-00000-of-00001.parquet", predictions


def baseline_classification(shard: Path, predictions: Path) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    truth = pq.read_table(shard, columns=["id", "label"]).to_pandas()
    pred = pq.read_table(predictions).to_pandas()
    joined = truth.merge(pred, on="id", how="left")
    y_true = np.array(LABELS)[joined["label"].to_numpy()]
    y_pred = joined["prediction"].fillna("(none)").to_numpy(dtype=str)
    per_class = precision_recall_fscore_support(y_true, y_pred, labels=LABELS, zero_division=0)
    macro = precision_recall_fscore_support(y_true, y_pred, labels=LABELS, average="macro", zero_division=0)
    return {"accuracy": accuracy_score(y_true, y_pred), "macro_f1": macro[2], "f1": per_class[2].tolist(),
            "confusion": confusion_matrix(y_true, y_pred, labels=LABELS).sum()}


def baseline_transcription(shard: Path, predictions: Path) -> dict:
    import jiwer

    truth = pq.read_table(shard, columns=["id", "transcript"]).to_pandas()
    pred = pq.read_table(predictions).to_pandas()
    joined = truth.merge(pred, on="id", how="left")
    refs, hyps = joined["transcript"].tolist(), joined["prediction"].fillna("").tolist()
    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip()])
    words = jiwer.Compose([norm, jiwer.ReduceToListOfListOfWords()])
    chars = jiwer.Compose([norm, jiwer.ReduceToListOfListOfChars()])
    return {"wer": jiwer.wer(refs, hyps, reference_transform=words, hypothesis_transform=words),
            "cer": jiwer.cer(refs, hyps, reference_transform=chars, hypothesis_transform=chars)}


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--transcripts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import hub

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "hub"
        cases = {
            "classification": (classification_case(root, args.rows), baseline_classification, "bench/classes@1.0.0", ("accuracy", "macro_f1")),
            "transcription": (transcription_case(root, args.transcripts), baseline_transcription, "bench/speech@1.0.0", ("wer", "cer")),
        }
        for name, ((shard, predictions), baseline, ref, keys) in cases.items():
            times: dict[str, list[float]] = {"baseline": [], "hub": [], "hub, no intervals": []}
            baseline(shard, predictions)  # warm-up: imports and the file cache, on both sides
            hub.evaluate(ref, predictions, root=root, resamples=10)
            for _ in range(args.repeat):
                t, base = timed(baseline, shard, predictions)
                times["baseline"].append(t)
                t, report = timed(hub.evaluate, ref, predictions, root=root, resamples=args.resamples)
                times["hub"].append(t)
                t, _ = timed(hub.evaluate, ref, predictions, root=root, resamples=0)
                times["hub, no intervals"].append(t)
            for key in keys:  # the same figures on both sides
                assert abs(report.metrics[key]["value"] - base[key]) < 1e-6, (name, key, report.metrics[key], base[key])
            medians = {side: statistics.median(v) for side, v in times.items()}
            results[name] = {"records": report.records, "bootstrap": report.bootstrap, "median_s": medians, "runs_s": times,
                             "ratio": medians["hub"] / medians["baseline"], "ratio_no_intervals": medians["hub, no intervals"] / medians["baseline"],
                             "figures": {k: report.metrics[k] for k in keys}}
            print(f"{name}: {report.records} records; baseline {medians['baseline']:.2f} s, hub {medians['hub']:.2f} s "
                  f"({results[name]['ratio']:.2f}x), hub without intervals {medians['hub, no intervals']:.2f} s ({results[name]['ratio_no_intervals']:.2f}x)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
