"""Folder formats of the Hugging Face world, and a table of rows that name media files.

- `imagefolder` / `audiofolder`: media files, optionally in `<split>/` folders, labelled by
  their parent folder (images) or described by `metadata.csv` / `metadata.jsonl` whose
  `file_name` column names them, relative to the metadata file.
- `hf-disk`: a `datasets` `save_to_disk` folder (a Dataset or a DatasetDict of splits).
- `hf-parquet`: Parquet files in the Hub layout (`data/<split>-NNNNN-of-NNNNN.parquet`,
  `<split>/*.parquet`, or `*.parquet`); the features in the files' `huggingface` metadata.
- `csv` / `jsonl`: one table whose rows name media files (a column of image or audio paths,
  relative to the table).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hub.importers.base import Draft, Media, NotThisFormat, audio_info, read_table_file, safe_id, split_name
from hub.importers.columns import AUDIO_EXTS, IMAGE_EXTS, pick, speech_record
from hub.records.base import RecordType
from hub.records.image import IMAGE
from hub.records.speech import SPEECH

__all__ = ["audiofolder", "hf_disk", "hf_parquet", "imagefolder", "table"]

_METADATA = ("metadata.csv", "metadata.jsonl")


def _media_files(path: Path, exts: set[str]) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in exts and not any(part.startswith(".") for part in p.relative_to(path).parts))


def _metadata(path: Path) -> dict[Path, dict[str, Any]]:
    """Every metadata row, by the media file its `file_name` names (relative to the metadata file)."""
    rows: dict[Path, dict[str, Any]] = {}
    for name in _METADATA:
        for meta in sorted(path.rglob(name)):
            for row in read_table_file(meta):
                file_name = row.get("file_name")
                if file_name:
                    rows[(meta.parent / str(file_name)).resolve()] = row
    return rows


def _split_of(rel: Path) -> str | None:
    return split_name(rel.parts[0]) if len(rel.parts) > 1 else None


def _add(records: list[dict[str, Any]], splits: set[str], record: dict[str, Any], split: str | None, extra: dict[str, Any]) -> None:
    """Add `record`, with its official split (if any, counted in `splits`) and the row's extra columns."""
    if split:
        record["split"] = split
        splits.add(split)
    record.update(extra)
    records.append(record)


# What the media importers read for each record type they make: its media files' extensions,
# and the record fields they look for a column of.
_EXTS = {IMAGE: IMAGE_EXTS, SPEECH: AUDIO_EXTS}
_WANTED = {IMAGE: ("id", "label", "group", "split"), SPEECH: ("id", "label", "split", "transcript", "speaker", "language", "speaker_gender")}


def _media_field(record_type: RecordType) -> str:
    """The record's media field (`image`, `audio`): also the word for its files in messages."""
    return next(iter(record_type.record_schema().media_fields))


def _media_folder(path: Path, fmt: str, record_type: RecordType, language: str | None) -> Draft:
    exts, kind = _EXTS[record_type], _media_field(record_type)
    if not path.is_dir():
        raise NotThisFormat(fmt, "a folder", path)
    files = _media_files(path, exts)
    meta = _metadata(path)
    if not files or (record_type is SPEECH and not meta):
        wanted = f"{kind} files ({', '.join(sorted(exts))})" + (" and metadata.csv or metadata.jsonl naming them (file_name)" if record_type is SPEECH else "")
        raise NotThisFormat(fmt, f"no {wanted} found", path)
    meta_columns = sorted({c for row in meta.values() for c in row} - {"file_name"})
    taken: set[str] = set()
    columns = {f: pick(meta_columns, f, taken) for f in ("id", "label", "group", "split", "transcript", "speaker", "language", "speaker_gender")}
    if record_type is IMAGE:
        for f in ("transcript", "speaker", "language", "speaker_gender"):
            if columns[f]:
                taken.discard(columns[f])
                columns[f] = None
    extras = [c for c in meta_columns if c not in taken]
    records, labels, splits = [], set(), set()
    for file in files:
        rel = file.relative_to(path)
        row = meta.get(file.resolve(), {})
        split = split_name(row[columns["split"]]) if columns["split"] and row.get(columns["split"]) else _split_of(rel)
        record: dict[str, Any] = {"id": safe_id(row.get(columns["id"]) if columns["id"] and row.get(columns["id"]) else rel.with_suffix("").as_posix())}
        record[kind] = Media(rel.as_posix(), source=file)
        if record_type is IMAGE:
            label = row.get(columns["label"]) if columns["label"] else None
            if label is None and not meta:
                parent = rel.parent.parts[1:] if split else rel.parent.parts
                label = parent[-1] if parent else None
            if label not in (None, ""):
                record["label"] = str(label)
                labels.add(str(label))
            record["group"] = str(row.get(columns["group"]) or record["id"]) if columns["group"] else record["id"]
        else:
            record.update(speech_record(row, columns, language=language))
            record.setdefault("speaker", record["id"])
            record["sample_rate"], record["duration"] = audio_info(file)
            if columns["label"] and row.get(columns["label"]):
                record["label"] = str(row[columns["label"]])
                labels.add(record["label"])
        _add(records, splits, record, split, {c: row[c] for c in extras if c in row})
    mapping = {"id": columns["id"] or "the file's path without extension", kind: "the file (file_name)" if meta else "the file"}
    mapping.update({f: c for f, c in columns.items() if c and f not in ("id", "split")})
    notes = []
    if record_type is IMAGE and not columns["label"] and not meta:
        mapping["label"] = "the file's folder"
    if record_type is IMAGE and not columns["group"]:
        mapping["group"] = "id (no group column: each image is its own group)"
        notes.append("no group column: each image is its own group; give a group (photo session, writer) for a leak-proof split")
    if record_type is SPEECH:
        mapping["sample_rate"] = mapping["duration"] = "the audio file's header"
        if not columns["speaker"]:
            mapping["speaker"] = "id (no speaker column)"
            notes.append("no speaker column: each clip is its own speaker; give speaker ids for a speaker-disjoint split")
        if not columns["language"]:
            mapping["language"] = f"--language {language}" if language else "none (give --language)"
    if splits:
        mapping["split"] = columns["split"] or "the <split>/ folder"
    return Draft(fmt, record_type.modality, record_type.name, records, mapping, sorted(labels), splits=bool(splits), extras=extras,
                 languages=sorted({r["language"] for r in records if r.get("language")}), notes=notes, renames=_renames(columns))


def imagefolder(path: Path, *, fmt: str = "imagefolder", language: str | None = None, **_: Any) -> Draft:
    """Images in `<split>/<label>/` folders, or with metadata.csv / metadata.jsonl."""
    return _media_folder(path, fmt, IMAGE, language)


def audiofolder(path: Path, *, fmt: str = "audiofolder", language: str | None = None, **_: Any) -> Draft:
    """Audio files with metadata.csv / metadata.jsonl (file_name, transcription, ...)."""
    return _media_folder(path, fmt, SPEECH, language)


def table(path: Path, *, fmt: str = "csv", language: str | None = None, **_: Any) -> Draft:
    """One CSV or JSONL table whose rows name media files (relative to the table)."""
    suffix = ".csv" if fmt == "csv" else ".jsonl"
    if path.is_file():
        tables = [path] if path.suffix == suffix else []
    else:
        tables = sorted(p for p in path.glob(f"*{suffix}") if p.name not in _METADATA)
    if len(tables) != 1:
        raise NotThisFormat(fmt, f"one {suffix} file (found {len(tables)})", path)
    rows = read_table_file(tables[0])
    base = tables[0].parent
    columns_all = list(dict.fromkeys(c for row in rows for c in row))
    media_column, record_type = None, None
    for column in columns_all:
        values = [str(r.get(column) or "") for r in rows[:50]]
        for candidate, exts in _EXTS.items():
            if values and all(Path(v).suffix.lower() in exts for v in values if v) and any(values):
                media_column, record_type = column, candidate
                break
        if media_column:
            break
    if media_column is None:
        raise NotThisFormat(fmt, f"a column of image or audio file paths in {tables[0].name}", path)
    taken = {media_column}
    kind = _media_field(record_type)
    columns = {f: pick(columns_all, f, taken) for f in _WANTED[record_type]}
    extras = [c for c in columns_all if c not in taken]
    records, labels, splits = [], set(), set()
    for number, row in enumerate(rows, start=1):
        rel = str(row.get(media_column) or "")
        file = base / rel
        record: dict[str, Any] = {"id": safe_id(row[columns["id"]]) if columns["id"] and row.get(columns["id"]) else safe_id(Path(rel).with_suffix("").as_posix() or f"row-{number}")}
        media = Media(rel, source=file) if rel and file.is_file() else f"raw/{rel}"  # a missing file: validation reports it
        record[kind] = media
        if record_type is IMAGE:
            record["group"] = str(row[columns["group"]]) if columns["group"] and row.get(columns["group"]) else record["id"]
        else:
            record.update(speech_record(row, columns, language=language))
            record.setdefault("speaker", record["id"])
            if isinstance(media, Media):
                record["sample_rate"], record["duration"] = audio_info(file)
        if columns["label"] and row.get(columns["label"]) not in (None, ""):
            record["label"] = str(row[columns["label"]])
            labels.add(record["label"])
        split = split_name(row[columns["split"]]) if columns["split"] and row.get(columns["split"]) else None
        _add(records, splits, record, split, {c: row[c] for c in extras if c in row})
    mapping = {kind: media_column, **{f: c for f, c in columns.items() if c}}
    mapping.setdefault("id", f"{media_column} without extension")
    if record_type is IMAGE:
        mapping.setdefault("group", "id (no group column)")
    else:
        mapping["sample_rate"] = mapping["duration"] = "the audio file's header"
    return Draft(fmt, record_type.modality, record_type.name, records, mapping, sorted(labels), splits=bool(splits), extras=extras,
                 languages=sorted({r["language"] for r in records if r.get("language")}), renames=_renames(columns))


# -- Arrow-based: save_to_disk folders and Parquet in the Hub layout -----------------------------


_FEATURES = {"Image": IMAGE, "Audio": SPEECH}  # the record type a `datasets` media feature imports as


def _features_kind(features: dict[str, Any]) -> tuple[str | None, RecordType | None, dict[str, list[str]]]:
    """(media column, the record type it imports as, class names by column) of a `datasets` features dict."""
    media, kind, classes = None, None, {}
    for name, feature in features.items():
        if not isinstance(feature, dict):
            continue
        t = feature.get("_type")
        if t in _FEATURES and media is None:
            media, kind = name, _FEATURES[t]
        elif t == "ClassLabel":
            classes[name] = list(feature.get("names") or [])
    return media, kind, classes


def _arrow_draft(fmt: str, path: Path, tables: list[tuple[str | None, Any]], features: dict[str, Any], language: str | None) -> Draft:
    """A draft from (split, pyarrow table) pairs and their `datasets` features."""
    media, record_type, classes = _features_kind(features)
    if media is None:
        for name in tables[0][1].column_names:  # no features: a struct<bytes, path> column
            t = tables[0][1].schema.field(name).type
            if str(t).startswith("struct<bytes: binary, path: string"):
                sample = next((r for r in tables[0][1].column(name).to_pylist() if r and r.get("path")), None)
                ext = Path(sample["path"]).suffix.lower() if sample else ""
                media, record_type = name, SPEECH if ext in AUDIO_EXTS else IMAGE
                break
    if media is None:
        raise NotThisFormat(fmt, "an Image or Audio column (the image and speech records import)", path)
    columns_all = [c for c in tables[0][1].column_names if c != media]
    taken: set[str] = set()
    kind = _media_field(record_type)
    columns = {f: pick(columns_all, f, taken) for f in _WANTED[record_type]}
    extras = [c for c in columns_all if c not in taken]
    records, labels, splits = [], set(), set()
    for split_dir, tbl in tables:
        for number, row in enumerate(tbl.to_pylist()):
            for column, names in classes.items():
                if isinstance(row.get(column), int) and 0 <= row[column] < len(names):
                    row[column] = names[row[column]]
            value = row.get(media) or {}
            split = split_name(row[columns["split"]]) if columns["split"] and row.get(columns["split"]) else split_dir
            rid = safe_id(row[columns["id"]]) if columns["id"] and row.get(columns["id"]) is not None else f"{split or 'row'}-{number:06d}"
            ext = Path(value.get("path") or "").suffix.lower() or f".{record_type.media_extension}"
            blob = value.get("bytes")
            if blob is None and value.get("path") and (path / value["path"]).is_file():
                blob = (path / value["path"]).read_bytes()
            item = Media(f"media/{split or 'all'}/{rid}{ext}", data=blob) if blob is not None else None
            record: dict[str, Any] = {"id": rid, kind: item}
            if record_type is IMAGE:
                record["group"] = str(row[columns["group"]]) if columns["group"] and row.get(columns["group"]) is not None else rid
            else:
                record.update(speech_record(row, columns, language=language))
                record.setdefault("speaker", rid)
                if blob is not None:
                    import io

                    import soundfile

                    info = soundfile.info(io.BytesIO(blob))
                    record["sample_rate"], record["duration"] = info.samplerate, info.frames / info.samplerate
            if columns["label"] and row.get(columns["label"]) not in (None, ""):
                record["label"] = str(row[columns["label"]])
                labels.add(record["label"])
            _add(records, splits, record, split, {c: _jsonable(row.get(c)) for c in extras})
    labels |= {n for c, names in classes.items() if c == columns["label"] for n in names}
    mapping = {kind: media, **{f: c for f, c in columns.items() if c}}
    mapping.setdefault("id", "<split>-<row number>")
    if record_type is IMAGE:
        mapping.setdefault("group", "id (no group column)")
    else:
        mapping["sample_rate"] = mapping["duration"] = "the audio's header"
        mapping.setdefault("speaker", "id (no speaker column)")
    if splits and not columns["split"]:
        mapping["split"] = "the split the file belongs to"
    return Draft(fmt, record_type.modality, record_type.name, records, mapping, sorted(labels, key=lambda x: (classes.get(columns["label"] or "", []) + [x]).index(x)),
                 splits=bool(splits), extras=extras, languages=sorted({r["language"] for r in records if r.get("language")}), renames=_renames(columns))


def _renames(columns: dict[str, str | None]) -> dict[str, str]:
    """The fields read from a source column of another name: written under that name, mapped by `source.fields`."""
    return {f: c for f, c in columns.items() if c and c != f and f not in ("id", "split")}


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return None
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def hf_disk(path: Path, *, fmt: str = "hf-disk", language: str | None = None, **_: Any) -> Draft:
    """A `datasets` save_to_disk folder: a DatasetDict (dataset_dict.json) or one Dataset."""
    import pyarrow as pa

    def one(folder: Path) -> tuple[Any, dict[str, Any]]:
        state = json.loads((folder / "state.json").read_text())
        info = json.loads((folder / "dataset_info.json").read_text())
        parts = [pa.ipc.open_stream(pa.memory_map(str(folder / f["filename"]))).read_all() for f in state["_data_files"]]
        return pa.concat_tables(parts), info.get("features") or {}

    if (path / "dataset_dict.json").is_file():
        names = json.loads((path / "dataset_dict.json").read_text())["splits"]
        loaded = [(n, *one(path / n)) for n in names]
        tables = [(split_name(n) or n, t) for n, t, _ in loaded]
        features = loaded[0][2]
    elif (path / "state.json").is_file() and (path / "dataset_info.json").is_file():
        table_, features = one(path)
        tables = [(None, table_)]
    else:
        raise NotThisFormat(fmt, "dataset_dict.json, or state.json and dataset_info.json", path)
    return _arrow_draft(fmt, path, tables, features, language)


def hf_parquet(path: Path, *, fmt: str = "hf-parquet", language: str | None = None, **_: Any) -> Draft:
    """Parquet files in the Hub layout: data/<split>-*.parquet, <split>/*.parquet, or *.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(p for p in path.rglob("*.parquet") if not any(part.startswith(".") for part in p.relative_to(path).parts)) if path.is_dir() else []
    if not files:
        raise NotThisFormat(fmt, "*.parquet files", path)
    by_split: dict[str | None, list[Path]] = {}
    for file in files:
        rel = file.relative_to(path)
        split = split_name(file.name.split("-")[0]) or (split_name(rel.parts[-2]) if len(rel.parts) > 1 else None)
        by_split.setdefault(split, []).append(file)
    features: dict[str, Any] = {}
    meta = pq.read_schema(files[0]).metadata or {}
    if b"huggingface" in meta:
        features = json.loads(meta[b"huggingface"]).get("info", {}).get("features") or {}
    tables = [(split, pa.concat_tables([pq.read_table(f) for f in group])) for split, group in by_split.items()]
    return _arrow_draft(fmt, path, tables, features, language)
