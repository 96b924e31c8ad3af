"""Push N tasks to Label Studio and pull N annotations back: the hub against the plain SDK.

    .venv/bin/python bench/annotate_roundtrip.py --tasks 20000 --json bench/results/annotate_roundtrip_20k.json
    .venv/bin/python bench/annotate_roundtrip.py --data digits     # the 1,438 train images of demo/digits

Starts its own Label Studio (scripts/labelstudio) in a temporary data folder unless --url and
--token name a running one. See bench/README.md for what each side does.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

LABELS = [f"intent-{i:02d}" for i in range(20)]
TOKEN = "hub0bench0token0aaaabbbbccccddddeeeeffff0"


def make_dataset(root: Path, n: int) -> str:
    """N dialogue records (one split: train) as a Parquet source; publish 1.0.0."""
    import hub

    rng = random.Random(1)
    words = "the a pump valve motor kettle order price open close when why how can you me".split()
    rows = {"id": [], "dialogue_id": [], "language": [], "intent": [], "turns": []}
    for i in range(n):
        rows["id"].append(f"d{i:07d}")
        rows["dialogue_id"].append(f"dlg{i:07d}")
        rows["language"].append("en")
        rows["intent"].append(LABELS[i % len(LABELS)])
        rows["turns"].append([{"speaker": s, "text": " ".join(rng.choices(words, k=rng.randint(5, 15))), "intent": None} for s in ("user", "bot")])
    folder = root / "registry" / "bench" / "dialogue"
    (folder / "raw").mkdir(parents=True)
    pq.write_table(pa.table(rows), folder / "raw" / "records.parquet")
    doc = {"title": "Bench dialogues", "description": "Synthetic dialogues for the annotate benchmark.", "modality": "dialogue",
           "license": "CC0-1.0", "source": {"format": "parquet", "files": [{"path": "raw/records.parquet"}]}, "labels": LABELS,
           "split": {"group_key": "dialogue_id", "ratios": {"train": 1.0}, "seed": 1, "duplicates": {"near": False}}}
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    hub.publish("bench/dialogue", root=root)
    return "bench/dialogue"


def digits_dataset(root: Path) -> str:
    """demo/digits published (its train split: 1,438 8x8 PNG images, written to disk by the push)."""
    import hub
    from conftest import copy_demo

    copy_demo(root, "demo/digits")
    hub.publish("demo/digits", root=root)
    return "demo/digits"


def start_server(workdir: Path) -> tuple[subprocess.Popen, str]:
    from labelstudio_fixtures import free_port

    port = free_port()
    env = {**os.environ, "LABEL_STUDIO_USERNAME": "bench@localhost", "LABEL_STUDIO_PASSWORD": "bench-password", "LABEL_STUDIO_USER_TOKEN": TOKEN,
           "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(workdir)}
    log = open(workdir / "label-studio.log", "wb")
    proc = subprocess.Popen([str(REPO / "scripts" / "labelstudio"), "start", str(workdir / "ls-data"), str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(1)
    raise SystemExit(f"Label Studio did not start; see {workdir / 'label-studio.log'}")


def predictions_to_annotations(url: str, token: str, project: int) -> None:
    """Untimed set-up: every task's prediction becomes an annotation (a Label Studio action)."""
    r = httpx.post(f"{url}/api/dm/actions", params={"id": "predictions_to_annotations", "project": project},
                   json={"selectedItems": {"all": True, "excluded": []}}, headers={"Authorization": f"Token {token}"}, timeout=3600)
    r.raise_for_status()


def _hwm_mb() -> float | None:
    """This process's peak RSS (VmHWM) in MB since the last reset."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def timed(func, *args, **kwargs):
    """The call's result, wall and CPU seconds, and the process's peak RSS during it (MB: the
    peak is reset first through /proc/self/clear_refs, so each side has its own)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    cpu0, t0 = time.process_time(), time.perf_counter()
    result = func(*args, **kwargs)
    return result, round(time.perf_counter() - t0, 3), round(time.process_time() - cpu0, 3), _hwm_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20000, help="tasks pushed and annotations pulled (default 20000)")
    parser.add_argument("--url", help="a running Label Studio (default: start one)")
    parser.add_argument("--token", help="its API token (with --url)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--workdir", type=Path, help="where the temporary hub and server data go")
    parser.add_argument("--order", choices=["baseline-first", "hub-first"], default="baseline-first", help="which side runs first in each phase")
    parser.add_argument("--data", choices=["dialogue", "digits"], default="dialogue",
                        help="synthetic dialogues (--tasks of them) or the train images of demo/digits (--tasks ignored)")
    args = parser.parse_args()

    os.environ["HUB_NO_PROGRESS"] = "1"
    workdir = Path(tempfile.mkdtemp(prefix="hub-annotate-bench-", dir=args.workdir))
    proc = None
    try:
        import hub
        from label_studio_sdk import LabelStudio

        from hub.labelstudio.config import label_config, task_spec

        if args.url:
            url, token = args.url.rstrip("/"), args.token
        else:
            proc, url = start_server(workdir)
            token = TOKEN
        os.environ.update(HUB_LABEL_STUDIO_URL=url, HUB_LABEL_STUDIO_TOKEN=token, HUB_LABEL_STUDIO_DOCUMENT_ROOT=str(workdir))
        root = hub.init(workdir / "hub")
        from hub.labelstudio.tasks import build_tasks, media_columns, read_records

        sdk = LabelStudio(base_url=url, api_key=token, timeout=600)
        if args.data == "digits":
            dataset, record, task, labels = digits_dataset(root), "image", "classification", [str(d) for d in range(10)]
        else:
            dataset, record, task, labels = make_dataset(root, args.tasks), "dialogue", "intent", LABELS
        spec = task_spec(record, task)
        table = read_records(root / "registry" / dataset / "versions" / "1.0.0", "train", [*media_columns(spec), spec.field])
        ids = table.column("id").to_pylist()
        n = len(ids)
        # every record gets a model prediction that differs from its label: the annotations pulled change every label
        index = [labels.index(v) if isinstance(v, str) else v for v in table.column(spec.field).to_pylist()]
        predicted = {rid: labels[(i + 1) % len(labels)] for rid, i in zip(ids, index)}

        # -- baseline: the plain SDK creates a project, imports the same tasks (built here, untimed) and exports them --
        tasks, _ = build_tasks(spec, table, labels, media_dir=workdir / "baseline-media", document_root=workdir, predictions=predicted,
                               model_version="bench")
        plain = None

        def sdk_create_and_import():
            nonlocal plain
            plain = sdk.projects.create(title="baseline import/export", label_config=label_config(spec, labels))
            for start in range(0, len(tasks), 5000):
                sdk.projects.import_tasks(id=plain.id, request=tasks[start: start + 5000])

        def sdk_export_json():
            """Label Studio's JSON export of every task, in one request."""
            return json.loads(b"".join(sdk.projects.exports.download_sync(plain.id, export_type="JSON", download_all_tasks=True)))

        # the two sides alternate within each phase (push, push; annotate both; pull, pull), in --order
        order = ["hub", "baseline"] if args.order == "hub-first" else ["baseline", "hub"]
        pushes = {"baseline": lambda: timed(sdk_create_and_import),
                  "hub": lambda: timed(hub.annotate_push, f"{dataset}@1.0.0", task=task, predictions=predicted, model_version="bench", root=root)}
        figures = {}
        for side in order:
            figures[side, "push"] = pushes[side]()
            print(f"{side} push {figures[side, 'push'][1]:.1f} s", file=sys.stderr, flush=True)
        pushed = figures["hub", "push"][0]
        assert pushed["imported"] == n
        predictions_to_annotations(url, token, plain.id)
        predictions_to_annotations(url, token, pushed["project"]["id"])
        pulls = {"baseline": lambda: timed(sdk_export_json), "hub": lambda: timed(hub.annotate_pull, pushed["project"]["id"], root=root)}
        for side in order:
            figures[side, "pull"] = pulls[side]()
            print(f"{side} pull {figures[side, 'pull'][1]:.1f} s", file=sys.stderr, flush=True)
        exported, pulled = figures["baseline", "pull"][0], figures["hub", "pull"][0]
        assert sum(len(t["annotations"]) for t in exported) == n
        assert pulled["records_changed"] == n and pulled["version"] == "1.1.0", pulled["message"]
        (_, base_push, base_push_cpu, base_push_mb), (_, base_pull, base_pull_cpu, base_pull_mb) = figures["baseline", "push"], figures["baseline", "pull"]
        (_, hub_push, hub_push_cpu, hub_push_mb), (_, hub_pull, hub_pull_cpu, hub_pull_mb) = figures["hub", "push"], figures["hub", "pull"]
        hub_export = pulled["timings"]["export_s"]

        result = {
            "tasks": n, "data": args.data, "label_studio": "1.23.2 (sqlite, runserver)", "order": order,
            "baseline": {"push_s": base_push, "push_cpu_s": base_push_cpu, "push_peak_rss_mb": base_push_mb, "pull_s": base_pull,
                         "pull_cpu_s": base_pull_cpu, "pull_peak_rss_mb": base_pull_mb, "total_s": round(base_push + base_pull, 3)},
            "hub": {"push_s": hub_push, "push_cpu_s": hub_push_cpu, "push_peak_rss_mb": hub_push_mb, "pull_s": hub_pull, "pull_cpu_s": hub_pull_cpu,
                    "pull_peak_rss_mb": hub_pull_mb,
                    "total_s": round(hub_push + hub_pull, 3), "published": pulled["version"], "pull_steps": pulled.get("timings")},
        }
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # this process, both sides
        result["ratio"] = {"push": round(hub_push / base_push, 3), "export": round(hub_export / base_pull, 3), "pull": round(hub_pull / base_pull, 3),
                           "total": round((hub_push + hub_pull) / (base_push + base_pull), 3)}
        print(json.dumps(result, indent=2))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
