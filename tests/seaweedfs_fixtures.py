"""A real SeaweedFS S3 gateway for the object-storage tests, started by `scripts/seaweedfs`.

It starts once per session on a free port of 127.0.0.1 (below 55000: weed also listens on the
port + 10000), with its store in the session's temporary folder, and is killed at the end.
A test may kill it and start it again on the same store and port (`SeaweedFS.kill`, `.start`).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KEY, SECRET = "hubtestkey", "hubtestsecret0123456789"


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_s3_port() -> int:
    """A port below 55000 that is free, and its gRPC twin (+10000) too."""
    while not (_free(port := random.randrange(20000, 45000)) and _free(port + 10000)):
        pass
    return port


@dataclass
class SeaweedFS:
    data: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data / "weed.log"

    def start(self, timeout: float = 120) -> None:
        """Run `scripts/seaweedfs start` (unless it runs) and wait until its S3 API takes our keys."""
        if self.process is not None and self.process.poll() is None:
            return
        env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET}
        self.process = subprocess.Popen([str(REPO / "scripts" / "seaweedfs"), "start", str(self.data), str(self.port)], env=env,
                                        stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}:\n{self.log.read_text(errors='replace')[-3000:]}")
            try:
                self.s3().ls("")  # signed: the filer is up and our identity loaded
                return
            except Exception:  # noqa: BLE001  (not up yet: refused, 5xx...)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"weed did not answer on {self.endpoint} in {timeout:.0f} s:\n{self.log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.5)

    def kill(self) -> None:
        """SIGKILL weed (the whole process group), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def s3(self, secret: str = SECRET):
        """An s3fs file system on this server (no instance cache: each call connects anew)."""
        import s3fs

        return s3fs.S3FileSystem(key=KEY, secret=secret, client_kwargs={"endpoint_url": self.endpoint}, skip_instance_cache=True,
                                 config_kwargs={"retries": {"max_attempts": 1}})


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory) -> SeaweedFS:
    """A real SeaweedFS S3 gateway accepting the keys KEY / SECRET."""
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"), free_s3_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def s3_env(seaweedfs, tmp_path, monkeypatch) -> SeaweedFS:
    """The environment of a user of `seaweedfs`: its endpoint and keys, no AWS files of the machine."""
    monkeypatch.setenv("HUB_S3_ENDPOINT", seaweedfs.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    return seaweedfs
