"""Benchmark: `hub import` + validation of an imagefolder and an audiofolder, beside
`datasets.load_dataset("imagefolder"/"audiofolder")` + `save_to_disk`.

Synthetic media, for scale: `--images` PNGs of 32x32 pixels (random noise, 10 label folders,
`metadata.csv` with a `group` column) and `--clips` WAVs of 0.25 s at 16 kHz (noise, 16-bit PCM,
`metadata.csv` with `transcription` and `speaker_id`). Each method runs in its own
subprocess, alternating, `--repeat` times, into a fresh output folder each time:

- `hub`: `hub.import_corpus(FORMAT, folder, ns/name)` into a fresh hub: the registry entry
  with the mapping, every file copied under `raw/`, then every record validated (each image
  or clip decoded, checked against its fields; durations and sample rates derived);
- `datasets`: `datasets.load_dataset(FORMAT, data_dir=folder)` then `save_to_disk` (the
  Arrow files a user would keep; the media embedded as bytes, not decoded). datasets 5.x
  builds an audiofolder only with torch and torchcodec, which the hub does not need: give
  `--baseline-python` an interpreter that has them (a bench-only venv, never the project's);
  without it the audio baseline is `pyarrow`: `soundfile.info` and the bytes of every clip
  into one Parquet file.

Wall time of the child's call (imports done before), peak memory its VmHWM.

    .venv/bin/python bench/import_folders.py [--images 100000] [--clips 100000] [--repeat 1] [--json out.json]
        [--baseline-python /tmp/benchvenv/bin/python]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
from children import peak_mib, run_child


def build_images(folder: Path, n: int, seed: int = 0) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = f"class{i % 10}"
        (folder / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(folder / label / f"img{i:06d}.png")
        rows.append({"file_name": f"{label}/img{i:06d}.png", "group": f"g{i % 1000}"})
    _metadata(folder, rows)


def build_clips(folder: Path, n: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        samples = (rng.standard_normal(4000) * 3000).astype("<i2")
        with wave.open(str(folder / f"clip{i:06d}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(samples.tobytes())
        rows.append({"file_name": f"clip{i:06d}.wav", "transcription": f"utterance number {i}", "speaker_id": f"spk{i % 500}"})
    _metadata(folder, rows)


def _metadata(folder: Path, rows: list[dict[str, Any]]) -> None:
    with open(folder / "metadata.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def child(method: str, fmt: str, folder: str, out: str) -> None:
    if method == "hub":
        import hub

        root = hub.init(Path(out) / "hub")
        start = time.perf_counter()
        result = hub.import_corpus(fmt, folder, f"bench/{fmt}", license="CC0-1.0", language="en" if fmt == "audiofolder" else None, root=root)
        report = result.report
        found = {"rows": report.rows_valid, "valid": report.valid}
    elif method == "datasets":
        import datasets

        datasets.disable_progress_bars()
        if fmt == "audiofolder":
            import torchcodec  # noqa: F401 (imported before the clock, as the others' imports are)
        start = time.perf_counter()
        ds = datasets.load_dataset(fmt, data_dir=folder, cache_dir=str(Path(out) / "cache"))
        ds.save_to_disk(str(Path(out) / "saved"))
        found = {"rows": sum(len(split) for split in ds.values()), "valid": True}
    else:  # audiofolder without datasets (it needs torch and torchcodec to encode audio): soundfile + pyarrow
        import pyarrow as pa
        import pyarrow.parquet as pq
        import soundfile

        start = time.perf_counter()
        with open(Path(folder) / "metadata.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        audio, durations, rates = [], [], []
        for row in rows:
            path = Path(folder) / row["file_name"]
            info = soundfile.info(str(path))
            audio.append({"bytes": path.read_bytes(), "path": row["file_name"]})
            durations.append(info.duration)
            rates.append(info.samplerate)
        table = pa.table({"audio": audio, "transcription": [r["transcription"] for r in rows], "speaker_id": [r["speaker_id"] for r in rows],
                          "duration": durations, "sample_rate": rates})
        pq.write_table(table, Path(out) / "train.parquet")
        found = {"rows": table.num_rows, "valid": True}
    print(json.dumps({"method": method, "format": fmt, "seconds": time.perf_counter() - start, "peak_mib": peak_mib(), **found}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--baseline-python", help="the interpreter of the datasets side (with torch and torchcodec for audiofolder)")
    parser.add_argument("--work", help="the folder for the corpora and outputs (default: the system's temporary folder)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    results: list[dict[str, Any]] = []

    def baseline(fmt: str) -> str:
        return "datasets" if fmt == "imagefolder" or args.baseline_python else "pyarrow"

    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = Path(tmp)
        corpora = []
        if args.images:
            build_images(work / "images", args.images)
            corpora.append(("imagefolder", work / "images", args.images))
        if args.clips:
            build_clips(work / "clips", args.clips)
            corpora.append(("audiofolder", work / "clips", args.clips))
        for fmt, folder, n in corpora:
            for _ in range(args.repeat):
                for method in ("hub", baseline(fmt)):
                    out = work / f"out-{method}"
                    shutil.rmtree(out, ignore_errors=True)
                    out.mkdir()
                    python = args.baseline_python if method == "datasets" else None
                    results.append({**run_child(__file__, method, fmt, str(folder), str(out), path=f"{Path(python or sys.executable).parent}:/usr/bin:/bin",
                                                python=python), "files": n})
                    shutil.rmtree(out, ignore_errors=True)
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average {' '.join(load)}")
    print("| format | method | files | median s | runs s | peak MiB | rows |")
    print("|---|---|---:|---:|---|---:|---:|")
    for fmt in dict.fromkeys(r["format"] for r in results):
        other = baseline(fmt)
        for method in ("hub", other):
            rs = [r for r in results if r["format"] == fmt and r["method"] == method]
            secs = [r["seconds"] for r in rs]
            print(f"| {fmt} | {method} | {rs[0]['files']:,} | {statistics.median(secs):.1f} | {', '.join(f'{s:.1f}' for s in secs)} | "
                  f"{max(r['peak_mib'] for r in rs):.0f} | {rs[0]['rows']:,} |")
        hub_s = statistics.median(r["seconds"] for r in results if r["format"] == fmt and r["method"] == "hub")
        other_s = statistics.median(r["seconds"] for r in results if r["format"] == fmt and r["method"] == other)
        print(f"{fmt}: hub / {other} = {hub_s / other_s:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"load": load, "runs": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
