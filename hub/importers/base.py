"""What an importer makes of a corpus: a `Draft` of the entry (records in the record schema's
field names, media to copy, labels, official splits, the mapping it inferred), written by
`hub.importers.import_dataset`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.errors import SourceError

__all__ = ["Draft", "Media", "NotThisFormat", "audio_info", "read_table_file", "safe_id", "split_name"]


class NotThisFormat(SourceError):
    """The folder is not in the format asked for; `looked_for` says what was missing."""

    def __init__(self, fmt: str, looked_for: str, path: Path) -> None:
        super().__init__(f"{path} is not a {fmt} folder: {looked_for}", hint="Pick the format the folder is in (`hub import --help` lists them).",
                         format=fmt, looked_for=looked_for, path=str(path))


@dataclass(frozen=True)
class Media:
    """A media file of a record: a file of the source to copy (`source`), or bytes to write,
    under `name` (its path below raw/)."""

    name: str
    source: Path | None = None
    data: bytes | None = None


@dataclass
class Draft:
    """An entry an importer inferred. `records` use the record schema's field names; media
    values are `Media`; a record's `split` holds its official split when `splits` is true."""

    format: str
    modality: str
    record: str
    records: list[dict[str, Any]]
    mapping: dict[str, str]  # record field -> where it came from (column, file)
    labels: list[str] = field(default_factory=list)
    group_key: str | None = None  # None: the record type's default
    splits: bool = False  # the source has official splits (records carry `split`)
    extras: list[str] = field(default_factory=list)  # source columns the record schema does not name (kept in records when the hub keeps extras)
    languages: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    renames: dict[str, str] = field(default_factory=dict)  # record field -> the source column it keeps its name as (`source.fields`)


_ID_UNSAFE = re.compile(r"[\s/\\]+")


def safe_id(value: Any) -> str:
    """A record id from a file name or key: no whitespace or slashes (the schema's id pattern)."""
    text = _ID_UNSAFE.sub("_", str(value).strip()).strip("_")
    return text[:256] or "record"


_SPLITS = {"train": "train", "training": "train", "dev": "validation", "valid": "validation", "validation": "validation", "val": "validation",
           "test": "test", "testing": "test", "eval": "test"}


def split_name(value: str) -> str | None:
    """The split a folder or column value names (`dev` -> `validation`), or None."""
    return _SPLITS.get(str(value).strip().lower())


def read_table_file(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV, TSV or JSONL file (`metadata.csv`, `validated.tsv`, `records.jsonl`)."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise SourceError(f"{path.name} line {number} is not JSON: {exc.msg}", path=str(path)) from None
        return rows
    dialect = "excel-tab" if path.suffix == ".tsv" else "excel"
    return list(csv.DictReader(io.StringIO(text), dialect=dialect))


def audio_info(path: Path) -> tuple[int, float]:
    """(sample rate, duration in seconds) of an audio file, from its header."""
    import soundfile

    info = soundfile.info(str(path))
    return info.samplerate, info.frames / info.samplerate
