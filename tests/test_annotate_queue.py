"""Annotators as they work: people who signed up through the server's invite link take tasks
from Label Studio's labelling queue (`GET /api/projects/{id}/next` with their own token, the
call behind the UI's "Label All Tasks") on projects that `hub annotate push` made (#15)."""

from __future__ import annotations

import hashlib

import httpx
import pytest
import yaml

import hub
from conftest import run_hub
from labelstudio_fixtures import choice


def _pseudonym(email: str) -> str:
    return "annotator-" + hashlib.sha256(f"test-salt\0{email}".encode()).hexdigest()[:12]


def _work_through(annotator: httpx.Client, pid: int, label: str) -> list[int]:
    """Label every task the queue hands out, until it says there is none left; the task ids."""
    done = []
    while True:
        r = annotator.get(f"/api/projects/{pid}/next")
        if r.status_code == 404:
            assert r.json()["detail"].startswith("There are no tasks for")
            return done
        r.raise_for_status()
        task = r.json()
        assert task["annotations"] == []  # the queue shows no one else's work
        annotator.post(f"/api/tasks/{task['id']}/annotations/", params={"project": pid}, json={"result": choice(label)}).raise_for_status()
        done.append(task["id"])
        assert len(done) <= 100, "the queue hands out the same tasks again"


def _settings(ls_env, pid: int) -> dict:
    with ls_env.api() as api:
        r = api.get(f"/api/projects/{pid}")
        r.raise_for_status()
        return r.json()


def test_two_annotators_each_label_the_whole_queue(digits, ls_env):
    pushed = run_hub("annotate", "push", "demo/digits@1.0.0", "--limit", "4", "--overlap", "2", root=digits)
    assert pushed.returncode == 0, pushed.stderr
    pid = int(pushed.stdout.split()[1])
    assert pushed.stdout.splitlines() == [
        f"Project {pid} (demo/digits@1.0.0 train classification): 4 tasks imported, 0 already there",
        "  each task goes to 2 annotators through the labelling queue",
        f"  annotate at {ls_env.url}/projects/{pid}/data",
        f"  then: hub annotate pull {pid}",
    ]
    assert _settings(ls_env, pid)["maximum_annotations"] == 2
    tasks = [t["id"] for t in ls_env.tasks(pid)]
    first, second = (ls_env.sign_up(f"queue-{pid}-{n}@localhost") for n in (1, 2))
    with first, second:
        assert sorted(_work_through(first, pid, "7")) == tasks
        half = run_hub("annotate", "status", str(pid), root=digits)
        assert half.returncode == 0, half.stderr
        assert half.stdout.splitlines()[1] == f"  {ls_env.url}/projects/{pid}/data"
        assert half.stdout.splitlines()[-2:] == ["  overlap 2 annotators per task: 0 tasks reached it; 4 need 1 more",
                                                 f"    {_pseudonym(f'queue-{pid}-1@localhost')}: 4 annotations, 0 skipped"]
        assert sorted(_work_through(second, pid, "7")) == tasks  # with Label Studio's default of 1 the queue is empty here
        assert _work_through(first, pid, "7") == []

    status = hub.annotate_status(pid, root=digits)
    assert (status["tasks"], status["done"], status["annotations_per_task"]) == (4, 4, {"2": 4})
    assert (status["overlap"], status["overlap_reached"], status["still_needed"]) == (2, 4, {})
    assert status["per_annotator"] == {_pseudonym(f"queue-{pid}-{n}@localhost"): {"annotations": 4, "skipped": 0} for n in (1, 2)}
    assert status["agreement"]["tasks_compared"] == 4 and status["agreement"]["overall"] == 1.0
    pulled = hub.annotate_pull(pid, root=digits)
    assert pulled["conflicts"] == [] and pulled["records_changed"] + pulled["records_unchanged"] == 4
    assert pulled["project"]["url"] == f"{ls_env.url}/projects/{pid}/data"


def test_single_pass_and_the_default(digits, ls_env):
    single = hub.annotate_push("demo/digits@1.0.0", split="test", limit=2, overlap=1, root=digits)
    pid = single["project"]["id"]
    assert single["project"]["overlap"] == 1 and _settings(ls_env, pid)["maximum_annotations"] == 1
    first, second = (ls_env.sign_up(f"single-{pid}-{n}@localhost") for n in (1, 2))
    with first, second:
        assert len(_work_through(first, pid, "3")) == 2
        assert _work_through(second, pid, "3") == []  # one pass: done once labelled

    default = hub.annotate_push("demo/digits@1.0.0", limit=2, root=digits)
    assert default["project"]["overlap"] == 3 and _settings(ls_env, default["project"]["id"])["maximum_annotations"] == 3
    again = hub.annotate_push("demo/digits@1.0.0", limit=2, overlap=2, root=digits)  # an existing project takes a new overlap
    assert again["project"]["id"] == default["project"]["id"] and _settings(ls_env, default["project"]["id"])["maximum_annotations"] == 2
    assert hub.annotate_push("demo/digits@1.0.0", limit=2, root=digits)["project"]["overlap"] == 2  # and keeps it

    with pytest.raises(hub.AnnotationError) as err:
        hub.annotate_push("demo/digits@1.0.0", limit=2, overlap=0, root=digits)
    assert (err.value.message, err.value.hint) == ("overlap 0 is not a number of annotators", "Give 1 (a single pass) or more.")


def _set_overlap(root, value) -> None:
    path = root / "registry" / "demo" / "digits" / "dataset.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["annotation"] = {"overlap": value}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def test_the_dataset_entry_gives_the_default_overlap(digits, ls_env):
    _set_overlap(digits, 2)  # dataset.yaml: annotation: {overlap: 2}
    pushed = run_hub("annotate", "push", "demo/digits@1.0.0", "--limit", "2", root=digits)
    assert pushed.returncode == 0, pushed.stderr
    pid = int(pushed.stdout.split()[1])
    assert pushed.stdout.splitlines()[1] == "  each task goes to 2 annotators through the labelling queue"
    assert _settings(ls_env, pid)["maximum_annotations"] == 2

    single = run_hub("annotate", "push", "demo/digits@1.0.0", "--split", "test", "--limit", "2", "--overlap", "1", root=digits)
    assert single.returncode == 0, single.stderr
    spid = int(single.stdout.split()[1])
    assert spid != pid and single.stdout.splitlines()[1] == "  each task goes to 1 annotator through the labelling queue"
    assert _settings(ls_env, spid)["maximum_annotations"] == 1  # --overlap wins over the entry


@pytest.mark.parametrize("value", [0, "two", 1.5])
def test_a_bad_overlap_in_the_dataset_entry(digits, ls_env, value):
    from hub.entry import load_entry

    _set_overlap(digits, value)
    entry = load_entry(digits, "demo/digits")
    (problem,) = entry.report.problems
    message = f"annotation.overlap: {value!r} is not a number of annotators"
    hint = "Give how many different annotators label each task: 1 (a single pass) or more, e.g. annotation: {overlap: 2}."
    assert (problem.slug, problem.message, problem.field, problem.hint, entry.overlap) == ("entry-schema", message, "annotation.overlap", hint, None)
    with pytest.raises(hub.AnnotationError) as err:
        hub.annotate_push("demo/digits@1.0.0", limit=2, root=digits)
    assert (err.value.message, err.value.hint) == (f"demo/digits: {message}", hint + " Or give --overlap.")
    given = hub.annotate_push("demo/digits@1.0.0", limit=2, overlap=1, root=digits)  # the command line's overlap needs none
    assert given["project"]["overlap"] == 1 and _settings(ls_env, given["project"]["id"])["maximum_annotations"] == 1
