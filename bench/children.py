"""What the benches that time each method in a child process of its own share: the child's peak
memory, and running one child of the bench's own script and reading the JSON line it prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["peak_mib", "run_child"]


def peak_mib() -> float:
    """This process's peak resident memory (VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_child(script: str, *args: str, path: str = "/usr/bin:/bin", python: str | None = None) -> dict[str, Any]:
    """`python SCRIPT --child ARGS...` with progress bars off (`python`: another interpreter than
    this one, such as a bench-only venv); the JSON object of its last output line. A child that
    fails ends the bench with its error."""
    done = subprocess.run([python or sys.executable, script, "--child", *args], capture_output=True, text=True,
                          env={"HUB_NO_PROGRESS": "1", "PATH": path, "HF_DATASETS_OFFLINE": "1"})
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
