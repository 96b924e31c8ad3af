"""Faults and bad input around Label Studio: a wrong token, no server, a 5xx or a dropped
connection in the middle of a pull (a real proxy in front of the real server), a record that
no longer exists, a project the hub did not create, a task that does not fit the record type."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import hub
from conftest import run_hub
from hub.labelstudio.tasks import read_records
from labelstudio_fixtures import choice, free_port

A1, A2 = "ann1@localhost", "ann2@localhost"


def test_wrong_token(digits, ls_env, monkeypatch):
    monkeypatch.setenv("HUB_LABEL_STUDIO_TOKEN", "not-the-token")
    with pytest.raises(hub.LabelStudioAuthError) as err:
        hub.annotate_push("demo/digits@1.0.0", root=digits)
    assert err.value.message == f"Label Studio at {ls_env.url} refused the API token (HTTP 401) while listing projects"
    result = run_hub("annotate", "push", "demo/digits@1.0.0", root=digits)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: Label Studio at {ls_env.url} refused the API token (HTTP 401) while listing projects",
        "Hint: Set HUB_LABEL_STUDIO_TOKEN to your API token (Label Studio: Account & Settings > Access Token).",
    ]


def test_no_token(digits, ls_env, monkeypatch):
    monkeypatch.delenv("HUB_LABEL_STUDIO_TOKEN")
    with pytest.raises(hub.LabelStudioAuthError) as err:
        hub.annotate_status(1, root=digits)
    assert err.value.message == f"no API token for Label Studio at {ls_env.url}: HUB_LABEL_STUDIO_TOKEN is not set"


START = ("Start it (`scripts/labelstudio start DATA_DIR PORT` runs one on this machine) or set HUB_LABEL_STUDIO_URL to the server that runs, "
         "then run the command again.")


def test_server_unreachable(digits, ls_env, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("HUB_LABEL_STUDIO_URL", url)
    result = run_hub("annotate", "pull", "3", "--json", root=digits)
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "error": "LabelStudioUnavailable",
        "message": f"Label Studio is not reachable at {url} (ConnectError) while reading project 3",
        "hint": START + " Nothing was published; the pull resumes with the pages it has read.",
        "url": url,
    }
    pushed = run_hub("annotate", "push", "demo/digits@1.0.0", root=digits)
    assert pushed.returncode == 1
    assert pushed.stderr.splitlines() == [f"Error: Label Studio is not reachable at {url} (ConnectError) while listing projects", f"Hint: {START}"]


def _page_of(path: str, tasks: list[dict]) -> int | None:
    """Which page of a pull (two tasks a page) request `path` exports, if it is an export: the
    page whose first task is the first id it asks for."""
    split = urlsplit(path)
    if not split.path.endswith("/export"):
        return None
    first = int(parse_qs(split.query)["ids[]"][0])
    return [t["id"] for t in tasks[::2]].index(first) + 1


@pytest.mark.parametrize("fault,failure", [("500", "Label Studio at {url} failed (HTTP 500)"), ("drop", "Label Studio is not reachable at {url} (RemoteProtocolError)")])
def test_failure_mid_pull_then_rerun_resumes(fault, failure, digits, ls_env, faulty_proxy, monkeypatch):
    pid = hub.annotate_push("demo/digits@1.0.0", limit=5, root=digits)["project"]["id"]
    tasks = ls_env.tasks(pid)
    for task in tasks:
        ls_env.annotate(task["id"], A1, choice("9"))
    monkeypatch.setenv("HUB_LABEL_STUDIO_URL", faulty_proxy.url)
    monkeypatch.setenv("HUB_LABEL_STUDIO_PAGE_SIZE", "2")  # three pages
    faulty_proxy.fault = fault
    faulty_proxy.fail_when = lambda path: _page_of(path, tasks) == 2
    with pytest.raises(hub.LabelStudioUnavailable) as err:
        hub.annotate_pull(pid, root=digits)
    assert err.value.message == failure.format(url=faulty_proxy.url) + f" while exporting page 2 of project {pid}"
    assert hub.show("demo/digits", root=digits)["versions"] == ["1.0.0"]  # nothing published, nothing lost

    faulty_proxy.fail_when = lambda path: False
    faulty_proxy.seen.clear()
    pulled = hub.annotate_pull(pid, root=digits)
    pages = [_page_of(p, tasks) for p in faulty_proxy.seen]
    assert sorted(filter(None, pages)) == [2, 3]  # the first page came from the interrupted pull
    assert pulled["version"] == "1.1.0" and pulled["done"] == 5 and pulled["warnings"] == []
    assert pulled["records_changed"] + pulled["records_unchanged"] == 5


def test_annotations_made_on_a_cached_page_after_the_failure_are_pulled(digits, ls_env, faulty_proxy, monkeypatch):
    """The interrupted pull cached page 1; then one of its annotations changes and another
    task of it gets a second one: the rerun fetches page 1 again and counts what the server holds."""
    pid = hub.annotate_push("demo/digits@1.0.0", limit=5, root=digits)["project"]["id"]
    tasks = ls_env.tasks(pid)
    first = [ls_env.annotate(task["id"], A1, choice("9")) for task in tasks]
    monkeypatch.setenv("HUB_LABEL_STUDIO_URL", faulty_proxy.url)
    monkeypatch.setenv("HUB_LABEL_STUDIO_PAGE_SIZE", "2")
    faulty_proxy.fail_when = lambda path: _page_of(path, tasks) == 2
    with pytest.raises(hub.LabelStudioUnavailable):
        hub.annotate_pull(pid, root=digits)

    with ls_env.api() as api:  # on the cached page: a changed label, and a second annotator
        api.patch(f"/api/annotations/{first[0]}/", json={"result": choice("4")}).raise_for_status()
    ls_env.annotate(tasks[1]["id"], A2, choice("9"))
    faulty_proxy.fail_when = lambda path: False
    result = run_hub("annotate", "pull", str(pid), "--json", root=digits)
    assert result.returncode == 0, result.stderr
    pulled = json.loads(result.stdout)
    assert pulled["warnings"] == ["page 1 changed on the server since the interrupted pull cached it: fetched again"]
    assert (pulled["annotations"], pulled["annotations_per_task"]) == (6, {"1": 4, "2": 1})
    manifest = json.loads((digits / f"registry/demo/digits/versions/{pulled['version']}/manifest.json").read_text())
    assert manifest["annotation"]["annotations"] == 6
    path = digits / f"registry/demo/digits/versions/{pulled['version']}"
    published = {r["id"]: manifest["labels"][r["label"]] for r in read_records(path, "train", ["label"]).to_pylist()}
    assert [published[t["data"]["record_id"]] for t in tasks] == ["4", "9", "9", "9", "9"]
    assert hub.annotate_status(pid, root=digits)["annotations"] == 6


def test_annotation_of_a_record_that_no_longer_exists(digits, ls_env):
    pid = hub.annotate_push("demo/digits@1.0.0", split="test", limit=3, root=digits)["project"]["id"]
    tasks = ls_env.tasks(pid)
    # the last test record: the records after it go too, and every split keeps some of its published records
    gone = max((t["data"]["record_id"] for t in tasks), key=lambda r: int(r.split("-")[1]))
    source = digits / "registry/demo/digits/dataset.yaml"
    # the record leaves the dataset: a version without it
    import yaml

    doc = yaml.safe_load(source.read_text())
    keep = int(gone.split("-")[1])
    doc["source"]["options"] = {"limit": keep}
    source.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert hub.publish("demo/digits", root=digits).version == "2.0.0"
    for task in tasks:
        ls_env.annotate(task["id"], A1, choice("9"))
    pulled = hub.annotate_pull(pid, root=digits)
    assert [m["record_id"] for m in pulled["missing_records"]] == [gone]
    manifest = json.loads((digits / f"registry/demo/digits/versions/{pulled['version']}/manifest.json").read_text())
    assert gone not in [r["id"] for r in manifest["annotation"]["records"]]


def test_project_not_made_by_the_hub(digits, ls_env):
    with ls_env.api() as api:
        r = api.post("/api/projects/", json={"title": "made by hand", "label_config": '<View><Text name="t" value="$t"/></View>'})
        r.raise_for_status()
        pid = r.json()["id"]
    with pytest.raises(hub.AnnotationError) as err:
        hub.annotate_pull(pid, root=digits)
    assert err.value.message == f"Label Studio project {pid} ('made by hand') at {ls_env.url} was not created by `hub annotate push`"
    with pytest.raises(hub.ProjectNotFound) as missing:
        hub.annotate_status(999999, root=digits)
    assert missing.value.message == f"Label Studio at {ls_env.url} has no project 999999"


def test_bad_task_and_split(digits, ls_env):
    with pytest.raises(hub.AnnotationError) as err:
        hub.annotate_push("demo/digits@1.0.0", task="transcription", root=digits)
    assert err.value.message == "no annotation task 'transcription' for image records of demo/digits"
    assert err.value.hint == "Use one of: classification, boxes."
    with pytest.raises(hub.AnnotationError) as err:
        hub.annotate_push("demo/digits@1.0.0", split="dev", root=digits)
    assert err.value.message == "demo/digits@1.0.0 has no split 'dev'"
    with pytest.raises(hub.VersionNotFound):
        hub.annotate_push("demo/digits@3.0.0", root=digits)
    assert httpx.get(f"{ls_env.url}/health").status_code == 200


def test_a_failed_media_write_is_reported_and_the_same_push_writes_it(digits, ls_env, monkeypatch):
    """A push writes the media files while it asks the server (#15): a file that cannot be
    written fails the push after the import, by name, and the same push run again writes it."""
    from hub.labelstudio import tasks as ls_tasks

    table = read_records(digits / "registry" / "demo" / "digits" / "versions" / "1.0.0", "train", ["image"])
    victim, blob = table.column("id")[0].as_py(), table.column("image")[0].as_py()["bytes"]
    media = ls_env.document_root / "demo" / "digits" / "1.0.0" / "train"
    (media / f"{victim}.png").unlink(missing_ok=True)  # the folder is the session's: earlier tests may have written it
    real = ls_tasks._write

    def disk_full_for_one(path, data):
        if path.name == f"{victim}.png":
            raise OSError(28, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(ls_tasks, "_write", disk_full_for_one)
    with pytest.raises(hub.AnnotationError) as err:
        hub.annotate_push("demo/digits@1.0.0", root=digits)
    assert err.value.message == f"writing the media files to {media} failed: [Errno 28] No space left on device"
    assert "run the same push again" in err.value.hint
    assert not (media / f"{victim}.png").exists()
    monkeypatch.setattr(ls_tasks, "_write", real)
    again = hub.annotate_push("demo/digits@1.0.0", root=digits)
    assert (again["imported"], again["already_there"]) == (0, table.num_rows)
    assert (media / f"{victim}.png").read_bytes() == blob
    assert all((media / f"{rid}.png").is_file() for rid in table.column("id").to_pylist())
