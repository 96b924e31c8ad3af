"""Push N tasks to Label Studio and pull N annotations back: the hub against the plain SDK.

    .venv/bin/python bench/annotate_roundtrip.py --tasks 20000 --json bench/results/annotate_roundtrip_20k.json
    .venv/bin/python bench/annotate_roundtrip.py --data digits     # the 1,437 train images of demo/digits
    .venv/bin/python bench/annotate_roundtrip.py --data digits --repeat 5 --order hub-first

Three sides (`SIDES`): the bare SDK's create + import and export (`baseline`), the SDK doing what
the hub's push does to get the same project (`sdk_media`: settings, media files, storage;
push only), and the hub. Each of --repeat round trips runs in its own hub with new projects;
the figures are medians.

Starts its own Label Studio (scripts/labelstudio) in a temporary data folder unless --url and
--token name a running one. See bench/README.md for what each side does.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

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
    peak is reset first through /proc/self/clear_refs, so each side has its own). Untimed
    first: a full garbage collection and a sync, so that neither what earlier calls left in this
    process (tables, tasks, exports) nor the disk writes of the last publish land on this
    call's clock."""
    gc.collect()
    os.sync()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    cpu0, t0 = time.process_time(), time.perf_counter()
    result = func(*args, **kwargs)
    return result, round(time.perf_counter() - t0, 3), round(time.process_time() - cpu0, 3), _hwm_mb()


SIDES = {
    "baseline": "the bare SDK: projects.create (title, label config) and projects.import_tasks of the task dicts (built untimed, "
                "their media written untimed); its pull: one JSON export request (exports.download_sync)",
    "sdk_media": "the bare SDK doing what the hub's push does to get the same project (push only): projects.create with the hub's "
                 "queue settings, writing each image file (Path.write_bytes), connecting a local-files storage, projects.import_tasks",
    "hub": "hub.annotate_push (read the split, find the project by title, create it, connect storage, write media, import) and "
           "hub.annotate_pull (paged JSON export, conversion, agreement, resolution, overlay, publish)",
}


def median(values: list[float | None]) -> float | None:
    values = sorted(v for v in values if v is not None)
    return round(statistics.median(values), 3) if values else None


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
    parser.add_argument("--repeat", type=int, default=3, help="round trips (each in a fresh hub, new projects); figures are medians (default 3)")
    args = parser.parse_args()

    os.environ["HUB_NO_PROGRESS"] = "1"
    workdir = Path(tempfile.mkdtemp(prefix="hub-annotate-bench-", dir=args.workdir))
    proc = None
    try:
        import hub
        from label_studio_sdk import LabelStudio

        from hub import records
        from hub.entry import load_entry
        from hub.labelstudio.bridge import DEFAULT_OVERLAP, _queue_settings
        from hub.labelstudio.config import label_config, task_spec

        if args.url:
            url, token = args.url.rstrip("/"), args.token
        else:
            proc, url = start_server(workdir)
            token = TOKEN
        os.environ.update(HUB_LABEL_STUDIO_URL=url, HUB_LABEL_STUDIO_TOKEN=token, HUB_LABEL_STUDIO_DOCUMENT_ROOT=str(workdir))
        from hub.labelstudio.tasks import build_tasks, media_columns, read_records

        sdk = LabelStudio(base_url=url, api_key=token, timeout=600)
        record, task, labels = ("image", "classification", [str(d) for d in range(10)]) if args.data == "digits" else ("dialogue", "intent", LABELS)
        spec = task_spec(record, task)

        def publish(root: Path) -> str:
            return digits_dataset(root) if args.data == "digits" else make_dataset(root, args.tasks)

        roots = [hub.init(workdir / f"hub-{r}") for r in range(args.repeat)]
        dataset = [publish(root) for root in roots][0]  # all before any timing
        table = read_records(roots[0] / "registry" / dataset / "versions" / "1.0.0", "train", [*media_columns(spec), spec.field])
        ids = table.column("id").to_pylist()
        n = len(ids)
        # every record gets a model prediction that differs from its label: the annotations pulled change every label
        index = [labels.index(v) if isinstance(v, str) else v for v in table.column(spec.field).to_pylist()]
        predicted = {rid: labels[(i + 1) % len(labels)] for rid, i in zip(ids, index)}
        xml = label_config(spec, labels)
        # the baseline's tasks, built here (untimed), their media written (untimed); sdk_media's tasks name files it writes itself (timed)
        tasks, _ = build_tasks(spec, table, labels, media_dir=workdir / "baseline-media", document_root=workdir, predictions=predicted,
                               model_version="bench")
        own_media = workdir / "sdk-media"
        media_tasks, _ = build_tasks(spec, table, labels, media_dir=own_media, document_root=workdir, predictions=predicted, model_version="bench",
                                     write=False)
        media_field = records.get(spec.record).task_media(spec)
        if media_field:
            media_bytes = dict(zip(ids, (v["bytes"] for v in table.column(media_field).to_pylist())))
            blobs = [(own_media / unquote(t["data"][spec.object].rsplit("/", 1)[1]), media_bytes[t["data"]["record_id"]]) for t in media_tasks]
        else:
            blobs = []
        overlap = load_entry(roots[0], dataset).overlap or DEFAULT_OVERLAP  # the hub's annotations per task
        hub_media = workdir / dataset.split("/")[0]  # the hub's media folder (its document root is workdir)
        ref = f"{dataset}@1.0.0"

        def sdk_create_and_import():
            project = sdk.projects.create(title="baseline import/export", label_config=xml)
            for start in range(0, len(tasks), 5000):
                sdk.projects.import_tasks(id=project.id, request=tasks[start: start + 5000])
            return project

        def sdk_same_project():
            """What a user of the bare SDK does to get the project the hub makes: the same settings, the media files, the storage."""
            project = sdk.projects.create(title="baseline same project", label_config=xml, **_queue_settings(overlap))
            if blobs:
                own_media.mkdir(parents=True, exist_ok=True)
                for path, blob in blobs:
                    path.write_bytes(blob)
                sdk.import_storage.local.create(project=project.id, path=str(own_media), title="media", use_blob_urls=False, recursive_scan=True)
            for start in range(0, len(media_tasks), 5000):
                sdk.projects.import_tasks(id=project.id, request=media_tasks[start: start + 5000])
            return project

        def sdk_export_json(project):
            """Label Studio's JSON export of every task, in one request."""
            return json.loads(b"".join(sdk.projects.exports.download_sync(project.id, export_type="JSON", download_all_tasks=True)))

        # warm-up (untimed): the server's first create, import and export, and the hub's first push, cost more than later ones
        warm = sdk.projects.create(title="warm-up", label_config=xml)
        sdk.projects.import_tasks(id=warm.id, request=tasks[:10])
        sdk_export_json(warm)
        sdk.projects.delete(id=warm.id)
        warmed = hub.annotate_push(ref, task=task, limit=10, root=roots[0])
        sdk.projects.delete(id=warmed["project"]["id"])

        def fresh(folder: Path, r: int) -> None:
            """Each run writes its media into a new folder: the last one's is moved aside (deleting thousands of files just
            before a push would slow its file writes)."""
            if folder.exists():
                folder.rename(workdir / f"old-{folder.name}-{r}")

        # the sides alternate within each phase of each round trip (pushes; annotate both; pulls), in --order
        order = ["hub", "baseline", "sdk_media"] if args.order == "hub-first" else ["baseline", "sdk_media", "hub"]
        runs = []
        for r, root in enumerate(roots):
            fresh(hub_media, r)
            fresh(own_media, r)
            pushes = {"baseline": lambda: timed(sdk_create_and_import), "sdk_media": lambda: timed(sdk_same_project),
                      "hub": lambda: timed(hub.annotate_push, ref, task=task, predictions=predicted, model_version="bench", root=root)}
            fig = {}
            for side in order:
                fig[side, "push"] = pushes[side]()
                print(f"run {r + 1}: {side} push {fig[side, 'push'][1]:.2f} s", file=sys.stderr, flush=True)
            pushed, plain = fig["hub", "push"][0], fig["baseline", "push"][0]
            assert pushed["imported"] == n
            sdk.projects.delete(id=fig["sdk_media", "push"][0].id)  # push only
            predictions_to_annotations(url, token, plain.id)
            predictions_to_annotations(url, token, pushed["project"]["id"])
            pulls = {"baseline": lambda: timed(sdk_export_json, plain), "hub": lambda: timed(hub.annotate_pull, pushed["project"]["id"], root=root)}
            for side in [s for s in order if s in pulls]:
                fig[side, "pull"] = pulls[side]()
                print(f"run {r + 1}: {side} pull {fig[side, 'pull'][1]:.2f} s", file=sys.stderr, flush=True)
            exported, pulled = fig["baseline", "pull"][0], fig["hub", "pull"][0]
            assert sum(len(t["annotations"]) for t in exported) == n
            assert pulled["records_changed"] == n and pulled["version"] == "1.1.0", pulled["message"]
            run = {side: {f"{phase}_{what}": fig[side, phase][k] for phase in ("push", "pull") if (side, phase) in fig
                          for k, what in ((1, "s"), (2, "cpu_s"), (3, "peak_rss_mb"))} for side in ("baseline", "sdk_media", "hub")}
            run["hub"]["pull_steps"] = pulled.get("timings")
            runs.append(run)

        def med(side: str, key: str) -> float | None:
            return median([run[side][key] for run in runs])

        result = {"tasks": n, "data": args.data, "label_studio": "1.23.2 (sqlite, runserver)", "order": order, "repeat": args.repeat,
                  "sides": SIDES, "figures": "medians over the runs; peak RSS: the largest of the runs (this process's VmHWM, reset before each call)"}
        for side in ("baseline", "sdk_media", "hub"):
            keys = [k for k in runs[0][side] if k != "pull_steps"]
            result[side] = {k: (max(run[side][k] for run in runs) if k.endswith("_mb") else med(side, k)) for k in keys}
        result["hub"]["pull_steps"] = {k: median([run["hub"]["pull_steps"][k] for run in runs]) for k in runs[0]["hub"]["pull_steps"]}
        for side in ("baseline", "hub"):
            result[side]["total_s"] = median([run[side]["push_s"] + run[side]["pull_s"] for run in runs])
        result["hub"]["published"] = "1.1.0"
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # this process, all sides
        base, same, mine = result["baseline"], result["sdk_media"], result["hub"]
        result["ratio"] = {"push": round(mine["push_s"] / base["push_s"], 3), "push_vs_sdk_media": round(mine["push_s"] / same["push_s"], 3),
                           "export": round(mine["pull_steps"]["export_s"] / base["pull_s"], 3), "pull": round(mine["pull_s"] / base["pull_s"], 3),
                           "total": round(mine["total_s"] / base["total_s"], 3)}
        result["runs"] = runs
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
