"""The per-batch stages on Ray (issue #18): a real Ray cluster started by `scripts/ray`, and
`hub publish` with HUB_ENGINE=ray against the same publish in this process.

The output must not depend on the engine: byte-identical shards, the same certificate, the
same manifest but for its `engine` and its dates, the same validation report (problems, rows,
lines) for a corpus with bad rows.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hub
from conftest import REPO, copy_demo, free_port, write_dataset

DIGITS = "demo/digits"


@pytest.fixture(scope="module")
def ray_env(tmp_path_factory):
    """A Ray head node on 127.0.0.1 (`scripts/ray start`), and the environment a client needs."""
    temp = Path("/tmp") / f"hub-ray-{os.getpid()}"  # short: Ray's socket paths live under it
    started = subprocess.run([str(REPO / "scripts" / "ray"), "start", str(temp), str(free_port())], capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stderr[-3000:]
    env = dict(item.split("=", 1) for item in started.stdout.split())
    assert set(env) == {"RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"}
    try:
        yield {**os.environ, **env, "HUB_ENGINE": "ray"}
    finally:
        subprocess.run([str(REPO / "scripts" / "ray"), "stop"], capture_output=True, timeout=120)
        subprocess.run(["rm", "-rf", str(temp)], check=False)


def _hub(*args: str, root: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", "--no-progress", "--root", str(root), *args], capture_output=True, text=True,
                          env=env or {k: v for k, v in os.environ.items() if k not in ("HUB_ENGINE", "RAY_ADDRESS")}, timeout=900)


def _version(root: Path, dataset: str) -> tuple[dict, dict[str, bytes]]:
    folder = root / "registry" / dataset / "versions" / "1.0.0"
    manifest = json.loads((folder / "manifest.json").read_text())
    return manifest, {f["path"]: (folder / f["path"]).read_bytes() for f in manifest["files"]}


def _published_here(tmp_path: Path) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """Two hubs with the digits demo: `here` published by the local engine, `there` not yet; and that publish."""
    here, there = hub.init(tmp_path / "here"), hub.init(tmp_path / "there")
    for root in (here, there):
        copy_demo(root, DIGITS)
    local = _hub("publish", DIGITS, "--no-push", root=here)
    assert local.returncode == 0, local.stderr
    return here, there, local


def test_a_publish_on_ray_is_the_publish_here(tmp_path, ray_env):
    here, there, local = _published_here(tmp_path)
    remote = _hub("publish", DIGITS, "--no-push", root=there, env=ray_env)
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout.replace(str(there), "ROOT") == local.stdout.replace(str(here), "ROOT")
    (m_here, shards_here), (m_there, shards_there) = _version(here, DIGITS), _version(there, DIGITS)
    assert shards_there == shards_here  # byte for byte
    assert (m_here["engine"], m_there["engine"]) == ("local", "ray")
    assert m_there["certificate"] == m_here["certificate"]
    differ = {k for k in m_here.keys() | m_there.keys() if m_here.get(k) != m_there.get(k)}
    assert differ <= {"engine", "created", "fingerprints"}, differ
    assert m_there["fingerprints"]["sha256"] == m_here["fingerprints"]["sha256"]  # (only their timings differ)


def test_validation_on_ray_reports_the_same_problems_at_the_same_lines(tmp_path, ray_env):
    from PIL import Image

    root = hub.init(tmp_path / "hub")
    good = io.BytesIO()
    Image.new("L", (8, 8), 128).save(good, format="PNG")
    files = {"raw/good.png": good.getvalue(), "raw/broken.png": b"\x89PNG\r\n\x1a\n not an image"}
    records = [{"id": f"r{i}", "image": "raw/good.png", "label": "a", "group": f"g{i}"} for i in range(5)]
    records += [{"id": "r1", "image": "raw/good.png", "label": "a", "group": "g9"},  # a repeated id
                {"id": "bad", "image": "raw/broken.png", "label": "a", "group": "g8"},  # does not decode
                {"id": "odd", "image": "raw/good.png", "label": "z", "group": "g7"}]  # not a label
    write_dataset(root, "acme/bad", records, labels=["a", "b"], extra_files=files)
    local = _hub("validate", "acme/bad", "--json", root=root)
    remote = _hub("validate", "acme/bad", "--json", root=root, env=ray_env)
    assert (local.returncode, remote.returncode) == (1, 1), remote.stderr
    report_here, report_there = json.loads(local.stdout), json.loads(remote.stdout)
    assert report_there == report_here
    assert sorted({p["slug"] for p in report_here["problems"]}) == ["duplicate-id", "label-not-in-set", "undecodable-image"]


def test_an_unknown_engine_is_refused_with_the_engines_named(tmp_path):
    root = hub.init(tmp_path / "hub")
    copy_demo(root, DIGITS)
    result = _hub("validate", DIGITS, root=root, env={**os.environ, "HUB_ENGINE": "spark"})
    assert result.returncode == 1
    assert result.stderr.splitlines()[:2] == [
        "Error: HUB_ENGINE='spark' is not an engine: use one of local, ray",
        "Hint: Unset HUB_ENGINE to run every stage in this process, or set HUB_ENGINE=ray (RAY_ADDRESS names the cluster).",
    ]


# A driver run as `python -c`: hub.engine.each's stage (run's too) wrapped so that a Ray task kills its own
# worker process (SIGKILL by pid). `once`: the first task to start dies, its retry and the others
# run; `always`: every attempt dies, so the retries run out. The wrapper lives in __main__, so
# Ray ships it by value; the stage it wraps is hub's own.
_KILLER = """
import functools, os, signal, sys
import hub
from hub import engine

mode, marker, root, dataset = sys.argv[1:5]
original = engine.each

def each(stage, batches, ctx):
    @functools.wraps(stage)
    def killing(batch, ctx):
        if mode == "always" or _first(marker):
            os.kill(os.getpid(), signal.SIGKILL)  # this worker dies mid-stage
        return stage(batch, ctx)
    return original(killing, batches, ctx)

def _first(path):
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False

engine.each = each
from hub.cli import main
sys.argv = ["hub", "--no-progress", "--root", root, "publish", dataset, "--no-push"]
main()
"""


def _publish_killing(mode: str, root: Path, marker: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _KILLER, mode, str(marker), str(root), DIGITS], capture_output=True, text=True, env=env, timeout=900)


def test_a_worker_killed_mid_stage_is_retried_and_the_publish_is_the_publish_here(tmp_path, ray_env):
    here, there, local = _published_here(tmp_path)
    marker = tmp_path / "killed"
    killed = _publish_killing("once", there, marker, ray_env)
    assert killed.returncode == 0, killed.stderr[-3000:]
    assert marker.exists()  # a worker did die
    assert [line for line in killed.stdout.splitlines() if "(raylet)" in line] == []  # no note of Ray's on the publish's output
    assert "(raylet)" not in killed.stderr
    assert killed.stdout.replace(str(there), "ROOT") == local.stdout.replace(str(here), "ROOT")
    assert _version(there, DIGITS)[1] == _version(here, DIGITS)[1]  # byte for byte, as if no worker had died


def test_a_worker_that_dies_at_every_try_fails_the_publish_and_nothing_is_published(tmp_path, ray_env):
    root = hub.init(tmp_path / "hub")
    copy_demo(root, DIGITS)
    failed = _publish_killing("always", root, tmp_path / "killed", ray_env)
    assert failed.returncode == 1, failed.stderr[-3000:]
    lines = failed.stderr.splitlines()
    assert lines[0].startswith("Error: a Ray task of check_batch failed: "), failed.stderr[-3000:]
    assert lines[1] == "Hint: Nothing was published. Check the cluster (`ray status`), or run here with HUB_ENGINE=local."
    assert not (root / "registry" / DIGITS / "versions").exists()


# A driver run as `python -c`: every task of hub.engine.each's stages notes its stage and the
# process it ran in, so the test sees which stages ran on Ray's workers.
_WITNESS = """
import functools, os, sys
from hub import engine

log, root, dataset = sys.argv[1:4]
original = engine.each  # `engine.run` is `list(engine.each(...))`

def each(stage, batches, ctx):
    @functools.wraps(stage)
    def noted(batch, ctx):
        with open(log, "a") as f:
            f.write(f"{stage.__name__} {os.getpid()}\\n")
        return stage(batch, ctx)
    return original(noted, batches, ctx)

engine.each = each
print(os.getpid())
from hub.cli import main
sys.argv = ["hub", "--no-progress", "--root", root, "publish", dataset, "--no-push"]
main()
"""


def test_shards_are_written_by_ray_tasks_one_per_shard_byte_for_byte_the_local_ones(tmp_path, ray_env):
    """Shard writing runs on Ray too (`hub.shards.write_shard`, a task per shard), as do the
    check stage and fingerprinting (`hub.fingerprints.fingerprint_batch`); the shards and the
    fingerprint file are the local engine's, byte for byte."""
    here, there, _ = _published_here(tmp_path)
    log = tmp_path / "tasks.log"
    remote = subprocess.run([sys.executable, "-c", _WITNESS, str(log), str(there), DIGITS], capture_output=True, text=True, env=ray_env, timeout=900)
    assert remote.returncode == 0, remote.stderr[-3000:]
    driver = remote.stdout.split()[0]
    tasks = [line.split() for line in log.read_text().splitlines()]
    assert {stage for stage, _ in tasks} == {"check_batch", "fingerprint_batch", "write_shard"}
    assert driver not in {pid for _, pid in tasks}  # none ran in the publishing process
    manifest, shards = _version(there, DIGITS)
    assert sum(stage == "write_shard" for stage, _ in tasks) == len(manifest["files"]) == 3
    assert shards == _version(here, DIGITS)[1]
    assert manifest["fingerprints"]["sha256"] == _version(here, DIGITS)[0]["fingerprints"]["sha256"]
