"""`hub import FORMAT PATH ns/name`: turn a corpus folder as it comes into a registry entry.

One module per format family (the model: lhotse's recipes): `folders` (Hugging Face
`imagefolder`/`audiofolder`, `save_to_disk` folders, Parquet in the Hub layout, CSV/JSONL with
a media folder), `speech` (Kaldi data dirs, Common Voice), `coco`, `sensor` (one CSV per
asset). Each returns a `Draft`; `import_dataset` writes it: dataset.yaml (with the mapping it
inferred), README.md, raw/records.jsonl and the media under raw/, built in `.hub/import/`
and renamed into place, so a failed import leaves nothing behind. Then the entry is
validated; problems in the records are reported (the entry stays, to be fixed), not raised.
"""

from __future__ import annotations

import importlib
import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.errors import DatasetExists, LicenseError, SourceError
from hub.importers.base import Draft, Media, NotThisFormat
from hub.report import Report

__all__ = ["FORMATS", "Imported", "detect", "import_dataset"]

# format -> (module:function, what the folder must hold); `auto` tries them in this order
FORMATS: dict[str, tuple[str, str]] = {
    "hf-disk": ("folders:hf_disk", "a `datasets` save_to_disk folder (dataset_dict.json, or dataset_info.json and state.json)"),
    "hf-parquet": ("folders:hf_parquet", "Parquet files in the Hub layout (data/<split>-*.parquet, <split>/*.parquet or *.parquet)"),
    "coco": ("coco:coco", "a COCO detection JSON (images, annotations, categories) and its images"),
    "kaldi": ("speech:kaldi", "a Kaldi data dir (wav.scp, text, utt2spk; segments optional), or train/dev/test dirs of them"),
    "commonvoice": ("speech:commonvoice", "Common Voice TSVs (train.tsv, dev.tsv, test.tsv or validated.tsv: path, sentence, client_id) and clips/"),
    "imagefolder": ("folders:imagefolder", "image files, in <split>/<label>/ folders or with metadata.csv/metadata.jsonl (file_name)"),
    "audiofolder": ("folders:audiofolder", "audio files with metadata.csv/metadata.jsonl (file_name, transcription), optionally in <split>/ folders"),
    "csv": ("folders:table", "one .csv file whose rows name media files (a column of image or audio paths)"),
    "jsonl": ("folders:table", "one .jsonl file whose rows name media files (a column of image or audio paths)"),
    "sensor-csv": ("sensor:sensor_csv", "one CSV per asset: a timestamp column and one numeric column per channel"),
}


@dataclass
class Imported:
    """What `import_dataset` wrote, and the validation report of the new entry."""

    dataset: str
    format: str
    path: Path
    rows: int
    mapping: dict[str, str]
    splits: dict[str, int]  # official splits kept, with their rows (empty: the hub splits)
    notes: list[str]
    report: Report
    files: int = 0
    extras: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)  # dataset.yaml's source.fields: record field -> the column the records keep

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "format": self.format, "path": str(self.path), "rows": self.rows, "files": self.files,
                "mapping": self.mapping, "fields": self.fields, "splits": self.splits, "extras": self.extras, "notes": self.notes, "report": self.report.to_dict()}


def _importer(fmt: str) -> Callable[..., Draft]:
    module, _, func = FORMATS[fmt][0].partition(":")
    return getattr(importlib.import_module(f"hub.importers.{module}"), func)


def detect(path: Path, **options: Any) -> Draft:
    """The draft of the first format `path` is in; `SourceError` listing every format looked for."""
    looked = []
    for fmt in FORMATS:
        try:
            return _importer(fmt)(path, fmt=fmt, **options)
        except NotThisFormat as exc:
            looked.append(f"{fmt}: {exc.looked_for}")
    raise SourceError(f"{path} is in none of the formats hub import reads; it looked for:\n  " + "\n  ".join(looked),
                      hint="Arrange the folder in one of these formats, or write dataset.yaml and raw/ by hand (`hub new`).",
                      path=str(path), looked_for=looked)


def _given_splits_supported() -> bool:
    from hub.schema import load_json_schema

    split = load_json_schema("dataset")["properties"]["split"]
    return "given" in split.get("properties", {}).get("mode", {}).get("enum", [])


def _extras_supported() -> bool:
    from hub.schema import RecordSchema

    return hasattr(RecordSchema, "with_extras")


def import_dataset(root: Path, fmt: str, path: Path, dataset: str, *, license: str = "LicenseRef-Unknown", language: str | None = None,
                   window: int | None = None, title: str | None = None) -> Imported:
    """Import the corpus at `path` (in format `fmt`, or `auto`) as `dataset`; return `Imported`.

    Raises `SourceError` when the folder is not in the format (saying what it looked for),
    `DatasetExists`, `LicenseError`; nothing is written then. Problems in the records are
    not raised: the entry is written and `Imported.report` lists them, as `hub validate` would.
    """
    from hub.entry import add_to_params
    from hub.ids import parse_dataset_id
    from hub.license import check_license
    from hub.repo import dataset_dir, work_dir
    from hub.validation import validate

    parse_dataset_id(dataset)
    try:
        check_license(license)
    except LicenseError as exc:
        if exc.hint.startswith("Write `license: "):  # the did-you-mean, said for the command line
            exc.hint = "Pass --license '" + exc.hint.removeprefix("Write `license: ").removesuffix("` in dataset.yaml.") + "'."
        raise
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path} does not exist", hint="Give the folder (or file) the corpus is in.", path=str(path))
    folder = dataset_dir(root, dataset)
    if folder.exists():
        raise DatasetExists(f"dataset {dataset!r} already exists at {folder.relative_to(root)}", dataset=dataset)
    if fmt != "auto" and fmt not in FORMATS:
        raise SourceError(f"unknown import format {fmt!r}", hint=f"Use one of: auto, {', '.join(FORMATS)}.", format=fmt)
    options = {"language": language, "window": window}
    draft = detect(path, **options) if fmt == "auto" else _importer(fmt)(path, fmt=fmt, **options)
    if not draft.records:
        raise SourceError(f"{path} holds no records in the {draft.format} format", path=str(path))
    staging = work_dir(root) / "import" / f"{folder.name}-{uuid.uuid4().hex[:8]}"  # beside the registry, not in it: no reader sees it half-built
    staging.parent.mkdir(parents=True, exist_ok=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            files, fields = _write(staging, draft, dataset, license, title, path)
        except OSError as exc:
            raise SourceError(f"could not write the import of {path}: {exc}", path=str(path), hint="Check that the corpus files are readable and the disk has room.") from exc
        try:
            staging.rename(folder)  # one rename: the entry appears whole or not at all
        except OSError:
            if folder.exists():
                raise DatasetExists(f"dataset {dataset!r} already exists at {folder.relative_to(root)}", dataset=dataset) from None
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    try:
        add_to_params(root, dataset, source=f"registry/{dataset}/raw")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    report = validate(root, dataset).report
    splits: dict[str, int] = {}
    if draft.splits and _given_splits_supported():
        for r in draft.records:
            splits[r["split"]] = splits.get(r["split"], 0) + 1
    return Imported(dataset, draft.format, folder, len(draft.records), draft.mapping, splits, draft.notes, report, files,
                    draft.extras if _extras_supported() else [], fields)


def _fields_supported() -> bool:
    from hub.schema import load_json_schema

    return "fields" in load_json_schema("dataset")["properties"]["source"].get("properties", {})


def _renames(draft: Draft) -> dict[str, str]:
    """The draft's renames that `source.fields` can say: fields some record has, to columns that
    are no record field, extra or other rename (the records keep the source's column names)."""
    from hub.schema import record_schema

    fields = set(record_schema(draft.record).properties)
    present = {k for r in draft.records for k in r}
    out: dict[str, str] = {}
    for field_, column in draft.renames.items():
        if field_ in present and column not in fields and column not in draft.extras and column not in out.values():
            out[field_] = column
    return out


def _write(staging: Path, draft: Draft, dataset: str, license: str, title: str | None, source: Path) -> tuple[int, dict[str, str]]:
    """Write the draft's entry into `staging`; return how many media files it holds and its `source.fields`."""
    import yaml  # here, not at the top: `hub --help` lists the formats without it
    raw = staging / "raw"
    raw.mkdir(parents=True)
    given = draft.splits and _given_splits_supported()
    keep_extras = _extras_supported()
    if draft.splits and not given:
        draft.notes.append("the source's official splits are not kept: this hub has no given splits (split.mode: given); the hub makes its own")
    if draft.extras and not keep_extras:
        draft.notes.append(f"columns not kept (this hub has no extra fields): {', '.join(draft.extras)}")
    renames = _renames(draft) if _fields_supported() else {}
    files = 0
    with open(raw / "records.jsonl", "w", encoding="utf-8") as out:
        for record in draft.records:
            row = {}
            for key, value in record.items():
                key = renames.get(key, key)
                if key == "split" and not given:
                    continue
                if key in draft.extras and not keep_extras:
                    continue
                if isinstance(value, Media):
                    target = raw / value.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if value.data is not None:
                        target.write_bytes(value.data)
                    else:
                        shutil.copyfile(value.source, target)  # a copy: a later edit of the source cannot reach the entry
                    files += 1
                    value = f"raw/{value.name}"
                row[key] = value
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    split: dict[str, Any] = {}
    if draft.group_key:
        split["group_key"] = draft.group_key
    else:
        from hub import records

        split["group_key"] = records.get(draft.record).group_key
    if given:  # the ratios name the splits (in the usual order); the rows' `split` assigns them
        counts: dict[str, int] = {}
        for r in draft.records:
            counts[r["split"]] = counts.get(r["split"], 0) + 1
        order = sorted(counts, key=lambda n: (["train", "validation", "test"] + sorted(counts)).index(n))
        split.update(mode="given", column="split", ratios={n: round(counts[n] / len(draft.records), 6) for n in order})
        split["ratios"][order[-1]] = round(1 - sum(split["ratios"][n] for n in order[:-1]), 6)
    else:
        split.update(ratios={"train": 0.8, "validation": 0.1, "test": 0.1}, seed=0)
    name = dataset.split("/")[1]
    doc = {
        "title": title or name.replace("-", " ").replace("_", " ").capitalize(),
        "description": f"Imported with `hub import {draft.format}` from {source.name}. TODO: what the data is, where it comes from, what it is for.",
        "modality": draft.modality,
        "record": draft.record,
        "tasks": draft.tasks,
        "languages": draft.languages,
        "license": license,
        "source": {"format": "jsonl", "files": [{"path": "raw/records.jsonl"}], **({"fields": renames} if renames else {})},
        "labels": draft.labels,
        "split": split,
        "creators": [{"name": "TODO", "role": "data"}],
        "citation": "",
        "privacy": "TODO: does the data hold personal data (voices, faces, names)? How was consent obtained?",
        "tags": ["imported", draft.format],
    }
    header = f"# Imported by `hub import {draft.format}` from {source}.\n# The mapping it inferred (record field <- source):\n"
    header += "".join(f"#   {k} <- {v}\n" for k, v in draft.mapping.items())
    header += "".join(f"# Note: {n}\n" for n in draft.notes)
    (staging / "dataset.yaml").write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (staging / "README.md").write_text(f"# {doc['title']}\n\nImported from `{source.name}` ({draft.format}). TODO: the card's prose.\n", encoding="utf-8")
    (staging / "annotations").mkdir()
    return files, renames

