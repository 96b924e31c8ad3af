"""An S3 DVC remote on a real SeaweedFS (`scripts/seaweedfs`): `hub init --remote s3://...`,
`hub publish` pushing there, `git clone` + `dvc pull` bringing a version back, a server replica
with no copy of the data redirecting downloads to the store, and the faults: wrong keys,
nothing answering, the store killed in the middle of a push."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

import hub
from conftest import Server, copy_demo, free_port, run_hub, set_source_options
from hub.errors import StorageError
from hub.hashing import sha256_file
from seaweedfs_fixtures import SECRET, s3_env, seaweedfs  # noqa: F401  (a real SeaweedFS)

DATASET = "demo/chatterbot-dialogue"  # small and quick to publish: 2,773 dialogues in 3 shards
DVC = [sys.executable, "-m", "dvc"]
NOT_PUBLISHED = "Then publish again: nothing was published, the versions already there are as they were."
KEYS_HINT = "Hint: Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to keys the object store accepts."


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _versions(root: Path) -> list[str]:
    """The names in the dataset's versions folder (staging folders too)."""
    folder = root / "registry" / DATASET / "versions"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_round_trip_through_git_clone_and_dvc_pull(s3_env, tmp_path):
    s3 = s3_env.s3()
    assert not s3.exists("hub-round-trip")
    result = run_hub("init", str(tmp_path / "hub"), "--remote", "s3://hub-round-trip/registry")
    assert result.returncode == 0, result.stderr
    root = tmp_path / "hub"
    assert s3.exists("hub-round-trip")  # created by init
    config = (root / ".dvc" / "config").read_text()
    assert "url = s3://hub-round-trip/registry" in config and f"endpointurl = {s3_env.endpoint}" in config
    assert SECRET not in "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)

    copy_demo(root, DATASET)
    published = hub.publish(DATASET, root=root)
    shards = [f for f in published.manifest["files"] if f["path"].startswith("data/")]
    tracked = yaml.safe_load((published.path / "data.dvc").read_text())["outs"][0]["nfiles"]
    assert len(s3.find("hub-round-trip/registry/files/md5")) == tracked + 1  # every file of data/ and the folder's listing

    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "publish")
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(root), str(clone))
    version = clone / "registry" / DATASET / "versions" / published.version
    assert not (version / "data").exists()
    pulled = subprocess.run([*DVC, "pull", "-q"], cwd=clone, capture_output=True, text=True)
    assert pulled.returncode == 0, pulled.stderr
    assert {f["path"]: sha256_file(version / f["path"]) for f in shards} == {f["path"]: f["sha256"] for f in shards}


def test_wrong_keys_are_refused_naming_the_remote(s3_env, tmp_path, monkeypatch):
    root = hub.init(tmp_path / "hub", remote="s3://hub-keys/registry")
    copy_demo(root, DATASET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")

    result = run_hub("init", str(tmp_path / "other"), "--remote", "s3://hub-keys/registry")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: the S3 remote s3://hub-keys/registry at {s3_env.endpoint} refused the keys: The request signature we calculated "
        "does not match the signature you provided. Check your key and signing method.",
        KEYS_HINT,
    ]
    assert not (tmp_path / "other").exists()  # nothing written

    result = run_hub("publish", DATASET, root=root)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: the S3 remote s3://hub-keys/registry at {s3_env.endpoint} refused the keys: Forbidden",
        f"{KEYS_HINT} {NOT_PUBLISHED}",
    ]
    assert _versions(root) == []


def test_an_endpoint_that_does_not_answer(s3_env, tmp_path, monkeypatch):
    nowhere = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HUB_S3_ENDPOINT", nowhere)
    result = run_hub("init", str(tmp_path / "hub"), "--remote", "s3://hub-nowhere/registry")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: nothing answers at {nowhere}, the endpoint of the S3 remote s3://hub-nowhere/registry",
        "Hint: Start the object store (scripts/seaweedfs start DATA_DIR PORT) or set HUB_S3_ENDPOINT to the URL of its S3 API, "
        "and check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.",
    ]
    assert not (tmp_path / "hub").exists()


def test_store_killed_mid_push_publishes_nothing_and_a_rerun_completes(s3_env, tmp_path, monkeypatch):
    import s3fs

    root = hub.init(tmp_path / "hub", remote="s3://hub-killed/registry")
    copy_demo(root, DATASET)
    set_source_options(root, DATASET, limit=2000)
    first = hub.publish(DATASET, root=root)
    first_manifest = (first.path / "manifest.json").read_bytes()
    set_source_options(root, DATASET)  # all 2,773 dialogues: new shards to push
    put_file = s3fs.S3FileSystem._put_file
    uploads = []

    async def put_then_kill(self, *args, **kwargs):  # weed dies once the first shard of the push is in
        result = await put_file(self, *args, **kwargs)
        uploads.append(args[1])
        if len(uploads) == 1:
            s3_env.kill()
        return result

    monkeypatch.setattr(s3fs.S3FileSystem, "_put_file", put_then_kill)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # boto retries nothing: the failure comes at once
    try:
        with pytest.raises(StorageError) as failed:
            hub.publish(DATASET, root=root)
    finally:
        s3_env.start()  # the store comes back, for this test's rerun and the next tests
    monkeypatch.setattr(s3fs.S3FileSystem, "_put_file", put_file)
    assert re.fullmatch(rf"nothing answers at {re.escape(s3_env.endpoint)}, the endpoint of the S3 remote s3://hub-killed/registry "
                        r"\(\d files failed to upload\)", failed.value.message), failed.value.message
    assert failed.value.hint.endswith(NOT_PUBLISHED)
    assert len(uploads) >= 1
    assert _versions(root) == [first.version]  # no 1.0.1, no staging folder left
    assert (first.path / "manifest.json").read_bytes() == first_manifest

    again = hub.publish(DATASET, root=root)
    assert _versions(root) == [first.version, again.version]
    status = subprocess.run([*DVC, "status", "-c", "-q", str(again.path / "data.dvc")], cwd=root, capture_output=True, text=True)
    assert status.returncode == 0, status.stdout + status.stderr  # cache and remote in sync


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None


def test_a_replica_without_the_data_serves_shards_from_the_object_store(s3_env, tmp_path):
    root = hub.init(tmp_path / "hub", remote="s3://hub-replica/registry")
    copy_demo(root, DATASET)
    published = hub.publish(DATASET, root=root)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "publish")
    replica = tmp_path / "replica"
    _git(tmp_path, "clone", "-q", str(root), str(replica))
    data = replica / "registry" / DATASET / "versions" / published.version / "data"
    shard = next(f for f in published.manifest["files"] if f["split"] == "train")
    original = (published.path / shard["path"]).read_bytes()
    server = Server(replica, tmp_path / "serve.log")
    try:
        url = f"{server.url}/datasets/{DATASET}/resolve/{published.version}/{shard['path']}"
        with pytest.raises(urllib.error.HTTPError) as redirect:
            urllib.request.build_opener(_NoRedirects).open(url)
        assert redirect.value.code == 307
        assert redirect.value.headers["Location"].startswith(f"{s3_env.endpoint}/hub-replica/registry/files/md5/")
        assert redirect.value.headers["Cache-Control"] == "private, no-store"
        assert redirect.value.headers["X-Linked-Etag"] == f'"{shard["sha256"]}"'

        with urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=100-199"})) as part:
            assert (part.status, part.read()) == (206, original[100:200])

        # the row preview and the SQL console read the shards in the store too (footers and row groups, by Range)
        api = f"{server.url}/api/datasets/{DATASET}/versions/{published.version}"
        train = [f for f in published.manifest["files"] if f["split"] == "train"]
        with urllib.request.urlopen(f"{api}/rows?split=train&offset=5&length=3") as response:
            page = json.loads(response.read())
        assert [r["id"] for r in page["rows"]] == pq.read_table(published.path / train[0]["path"], columns=["id"]).column("id").to_pylist()[5:8]
        assert page["total"] == sum(f["rows"] for f in train)
        query = urllib.parse.urlencode({"query": "SELECT count(*) AS n, count(DISTINCT dialogue_id) AS d FROM train"})
        with urllib.request.urlopen(f"{api}/sql?{query}") as response:
            answer = json.loads(response.read())
        dialogues = pq.read_table([published.path / f["path"] for f in train], columns=["dialogue_id"]).column("dialogue_id")
        assert answer["rows"] == [[sum(f["rows"] for f in train), len(set(dialogues.to_pylist()))]]
        rows = pq.read_table([published.path / f["path"] for f in train]).to_pylist()  # the viewer's search, on the dataset page
        matches = sum(any("python" in t.lower() for t in [v for v in r.values() if isinstance(v, str)] + [t["text"] for t in r["turns"]]) for r in rows)
        with urllib.request.urlopen(f"{server.url}/datasets/{DATASET}?split=train&search=python") as response:
            html = response.read().decode()
        assert matches > 10 and f"{matches} rows hold “python”, 1–10 shown" in html

        pulled = hub.pull(f"{DATASET}@{published.version}", endpoint=server.url, cache_dir=tmp_path / "cache")  # checks every sha256
        assert {f["path"]: (pulled.path / f["path"]).read_bytes() == (published.path / f["path"]).read_bytes() for f in pulled.files} == \
            {f["path"]: True for f in published.manifest["files"]}

        key = urllib.parse.urlsplit(redirect.value.headers["Location"]).path.lstrip("/")
        s3_env.s3().pipe(key, b"not the shard")  # other bytes under the shard's name
        wrong = (f"the object {key} is not {shard['path']} of version {published.version}: 13 bytes, ETag {hashlib.md5(b'not the shard').hexdigest()} "
                 f"(the manifest says {shard['size']} bytes, DVC md5 {key.rsplit('/', 2)[-2] + key.rsplit('/', 1)[-1]})")
        with pytest.raises(urllib.error.HTTPError) as swapped:
            urllib.request.build_opener(_NoRedirects).open(url)
        assert (swapped.value.code, json.loads(swapped.value.read())["error"]) == (503, wrong)
        with pytest.raises(urllib.error.HTTPError) as swapped_rows:  # its rows are refused alike
            urllib.request.urlopen(f"{api}/rows?split=train&offset=0&length=1")
        assert (swapped_rows.value.code, json.loads(swapped_rows.value.read())["error"]) == (503, wrong)

        s3_env.kill()
        with pytest.raises(urllib.error.HTTPError) as down:
            urllib.request.build_opener(_NoRedirects).open(url)
        assert (down.value.code, json.loads(down.value.read())["error"]) == \
            (503, f"nothing answers at {s3_env.endpoint}, the endpoint of the S3 remote s3://hub-replica/registry")
    finally:
        server.stop()
        s3_env.start()
    assert not data.exists()  # served with no copy of the shards


def test_a_replica_without_the_data_scores_a_blind_split_and_derives_copying_only_what_it_reads(s3_env, tmp_path):
    """On a replica cloned without the data, `hub eval` of a blind test split and `hub derive`
    copy from the object store only the files they read (the test shards and their withheld
    labels; the parent's train shards), each checked against the manifest's sha256, and score
    and derive as the registry does; nothing is `dvc pull`ed. A damaged copy is fetched again;
    a swapped object is refused by name."""
    from test_blind import DATASET as BLIND
    from test_blind import LABELS, blind_copy

    root = hub.init(tmp_path / "hub", remote="s3://hub-replica-eval/registry")
    blind_copy(root, BLIND, blind=["test"])
    published = hub.publish(BLIND, root=root)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "publish")
    replica = tmp_path / "replica"
    _git(tmp_path, "clone", "-q", str(root), str(replica))
    version = replica / "registry" / BLIND / "versions" / published.version
    labels = pq.read_table(published.path / LABELS).to_pylist()
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps({"id": r["id"], "prediction": str((r["label"] + 1) % 10 if i % 4 == 0 else r["label"])}) + "\n"
                            for i, r in enumerate(labels)), encoding="utf-8")
    ref = f"{BLIND}@{published.version}"
    here = hub.evaluate(ref, path, split="test", root=root).to_dict()
    there = hub.evaluate(ref, path, split="test", root=replica).to_dict()
    assert there["metrics"] == here["metrics"]
    assert there["metrics"]["accuracy"]["value"] == pytest.approx(sum(1 for i in range(len(labels)) if i % 4) / len(labels))
    objects = replica / ".hub" / "objects"
    test_files = {f["sha256"] for f in published.manifest["files"] if f["split"] == "test"}
    assert {p.name for p in objects.iterdir()} == test_files | {published.manifest["blind"]["test"]["labels"]["sha256"]}
    assert not (version / "data").exists()

    damaged = objects / published.manifest["blind"]["test"]["labels"]["sha256"]
    damaged.write_bytes(b"not the labels")  # a copy changed on disk is fetched again, not trusted
    assert hub.evaluate(ref, path, split="test", root=replica).to_dict()["metrics"] == here["metrics"]
    assert sha256_file(damaged) == damaged.name

    derived = hub.derive("acme/digits-train", [f"{ref}:train"], root=replica)
    assert derived.rows == published.manifest["splits"]["train"]["rows"] and derived.report.valid
    train = {f["sha256"] for f in published.manifest["files"] if f["split"] == "train"}
    assert train <= {p.name for p in objects.iterdir()} and not (version / "data").exists()

    md5 = yaml.safe_load((version / "data.dvc").read_text())["outs"][0]["md5"]
    listing = json.loads(s3_env.s3().cat(f"hub-replica-eval/registry/files/md5/{md5[:2]}/{md5[2:]}"))
    entry = next(e for e in listing if e["relpath"] == LABELS.removeprefix("data/"))
    key = f"hub-replica-eval/registry/files/md5/{entry['md5'][:2]}/{entry['md5'][2:]}"
    s3_env.s3().pipe(key, b"not the labels")
    damaged.unlink()
    with pytest.raises(StorageError) as swapped:
        hub.evaluate(ref, path, split="test", root=replica)
    assert swapped.value.message == (f"the object {key} is not {LABELS} of version {published.version}: 14 bytes, ETag {hashlib.md5(b'not the labels').hexdigest()} "
                                     f"(the manifest says {published.manifest['blind']['test']['labels']['size']} bytes, DVC md5 {entry['md5']})")
    assert not damaged.exists() and not (version / "data").exists()


def test_a_local_remote_that_fails_is_named_as_a_folder():
    """As root the tests cannot make a folder unwritable: the error DVC would raise is given."""
    from hub.repo import remote_error

    error = remote_error("/srv/hub-remote", None, PermissionError(13, "Permission denied"), after=NOT_PUBLISHED)
    assert (error.message, error.hint) == ("the DVC remote /srv/hub-remote failed: [Errno 13] Permission denied",
                                           f"Check the remote's folder (space, rights). {NOT_PUBLISHED}")
