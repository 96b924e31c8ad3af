"""A registry with broken or hostile files: the catalog reports them and goes on, access is
never decided from a stale index, and no link out of a dataset's folder is read (issue #20,
items 2 and 4)."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import yaml

import hub
from conftest import image_records, run_hub, uvicorn_thread, write_dataset
from hub.errors import ValidationFailed

SHARD = "data/test-00000-of-00001.parquet"
BROKEN_HINT = "Fix the file named (`hub validate ns/name` lists every problem of an entry); until then the hub skips it and serves none of its data."


@contextlib.contextmanager
def serving(root: Path) -> Iterator[httpx.Client]:
    """`hub serve`'s app on a real uvicorn server in a thread; yields a client for it."""
    from hub.server import create_app

    with uvicorn_thread(create_app(root)) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def eventually(check, what: str, tries: int = 150) -> None:
    """Poll `check()` until it holds (the server's index is rebuilt in a thread of its own)."""
    for _ in range(tries):
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"never happened: {what}")


@pytest.fixture
def site(demo_root: Path, tmp_path: Path) -> Path:
    """A copy of the published demo hub, to break."""
    root = tmp_path / "hub"
    shutil.copytree(demo_root, root, symlinks=True)
    return root


def edit_entry(root: Path, dataset: str, **fields) -> None:
    path = root / "registry" / dataset / "dataset.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.update(fields)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


# -- item 2: one broken file does not freeze the index ------------------------------------------


def test_a_broken_manifest_is_reported_and_skipped_while_every_other_change_takes_effect(site):
    broken = site / "registry/demo/digits/versions/1.1.0"
    with serving(site) as client:
        assert client.get("/api/datasets/demo/basicmotions").status_code == 200  # the first read builds the index
        broken.mkdir()
        (broken / "manifest.json").write_text('{"version": "1.1.0", "files": [')
        edit_entry(site, "demo/basicmotions", access="private")
        edit_entry(site, "demo/chatterbot-dialogue", title="Chatterbot, edited")
        eventually(lambda: client.get("/api/datasets/demo/chatterbot-dialogue").json()["title"] == "Chatterbot, edited",
                   "the title edited beside a broken manifest reaches the API")
        for url in ("/api/datasets/demo/basicmotions", f"/datasets/demo/basicmotions/resolve/1.0.0/{SHARD}"):
            got = client.get(url)
            assert (got.status_code, got.json()["error"]) == (404, "dataset 'demo/basicmotions' is not registered"), url
        assert "demo/basicmotions" not in [d["id"] for d in client.get("/api/datasets").json()]
        message = "registry/demo/digits/versions/1.1.0/manifest.json is not valid JSON (line 1, column 32: Expecting value)"
        digits = client.get("/api/datasets/demo/digits").json()
        assert digits["versions"] == ["1.0.0"] and digits["version"] == "1.0.0"
        assert digits["problems"] == [{"version": "1.1.0", "file": "registry/demo/digits/versions/1.1.0/manifest.json", "message": message, "hint": BROKEN_HINT}]
        named = client.get("/api/datasets/demo/digits/revision/1.1.0")
        assert (named.status_code, named.json()["type"], named.json()["error"]) == (422, "BrokenEntry", message)
        assert client.get(f"/datasets/demo/digits/resolve/main/{SHARD}").status_code == 200  # main: the latest readable version
        page = client.get("/datasets/demo/digits")
        assert page.status_code == 200 and "Problems" in page.text and "version 1.1.0: " + message in page.text
    listed = run_hub("list", root=site)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["demo/basicmotions", "demo/chatterbot-dialogue", "demo/digits", "demo/espeak-speech", "demo/video-clips"]
    assert listed.stderr == f"skipped demo/digits@1.1.0: {message}\n  {BROKEN_HINT}\n"
    assert [p["version"] for p in hub.show("demo/digits", root=site)["problems"]] == ["1.1.0"]


def test_access_comes_from_dataset_yaml_even_when_the_index_is_stale(site, monkeypatch):
    """The index is never rechecked here: each access decision still reads dataset.yaml."""
    from hub import catalog

    monkeypatch.setattr(catalog, "RECHECK_SECONDS", 10**9)
    rows = "/api/datasets/demo/espeak-speech/versions/1.0.0/rows?split=test&length=2"
    with serving(site) as client:
        assert client.get(rows).status_code == 200
        edit_entry(site, "demo/espeak-speech", access="private")
        for url in ("/api/datasets/demo/espeak-speech", rows, f"/datasets/demo/espeak-speech/resolve/1.0.0/{SHARD}", "/datasets/demo/espeak-speech"):
            assert client.get(url).status_code == 404, url
        assert "demo/espeak-speech" not in [d["id"] for d in client.get("/api/datasets").json()]
        assert "demo/espeak-speech" not in client.get("/").text
        edit_entry(site, "demo/espeak-speech", access="gated", terms="Evaluation only.")
        got = client.get(rows)
        assert (got.status_code, got.json()["error"]) == (403, "dataset 'demo/espeak-speech' is gated: downloads need a token whose user accepted its terms")
        info = client.get("/api/datasets/demo/espeak-speech").json()
        assert (info["access"], info["gated"], info["private"]) == ("gated", "manual", False)


def test_a_private_dataset_whose_entry_breaks_stays_closed(site):
    """Malformed YAML: the access is unknown, so nothing of the dataset is served to anyone,
    and it is not there at all without a token."""
    edit_entry(site, "demo/digits", access="private")
    token = hub.create_token("ann", root=site)
    (site / "registry/demo/digits/dataset.yaml").write_text("title: digits\naccess: private\n  modality: [image\n")
    message = ("the entry of 'demo/digits' cannot be read: registry/demo/digits/dataset.yaml: "
               "dataset.yaml is not valid YAML at line 3, column 11: mapping values are not allowed here")
    with serving(site) as client:
        for url in ("/api/datasets/demo/digits", f"/datasets/demo/digits/resolve/1.0.0/{SHARD}", "/api/datasets/demo/digits/versions/1.0.0/rows?split=test"):
            got = client.get(url)
            assert (got.status_code, got.json()["error"]) == (404, "dataset 'demo/digits' is not registered"), url
            got = client.get(url, headers={"Authorization": f"Bearer {token}"})
            assert (got.status_code, got.json()["type"], got.json()["error"]) == (422, "BrokenEntry", message), url
        page = client.get("/datasets/demo/digits", headers={"Authorization": f"Bearer {token}"})
        assert page.status_code == 422 and message.replace("'", "&#39;") in page.text
        assert "demo/digits" not in [d["id"] for d in client.get("/api/datasets", headers={"Authorization": f"Bearer {token}"}).json()]
    listed = run_hub("list", root=site)
    assert listed.returncode == 0 and "demo/digits" not in listed.stdout
    assert listed.stderr == f"skipped demo/digits: {message}\n  {BROKEN_HINT}\n"


def test_a_manifest_naming_a_file_outside_its_version_is_refused(site):
    """A manifest is data from the registry too: a shard path must stay in the version's data/."""
    version = site / "registry/demo/digits/versions/1.1.0"
    version.mkdir()
    manifest = json.loads((site / "registry/demo/digits/versions/1.0.0/manifest.json").read_text())
    manifest["version"] = "1.1.0"
    manifest["files"].append({"path": "../../dataset.yaml", "size": 10, "sha256": "0" * 64, "split": "test", "rows": 1})
    (version / "manifest.json").write_text(json.dumps(manifest))
    message = "registry/demo/digits/versions/1.1.0/manifest.json names a file outside the version's data/ folder: '../../dataset.yaml'"
    with serving(site) as client:
        got = client.get("/datasets/demo/digits/resolve/1.1.0/..%2F..%2Fdataset.yaml")
        assert (got.status_code, got.json()["error"]) == (422, message)
        assert b"modality" not in got.content
        assert client.get("/api/datasets/demo/digits").json()["problems"][0]["message"] == message


# -- item 4: links out of a dataset's folder ---------------------------------------------------

SECRET = "TOP-SECRET-OUTSIDE-THE-DATASET"


@pytest.fixture
def linked(hub_root: Path, digit_pngs, tmp_path: Path) -> tuple[Path, Path]:
    """A valid image dataset, and a folder outside it with files to link to."""
    records, files = image_records(digit_pngs, 20, ["a", "b"])
    write_dataset(hub_root, "acme/linked", records, labels=["a", "b"], extra_files=files)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "README.md").write_text(f"# Card\n\n{SECRET}\n")
    (outside / "labels.jsonl").write_text(json.dumps({"id": "img-000", "field": "label", "value": "b", "provenance": {}}) + "\n")
    (outside / "records.jsonl").write_text((hub_root / "registry/acme/linked/raw/records.jsonl").read_text())
    (outside / "dataset.yaml").write_text((hub_root / "registry/acme/linked/dataset.yaml").read_text())
    (outside / "img.png").write_bytes(digit_pngs[0])
    return hub_root, outside


def _link(folder: Path, name: str, target: Path) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.symlink_to(target)


@pytest.mark.parametrize("name, target, problem", [
    ("README.md", "README.md", ("unsafe-path", "registry/acme/linked/README.md", None, "path 'README.md' leaves the dataset folder (through a link)")),
    ("annotations/labels.jsonl", "labels.jsonl",
     ("unsafe-path", "registry/acme/linked/annotations/labels.jsonl", None, "path 'annotations/labels.jsonl' leaves the dataset folder (through a link)")),
    ("dataset.yaml", "dataset.yaml", ("unsafe-path", "registry/acme/linked/dataset.yaml", None, "path 'dataset.yaml' leaves the dataset folder (through a link)")),
    ("raw/records.jsonl", "records.jsonl",
     ("unsafe-path", "registry/acme/linked/raw/records.jsonl", None, "path 'raw/records.jsonl' leaves the dataset folder (through a link)")),
    ("raw/img-000.png", "img.png", ("unsafe-path", "raw/records.jsonl", 1, "path 'raw/img-000.png' leaves the dataset folder (through a link)")),
], ids=["card", "annotations", "entry", "source", "media"])
def test_a_link_out_of_the_dataset_folder_is_a_problem_and_never_read(linked, name, target, problem):
    root, outside = linked
    _link(root / "registry/acme/linked", name, outside / target)
    report = hub.validate("acme/linked", root=root)
    found = [(p.slug, p.file, p.row, p.message) for p in report.problems]
    assert found == [problem]
    fix = next(p.fix for p in report.problems)
    assert fix == "Use paths relative to the dataset folder, without '..' or absolute paths; replace a link that points outside the folder with a copy of the file."
    with pytest.raises(ValidationFailed):
        hub.publish("acme/linked", root=root)
    assert not (root / "registry/acme/linked/versions").exists()


def test_a_linked_card_is_not_rendered_nor_searchable_nor_baked_into_a_version(linked):
    root, outside = linked
    hub.publish("acme/linked", root=root)  # 1.0.0, with its own card
    _link(root / "registry/acme/linked", "README.md", outside / "README.md")
    assert hub.search(SECRET.lower(), root=root) == []
    with serving(root) as client:
        page = client.get("/datasets/acme/linked")
        assert page.status_code == 200 and SECRET not in page.text
        assert "The card is not shown: path &#39;README.md&#39; leaves the dataset folder (through a link)." in page.text
        for path in ("README.md", "manifest.json"):
            assert SECRET not in client.get(f"/datasets/acme/linked/resolve/1.0.0/{path}").text
    with pytest.raises(ValidationFailed):
        hub.publish("acme/linked", root=root, bump="patch")
    assert sorted(p.name for p in (root / "registry/acme/linked/versions").iterdir()) == ["1.0.0"]
