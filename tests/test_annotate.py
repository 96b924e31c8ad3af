"""Annotation round trips against a real Label Studio server, one per modality: push a
published version's split, annotate through the real API as several users (agreeing,
disagreeing, skipping, leaving empty, answering outside the config), pull, and check the
new version, its provenance and its card."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable
from xml.etree import ElementTree

import httpx
import pytest

import hub
from conftest import copy_demo, run_hub, set_source_options
from hub.labelstudio.config import TASKS, label_config, task_spec
from hub.labelstudio.tasks import decode_value, read_records

A1, A2, A3, REVIEWER = "ann1@localhost", "ann2@localhost", "ann3@localhost", "reviewer@localhost"


def _choice(control: str, target: str) -> Callable[[Any], list[dict]]:
    return lambda v: [{"from_name": control, "to_name": target, "type": "choices", "value": {"choices": [v]}}]


def _text(v: str) -> list[dict]:
    return [{"from_name": "transcript", "to_name": "audio", "type": "textarea", "value": {"text": [v]}}]


def _spans(v: list[tuple[float, float, str]]) -> list[dict]:
    return [{"from_name": "anomalies", "to_name": "series", "type": "timeserieslabels",
             "value": {"start": s, "end": e, "instant": False, "timeserieslabels": [label]}} for s, e, label in v]


def _segments(v: list[tuple[float, float, str]]) -> list[dict]:  # audio regions as Label Studio's editor saves them
    return [{"id": f"seg{i}", "from_name": "segments", "to_name": "audio", "type": "labels", "origin": "manual",
             "value": {"start": s, "end": e, "channel": 0, "labels": [speaker]}} for i, (s, e, speaker) in enumerate(v)]


def _boxes(v: list[tuple[float, float, float, float, str]]) -> list[dict]:  # pixels of an 8x8 digit
    return [{"from_name": "objects", "to_name": "image", "type": "rectanglelabels", "original_width": 8, "original_height": 8, "image_rotation": 0,
             "value": {"x": x * 12.5, "y": y * 12.5, "width": w * 12.5, "height": h * 12.5, "rotation": 0, "rectanglelabels": [cat]}}
            for x, y, w, h, cat in v]


@dataclass
class Case:
    dataset: str
    task: str
    limit: int  # records in the source
    result: Callable[[Any], list[dict]]  # an annotation's Label Studio result for a value
    values: Callable[[Any], tuple[Any, Any, Any]]  # (agreed, disagreeing a, disagreeing b) given the current value
    stored: Callable[[Any], Any] = lambda v: v  # the published value for an annotated one
    bad: list[dict] | None = None  # a result that does not fit the config
    prelabelled: int = 6  # tasks pushed with a pre-annotation (records without a label get none)


def _other(labels: list[str]) -> Callable[[Any], tuple[Any, Any, Any]]:
    def pick(current: Any) -> tuple[Any, Any, Any]:
        rest = [x for x in labels if x != current]
        return rest[0], rest[1], rest[2]
    return pick


DIGITS = [str(i) for i in range(10)]
SPEAKER = "en+f4"  # the speaker of the first train records by id (the demo's split is seeded): the project's one label
NEW_SPEAKER = "en+m1"  # the speaker of the next 12 train records by id
CASES = {
    "image": Case("demo/digits", "classification", 60, _choice("label", "image"), _other(DIGITS),
                  bad=[{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": ["eleven"]}}]),
    "image-boxes": Case("demo/digits", "boxes", 60, _boxes,
                        lambda current: ([(1, 1, 4, 4, "3")], [(0, 0, 2, 2, "1")], [(4, 4, 4, 4, "7")]),
                        stored=lambda v: {"bbox": [[x, y, w, h] for x, y, w, h, _ in v], "category": [c for *_, c in v]},
                        bad=[{"from_name": "objects", "to_name": "image", "type": "rectanglelabels", "original_width": 8, "original_height": 8,
                              "value": {"x": 0, "y": 0, "width": 50, "height": 50, "rectanglelabels": ["eleven"]}}],
                        prelabelled=0),
    "speech": Case("demo/espeak-speech", "transcription", 96, _text,
                   lambda current: ("the kettle is boiling", "one two three", "four five six"),
                   bad=[{"from_name": "speaker", "to_name": "audio", "type": "labels", "value": {"start": 0, "end": 1, "labels": ["x"]}}]),
    "speech-segments": Case("demo/espeak-speech", "speaker-segments", 96, _segments,
                            lambda current: ([(0.0, 0.5, SPEAKER), (0.625, 1.0, SPEAKER)], [(0.0, 0.25, SPEAKER)], [(0.5, 1.0, SPEAKER)]),
                            stored=lambda v: [{"start": s, "end": e, "label": speaker} for s, e, speaker in v],
                            bad=[{"from_name": "segments", "to_name": "audio", "type": "labels",
                                  "value": {"start": 0.0, "end": 0.5, "channel": 0, "labels": ["nobody"]}}],
                            prelabelled=0),
    "dialogue": Case("demo/chatterbot-dialogue", "intent", 60, _choice("intent", "dialogue"),
                     _other(["food", "greetings", "humor", "money"]),
                     bad=[{"from_name": "intent", "to_name": "dialogue", "type": "choices", "value": {"choices": ["food", "humor"]}}]),
    "industrial": Case("demo/basicmotions", "anomaly-spans", 40, _spans,
                       lambda current: ([(1.0, 2.5, "walking")], [(0.0, 1.0, "running")], [(5.0, 9.0, "standing")]),
                       stored=lambda v: [{"start": s, "end": e, "label": label} for s, e, label in v],
                       bad=[{"from_name": "anomalies", "to_name": "series", "type": "timeserieslabels",
                             "value": {"start": 3.0, "end": 1.0, "instant": False, "timeserieslabels": ["walking"]}}],
                       prelabelled=0),
}


def _values(root, dataset: str, version: str, task: str, split: str = "train") -> dict[str, Any]:
    path = root / "registry" / dataset / "versions" / version
    manifest = json.loads((path / "manifest.json").read_text())
    spec = task_spec(manifest["record"], task)
    table = read_records(path, split, [spec.field])
    return {r["id"]: decode_value(spec, r[spec.field], manifest["labels"]) for r in table.to_pylist()}


def _splits(root, dataset: str, version: str) -> dict[str, str]:
    import pyarrow.parquet as pq

    out = {}
    for f in (root / "registry" / dataset / "versions" / version / "data").glob("*.parquet"):
        out.update({rid: f.name.split("-")[0] for rid in pq.read_table(f, columns=["id"]).column("id").to_pylist()})
    return out


def _publish_demo(root, dataset: str, limit: int) -> None:
    copy_demo(root, dataset)
    set_source_options(root, dataset, limit=limit)
    hub.publish(dataset, root=root)


@pytest.mark.slow
@pytest.mark.parametrize("modality", sorted(CASES))
def test_round_trip(modality, hub_root, ls_env):
    case = CASES[modality]
    _publish_demo(hub_root, case.dataset, case.limit)
    before = _values(hub_root, case.dataset, "1.0.0", case.task)

    first = hub.annotate_push(f"{case.dataset}@1.0.0", task=case.task, limit=6, prelabel=True, root=hub_root)
    pid = first["project"]["id"]
    assert (first["imported"], first["already_there"], first["predictions"]) == (6, 0, case.prelabelled)
    again = hub.annotate_push(f"{case.dataset}@1.0.0", task=case.task, limit=8, root=hub_root)
    assert again["project"]["id"] == pid and (again["imported"], again["already_there"]) == (2, 6)  # never a duplicate task
    tasks = ls_env.tasks(pid)
    assert len(tasks) == 8 and len({t["data"]["record_id"] for t in tasks}) == 8
    ids = [t["data"]["record_id"] for t in tasks]
    assert set(ids) <= set(before)

    media = {"image": "image", "speech": "audio", "speech-segments": "audio"}.get(modality)
    if media:  # the media reach a logged-in browser through Label Studio's local-files serving
        url = tasks[0]["data"][media]
        assert url.startswith("/data/local-files/?d=")
        with ls_env.api() as api:
            served = api.get(url)
        assert served.status_code == 200 and len(served.content) > 40
        assert httpx.get(ls_env.url + url).status_code in (401, 403, 302)  # not to anyone else

    agreed, a, b = case.values(before[ids[0]])
    t = [task["id"] for task in tasks]
    ls_env.annotate(t[0], A1, case.result(agreed))  # two agree
    ls_env.annotate(t[0], A2, case.result(agreed))
    ls_env.annotate(t[1], A1, case.result(a))  # a conflict
    ls_env.annotate(t[1], A2, case.result(b))
    ls_env.annotate(t[2], A1, case.result(a))  # a majority of three
    ls_env.annotate(t[2], A2, case.result(b))
    ls_env.annotate(t[2], A3, case.result(b))
    ls_env.annotate(t[3], A1, [], was_cancelled=True)  # skipped
    ls_env.annotate(t[4], A2, [])  # empty
    ls_env.annotate(t[5], A3, case.bad)  # does not fit the config

    status = hub.annotate_status(pid, root=hub_root)
    assert (status["tasks"], status["done"], status["skipped"], status["empty"], status["rejected"]) == (8, 3, 1, 1, 1)
    assert status["annotations_per_task"] == {"0": 3, "1": 2, "2": 2, "3": 1}
    assert status["agreement"]["tasks_compared"] == 3
    assert json.loads(run_hub("annotate", "status", str(pid), "--json", root=hub_root).stdout) == status

    pulled = hub.annotate_pull(pid, root=hub_root)
    assert pulled["message"] == f"published {case.dataset}@1.1.0: 2 records relabelled from project {pid}"
    assert (pulled["version"], pulled["change"]) == ("1.1.0", "minor")
    assert [c["record_id"] for c in pulled["conflicts"]] == [ids[1]]
    assert [s["record_id"] for s in pulled["skipped_tasks"]] == [ids[3]]
    assert [e["record_id"] for e in pulled["empty_annotations"]] == [ids[4]]
    assert [r["record_id"] for r in pulled["rejected_annotations"]] == [ids[5]]
    after = _values(hub_root, case.dataset, "1.1.0", case.task)
    assert after[ids[0]] == case.stored(agreed) and after[ids[2]] == case.stored(b)
    assert {k: v for k, v in after.items() if k not in (ids[0], ids[2])} == {k: v for k, v in before.items() if k not in (ids[0], ids[2])}
    assert _splits(hub_root, case.dataset, "1.1.0") == _splits(hub_root, case.dataset, "1.0.0")  # records keep their split

    manifest = json.loads((hub_root / "registry" / case.dataset / "versions" / "1.1.0" / "manifest.json").read_text())
    provenance = manifest["annotation"]
    assert provenance["project"]["id"] == pid and provenance["rule"] == "majority" and provenance["records_changed"] == 2
    assert [r["id"] for r in provenance["records"]] == sorted([ids[0], ids[2]])
    assert all(p.startswith("annotator-") and "@" not in p for p in provenance["annotators"]) and len(provenance["annotators"]) == 3
    assert provenance["conflict_records"] == [ids[1]] and provenance["agreement"]["tasks_compared"] == 3
    assert "ann1@localhost" not in json.dumps(manifest)
    card = (hub_root / "registry" / case.dataset / "versions" / "1.1.0" / "README.md").read_text()
    assert "## Annotation" in card and f"Label Studio project {pid}" in card
    import mlcroissant as mlc

    croissant = json.loads((hub_root / "registry" / case.dataset / "versions" / "1.1.0" / "croissant.json").read_text())  # Croissant 1.1's RAI and PROV-O
    assert croissant["rai:dataAnnotationPlatform"] == "Label Studio"
    assert croissant["rai:dataAnnotationAnalysis"].startswith("3 annotators (pseudonymized); agreement (")
    assert croissant["rai:annotationsPerItem"] == (f"{provenance['annotations'] / provenance['tasks']:.2f} annotations per task "
                                                   f"({provenance['annotations']} over {provenance['tasks']} tasks).")
    (activity,) = [a for a in croissant["prov:wasGeneratedBy"] if a["prov:label"] == "annotation"]
    assert activity["description"] == f"Labels of {provenance['field']} resolved by rule majority from Label Studio project {pid}."
    assert croissant["prov:wasRevisionOf"]["@id"] == f"{case.dataset}@1.0.0" and "MINOR change" in croissant["prov:wasRevisionOf"]["description"]
    mlc.Dataset(jsonld=str(hub_root / "registry" / case.dataset / "versions" / "1.1.0" / "croissant.json"))  # validates

    nothing = hub.annotate_pull(pid, root=hub_root)
    assert nothing["version"] is None
    assert nothing["message"] == f"nothing changed: {case.dataset}@1.1.0 already holds every resolved label of project {pid}; no version published"

    ls_env.annotate(t[1], A3, case.result(a))  # more work settles the conflict
    settled = hub.annotate_pull(pid, root=hub_root)
    assert (settled["version"], settled["records_changed"], settled["conflicts"]) == ("1.2.0", 1, [])
    assert _values(hub_root, case.dataset, "1.2.0", case.task)[ids[1]] == case.stored(a)


def _project_speakers(ls_env, pid: int) -> list[str]:
    """The labels of the project's label config, as Label Studio holds it."""
    with ls_env.api() as api:
        r = api.get(f"/api/projects/{pid}")
        r.raise_for_status()
    return [label.get("value") for label in ElementTree.fromstring(r.json()["label_config"]).iter("Label")]


@pytest.mark.slow
def test_later_push_brings_a_new_speaker(hub_root, ls_env):
    """A second speaker-segments push with records of a speaker the project does not offer yet:
    the label config gains the speaker, the first push's tasks and annotations stay, and pull
    accepts segments of the new speaker (and still rejects a speaker of neither push)."""
    dataset, ref = "demo/espeak-speech", "demo/espeak-speech@1.0.0"
    _publish_demo(hub_root, dataset, 96)
    train = [r["id"] for r in read_records(hub_root / "registry" / dataset / "versions" / "1.0.0", "train", ["speaker"]).to_pylist()
             if r["speaker"] in (SPEAKER, NEW_SPEAKER)]
    assert train == [f"espeak-en-f4-{i:03d}" for i in range(12)] + [f"espeak-en-m1-{i:03d}" for i in range(12)]  # the first 24 by id
    before = _values(hub_root, dataset, "1.0.0", "speaker-segments")

    first = hub.annotate_push(ref, task="speaker-segments", limit=4, root=hub_root)
    pid = first["project"]["id"]
    assert (first["imported"], first["already_there"]) == (4, 0)
    assert _project_speakers(ls_env, pid) == [SPEAKER]
    old = ls_env.tasks(pid)
    kept = ls_env.annotate(old[0]["id"], A1, _segments([(0.0, 0.5, SPEAKER)]))  # made before the config changes

    second = hub.annotate_push(ref, task="speaker-segments", limit=14, root=hub_root)  # 8 more of SPEAKER, 2 of NEW_SPEAKER
    assert second["project"]["id"] == pid and (second["imported"], second["already_there"]) == (10, 4)
    assert _project_speakers(ls_env, pid) == [SPEAKER, NEW_SPEAKER]
    tasks = ls_env.tasks(pid)
    assert [(t["id"], t["data"]["record_id"]) for t in tasks[:4]] == [(t["id"], t["data"]["record_id"]) for t in old]  # none lost
    assert [t["data"]["record_id"] for t in tasks] == train[:14]  # none duplicated
    with ls_env.api() as api:
        assert [a["id"] for a in api.get(f"/api/tasks/{old[0]['id']}/annotations/").json()] == [kept]
    smaller = hub.annotate_push(ref, task="speaker-segments", limit=4, root=hub_root)  # a later, smaller push drops no speaker
    assert (smaller["imported"], smaller["already_there"]) == (0, 4) and _project_speakers(ls_env, pid) == [SPEAKER, NEW_SPEAKER]

    ls_env.annotate(tasks[12]["id"], A1, _segments([(0.125, 0.875, NEW_SPEAKER)]))  # the new speaker
    ls_env.annotate(tasks[13]["id"], A2, _segments([(0.0, 0.5, "es+m2")]))  # a speaker of the dataset in neither push
    status = hub.annotate_status(pid, root=hub_root)
    assert (status["tasks"], status["done"], status["rejected"]) == (14, 2, 1)

    result = run_hub("annotate", "pull", str(pid), "--json", root=hub_root)
    assert result.returncode == 0, result.stderr
    pulled = json.loads(result.stdout)
    assert pulled["message"] == f"published {dataset}@1.1.0: 2 records relabelled from project {pid}"
    assert [(r["record_id"], r["message"]) for r in pulled["rejected_annotations"]] == [(train[13], "label 'es+m2' is not in the label set")]
    after = _values(hub_root, dataset, "1.1.0", "speaker-segments")
    assert after[train[0]] == [{"start": 0.0, "end": 0.5, "label": SPEAKER}]
    assert after[train[12]] == [{"start": 0.125, "end": 0.875, "label": NEW_SPEAKER}]
    assert {k: v for k, v in after.items() if k not in (train[0], train[12])} == {k: v for k, v in before.items() if k not in (train[0], train[12])}


def test_rules_latest_and_reviewer(hub_root, ls_env):
    _publish_demo(hub_root, "demo/digits", 40)
    pid = hub.annotate_push("demo/digits@1.0.0", limit=2, root=hub_root)["project"]["id"]
    before = _values(hub_root, "demo/digits", "1.0.0", "classification")
    tasks = ls_env.tasks(pid)
    rid = tasks[0]["data"]["record_id"]
    x, y, _ = _other(DIGITS)(before[rid])
    ls_env.annotate(tasks[0]["id"], REVIEWER, _choice("label", "image")(x))
    ls_env.annotate(tasks[0]["id"], A1, _choice("label", "image")(y))
    result = run_hub("annotate", "pull", str(pid), "--rule", "reviewer", "--reviewer", REVIEWER, "--json", root=hub_root)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["version"] == "1.1.0"
    assert _values(hub_root, "demo/digits", "1.1.0", "classification")[rid] == x
    latest = hub.annotate_pull(pid, rule="latest", root=hub_root)
    assert latest["version"] == "1.2.0" and _values(hub_root, "demo/digits", "1.2.0", "classification")[rid] == y


def test_cli_push_and_pull_text(hub_root, ls_env):
    _publish_demo(hub_root, "demo/digits", 40)
    model = hub_root / "model.jsonl"  # a model's output as pre-annotations
    model.write_text("".join(json.dumps({"id": f"digits-{i:05d}", "value": "9"}) + "\n" for i in range(40)))
    pushed = run_hub("annotate", "push", "demo/digits@1.0.0", "--sample", "3", "--seed", "7", "--predictions", str(model),
                     "--model-version", "cnn-3", root=hub_root)
    assert pushed.returncode == 0, pushed.stderr
    pid = int(pushed.stdout.split()[1])
    assert pushed.stdout.splitlines()[0] == f"Project {pid} (demo/digits@1.0.0 train classification): 3 tasks imported, 0 already there, 3 with pre-annotations"
    with ls_env.api() as api:
        tasks = api.get("/api/tasks/", params={"project": pid, "fields": "all"}).json()["tasks"]
    assert {p["model_version"] for t in tasks for p in t["predictions"]} == {"cnn-3"}
    pulled = run_hub("annotate", "pull", str(pid), root=hub_root)
    assert pulled.returncode == 0
    assert pulled.stdout.splitlines()[0] == f"Nothing changed: demo/digits@1.0.0 already holds every resolved label of project {pid}; no version published"


@pytest.mark.parametrize("record,task", sorted(TASKS))
def test_every_label_config_is_accepted_by_label_studio(record, task, label_studio):
    xml = label_config(task_spec(record, task), ["ok", "scratch", "dent"], channels=["acc_x", "gyr_y"])
    with label_studio.api() as api:
        r = api.post("/api/projects/", json={"title": f"config check {record} {task}", "label_config": xml})
    assert r.status_code == 201, r.text


def test_pseudonyms_come_from_the_salt_and_email_only(hub_root, ls_env):
    """The same annotators get the same pseudonyms through 127.0.0.1:P and localhost:P (#15)."""
    import hashlib

    from hub.labelstudio.bridge import _names
    from hub.labelstudio.client import Client
    from labelstudio_fixtures import ANNOTATORS

    spellings = [ls_env.url, ls_env.url.replace("127.0.0.1", "localhost")]
    names = [_names(hub_root, Client(url), [], set()) for url in spellings]
    assert names[0] == names[1]
    expected = "annotator-" + hashlib.sha256(f"test-salt\0{ANNOTATORS[0]}".encode()).hexdigest()[:12]
    assert names[0][str(ls_env.users[ANNOTATORS[0]])] == expected


def test_a_media_folder_outside_the_document_root_is_refused_by_name(tmp_path, digit_pngs):
    """Label Studio serves local files only under its document root: tasks whose media would
    lie elsewhere are refused before any is built, with the folder and the root named."""
    import pyarrow as pa

    from hub.labelstudio.tasks import build_tasks

    spec = task_spec("image", "classification")
    table = pa.table({"id": ["d0"], "image": [{"bytes": digit_pngs[0], "path": None}], "label": [0]})
    media, root = tmp_path / "media", tmp_path / "served"
    root.mkdir()
    with pytest.raises(hub.AnnotationError) as err:
        build_tasks(spec, table, [str(d) for d in range(10)], media_dir=media, document_root=root)
    assert err.value.message == f"media folder {media} is not inside Label Studio's document root {root}"
