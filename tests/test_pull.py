"""`hub pull` and `hub.load` against a real `hub serve`: verified downloads, resume,
corrupted and concurrent caches, offline use, TFDS slices, the license notice."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import hub
from tests.conftest import run_hub


def shard_of(served, dataset: str, split: str) -> dict:
    manifest = json.loads((served.root / "registry" / dataset / "versions/1.0.0/manifest.json").read_text())
    return next(f for f in manifest["files"] if f["split"] == split)


def test_pull_one_split_verifies_and_writes_the_license_notice(served, tmp_path):
    pulled = hub.pull("demo/basicmotions@1.0.0", split="test", endpoint=served.url, cache_dir=tmp_path)
    shard = shard_of(served, "demo/basicmotions", "test")
    assert pulled.path == tmp_path / "demo/basicmotions/1.0.0"
    assert [f["path"] for f in pulled.files] == [shard["path"]] and pulled.downloaded_bytes == shard["size"]
    assert hashlib.sha256((pulled.path / shard["path"]).read_bytes()).hexdigest() == shard["sha256"]
    assert not list(pulled.path.glob("data/train-*"))
    notice = pulled.notice.read_text()
    assert "License: `LicenseRef-UEA-Archive`" in notice
    assert "**Commercial use: NOT allowed.**" in notice
    again = hub.pull("demo/basicmotions@1.0.0", split="test", endpoint=served.url, cache_dir=tmp_path)
    assert again.downloaded_bytes == 0


def test_the_cli_json_is_the_library_value(served, tmp_path):
    result = run_hub("pull", "demo/digits@1.0.0", "--split", "validation", "--endpoint", served.url, "--cache-dir", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    again = hub.pull("demo/digits@1.0.0", split="validation", endpoint=served.url, cache_dir=tmp_path)
    assert json.loads(result.stdout) == {**again.to_dict(), "downloaded_bytes": shard_of(served, "demo/digits", "validation")["size"]}
    text = run_hub("pull", "demo/digits@1.0.0", "--split", "validation", "--endpoint", served.url, "--cache-dir", str(tmp_path))
    rows = shard_of(served, "demo/digits", "validation")["rows"]
    assert text.stdout.splitlines()[:2] == [
        f"Pulled demo/digits@1.0.0 (validation): {rows} rows in 1 file, all sha256 verified",
        "  0 bytes downloaded, the rest from the cache",
    ]


def test_an_interrupted_download_resumes_from_where_it_stopped(served, tmp_path):
    shard = shard_of(served, "demo/espeak-speech", "train")
    original = (served.root / "registry/demo/espeak-speech/versions/1.0.0" / shard["path"]).read_bytes()
    part = tmp_path / "demo/espeak-speech/1.0.0" / (shard["path"] + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(original[: len(original) // 3])  # what a killed download leaves behind
    pulled = hub.pull("demo/espeak-speech@1.0.0", split="train", endpoint=served.url, cache_dir=tmp_path)
    assert pulled.downloaded_bytes == len(original) - len(original) // 3
    assert (pulled.path / shard["path"]).read_bytes() == original and not part.exists()


def test_a_corrupted_cached_file_is_refused_and_fetched_again(served, tmp_path, monkeypatch):
    hub.pull("demo/digits@1.0.0", split="test", endpoint=served.url, cache_dir=tmp_path)
    shard = shard_of(served, "demo/digits", "test")
    cached = tmp_path / "demo/digits/1.0.0" / shard["path"]
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.write_bytes(bytes(data))
    monkeypatch.setenv("HUB_OFFLINE", "1")
    with pytest.raises(hub.IntegrityError) as excinfo:
        hub.pull("demo/digits@1.0.0", split="test", cache_dir=tmp_path)
    assert excinfo.value.message == "the cached data/test-00000-of-00001.parquet of demo/digits@1.0.0 is corrupted (sha256 mismatch) and HUB_OFFLINE is set"
    monkeypatch.delenv("HUB_OFFLINE")
    cached.write_bytes(bytes(data))
    pulled = hub.pull("demo/digits@1.0.0", split="test", endpoint=served.url, cache_dir=tmp_path)
    assert pulled.downloaded_bytes == shard["size"]
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == shard["sha256"]


def test_offline_works_from_the_cache_and_says_what_is_missing(served, tmp_path, monkeypatch):
    hub.pull("demo/digits@1.0.0", split="test", endpoint=served.url, cache_dir=tmp_path)
    monkeypatch.setenv("HUB_OFFLINE", "1")
    monkeypatch.setenv("HUB_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    ds = hub.load("demo/digits", version="1.0.0", split="test", cache_dir=tmp_path)
    assert ds.num_rows == shard_of(served, "demo/digits", "test")["rows"]
    with pytest.raises(hub.OfflineError) as excinfo:
        hub.pull("demo/digits@1.0.0", split="train", cache_dir=tmp_path)
    assert excinfo.value.message == "data/train-00000-of-00001.parquet of demo/digits@1.0.0 is not in the cache and HUB_OFFLINE is set"
    result = run_hub("pull", "demo/chatterbot-dialogue@1.0.0", "--cache-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: demo/chatterbot-dialogue@1.0.0 is not in the cache ({tmp_path / 'demo/chatterbot-dialogue/1.0.0'}) and HUB_OFFLINE is set",
        "Hint: Unset HUB_OFFLINE to download, or pull this version once while online.",
    ]


def test_concurrent_pulls_into_one_cache_download_each_file_once(served, tmp_path):
    env = {**os.environ, "HUB_ENDPOINT": served.url, "HUB_CACHE": str(tmp_path)}
    cmd = [sys.executable, "-m", "hub", "--no-progress", "pull", "demo/chatterbot-dialogue@1.0.0", "--json"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0, 0, 0, 0], [err for _, _, err in results]
    outs = [json.loads(out) for _, out, _ in results]
    manifest = json.loads((served.root / "registry/demo/chatterbot-dialogue/versions/1.0.0/manifest.json").read_text())
    assert sum(o["downloaded_bytes"] for o in outs) == sum(f["size"] for f in manifest["files"])  # each byte fetched once
    for f in manifest["files"]:
        assert hashlib.sha256((tmp_path / "demo/chatterbot-dialogue/1.0.0" / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    assert not list(tmp_path.rglob("*.part"))


@pytest.mark.parametrize("split, ids", [
    ("test[:10%]", lambda t, v: t[: round(len(t) * 0.1)]),
    ("test[-5:]", lambda t, v: t[-5:]),
    ("validation[10:20]+test[:3]", lambda t, v: v[10:20] + t[:3]),
])
def test_load_takes_tfds_slices(served, tmp_path, split, ids):
    root = served.root / "registry/demo/digits/versions/1.0.0"
    test = pq.read_table(root / shard_of(served, "demo/digits", "test")["path"], columns=["id"])["id"].to_pylist()
    validation = pq.read_table(root / shard_of(served, "demo/digits", "validation")["path"], columns=["id"])["id"].to_pylist()
    ds = hub.load("demo/digits", version="1.0.0", split=split, endpoint=served.url, cache_dir=tmp_path)
    assert ds["id"] == ids(test, validation)
    assert ds.features["label"].names == [str(d) for d in range(10)]
    assert type(ds.features["image"]).__name__ == "Image"


def test_errors_from_the_server_keep_their_kind_and_message(served, tmp_path):
    with pytest.raises(hub.VersionNotFound) as excinfo:
        hub.pull("demo/digits@7.0.0", endpoint=served.url, cache_dir=tmp_path)
    assert excinfo.value.message == "demo/digits has no version '7.0.0' (versions: 1.0.0)"
    with pytest.raises(hub.GatedDataset) as excinfo:
        hub.pull("acme/gated-digits@1.0.0", split="test", endpoint=served.url, cache_dir=tmp_path)
    assert excinfo.value.message == "dataset 'acme/gated-digits' is gated: downloads need a token whose user accepted its terms"
    with pytest.raises(hub.DatasetNotFound):
        hub.pull("acme/secret-digits@1.0.0", endpoint=served.url, cache_dir=tmp_path)
    pulled = hub.pull("acme/secret-digits@1.0.0", split="test", endpoint=served.url, token=served.tokens["bob"], cache_dir=tmp_path)
    assert pulled.files and (pulled.path / "NOTICE.md").is_file()
    with pytest.raises(hub.HubError) as excinfo:
        hub.pull("demo/digits@1.0.0", endpoint="http://127.0.0.1:9", cache_dir=tmp_path)
    assert excinfo.value.message.startswith("cannot reach the hub server at http://127.0.0.1:9: ")


def test_accepting_terms_through_the_client_unlocks_the_gated_download(served, tmp_path):
    dave = hub.create_token("dave", root=served.root)
    record = hub.accept("acme/gated-digits", endpoint=served.url, token=dave)
    assert record["user"] == "dave" and record["dataset"] == "acme/gated-digits"
    pulled = hub.pull("acme/gated-digits@1.0.0", split="test", endpoint=served.url, token=dave, cache_dir=tmp_path)
    notice = pulled.notice.read_text()
    assert "## Terms you accepted\n\nUse for evaluation only; do not redistribute." in notice


def _modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mode & 0o777 for p in [folder, *folder.rglob("*")]}


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_private_files_are_kept_from_other_users_and_offline_need_the_token_that_fetched_them(served, tmp_path, monkeypatch, umask_022):
    bob = served.tokens["bob"]
    pulled = hub.pull("acme/secret-digits@1.0.0", split="test", endpoint=served.url, token=bob, cache_dir=tmp_path)
    modes = _modes(tmp_path / "acme/secret-digits")
    assert {p for p, m in modes.items() if (tmp_path / "acme/secret-digits" / p).is_dir() and m != 0o700} == set()
    assert {p for p, m in modes.items() if (tmp_path / "acme/secret-digits" / p).is_file() and m != 0o600} == set()
    assert "1.0.0/data/test-00000-of-00001.parquet" in modes and "1.0.0/.fetched-by.json" in modes
    record = json.loads((pulled.path / ".fetched-by.json").read_text())
    assert record["access"] == "private" and [r["user"] for r in record["tokens"].values()] == ["bob"]
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and bob.encode() in p.read_bytes()]  # the token itself is nowhere
    public = hub.pull("demo/digits@1.0.0", split="test", endpoint=served.url, cache_dir=tmp_path)
    assert (public.path / "data/test-00000-of-00001.parquet").stat().st_mode & 0o777 == 0o644
    assert (public.path / "data").stat().st_mode & 0o777 == 0o755

    monkeypatch.setenv("HUB_OFFLINE", "1")
    with pytest.raises(hub.AccessDenied) as excinfo:
        hub.pull("acme/secret-digits@1.0.0", split="test", cache_dir=tmp_path)
    assert type(excinfo.value) is hub.AccessDenied
    assert excinfo.value.message == "acme/secret-digits@1.0.0 is private: offline, the cache hands it only to the token that fetched it, and no token was given"
    assert excinfo.value.hint == "Pass the token you pulled it with (--token, HUB_TOKEN), or unset HUB_OFFLINE so that the server checks yours."
    with pytest.raises(hub.AccessDenied) as excinfo:
        hub.pull("acme/secret-digits@1.0.0", split="test", token=served.tokens["alice"], cache_dir=tmp_path)
    assert excinfo.value.message == "acme/secret-digits@1.0.0 is private: offline, the cache hands it only to the token that fetched it, and this token did not"
    with pytest.raises(hub.AccessDenied):  # nor through the latest version cached
        hub.load("acme/secret-digits", split="test", cache_dir=tmp_path)
    assert hub.pull("acme/secret-digits@1.0.0", split="test", token=bob, cache_dir=tmp_path).files == pulled.files
    result = run_hub("pull", "acme/secret-digits@1.0.0", "--split", "test", "--cache-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "Error: acme/secret-digits@1.0.0 is private: offline, the cache hands it only to the token that fetched it, and no token was given"


def test_a_gated_version_in_the_cache_is_not_handed_out_without_the_terms_accepted(served, tmp_path, monkeypatch, umask_022):
    erin = hub.create_token("erin", root=served.root)
    hub.accept("acme/gated-digits", endpoint=served.url, token=erin)
    pulled = hub.pull("acme/gated-digits@1.0.0", split="test", endpoint=served.url, token=erin, cache_dir=tmp_path)
    assert (pulled.path / "data/test-00000-of-00001.parquet").stat().st_mode & 0o777 == 0o600
    assert pulled.path.stat().st_mode & 0o777 == 0o700
    # online, the cached copy is not a way around the gate
    with pytest.raises(hub.GatedDataset) as excinfo:
        hub.pull("acme/gated-digits@1.0.0", split="test", endpoint=served.url, cache_dir=tmp_path)
    assert excinfo.value.message == "dataset 'acme/gated-digits' is gated: downloads need a token whose user accepted its terms"
    frank = hub.create_token("frank", root=served.root)
    with pytest.raises(hub.GatedDataset) as excinfo:
        hub.pull("acme/gated-digits@1.0.0", split="test", endpoint=served.url, token=frank, cache_dir=tmp_path)
    assert excinfo.value.message == "user 'frank' has not accepted the terms of 'acme/gated-digits'"
    monkeypatch.setenv("HUB_OFFLINE", "1")
    with pytest.raises(hub.GatedDataset) as excinfo:
        hub.pull("acme/gated-digits@1.0.0", split="test", token=frank, cache_dir=tmp_path)
    assert excinfo.value.message == "acme/gated-digits@1.0.0 is gated: offline, the cache hands it only to the token that fetched it, and this token did not"
    again = hub.pull("acme/gated-digits@1.0.0", split="test", token=erin, cache_dir=tmp_path)
    assert again.downloaded_bytes == 0 and again.files == pulled.files
