"""A publish killed mid-way (SIGKILL, a real process) leaves the catalog as it was."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import hub
from conftest import copy_demo, set_source_options

pytestmark = pytest.mark.slow


def _digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _kill_when(root, versions, marker: str) -> int:
    """Start `hub publish`, SIGKILL it once `marker` exists in its staging folder; return its exit status."""
    env = {**os.environ, "HUB_NO_PROGRESS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "hub", "--root", str(root), "publish", "demo/digits", "--bump", "minor"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any((s / marker).exists() for s in versions.glob(".staging-*")):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait(timeout=60)
    return proc.returncode


@pytest.mark.parametrize("marker", ["data", "data.dvc"])  # while writing shards; after `dvc add`
def test_killed_publish_leaves_previous_version_and_catalog_intact(hub_root, marker):
    copy_demo(hub_root, "demo/digits")
    set_source_options(hub_root, "demo/digits", limit=1500)
    first = hub.publish("demo/digits", root=hub_root)
    before = _digests(first.path)
    catalog_before = hub.show("demo/digits@1.0.0", root=hub_root)

    set_source_options(hub_root, "demo/digits")  # all 1797 digits
    versions = hub_root / "registry/demo/digits/versions"
    assert _kill_when(hub_root, versions, marker) == -signal.SIGKILL

    assert sorted(p.name for p in versions.iterdir() if not p.name.startswith(".")) == ["1.0.0"]
    assert _digests(first.path) == before
    assert hub.show("demo/digits", root=hub_root)["versions"] == ["1.0.0"]
    assert hub.show("demo/digits@1.0.0", root=hub_root)["manifest"] == catalog_before["manifest"]

    second = hub.publish("demo/digits", bump="minor", root=hub_root)  # the next publish cleans up and succeeds
    assert second.version == "1.1.0"
    assert not list(versions.glob(".staging-*"))
    assert json.loads((second.path / "manifest.json").read_text())["rows"] == 1797
