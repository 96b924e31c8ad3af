"""The DVC pipeline, run for real: `dvc repro` builds, re-runs nothing, rebuilds one dataset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import hub

from conftest import copy_demo
from hub.entry import add_to_params

pytestmark = pytest.mark.slow


def _dvc(root: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _ran(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def test_repro_builds_certified_splits_then_only_what_changed(hub_root):
    for dataset in ("demo/basicmotions", "demo/chatterbot-dialogue"):
        copy_demo(hub_root, dataset)
        add_to_params(hub_root, dataset, source=f"registry/{dataset}/dataset.yaml")

    first = _ran(_dvc(hub_root, "repro"))
    assert sorted(first) == sorted(f"{stage}@demo-{name}" for stage in ("validate", "split", "check") for name in ("basicmotions", "chatterbot-dialogue"))
    for key, dataset in (("demo-basicmotions", "demo/basicmotions"), ("demo-chatterbot-dialogue", "demo/chatterbot-dialogue")):
        build = hub_root / ".hub" / "build" / dataset
        assert sorted(p.name for p in build.iterdir()) == ["README.md", "data", "leakage.json", "plots", "split.json", "stats.json"]
        checked = json.loads((hub_root / ".hub" / "checks" / f"{key}.json").read_text())
        assert checked["holds"] and checked["groups_crossing_splits"] == 0 and checked["duplicate_clusters_crossing_splits"] == 0
        assert json.loads((hub_root / ".hub" / "reports" / f"{key}.json").read_text())["valid"] is True

    assert _ran(_dvc(hub_root, "repro")) == []  # nothing changed, nothing runs
    params = yaml.safe_load((hub_root / "params.yaml").read_text())
    params["datasets"]["demo-basicmotions"]["split"] = {"seed": 7}
    (hub_root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert sorted(_ran(_dvc(hub_root, "repro"))) == ["check@demo-basicmotions", "split@demo-basicmotions"]
    leakage = json.loads((hub_root / ".hub/build/demo/basicmotions/leakage.json").read_text())
    assert leakage["holds"] and json.loads((hub_root / ".hub/build/demo/basicmotions/split.json").read_text())["dataset"] == "demo/basicmotions"
    assert "Data and pipelines are up to date." in _dvc(hub_root, "status")

    # a label that came back from annotation (the overlay `hub annotate pull` appends to) rebuilds that dataset alone
    import pyarrow.parquet as pq

    build = hub_root / ".hub/build/demo/chatterbot-dialogue/data"
    first = pq.read_table(sorted(build.glob("train-*.parquet"))[0], columns=["id", "intent"]).slice(0, 1).to_pylist()[0]
    labels = yaml.safe_load((hub_root / "registry/demo/chatterbot-dialogue/dataset.yaml").read_text())["labels"]
    relabel = next(label for i, label in enumerate(labels) if i != first["intent"])
    overlay = hub_root / "registry/demo/chatterbot-dialogue/annotations/labels.jsonl"
    overlay.write_text(json.dumps({"id": first["id"], "field": "intent", "value": relabel, "provenance": {"by": "test"}}) + "\n")
    assert sorted(_ran(_dvc(hub_root, "repro"))) == ["check@demo-chatterbot-dialogue", "split@demo-chatterbot-dialogue", "validate@demo-chatterbot-dialogue"]
    rebuilt = pq.read_table(sorted(build.glob("*.parquet")), columns=["id", "intent"]).to_pylist()
    assert next(r["intent"] for r in rebuilt if r["id"] == first["id"]) == labels.index(relabel)


def test_hub_check_catches_a_tampered_build(hub_root):
    """Move one group's rows into another split's file by hand: `hub check` must refuse."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import hub

    copy_demo(hub_root, "demo/basicmotions")
    hub.split("demo/basicmotions", root=hub_root)
    data = hub_root / ".hub/build/demo/basicmotions/data"
    train = pq.read_table(next(data.glob("train-*.parquet")))
    test_file = next(data.glob("test-*.parquet"))
    pq.write_table(pa.concat_tables([pq.read_table(test_file), train.slice(0, 1)]), test_file)
    with pytest.raises(hub.LeakageError) as err:
        hub.check("demo/basicmotions", root=hub_root)
    # the copied row is its original's group, its exact series and its windows: 1 group, 2 clusters
    assert err.value.message == "demo/basicmotions: the build leaks: 1 groups and 2 duplicate clusters cross splits"
    assert err.value.certificate["duplicate_clusters_by_kind"] == {"exact-series": 1, "overlapping-window": 1}


def test_pipeline_keys_are_one_per_dataset_id(hub_root):
    """`a-b/c` and `a/b-c` once both became `a-b-c`: the second silently took the first's place."""
    from hub.entry import params_key

    hub.new("a-b/c", modality="dialogue", root=hub_root)
    hub.new("a/b-c", modality="dialogue", root=hub_root)
    params = yaml.safe_load((hub_root / "params.yaml").read_text())["datasets"]
    assert {key: item["id"] for key, item in params.items()} == {"a_-b-c": "a-b/c", "a-b-c": "a/b-c"}
    stages = _dvc(hub_root, "stage", "list", "--all")
    assert {line.split()[0] for line in stages.splitlines() if line.startswith("validate@")} == {"validate@a_-b-c", "validate@a-b-c"}
    keys = {params_key(d) for d in ("x/y_z", "x_y/z", "x/y.z", "x.y/z", "x/y-z", "x-y/z", "x/y--z", "x-/y-z", "x/y_-z")}
    assert len(keys) == 9 and all(set(k) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-") for k in keys)
    assert params_key("demo/espeak-speech") == "demo-espeak-speech"


def test_pipeline_key_held_by_another_dataset_is_refused(hub_root):
    """A params.yaml written by the old scheme holds `a-b/c` under `a-b-c`: `hub new a/b-c` refuses, writes nothing."""
    path = hub_root / "params.yaml"
    params = yaml.safe_load(path.read_text()) or {}
    params["datasets"] = {"a-b-c": {"id": "a-b/c", "source": "registry/a-b/c/raw", "split": {"seed": 5}}}
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(hub.HubError) as caught:
        hub.new("a/b-c", modality="dialogue", root=hub_root)
    assert caught.value.message == "params.yaml: the pipeline key 'a-b-c' of 'a/b-c' holds 'a-b/c'"
    assert caught.value.hint == "Give the entry of 'a-b/c' its own key ('a_-b-c' if it is a valid id), or run `hub new` again."
    assert not (hub_root / "registry" / "a" / "b-c").exists()
    from hub.entry import params_overrides

    assert params_overrides(hub_root, "a-b/c") == {"seed": 5}  # the old key still finds its dataset by id


def test_stage_scripts_report_and_exit_like_the_pipeline_needs(hub_root):
    """`hub init` writes pipelines/*.py; an invalid dataset fails its stage with the report written, a bad id with a message."""
    from conftest import write_dataset

    assert sorted(p.name for p in (hub_root / "pipelines").glob("*.py")) == ["check.py", "split.py", "validate.py"]
    write_dataset(hub_root, "t/blank", [{"id": "d1", "dialogue_id": "d1", "turns": [{"speaker": "user", "text": " "}]}], modality="dialogue")
    run = lambda *args: subprocess.run([sys.executable, *args], cwd=hub_root, capture_output=True, text=True)  # noqa: E731
    done = run("pipelines/validate.py", "t/blank", ".hub/reports/t-blank.json")
    assert done.returncode == 1 and done.stderr == ""
    report = json.loads((hub_root / ".hub/reports/t-blank.json").read_text())
    assert report["valid"] is False and report["rows_rejected"] == 1
    done = run("pipelines/split.py", "nope/x", "out.json")
    assert (done.returncode, done.stderr) == (1, "split nope/x: dataset 'nope/x' is not registered (no registry/nope/x/dataset.yaml)\n"
                                                 "  See the registered datasets with `hub list`, or create one with `hub new ns/name`.\n")
    assert not (hub_root / "out.json").exists()
