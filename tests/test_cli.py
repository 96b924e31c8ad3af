"""The data team's walk-through, with the real `hub` command in a subprocess."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys

import click
import pytest
import soundfile
import yaml

import hub
from hub.cli import main
from conftest import run_hub

pytestmark = pytest.mark.slow


def test_init_new_validate_publish_find(tmp_path, espeak_wav):
    result = run_hub("init", str(tmp_path / "my-hub"))
    assert result.returncode == 0, result.stderr
    root = tmp_path / "my-hub"
    assert result.stdout.splitlines()[0] == f"Created hub repository {root}"
    for path in ("registry", "pipelines", "schemas/speech.schema.json", "dvc.yaml", "params.yaml", ".git", ".dvc/config"):
        assert (root / path).exists(), path
    assert "url = ../.hub/remote" in (root / ".dvc/config").read_text()

    result = run_hub("new", "acme/factory-sounds", "--modality", "speech", root=root)
    assert result.returncode == 0, result.stderr
    folder = root / "registry/acme/factory-sounds"
    assert yaml.safe_load((root / "params.yaml").read_text())["datasets"] == {
        "acme-factory-sounds": {"id": "acme/factory-sounds", "source": "registry/acme/factory-sounds/raw", "split": {}}}
    empty = run_hub("validate", "acme/factory-sounds", root=root)
    assert empty.returncode == 1
    assert "[source-error] registry/acme/factory-sounds/dataset.yaml, field 'source': the source yielded no records" in empty.stdout

    # The team edits the scaffold: real recordings, a description, a label-free speech corpus.
    doc = yaml.safe_load((folder / "dataset.yaml").read_text())
    doc.update(description="Kettles, fans and fridges described aloud in a kitchen.", tasks=["automatic-speech-recognition"], citation="@misc{acme}", privacy="Synthetic voices only.")
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    info = soundfile.info(io.BytesIO(espeak_wav))
    lines = []
    for i in range(6):
        (folder / f"raw/clip-{i}.wav").write_bytes(espeak_wav)
        lines.append(json.dumps({"id": f"clip-{i}", "audio": f"raw/clip-{i}.wav", "transcript": "the kettle is boiling in the kitchen",
                                 "speaker": f"spk-{i % 3}", "language": "en", "duration": info.duration, "sample_rate": info.samplerate}))
    (folder / "raw/records.jsonl").write_text("\n".join(lines) + "\n")

    valid = run_hub("validate", "acme/factory-sounds", root=root)
    assert (valid.returncode, valid.stdout) == (0, "acme/factory-sounds: valid (6 of 6 rows valid)\n")

    # Six copies of one clip are one duplicate cluster: one component cannot fill three splits.
    refused = run_hub("publish", "acme/factory-sounds", root=root)
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[0] == "Error: acme/factory-sounds: 3 groups (speaker), tied into 1 by duplicates, for 3 splits: validation and test would be empty"
    doc["split"]["ratios"] = {"train": 1.0}
    (folder / "dataset.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))

    published = run_hub("publish", "acme/factory-sounds", "--json", root=root)
    assert published.returncode == 0, published.stderr
    data = json.loads(published.stdout)
    assert data["version"] == "1.0.0" and data["manifest"]["rows"] == 6

    again = run_hub("publish", "acme/factory-sounds", "--version", "1.0.0", root=root)
    assert again.returncode == 1
    assert again.stderr.splitlines() == [
        "Error: acme/factory-sounds@1.0.0 is not newer than the latest published version 1.0.0",
        "Hint: A published version is never rewritten: publish a new version (--bump or --version).",
    ]

    found = run_hub("search", "kitchen", "--modality", "speech", "--commercial", "--json", root=root)
    assert [d["id"] for d in json.loads(found.stdout)] == ["acme/factory-sounds"]
    assert json.loads(found.stdout) == hub.search("kitchen", modality="speech", commercial=True, root=root)
    assert json.loads(run_hub("search", "kitchen", "--non-commercial", "--json", root=root).stdout) == []

    listed = run_hub("list", root=root)
    assert listed.stdout.splitlines()[1].split()[:4] == ["acme/factory-sounds", "speech", "1.0.0", "CC-BY-4.0"]
    assert json.loads(run_hub("list", "--json", root=root).stdout) == hub.list_datasets(root=root)

    shown = run_hub("show", "acme/factory-sounds@1.0.0", "--json", root=root)
    assert json.loads(shown.stdout) == json.loads(json.dumps(hub.show("acme/factory-sounds@1.0.0", root=root), default=str))
    text = run_hub("show", "acme/factory-sounds@1.0.0", root=root).stdout
    assert "  versions: 1.0.0" in text and "  1.0.0: 6 rows" in text

    missing = run_hub("show", "acme/factory-sounds@9.9.9", "--json", root=root)
    assert missing.returncode == 1
    assert json.loads(missing.stdout) == {
        "error": "VersionNotFound", "message": "acme/factory-sounds@9.9.9 is not published (versions: 1.0.0)",
        "hint": "See the published versions with `hub show ns/name`.", "dataset": "acme/factory-sounds", "version": "9.9.9",
    }
    rebuilt = run_hub("index", "--json", root=root)
    assert json.loads(rebuilt.stdout) == {"path": str(root / ".hub/catalog.duckdb"), "datasets": 1}


def test_hub_list_never_shows_a_registry_older_than_it_is(tmp_path):
    root = tmp_path / "site"
    assert run_hub("init", str(root)).returncode == 0
    assert run_hub("new", "acme/one", "--modality", "image", "--title", "First title", root=root).returncode == 0
    first = json.loads(run_hub("list", "--json", root=root).stdout)  # builds the index and its listing
    assert [d["title"] for d in first] == ["First title"]
    assert _heavy_imports("--root", str(root), "list") == []  # read from the listing
    entry = root / "registry/acme/one/dataset.yaml"
    entry.write_text(entry.read_text(encoding="utf-8").replace("title: First title", "title: Renamed by hand"), encoding="utf-8")
    assert "duckdb" in _heavy_imports("--root", str(root), "list")  # the registry changed: the catalog rebuilds
    assert [d["title"] for d in json.loads(run_hub("list", "--json", root=root).stdout)] == ["Renamed by hand"]
    assert json.loads(run_hub("list", "--json", root=root).stdout) == hub.list_datasets(root=root)


def test_outside_a_hub_the_error_says_where_it_looked(tmp_path):
    result = run_hub("list", root=tmp_path / "nowhere")
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"Error: no hub repository (a folder with registry/) at {tmp_path / 'nowhere'} or above"


def _leaf_commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    found = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            assert command.help, f"group {prefix}{name} has no help text"
            found.update(_leaf_commands(command, f"{prefix}{name} "))
        else:
            found[prefix + name] = command
    return found


@pytest.mark.parametrize("name", sorted(_leaf_commands(main)))
def test_every_command_has_help_and_json(name):
    command = _leaf_commands(main)[name]
    assert command.help and len(command.help.split()) >= 3
    assert "--json" in [opt for p in command.params for opt in p.opts]
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in ("as_json",):
            assert param.help, f"{name} {param.opts} has no help text"


# What a command must not import to start: the heavy libraries are imported by the commands
# (and library functions) that use them, when they run.
HEAVY = ["datasets", "dvc", "fastapi", "jsonschema", "label_studio_sdk", "numpy", "pandas", "PIL", "pyarrow", "pyarrow.parquet", "tqdm", "uvicorn", "yaml"]
_IMPORTED_BY = """
import json, sys
from hub.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy} if m in sys.modules)))
"""


def _heavy_imports(*args: str, env: dict[str, str] | None = None) -> list[str]:
    """The heavy modules imported by `hub ARGS` (run in a fresh interpreter, in-process)."""
    code = _IMPORTED_BY.format(heavy=HEAVY + ["duckdb", "urllib.request"])
    result = subprocess.run([sys.executable, "-c", code, "--no-progress", *args], capture_output=True, text=True, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_the_cli_imports_what_a_command_needs_when_it_runs(hub_root, tmp_path):
    assert _heavy_imports("--help") == []
    assert _heavy_imports("annotate", "--help") == []
    built = run_hub("list", root=hub_root)  # builds the index once (that needs pyarrow)
    assert built.returncode == 0, built.stderr
    # the registry unchanged since the index was built: the listing beside it, no DuckDB
    assert _heavy_imports("--root", str(hub_root), "list") == []
    # a pull of a version that is in the cache (offline: no server needed)
    data = b"PAR1 not really parquet, but the bytes the manifest names"
    folder = tmp_path / "cache/acme/x/1.0.0"
    (folder / "data").mkdir(parents=True)
    (folder / "data/test-00000-of-00001.parquet").write_bytes(data)
    (folder / "info.json").write_text(json.dumps({"id": "acme/x", "access": "public"}))
    (folder / "manifest.json").write_text(json.dumps({
        "dataset": "acme/x", "version": "1.0.0", "splits": {"test": {"rows": 1}}, "license": {"expression": "CC0-1.0", "commercial": True},
        "files": [{"path": "data/test-00000-of-00001.parquet", "split": "test", "rows": 1, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}]}))
    assert _heavy_imports("pull", "acme/x@1.0.0", "--cache-dir", str(tmp_path / "cache"), env={"HUB_OFFLINE": "1"}) == []
