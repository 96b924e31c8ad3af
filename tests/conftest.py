"""Shared fixtures. Every test runs isolated from the machine: caches and state in tmp_path,
HUB_* variables stripped, paths built from this file, never from the cwd."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import yaml

import hub
from labelstudio_fixtures import digits, faulty_proxy, label_studio, ls_env  # noqa: F401  (a real Label Studio server)

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "registry" / "demo"
DEMO_IDS = ["demo/basicmotions", "demo/chatterbot-dialogue", "demo/digits", "demo/espeak-speech", "demo/video-clips"]


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)
    home = tmp_path_factory.getbasetemp() / "home"
    monkeypatch.setenv("HUB_NO_PROGRESS", "1")
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "hf" / "datasets"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@localhost")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@localhost")


def copy_demo(root: Path, dataset: str) -> None:
    """Copy a demo entry (not its published versions) into the hub at `root`."""
    source = REPO / "registry" / dataset
    shutil.copytree(source, root / "registry" / dataset, ignore=shutil.ignore_patterns("versions"))


def set_source_options(root: Path, dataset: str, **options: Any) -> None:
    """Rewrite the loader options of a dataset entry (e.g. `limit=1500` for a smaller source)."""
    path = root / "registry" / dataset / "dataset.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["source"]["options"] = options
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


@contextlib.contextmanager
def uvicorn_thread(app: Any) -> Iterator[str]:
    """`app` on a real uvicorn server in a thread, on a free port; yields its base URL.

    `log_config=None` keeps the logging setup as it is: uvicorn's dictConfig would shut down
    absl's handler (imported with mlcroissant), which closes pytest's capture stream.
    """
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail(f"the server did not start on port {port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def hub_root(tmp_path) -> Path:
    """A fresh hub repository: git + DVC + a local remote."""
    return hub.init(tmp_path / "hub")


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (which downloads no browser)."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: the page tests need Debian's chromium. Run scripts/bootstrap to install it.", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """A hub with the five demo datasets published once (shared: do not modify)."""
    root = hub.init(tmp_path_factory.mktemp("demo") / "hub")
    for dataset in DEMO_IDS:
        copy_demo(root, dataset)
        hub.publish(dataset, root=root)
    return root


def write_dataset(root: Path, dataset: str, records: list[Any] | str, *, modality: str = "image", labels: list[str] | None = None,
                  license: str = "CC0-1.0", group_key: str | None = None, extra_files: dict[str, bytes] | None = None, **overrides: Any) -> Path:
    """A JSONL-sourced dataset entry: dataset.yaml, raw/records.jsonl and any media files."""
    folder = root / "registry" / dataset
    (folder / "raw").mkdir(parents=True, exist_ok=True)
    record = {"image": "image", "speech": "speech", "dialogue": "dialogue", "industrial": "sensor"}[modality]
    keys = {"image": "group", "speech": "speaker", "dialogue": "dialogue_id", "sensor": "asset_id"}
    doc = {
        "title": f"Test {dataset}", "description": "A dataset made by a test.", "modality": modality, "license": license,
        "source": {"format": "jsonl", "files": [{"path": "raw/records.jsonl"}]}, "labels": labels or [],
        "split": {"group_key": group_key or keys[record], "ratios": {"train": 0.8, "validation": 0.1, "test": 0.1}, "seed": 3},
        **overrides,
    }
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    text = records if isinstance(records, str) else "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    (folder / "raw" / "records.jsonl").write_text(text, encoding="utf-8")
    for name, data in (extra_files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="session")
def digit_pngs() -> list[bytes]:
    """Real images: scikit-learn's handwritten digits as PNG files."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    out = []
    for image in digits.images[:40]:
        buffer = io.BytesIO()
        Image.fromarray((image * 255 / 16).astype(np.uint8), mode="L").save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


@pytest.fixture(scope="session")
def espeak_wav(tmp_path_factory) -> bytes:
    """Real speech: one sentence spoken by espeak-ng, as WAV bytes."""
    path = tmp_path_factory.mktemp("wav") / "hello.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), "the kettle is boiling in the kitchen"], check=True)
    return path.read_bytes()


def image_records(pngs: list[bytes], n: int, labels: list[str]) -> tuple[list[dict], dict[str, bytes]]:
    """`n` image records pointing at real PNG files under raw/."""
    records, files = [], {}
    for i in range(n):
        name = f"raw/img-{i:03d}.png"
        files[name] = pngs[i % len(pngs)]
        records.append({"id": f"img-{i:03d}", "image": name, "label": labels[i % len(labels)], "group": f"g{i // 2}"})
    return records, files


def run_hub(*args: str, root: Path | None = None, check: bool = False) -> subprocess.CompletedProcess:
    """The real `hub` command in a subprocess."""
    cmd = [sys.executable, "-m", "hub", "--no-progress"]
    if root is not None:
        cmd += ["--root", str(root)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, check=check)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real `hub serve` process on 127.0.0.1, started with the real CLI."""

    def __init__(self, root: Path, log: Path) -> None:
        import time
        import urllib.request

        self.root, self.port = root, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("w")
        self.process = subprocess.Popen([sys.executable, "-m", "hub", "--root", str(root), "serve", "--port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"hub serve did not start: see {log}:\n{log.read_text()}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="session")
def served(demo_root, tmp_path_factory):
    """The demo registry (plus a private and a gated dataset) behind a real `hub serve`.

    Yields the `Server`, with `.tokens`: `alice` (may publish) and `bob` (may not)."""
    root = tmp_path_factory.mktemp("served") / "hub"
    shutil.copytree(demo_root, root, symlinks=True)
    for name, access in (("acme/secret-digits", {"access": "private"}), ("acme/gated-digits", {"access": "gated", "terms": "Use for evaluation only; do not redistribute."})):
        shutil.copytree(DEMO / "digits", root / "registry" / name, ignore=shutil.ignore_patterns("versions"))
        path = root / "registry" / name / "dataset.yaml"
        doc = yaml.safe_load(path.read_text())
        doc.update(access)
        doc["title"] = f"{doc['title']} ({access['access']})"
        doc["source"]["options"] = {"limit": 200}
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        hub.publish(name, root=root, allow_contamination=True)  # 200 of demo/digits' own records, split anew: some of its test records land in train
    tokens = {"alice": hub.create_token("alice", publish=True, root=root), "bob": hub.create_token("bob", root=root)}
    server = Server(root, tmp_path_factory.mktemp("logs") / "serve.log")
    server.tokens = tokens
    yield server
    server.stop()
